package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/staylock/staylock/config"
	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/internal/metricsreg"
	"github.com/staylock/staylock/jobs"
	"github.com/staylock/staylock/jobs/mail"
	"github.com/staylock/staylock/persistence"
)

// newMailer is the configured mail sender: SMTP, or .eml files under
// STORAGE_PATH/mail.
func newMailer(cfg config.Config) (mail.Sender, error) {
	if cfg.Mail.Mailer == config.MailerSMTP {
		return mail.NewSMTP(mail.SMTPConfig{Host: cfg.Mail.Host, Port: cfg.Mail.Port, Username: cfg.Mail.Username,
			Password: cfg.Mail.Password, Encryption: cfg.Mail.Encryption})
	}
	return mail.NewLog(filepath.Join(cfg.StoragePath, "mail"))
}

// newQueue makes the job queue of role over the store's database.
func newQueue(cfg config.Config, store persistence.Store, role jobs.Role, engine jobs.Engine, log *zap.Logger, reg prometheus.Registerer) (*jobs.Queue, error) {
	sender, err := newMailer(cfg)
	if err != nil {
		return nil, err
	}
	opts := jobs.Options{Role: role, Store: store, Sender: sender, From: cfg.Mail.From(),
		Concurrency: cfg.Jobs.Concurrency, PurgeEvery: cfg.Jobs.PurgeEvery, SweepEvery: cfg.Jobs.SweepEvery, PruneEvery: cfg.Jobs.PruneEvery, HistoryKeep: cfg.Jobs.HistoryKeepDays, ReportTo: cfg.Jobs.ReportTo, ReportEvery: cfg.Jobs.ReportEvery, Engine: engine, JobTimeout: cfg.Jobs.Timeout,
		RescueAfter: cfg.Jobs.RescueAfter, PollInterval: cfg.Jobs.PollInterval, Logger: log, Registry: reg,
		WebhookMaxAttempts: cfg.Jobs.WebhookMaxAttempts, RetryBase: cfg.Jobs.RetryBase, WebhookTimeout: cfg.Jobs.WebhookTimeout,
		AllowPrivateTargets: cfg.IsLocal()}
	switch st := store.(type) {
	case *persistence.PostgresStore:
		return jobs.NewPostgres(st.Pool(), opts)
	case *persistence.SQLiteStore:
		return jobs.NewSQLite(st.DB(), opts)
	}
	return nil, errors.New("the in-memory store has no job queue: jobs need DB_URL (Postgres) or the embedded SQLite store")
}

// webhookRefresh is how often a node rereads which tenants have webhook
// endpoints: a new endpoint receives the events committed after that.
const webhookRefresh = 2 * time.Second

// outbox is the actors' job hook, or nil on the memory store (no queue).
func outbox(cfg config.Config, hooks *jobs.WebhookTenants) func(persistence.OutboxBatch) []persistence.JobRow {
	if cfg.MemoryStore() {
		return nil
	}
	return jobs.Outbox(cfg.Jobs.MailMaxAttempts, hooks)
}

// runQueue runs a queue until ctx ends, then stops it within timeout
// (jobs in hand finish or are retried later).
func runQueue(ctx context.Context, q *jobs.Queue, timeout time.Duration, log *zap.Logger) error {
	if err := q.Start(ctx); err != nil {
		return err
	}
	log.Info("job queue running", zap.String("id", q.ID()))
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := q.Stop(sctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("stop job queue: %w", err)
	}
	log.Info("job queue stopped")
	return nil
}

// newQueueCmd is `worker` or `scheduler`: a process of one queue role on
// the configured database.
func newQueueCmd(a *app, role jobs.Role, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:   role.String(),
		Short: short,
		Long:  long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			store, cfg, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer store.Close()
			if cfg.MemoryStore() {
				return usagef("DB_URL=memory:// has no job queue")
			}
			log, err := newLogger(cfg)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			reg := metricsreg.NewRegistry()
			jobs.RegisterQueueCollector(reg, store)
			q, err := newQueue(cfg, store, role, nil, log, reg)
			if err != nil {
				return err
			}
			if cfg.MetricsAddr != "" {
				stop, url, err := serveMetrics(cfg.MetricsAddr, reg, log)
				if err != nil {
					return err
				}
				defer stop()
				fmt.Fprintf(a.stdout, "metrics on %s/metrics\n", url)
			}
			fmt.Fprintf(a.stdout, "staylock %s running (%s)\n", role, q.ID())
			return runQueue(ctx, q, cfg.ShutdownTimeout, log)
		},
	}
}

func newWorkerCmd(a *app) *cobra.Command {
	return newQueueCmd(a, jobs.RoleWorker, "Send the queued emails (run as many as needed)",
		"Runs jobs from the queue in the database: the reservation emails written with\n"+
			"each booking. Run one or more per environment (systemd: staylock-worker@N).\n"+
			"SIGTERM finishes the jobs in hand; a job whose worker died is retried after\n"+
			"JOB_RESCUE_AFTER by the leading scheduler.")
}

func newSchedulerCmd(a *app) *cobra.Command {
	return newQueueCmd(a, jobs.RoleScheduler, "Run the periodic jobs (one leader per environment)",
		"Takes part in the election of the queue's leader: the leader alone enqueues the\n"+
			"periodic jobs and rescues jobs left running by dead workers: the idempotency\n"+
			"purge (JOB_PURGE_EVERY), and for serve nodes to run with their actors the hold\n"+
			"sweep (JOB_SWEEP_EVERY), the history pruning (JOB_PRUNE_EVERY) and, with\n"+
			"OCCUPANCY_REPORT_TO, the occupancy report (JOB_REPORT_EVERY). Running two or\n"+
			"three for failover is safe: each tick runs once.")
}

// serveMetrics serves /metrics and /livez of a worker or scheduler on addr.
func serveMetrics(addr string, reg *prometheus.Registry, log *zap.Logger) (stop func(), url string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("METRICS_ADDR %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server", zap.Error(err))
		}
	}()
	return func() { _ = srv.Close() }, listenURL(ln.Addr()), nil
}

// jobUI is River's web UI for the operators (ADMIN_TENANT), or nil.
func jobUI(ctx context.Context, cfg config.Config, store persistence.Store, log *zap.Logger) (http.Handler, error) {
	if cfg.AdminTenant == "" {
		return nil, nil
	}
	switch st := store.(type) {
	case *persistence.PostgresStore:
		return jobs.NewUIPostgres(ctx, st.Pool(), gateway.AdminJobsPrefix, log)
	case *persistence.SQLiteStore:
		return jobs.NewUISQLite(ctx, st.DB(), gateway.AdminJobsPrefix, log)
	}
	return nil, nil
}
