// Command staylock is the one Staylock binary: the server and every
// operator command (migrations, API keys, …). This file is wiring only: it
// turns flags and the environment into a config.Config and runs one
// subcommand with it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // property time zones validate on hosts without a zone database

	"github.com/spf13/cobra"

	"github.com/staylock/staylock/config"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the command failed
	exitUsage  = 2 // bad flags/arguments, or a configuration problem
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError marks errors that come from how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run executes one command line and returns the process exit code. Errors
// are written to stderr: a configuration problem as one line per problem,
// naming the variable; anything else as "staylock: <error>".
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	if ps := config.Problems(err); ps != nil {
		for _, p := range ps {
			fmt.Fprintln(stderr, p.String())
		}
		return exitUsage
	}
	fmt.Fprintln(stderr, "staylock: "+err.Error())
	var ue usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		return exitUsage
	}
	return exitFailed
}

// isCobraUsageError recognises cobra's own flag and argument errors.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, s := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "required flag"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// app is what every subcommand shares: where to write and the global flags.
type app struct {
	stdout, stderr io.Writer
	// sets are --set KEY=VALUE overrides; flagVars maps named flags to variables.
	sets     []string
	dotEnv   string
	noDotEnv bool
	root     *cobra.Command
}

// configFlags are the named flags that override one variable each.
var configFlags = []struct{ name, variable, usage string }{
	{"env", "APP_ENV", "environment: local, staging or production (APP_ENV)"},
	{"http-addr", "HTTP_ADDR", "listen address (HTTP_ADDR)"},
	{"storage-path", "STORAGE_PATH", "folder for the embedded database and local files (STORAGE_PATH)"},
	{"db-url", "DB_URL", "postgres:// URL; empty = embedded SQLite (DB_URL)"},
	{"redis-url", "REDIS_URL", "redis:// URL; empty = in-process bus (REDIS_URL)"},
	{"log-level", "LOG_LEVEL", "debug, info, warn or error (LOG_LEVEL)"},
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "staylock",
		Short: "Staylock: a realtime hotel reservation engine",
		Long: "Staylock: a realtime hotel reservation engine.\n\n" +
			"Settings come from the environment (see docs), from .env in the working\n" +
			"directory when APP_ENV=local, and from the flags below, which win.",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetOut(stdout)
	root.SetErr(stderr)
	a.root = root
	pf := root.PersistentFlags()
	for _, f := range configFlags {
		pf.String(f.name, "", f.usage)
	}
	pf.StringArrayVar(&a.sets, "set", nil, "override any setting: --set KEY=VALUE (repeatable)")
	pf.StringVar(&a.dotEnv, "env-dir", "", "folder holding the .env file (default: working directory)")
	pf.BoolVar(&a.noDotEnv, "no-env-file", false, "do not read .env")

	root.AddCommand(
		newVersionCmd(a),
		newConfigCmd(a),
		newServeCmd(a),
		newMigrateCmd(a),
		newKeysCmd(a),
		newLoadtestCmd(a),
		newProbeCmd(a),
		newBackupCmd(a),
		newSmokeCmd(a),
		newDownCmd(a),
		newUpCmd(a),
		newWorkerCmd(a),
		newSchedulerCmd(a),
	)
	return root
}

// overrides collects the flag overrides: named flags first, --set last.
func (a *app) overrides() (map[string]string, error) {
	out := map[string]string{}
	pf := a.root.PersistentFlags()
	for _, f := range configFlags {
		if fl := pf.Lookup(f.name); fl != nil && fl.Changed {
			out[f.variable] = fl.Value.String()
		}
	}
	for _, kv := range a.sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--set %q: want KEY=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}

// loadConfig builds the Config for a command: environment, .env (local
// only) and flags, validated; in local it also makes sure an APP_KEY exists.
func (a *app) loadConfig() (config.Config, error) {
	ov, err := a.overrides()
	if err != nil {
		return config.Config{}, err
	}
	cfg, err := config.Load(config.LoadOptions{DotEnvDir: a.dotEnv, NoDotEnv: a.noDotEnv, Overrides: ov})
	if err != nil {
		return cfg, err
	}
	if err := config.EnsureLocalAppKey(&cfg); err != nil {
		return cfg, fmt.Errorf("APP_KEY: %w", err)
	}
	return cfg, nil
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(a.stdout, "staylock "+Version())
			return nil
		},
	}
}

func newConfigCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "Check the configuration and print it (secrets masked)",
		Long: "Loads the configuration exactly as serve does, prints one line per problem\n" +
			"and exits non-zero when something is wrong, else prints every setting.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ov, err := a.overrides()
			if err != nil {
				return err
			}
			// Load only: printing the settings must not create the local key.
			cfg, err := config.Load(config.LoadOptions{DotEnvDir: a.dotEnv, NoDotEnv: a.noDotEnv, Overrides: ov})
			if err != nil {
				return err
			}
			red := cfg.Redacted()
			// An empty APP_KEY in local is not "no key": say which key signs.
			red["APP_KEY"] = config.AppKeySource(cfg)
			for _, k := range config.Vars() {
				fmt.Fprintf(a.stdout, "%s=%s\n", k, red[k])
			}
			return nil
		},
	}
}

func newServeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP/WebSocket server and this node's actors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := ensureSchema(cmd.Context(), cfg, a.stdout); err != nil {
				return err
			}
			return runServe(cmd, cfg)
		},
	}
}
