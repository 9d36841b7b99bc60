package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"riverqueue.com/riverui"
)

// NewUIPostgres is River's web UI (riverqueue.com/riverui) over the
// Postgres queue, served under prefix (e.g. /admin/jobs) until ctx ends. It
// shows every tenant's jobs, guests' addresses included: mount it for
// operators only.
func NewUIPostgres(ctx context.Context, pool *pgxpool.Pool, prefix string, log *zap.Logger) (http.Handler, error) {
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("job UI: %w", err)
	}
	return startUI(ctx, &riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(c, nil), Prefix: prefix, Logger: uiLogger(log),
		JobListHideArgsByDefault: true})
}

// NewUISQLite is River's web UI over the embedded store's queue.
func NewUISQLite(ctx context.Context, db *sql.DB, prefix string, log *zap.Logger) (http.Handler, error) {
	c, err := river.NewClient(riversqlite.New(db), &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("job UI: %w", err)
	}
	return startUI(ctx, &riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(c, nil), Prefix: prefix, Logger: uiLogger(log),
		JobListHideArgsByDefault: true})
}

func startUI(ctx context.Context, opts *riverui.HandlerOpts) (http.Handler, error) {
	h, err := riverui.NewHandler(opts)
	if err != nil {
		return nil, fmt.Errorf("job UI: %w", err)
	}
	if err := h.Start(ctx); err != nil {
		return nil, fmt.Errorf("job UI: %w", err)
	}
	return h, nil
}

func uiLogger(log *zap.Logger) *slog.Logger {
	return slog.New(zapslog.NewHandler(log.With(zap.String("component", "jobs-ui")).Core()))
}
