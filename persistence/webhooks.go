package persistence

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// WebhookEndpoint is where a tenant receives events.
type WebhookEndpoint struct {
	Tenant string
	ID     string
	URL    string
	Events []string // sorted
	Secret string   // whsec_…: Standard Webhooks signing secret
	// PreviousSecret still signs until PreviousUntil (after a rotation).
	PreviousSecret string
	PreviousUntil  time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// SigningSecrets are the secrets deliveries are signed with at now: the
// current one, and the previous one while its rotation window lasts.
func (e WebhookEndpoint) SigningSecrets(now time.Time) []string {
	if e.PreviousSecret != "" && now.Before(e.PreviousUntil) {
		return []string{e.Secret, e.PreviousSecret}
	}
	return []string{e.Secret}
}

// WebhookDelivery is one attempt at delivering one message to an endpoint.
type WebhookDelivery struct {
	ID         int64
	Tenant     string
	Endpoint   string
	MessageID  string // webhook-id: the same for every attempt of one message
	Event      string
	Attempt    int
	StatusCode int // 0: no HTTP answer
	LatencyMS  float64
	Error      string
	Payload    string
	At         time.Time
}

// Subscribes tells whether e receives event.
func (e WebhookEndpoint) Subscribes(event string) bool { return slices.Contains(e.Events, event) }

// PutWebhook inserts or updates an endpoint (keeping CreatedAt and Secret
// of a stored one); created tells which.
func (s *PostgresStore) PutWebhook(ctx context.Context, e WebhookEndpoint) (WebhookEndpoint, bool, error) {
	now := s.stamp()
	var created bool
	err := s.pool.QueryRow(ctx, `INSERT INTO webhook_endpoints (tenant, id, url, events, secret, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)
		ON CONFLICT (tenant, id) DO UPDATE SET url = excluded.url, events = excluded.events, updated_at = excluded.updated_at
		RETURNING secret, created_at, updated_at, (xmax = 0)`,
		e.Tenant, e.ID, e.URL, strings.Join(e.Events, ","), e.Secret, now).Scan(&e.Secret, &e.CreatedAt, &e.UpdatedAt, &created)
	if err != nil {
		return e, false, fmt.Errorf("put webhook %s: %w", e.ID, pgDataError(err))
	}
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return e, created, nil
}

// ListWebhooks lists a tenant's endpoints by id.
func (s *PostgresStore) ListWebhooks(ctx context.Context, tenant string) ([]WebhookEndpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant, id, url, events, secret, previous_secret, previous_until, created_at, updated_at
		FROM webhook_endpoints WHERE tenant = $1 ORDER BY id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	defer rows.Close()
	var out []WebhookEndpoint
	for rows.Next() {
		var e WebhookEndpoint
		var events string
		var until *time.Time
		if err := rows.Scan(&e.Tenant, &e.ID, &e.URL, &events, &e.Secret, &e.PreviousSecret, &until, &e.CreatedAt, &e.UpdatedAt); err != nil {
			return nil, fmt.Errorf("list webhooks: %w", err)
		}
		if until != nil {
			e.PreviousUntil = until.UTC()
		}
		e.Events, e.CreatedAt, e.UpdatedAt = splitEvents(events), e.CreatedAt.UTC(), e.UpdatedAt.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteWebhook removes an endpoint; ErrNotFound when there is none.
func (s *PostgresStore) DeleteWebhook(ctx context.Context, tenant, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_endpoints WHERE tenant = $1 AND id = $2`, tenant, id)
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("webhook %s: %w", id, ErrNotFound)
	}
	return nil
}

// RecordDelivery appends an attempt to the delivery log.
func (s *PostgresStore) RecordDelivery(ctx context.Context, d WebhookDelivery) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO webhook_deliveries (tenant, endpoint, message_id, event, attempt, status_code, latency_ms, error, payload, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		d.Tenant, d.Endpoint, d.MessageID, d.Event, d.Attempt, d.StatusCode, d.LatencyMS, d.Error, d.Payload, StoredTime(orNow(d.At, s.now()))).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record delivery: %w", pgDataError(err))
	}
	return id, nil
}

// ListDeliveries lists an endpoint's attempts, newest first (at most limit).
func (s *PostgresStore) ListDeliveries(ctx context.Context, tenant, endpoint string, limit int) ([]WebhookDelivery, error) {
	return s.deliveries(ctx, tenant, endpoint, 0, limit)
}

// GetDelivery reads one attempt of an endpoint.
func (s *PostgresStore) GetDelivery(ctx context.Context, tenant, endpoint string, id int64) (WebhookDelivery, error) {
	return oneDelivery(s.deliveries(ctx, tenant, endpoint, id, 1))
}

// deliveries lists an endpoint's attempts, newest first; id > 0 picks one.
func (s *PostgresStore) deliveries(ctx context.Context, tenant, endpoint string, id int64, limit int) ([]WebhookDelivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, tenant, endpoint, message_id, event, attempt, status_code, latency_ms, error, payload, at
		FROM webhook_deliveries WHERE tenant = $1 AND endpoint = $2 AND ($4 = 0 OR id = $4) ORDER BY id DESC LIMIT $3`, tenant, endpoint, limit, id)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (WebhookDelivery, error) {
		var d WebhookDelivery
		err := r.Scan(&d.ID, &d.Tenant, &d.Endpoint, &d.MessageID, &d.Event, &d.Attempt, &d.StatusCode, &d.LatencyMS, &d.Error, &d.Payload, &d.At)
		d.At = d.At.UTC()
		return d, err
	})
}

// PutWebhook inserts or updates an endpoint.
func (s *SQLiteStore) PutWebhook(ctx context.Context, e WebhookEndpoint) (WebhookEndpoint, bool, error) {
	now := s.stamp()
	var created bool
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var secret, createdAt string
		err := tx.QueryRowContext(ctx, `SELECT secret, created_at FROM webhook_endpoints WHERE tenant = ? AND id = ?`, e.Tenant, e.ID).Scan(&secret, &createdAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = true
			e.CreatedAt = now
			_, err = tx.ExecContext(ctx, `INSERT INTO webhook_endpoints (tenant, id, url, events, secret, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				e.Tenant, e.ID, e.URL, strings.Join(e.Events, ","), e.Secret, sqliteTime(now), sqliteTime(now))
			return err
		case err != nil:
			return err
		}
		e.Secret = secret
		if e.CreatedAt, err = parseSQLiteTime(createdAt); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE webhook_endpoints SET url = ?, events = ?, updated_at = ? WHERE tenant = ? AND id = ?`,
			e.URL, strings.Join(e.Events, ","), sqliteTime(now), e.Tenant, e.ID)
		return err
	})
	if err != nil {
		return e, false, fmt.Errorf("put webhook %s: %w", e.ID, sqliteDataError(err))
	}
	e.UpdatedAt = now
	return e, created, nil
}

