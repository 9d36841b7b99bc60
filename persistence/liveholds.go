package persistence

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// LiveHolds lists every stored hold part, so that a starting node can wake
// the room types that own them and release the expired ones.
func (s *PostgresStore) LiveHolds(ctx context.Context) ([]HoldRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT tenant, id, property, room_type, expires_at FROM holds ORDER BY tenant, property, room_type, id`)
	if err != nil {
		return nil, fmt.Errorf("live holds: %w", err)
	}
	hs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (HoldRow, error) {
		var h HoldRow
		err := r.Scan(&h.Tenant, &h.ID, &h.Property, &h.RoomType, &h.ExpiresAt)
		h.ExpiresAt = h.ExpiresAt.UTC()
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("live holds: %w", err)
	}
	return hs, nil
}

// LiveHolds lists every stored hold part.
func (s *SQLiteStore) LiveHolds(ctx context.Context) ([]HoldRow, error) {
	hs, err := sqliteCollect(ctx, s.r, func(row interface{ Scan(...any) error }) (HoldRow, error) {
		var h HoldRow
		var exp string
		if err := row.Scan(&h.Tenant, &h.ID, &h.Property, &h.RoomType, &exp); err != nil {
			return h, err
		}
		return h, parseSQLiteTimes(&exp, &h.ExpiresAt)
	}, `SELECT tenant, id, property, room_type, expires_at FROM holds ORDER BY tenant, property, room_type, id`)
	if err != nil {
		return nil, fmt.Errorf("live holds: %w", err)
	}
	return hs, nil
}
