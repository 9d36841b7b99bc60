package persistence

import (
	"context"
	"fmt"
)

// liveHoldsOrder lists every hold part, grouped by the actor that owns it.
const liveHoldsOrder = `ORDER BY tenant, property, room_type, id`

// LiveHolds lists every stored hold part, so that a starting node can wake
// the room types that own them and release the expired ones.
func (s *PostgresStore) LiveHolds(ctx context.Context) ([]HoldRow, error) {
	hs, err := s.holds(ctx, liveHoldsOrder)
	if err != nil {
		return nil, fmt.Errorf("live holds: %w", err)
	}
	return hs, nil
}

// LiveHolds lists every stored hold part.
func (s *SQLiteStore) LiveHolds(ctx context.Context) ([]HoldRow, error) {
	hs, err := s.holds(ctx, liveHoldsOrder)
	if err != nil {
		return nil, fmt.Errorf("live holds: %w", err)
	}
	return hs, nil
}
