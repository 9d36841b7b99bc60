package persistence

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// keyGenerationKey is the meta row holding the key generation.
const keyGenerationKey = "key_generation"

// RevokeAPIKey revokes a live key and raises the key generation.
func (s *PostgresStore) RevokeAPIKey(ctx context.Context, id string, at time.Time) (int64, error) {
	var gen int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, StoredTime(at))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var revoked *time.Time
			if err := tx.QueryRow(ctx, `SELECT revoked_at FROM api_keys WHERE id = $1`, id).Scan(&revoked); errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			} else if err != nil {
				return err
			}
			return ErrAlreadyRevoked
		}
		return tx.QueryRow(ctx, `INSERT INTO meta (key, value) VALUES ($1, '1')
			ON CONFLICT (key) DO UPDATE SET value = (meta.value::bigint + 1)::text
			RETURNING value::bigint`, keyGenerationKey).Scan(&gen)
	})
	if err != nil {
		return 0, fmt.Errorf("revoke api key %s: %w", id, err)
	}
	return gen, nil
}

// KeyGeneration reads the key generation.
func (s *PostgresStore) KeyGeneration(ctx context.Context) (int64, error) {
	var gen int64
	err := s.pool.QueryRow(ctx, `SELECT value::bigint FROM meta WHERE key = $1`, keyGenerationKey).Scan(&gen)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("key generation: %w", err)
	}
	return gen, nil
}

// ConfirmKeyGeneration records node's applied generation.
func (s *PostgresStore) ConfirmKeyGeneration(ctx context.Context, node string, gen int64, at time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO key_cache_nodes (node, generation, seen_at) VALUES ($1, $2, $3)
		ON CONFLICT (node) DO UPDATE SET generation = GREATEST(key_cache_nodes.generation, excluded.generation), seen_at = excluded.seen_at`,
		node, gen, StoredTime(at))
	if err != nil {
		return fmt.Errorf("confirm key generation: %w", err)
	}
	return nil
}

// KeyGenerationLaggards lists live nodes behind gen.
func (s *PostgresStore) KeyGenerationLaggards(ctx context.Context, gen int64, seenSince time.Time) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT node FROM key_cache_nodes WHERE seen_at >= $1 AND generation < $2 ORDER BY node`,
		StoredTime(seenSince), gen)
	if err != nil {
		return nil, fmt.Errorf("key generation laggards: %w", err)
	}
	nodes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("key generation laggards: %w", err)
	}
	return nodes, nil
}

// RevokeAPIKey revokes a live key and raises the key generation.
func (s *SQLiteStore) RevokeAPIKey(ctx context.Context, id string, at time.Time) (int64, error) {
	var gen int64
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, sqliteTime(at), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM api_keys WHERE id = ?`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			} else if err != nil {
				return err
			}
			return ErrAlreadyRevoked
		}
		return tx.QueryRowContext(ctx, `INSERT INTO meta (key, value) VALUES (?, '1')
			ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)
			RETURNING CAST(value AS INTEGER)`, keyGenerationKey).Scan(&gen)
	})
	if err != nil {
		return 0, fmt.Errorf("revoke api key %s: %w", id, err)
	}
	return gen, nil
}

// KeyGeneration reads the key generation.
func (s *SQLiteStore) KeyGeneration(ctx context.Context) (int64, error) {
	var gen int64
	err := s.r.QueryRowContext(ctx, `SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?`, keyGenerationKey).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("key generation: %w", err)
	}
	return gen, nil
}

// ConfirmKeyGeneration records node's applied generation.
func (s *SQLiteStore) ConfirmKeyGeneration(ctx context.Context, node string, gen int64, at time.Time) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO key_cache_nodes (node, generation, seen_at) VALUES (?, ?, ?)
		ON CONFLICT (node) DO UPDATE SET generation = max(key_cache_nodes.generation, excluded.generation), seen_at = excluded.seen_at`,
		node, gen, sqliteTime(at))
	if err != nil {
		return fmt.Errorf("confirm key generation: %w", err)
	}
	return nil
}