// ListWebhooks lists a tenant's endpoints by id.
func (s *SQLiteStore) ListWebhooks(ctx context.Context, tenant string) ([]WebhookEndpoint, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT tenant, id, url, events, secret, previous_secret, coalesce(previous_until, ''), created_at, updated_at
		FROM webhook_endpoints WHERE tenant = ? ORDER BY id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	defer rows.Close()
	var out []WebhookEndpoint
	for rows.Next() {
		var e WebhookEndpoint
		var events, until, created, updated string
		if err := rows.Scan(&e.Tenant, &e.ID, &e.URL, &events, &e.Secret, &e.PreviousSecret, &until, &created, &updated); err != nil {
			return nil, fmt.Errorf("list webhooks: %w", err)
		}
		if until != "" {
			if err := parseSQLiteTimes(&until, &e.PreviousUntil); err != nil {
				return nil, err
			}
		}
		if err := parseSQLiteTimes(&created, &e.CreatedAt, &updated, &e.UpdatedAt); err != nil {
			return nil, err
		}
		e.Events = splitEvents(events)
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteWebhook removes an endpoint.
func (s *SQLiteStore) DeleteWebhook(ctx context.Context, tenant, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE tenant = ? AND id = ?`, tenant, id)
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("webhook %s: %w", id, cmpErr(err, ErrNotFound))
	}
	return nil
}

// RecordDelivery appends an attempt to the delivery log.
func (s *SQLiteStore) RecordDelivery(ctx context.Context, d WebhookDelivery) (int64, error) {
	res, err := s.w.ExecContext(ctx, `INSERT INTO webhook_deliveries (tenant, endpoint, message_id, event, attempt, status_code, latency_ms, error, payload, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.Tenant, d.Endpoint, d.MessageID, d.Event, d.Attempt, d.StatusCode, d.LatencyMS, d.Error, d.Payload, sqliteTime(orNow(d.At, s.now())))
	if err != nil {
		return 0, fmt.Errorf("record delivery: %w", sqliteDataError(err))
	}
	return res.LastInsertId()
}

// ListDeliveries lists an endpoint's attempts, newest first.
func (s *SQLiteStore) ListDeliveries(ctx context.Context, tenant, endpoint string, limit int) ([]WebhookDelivery, error) {
	return s.deliveries(ctx, tenant, endpoint, 0, limit)
}

// GetDelivery reads one attempt of an endpoint.
func (s *SQLiteStore) GetDelivery(ctx context.Context, tenant, endpoint string, id int64) (WebhookDelivery, error) {
	return oneDelivery(s.deliveries(ctx, tenant, endpoint, id, 1))
}

// deliveries lists an endpoint's attempts, newest first; id > 0 picks one.
func (s *SQLiteStore) deliveries(ctx context.Context, tenant, endpoint string, id int64, limit int) ([]WebhookDelivery, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, tenant, endpoint, message_id, event, attempt, status_code, latency_ms, error, payload, at
		FROM webhook_deliveries WHERE tenant = ? AND endpoint = ? AND (? = 0 OR id = ?) ORDER BY id DESC LIMIT ?`, tenant, endpoint, id, id, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	var out []WebhookDelivery
	for rows.Next() {
		var d WebhookDelivery
		var at string
		if err := rows.Scan(&d.ID, &d.Tenant, &d.Endpoint, &d.MessageID, &d.Event, &d.Attempt, &d.StatusCode, &d.LatencyMS, &d.Error, &d.Payload, &at); err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		if d.At, err = parseSQLiteTime(at); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// PutWebhook inserts or updates an endpoint.
func (s *MemoryStore) PutWebhook(_ context.Context, e WebhookEndpoint) (WebhookEndpoint, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.webhooks == nil {
		s.webhooks = map[[2]string]WebhookEndpoint{}
	}
	now := s.stamp()
	k := [2]string{e.Tenant, e.ID}
	old, ok := s.webhooks[k]
	e.Events = slices.Clone(e.Events)
	e.CreatedAt, e.UpdatedAt = now, now
	if ok {
		e.Secret, e.CreatedAt = old.Secret, old.CreatedAt
	}
	s.webhooks[k] = e
	return e, !ok, nil
}

// ListWebhooks lists a tenant's endpoints by id.
func (s *MemoryStore) ListWebhooks(_ context.Context, tenant string) ([]WebhookEndpoint, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []WebhookEndpoint
	for k, e := range s.webhooks {
		if k[0] == tenant {
			e.Events = slices.Clone(e.Events)
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b WebhookEndpoint) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteWebhook removes an endpoint.
func (s *MemoryStore) DeleteWebhook(_ context.Context, tenant, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.webhooks[[2]string{tenant, id}]; !ok {
		return fmt.Errorf("webhook %s: %w", id, ErrNotFound)
	}
	delete(s.webhooks, [2]string{tenant, id})
	return nil
}

// RecordDelivery appends an attempt to the delivery log.
func (s *MemoryStore) RecordDelivery(_ context.Context, d WebhookDelivery) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.ID = int64(len(s.deliveries) + 1)
	d.At = StoredTime(orNow(d.At, s.now()))
	s.deliveries = append(s.deliveries, d)
	return d.ID, nil
}

// ListDeliveries lists an endpoint's attempts, newest first.
func (s *MemoryStore) ListDeliveries(_ context.Context, tenant, endpoint string, limit int) ([]WebhookDelivery, error) {
	return s.listDeliveries(tenant, endpoint, 0, limit), nil
}

// GetDelivery reads one attempt of an endpoint.
func (s *MemoryStore) GetDelivery(_ context.Context, tenant, endpoint string, id int64) (WebhookDelivery, error) {
	return oneDelivery(s.listDeliveries(tenant, endpoint, id, 1), nil)
}

func (s *MemoryStore) listDeliveries(tenant, endpoint string, id int64, limit int) []WebhookDelivery {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []WebhookDelivery
	for i := len(s.deliveries) - 1; i >= 0 && len(out) < limit; i-- {
		if d := s.deliveries[i]; d.Tenant == tenant && d.Endpoint == endpoint && (id == 0 || d.ID == id) {
			out = append(out, d)
		}
	}
	return out
}

// oneDelivery is the one attempt a lookup by id found, or ErrNotFound.
func oneDelivery(ds []WebhookDelivery, err error) (WebhookDelivery, error) {
	if err != nil {
		return WebhookDelivery{}, err
	}
	if len(ds) == 0 {
		return WebhookDelivery{}, ErrNotFound
	}
	return ds[0], nil
}

func splitEvents(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// TenantsWithWebhooks lists the tenants that have at least one endpoint.
func (s *PostgresStore) TenantsWithWebhooks(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT tenant FROM webhook_endpoints ORDER BY tenant`)
	if err != nil {
		return nil, fmt.Errorf("tenants with webhooks: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// TenantsWithWebhooks lists the tenants that have at least one endpoint.
func (s *SQLiteStore) TenantsWithWebhooks(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT tenant FROM webhook_endpoints ORDER BY tenant`)
	if err != nil {
		return nil, fmt.Errorf("tenants with webhooks: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TenantsWithWebhooks lists the tenants that have at least one endpoint.
func (s *MemoryStore) TenantsWithWebhooks(context.Context) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	set := map[string]bool{}
	for k := range s.webhooks {
		set[k[0]] = true
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	slices.Sort(out)
	return out, nil
}

// RotateWebhookSecret makes secret the endpoint's signing secret; the one
// it replaces keeps signing too until previousUntil.
func (s *PostgresStore) RotateWebhookSecret(ctx context.Context, tenant, id, secret string, previousUntil time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_endpoints SET previous_secret = secret, previous_until = $4, secret = $3, updated_at = $5
		WHERE tenant = $1 AND id = $2`, tenant, id, secret, StoredTime(previousUntil), s.stamp())
	if err != nil {
		return fmt.Errorf("rotate webhook secret %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("webhook %s: %w", id, ErrNotFound)
	}
	return nil
}

// RotateWebhookSecret makes secret the endpoint's signing secret.
func (s *SQLiteStore) RotateWebhookSecret(ctx context.Context, tenant, id, secret string, previousUntil time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE webhook_endpoints SET previous_secret = secret, previous_until = ?, secret = ?, updated_at = ?
		WHERE tenant = ? AND id = ?`, sqliteTime(previousUntil), secret, sqliteTime(s.now()), tenant, id)
	if err != nil {
		return fmt.Errorf("rotate webhook secret %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("webhook %s: %w", id, cmpErr(err, ErrNotFound))
	}
	return nil
}

// RotateWebhookSecret makes secret the endpoint's signing secret.
func (s *MemoryStore) RotateWebhookSecret(_ context.Context, tenant, id, secret string, previousUntil time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{tenant, id}
	e, ok := s.webhooks[k]
	if !ok {
		return fmt.Errorf("webhook %s: %w", id, ErrNotFound)
	}
	e.PreviousSecret, e.PreviousUntil, e.Secret, e.UpdatedAt = e.Secret, StoredTime(previousUntil), secret, s.stamp()
	s.webhooks[k] = e
	return nil
}
