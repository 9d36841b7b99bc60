package main

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/staylock/staylock/persistence"
)

func newDownCmd(a *app) *cobra.Command {
	var (
		retry   int
		secret  string
		message string
		wait    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Put every node into maintenance mode (API calls answer 503 maintenance)",
		Long: `Puts every node into maintenance mode: API calls answer 503 maintenance with
Retry-After, except those carrying the bypass secret in the X-Maintenance-Bypass
header. /livez, /readyz, /health and /metrics are unaffected (nodes stay in the
load balancer) and the dashboard shows a banner. The state is stored in the
database; the command returns once every live node applies it (nodes poll every
250 ms). "staylock up" ends it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if retry < 1 || retry > 86400 {
				return usagef("--retry %d: want seconds from 1 to 86400", retry)
			}
			if len(message) > 500 {
				return usagef("--message: at most 500 characters")
			}
			if secret != "" && len(secret) < 16 {
				return usagef("--secret: at least 16 characters (anyone who knows it passes)")
			}
			m := persistence.Maintenance{On: true, RetryAfter: retry, Message: message, Since: time.Now().UTC()}
			if secret != "" {
				sum := sha256.Sum256([]byte(secret))
				m.SecretHash = sum[:]
			}
			return a.setMaintenance(cmd, m, wait)
		},
	}
	cmd.Flags().IntVar(&retry, "retry", 60, "seconds clients are told to wait (Retry-After)")
	cmd.Flags().StringVar(&secret, "secret", "", "requests with this X-Maintenance-Bypass header pass (at least 16 characters)")
	cmd.Flags().StringVar(&message, "message", "", "the message of the 503 answers and of the dashboard's banner")
	cmd.Flags().DurationVar(&wait, "wait", 15*time.Second, "how long to wait for every live node")
	return cmd
}

func newUpCmd(a *app) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "up",
		Short: "End maintenance mode on every node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.setMaintenance(cmd, persistence.Maintenance{}, wait)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 15*time.Second, "how long to wait for every live node")
	return cmd
}

// setMaintenance stores m and waits until every live node applies it.
func (a *app) setMaintenance(cmd *cobra.Command, m persistence.Maintenance, wait time.Duration) error {
	ctx := cmd.Context()
	st, cfg, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if cfg.MemoryStore() {
		return usagef("DB_URL=memory:// cannot be reached from another process")
	}
	gen, err := st.SetMaintenance(ctx, m)
	if err != nil {
		return err
	}
	what := "maintenance mode is off"
	if m.On {
		what = fmt.Sprintf("maintenance mode is on (Retry-After %d s)", m.RetryAfter)
	}
	if err := waitForNodes(ctx, st, gen, wait); err != nil {
		return fmt.Errorf("%s in the database, but %w", what, err)
	}
	fmt.Fprintf(a.stdout, "%s on every live node\n", what)
	return nil
}
