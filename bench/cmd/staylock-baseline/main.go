// Command staylock-baseline serves a baseline booking engine (the way teams
// usually build one) with the create-booking and availability part of
// Staylock's public API, so that `staylock loadtest` can compare them.
// See docs/benchmarks.md.
//
//	staylock-baseline --engine naive --db-url postgres://… [--addr 127.0.0.1:8090] [--key K]
//	staylock-baseline --engine redis --redis-url redis://127.0.0.1:6380 [--prefix P]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/staylock/staylock/bench/baseline"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "staylock-baseline:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("staylock-baseline", flag.ContinueOnError)
	engine := fs.String("engine", "naive", "naive (Postgres, SELECT … FOR UPDATE) or redis (Lua check-and-decrement)")
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	key := fs.String("key", os.Getenv("BASELINE_KEY"), "the bearer key clients must present (default $BASELINE_KEY)")
	dbURL := fs.String("db-url", os.Getenv("DB_URL"), "Postgres URL for --engine naive (default $DB_URL)")
	redisURL := fs.String("redis-url", "redis://127.0.0.1:6379", "Redis URL for --engine redis; run that Redis with --appendonly yes --appendfsync always")
	prefix := fs.String("prefix", "baseline", "key prefix for --engine redis")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *key == "" {
		return errors.New("a key is required: --key or BASELINE_KEY")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var eng baseline.Engine
	var err error
	switch *engine {
	case "naive":
		if *dbURL == "" {
			return errors.New("--engine naive needs --db-url (or DB_URL)")
		}
		eng, err = baseline.OpenNaive(ctx, *dbURL)
	case "redis":
		eng, err = baseline.OpenRedis(ctx, *redisURL, *prefix)
	default:
		return fmt.Errorf("--engine %q: want naive or redis", *engine)
	}
	if err != nil {
		return err
	}
	defer eng.Close()

	log, err := zap.NewProduction()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	srv := &http.Server{Addr: *addr, Handler: baseline.NewServer(eng, *key, log).Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("baseline listening", zap.String("engine", *engine), zap.String("addr", *addr))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shut)
}