// KeyGenerationLaggards lists live nodes behind gen.
func (s *SQLiteStore) KeyGenerationLaggards(ctx context.Context, gen int64, seenSince time.Time) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT node FROM key_cache_nodes WHERE seen_at >= ? AND generation < ? ORDER BY node`,
		sqliteTime(seenSince), gen)
	if err != nil {
		return nil, fmt.Errorf("key generation laggards: %w", err)
	}
	defer rows.Close()
	var nodes []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("key generation laggards: %w", err)
		}
		nodes = append(nodes, n)
	}
	return nodes, rows.Err()
}

// memNode is a node's confirmation in the memory store.
type memNode struct {
	generation int64
	seenAt     time.Time
}

// RevokeAPIKey revokes a live key and raises the key generation.
func (s *MemoryStore) RevokeAPIKey(_ context.Context, id string, at time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return 0, fmt.Errorf("api key %s: %w", id, ErrNotFound)
	}
	if k.RevokedAt != nil {
		return 0, fmt.Errorf("api key %s: %w", id, ErrAlreadyRevoked)
	}
	t := StoredTime(at)
	k.RevokedAt = &t
	s.keys[id] = k
	gen, _ := strconv.ParseInt(s.meta[keyGenerationKey], 10, 64)
	gen++
	s.meta[keyGenerationKey] = strconv.FormatInt(gen, 10)
	return gen, nil
}

// KeyGeneration reads the key generation.
func (s *MemoryStore) KeyGeneration(context.Context) (int64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	gen, _ := strconv.ParseInt(s.meta[keyGenerationKey], 10, 64)
	return gen, nil
}

// ConfirmKeyGeneration records node's applied generation.
func (s *MemoryStore) ConfirmKeyGeneration(_ context.Context, node string, gen int64, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keyNodes == nil {
		s.keyNodes = map[string]memNode{}
	}
	n := s.keyNodes[node]
	s.keyNodes[node] = memNode{generation: max(n.generation, gen), seenAt: StoredTime(at)}
	return nil
}

// KeyGenerationLaggards lists live nodes behind gen.
func (s *MemoryStore) KeyGenerationLaggards(_ context.Context, gen int64, seenSince time.Time) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for name, n := range s.keyNodes {
		if !n.seenAt.Before(StoredTime(seenSince)) && n.generation < gen {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// maintenanceKey is the meta row holding the maintenance state (JSON; ""
// or absent when off).
const maintenanceKey = "maintenance"

// Maintenance is the maintenance mode every node applies: while On, API
// calls answer 503 maintenance with Retry-After, except those carrying the
// bypass secret (only its SHA-256 is stored).
type Maintenance struct {
	On         bool      `json:"on"`
	RetryAfter int       `json:"retry_after"` // seconds
	Message    string    `json:"message,omitempty"`
	SecretHash []byte    `json:"secret_hash,omitempty"`
	Since      time.Time `json:"since"`
}

// SetMaintenance stores m and raises the key generation in the same
// transaction, so that nodes reload it at their next poll and `staylock
// down`/`up` can wait for every live node (KeyGenerationLaggards).
func (s *PostgresStore) SetMaintenance(ctx context.Context, m Maintenance) (int64, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return 0, err
	}
	var gen int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
			maintenanceKey, string(raw)); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO meta (key, value) VALUES ($1, '1')
			ON CONFLICT (key) DO UPDATE SET value = (meta.value::bigint + 1)::text
			RETURNING value::bigint`, keyGenerationKey).Scan(&gen)
	})
	if err != nil {
		return 0, fmt.Errorf("set maintenance: %w", err)
	}
	return gen, nil
}

// SetMaintenance stores m and raises the key generation.
func (s *SQLiteStore) SetMaintenance(ctx context.Context, m Maintenance) (int64, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return 0, err
	}
	var gen int64
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
			maintenanceKey, string(raw)); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO meta (key, value) VALUES (?, '1')
			ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)
			RETURNING CAST(value AS INTEGER)`, keyGenerationKey).Scan(&gen)
	})
	if err != nil {
		return 0, fmt.Errorf("set maintenance: %w", err)
	}
	return gen, nil
}

// SetMaintenance stores m and raises the key generation.
func (s *MemoryStore) SetMaintenance(_ context.Context, m Maintenance) (int64, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.meta[maintenanceKey] = string(raw)
	gen, _ := strconv.ParseInt(s.meta[keyGenerationKey], 10, 64)
	gen++
	s.meta[keyGenerationKey] = strconv.FormatInt(gen, 10)
	return gen, nil
}

// GetMaintenance reads the maintenance state (off when never set).
func GetMaintenance(ctx context.Context, s Store) (Maintenance, error) {
	raw, err := s.GetMeta(ctx, maintenanceKey)
	if errors.Is(err, ErrNotFound) || (err == nil && raw == "") {
		return Maintenance{}, nil
	}
	if err != nil {
		return Maintenance{}, fmt.Errorf("read maintenance: %w", err)
	}
	var m Maintenance
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return Maintenance{}, fmt.Errorf("read maintenance: %w", err)
	}
	return m, nil
}
