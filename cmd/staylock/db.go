package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/staylock/staylock/auth"
	"github.com/staylock/staylock/booking"
	"github.com/staylock/staylock/config"
	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/persistence"
)

// ensureSchema makes the database schema current before a command uses it.
// In local it applies pending migrations itself (so a new embedded database
// just works); elsewhere it refuses a schema that is behind, because
// migrating production is a deliberate act (`staylock migrate up --force`).
func ensureSchema(ctx context.Context, cfg config.Config, log io.Writer) error {
	if cfg.IsLocal() {
		n, err := persistence.MigrateUp(ctx, cfg.DBURL, cfg.StoragePath)
		if err != nil {
			return fmt.Errorf("apply migrations: %w", err)
		}
		if n > 0 {
			fmt.Fprintf(log, "applied %d pending migration(s) (APP_ENV=local)\n", n)
		}
		return nil
	}
	n, err := persistence.PendingMigrations(ctx, cfg.DBURL, cfg.StoragePath)
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("the database schema is %d migration(s) behind: run `staylock migrate up --force` first", n)
	}
	return nil
}

// openStore opens the configured store with a current schema.
func (a *app) openStore(ctx context.Context) (persistence.Store, config.Config, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, cfg, err
	}
	if err := ensureSchema(ctx, cfg, a.stderr); err != nil {
		return nil, cfg, err
	}
	st, err := persistence.Open(ctx, cfg.DBURL, cfg.StoragePath)
	if err != nil {
		return nil, cfg, fmt.Errorf("open database: %w", err)
	}
	return st, cfg, nil
}

func newMigrateCmd(a *app) *cobra.Command {
	var force bool
	guard := func(cfg config.Config, what string) error {
		if !cfg.IsLocal() && !force {
			return usagef("refusing to migrate %s with APP_ENV=%s without --force (run `staylock migrate status` to see what would change)", what, cfg.Env)
		}
		return nil
	}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply, roll back or list database migrations",
		Long: "Database migrations (embedded SQL) for the configured store: Postgres when DB_URL\n" +
			"is set, else the embedded SQLite file under STORAGE_PATH. Outside APP_ENV=local,\n" +
			"up and down need --force.",
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().BoolVar(&force, "force", false, "allow up/down outside APP_ENV=local")

	up := &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := guard(cfg, "up"); err != nil {
				return err
			}
			n, err := persistence.MigrateUp(cmd.Context(), cfg.DBURL, cfg.StoragePath)
			if err != nil {
				return fmt.Errorf("migrate up: %w", err)
			}
			if n == 0 {
				fmt.Fprintln(a.stdout, "schema is up to date: no pending migration")
			} else {
				fmt.Fprintf(a.stdout, "applied %d migration(s)\n", n)
			}
			return nil
		},
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "Roll back the most recent migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := guard(cfg, "down"); err != nil {
				return err
			}
			if err := persistence.MigrateDown(cmd.Context(), cfg.DBURL, cfg.StoragePath); err != nil {
				return fmt.Errorf("migrate down: %w", err)
			}
			fmt.Fprintln(a.stdout, "rolled back the most recent migration")
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "List migrations and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			ms, err := persistence.MigrationStatus(cmd.Context(), cfg.DBURL, cfg.StoragePath)
			if err != nil {
				return fmt.Errorf("migrate status: %w", err)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "COMPONENT\tVERSION\tNAME\tSTATUS\tAPPLIED AT")
			pending := 0
			for _, m := range ms {
				state, at := "applied", ""
				if m.Applied {
					if !m.AppliedAt.IsZero() {
						at = m.AppliedAt.UTC().Format(time.RFC3339)
					}
				} else {
					state = "pending"
					pending++
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", m.Component, m.Version, m.Name, state, at)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%d migration(s), %d pending\n", len(ms), pending)
			return nil
		},
	}
	cmd.AddCommand(up, down, status)
	return cmd
}

func newKeysCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke API keys",
		Args:  cobra.NoArgs,
	}

	var tenant, role, name string
	create := &cobra.Command{
		Use:   "create --tenant T --role R [--name N]",
		Short: "Create an API key; prints the key alone as the last line of standard output, once",
		Long: "Creates an API key for tenant T (creating the tenant when it is new) with role\n" +
			"admin, channel or viewer. Only the key's SHA-256 is stored: the key itself is\n" +
			"printed once, alone, as the last line of standard output.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !booking.ValidID(tenant) {
				return usagef("--tenant %q: %s", tenant, booking.IDRule)
			}
			r, err := booking.ParseRole(role)
			if err != nil {
				return usagef("--role %q: must be admin, channel or viewer", role)
			}
			if len(name) > 200 || strings.ContainsFunc(name, unicode.IsControl) {
				return usagef("--name: at most 200 characters, no control characters")
			}
			ctx := cmd.Context()
			st, _, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			created, err := st.EnsureTenant(ctx, tenant)
			if err != nil {
				return fmt.Errorf("create tenant: %w", err)
			}
			if created {
				fmt.Fprintf(a.stderr, "created tenant %s\n", tenant)
			}
			id, secret, hash := auth.NewAPIKey()
			k := persistence.APIKey{ID: id, Tenant: tenant, Role: r, Name: name, Hash: hash, CreatedAt: time.Now().UTC()}
			if err := st.CreateAPIKey(ctx, k); err != nil {
				return fmt.Errorf("store key: %w", err)
			}
			fmt.Fprintf(a.stderr, "created API key %s (tenant %s, role %s); it is shown once, store it now:\n", id, tenant, r)
			fmt.Fprintln(a.stdout, secret)
			return nil
		},
	}
	create.Flags().StringVar(&tenant, "tenant", "", "tenant the key belongs to (created if new)")
	create.Flags().StringVar(&role, "role", "", "admin, channel or viewer")
	create.Flags().StringVar(&name, "name", "", "a label for people (e.g. the channel manager's name)")
	_ = create.MarkFlagRequired("tenant")
	_ = create.MarkFlagRequired("role")

	var asJSON bool
	var onlyTenant string
	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, _, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			keys, err := st.ListAPIKeys(ctx)
			if err != nil {
				return fmt.Errorf("list keys: %w", err)
			}
			shown := keys[:0:0]
			for _, k := range keys {
				if onlyTenant == "" || k.Tenant == onlyTenant {
					shown = append(shown, k)
				}
			}
			return writeKeys(a.stdout, shown, asJSON)
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	list.Flags().StringVar(&onlyTenant, "tenant", "", "only this tenant's keys")

	var wait time.Duration
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key by its id (key_…); returns once no live node accepts it",
		Long: `Revoke an API key by its id (key_…). The command returns once every live
node has dropped the key from its cache, so the key answers 401 everywhere
when it exits 0. A node counts as live while it confirms the key generation
(every 2 s); a node that stopped confirming holds no cached key past its
cache's lifetime. Revoking a revoked key changes nothing and exits 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, _, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			return revokeKey(ctx, st, args[0], wait, a.stdout)
		},
	}
	revoke.Flags().DurationVar(&wait, "wait", 15*time.Second, "how long to wait for every live node to drop the key")

	cmd.AddCommand(create, list, revoke)
	return cmd
}

func writeKeys(w io.Writer, keys []persistence.APIKey, asJSON bool) error {
	if asJSON {
		if keys == nil {
			keys = []persistence.APIKey{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(keys)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTENANT\tROLE\tNAME\tCREATED\tSTATUS")
	for _, k := range keys {
		status := "active"
		if k.RevokedAt != nil {
			status = "revoked " + k.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Tenant, k.Role, k.Name, k.CreatedAt.UTC().Format(time.RFC3339), status)
	}
	return tw.Flush()
}

// revokeKey revokes key id and waits until no live node trusts it.
func revokeKey(ctx context.Context, st persistence.Store, id string, wait time.Duration, out io.Writer) error {
	gen, err := st.RevokeAPIKey(ctx, id, time.Now().UTC())
	switch {
	case errors.Is(err, persistence.ErrNotFound):
		return fmt.Errorf("no API key with id %q (see `staylock keys list`)", id)
	case errors.Is(err, persistence.ErrAlreadyRevoked):
		when := ""
		if keys, lerr := st.ListAPIKeys(ctx); lerr == nil {
			for _, k := range keys {
				if k.ID == id && k.RevokedAt != nil {
					when = " at " + k.RevokedAt.UTC().Format(time.RFC3339)
				}
			}
		}
		return fmt.Errorf("API key %s was already revoked%s; nothing changed", id, when)
	case err != nil:
		return fmt.Errorf("revoke key: %w", err)
	}
	if err := waitForNodes(ctx, st, gen, wait); err != nil {
		return fmt.Errorf("revoked API key %s, but %w", id, err)
	}
	fmt.Fprintf(out, "revoked API key %s; no live node accepts it any more\n", id)
	return nil
}

// waitForNodes waits until every live node has applied generation gen of
// what nodes cache (keys, maintenance); an error names the nodes that did
// not confirm within wait.
func waitForNodes(ctx context.Context, st persistence.Store, gen int64, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		lag, err := st.KeyGenerationLaggards(ctx, gen, time.Now().Add(-gateway.KeyNodeLive))
		if err != nil {
			return fmt.Errorf("could not check the nodes: %w", err)
		}
		if len(lag) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d node(s) did not confirm within %s: %s; each follows within %s of its last confirmation",
				len(lag), wait, strings.Join(lag, ", "), gateway.KeyNodeLive)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
