package persistence_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/staylock/staylock/persistence"
)

// TestTrimJournalDeletesCoveredRows: on the stores with a journal table,
// a trimming snapshot leaves only the snapshot's last row and what comes
// after it, and other actors' rows alone.
func TestTrimJournalDeletesCoveredRows(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var s persistence.Store
			var count func(actor string) int
			if backend == "sqlite" {
				s = newSQLite(t)
				db := s.(*persistence.SQLiteStore).DB()
				count = func(actor string) int {
					var n int
					if err := db.QueryRow(`SELECT count(*) FROM journal WHERE actor_id = ?`, actor).Scan(&n); err != nil {
						t.Fatal(err)
					}
					return n
				}
			} else {
				pg, _ := newPostgres(t)
				s = pg
				count = func(actor string) int {
					var n int
					if err := pg.(*persistence.PostgresStore).Pool().QueryRow(context.Background(), `SELECT count(*) FROM journal WHERE actor_id = $1`, actor).Scan(&n); err != nil {
						t.Fatal(err)
					}
					return n
				}
			}
			ctx := context.Background()
			ev := func(n int) [][]byte {
				out := make([][]byte, n)
				for i := range out {
					out[i] = fmt.Appendf(nil, `{"i":%d}`, i)
				}
				return out
			}
			for _, a := range []string{"t/p/a", "t/p/b"} {
				if err := s.CommitBatch(ctx, persistence.Batch{ActorID: a, FirstSeq: 1, Events: ev(10)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.CommitBatch(ctx, persistence.Batch{ActorID: "t/p/a", FirstSeq: 11, Events: ev(2), Snapshot: []byte(`{}`), TrimJournal: true}); err != nil {
				t.Fatal(err)
			}
			if a, b := count("t/p/a"), count("t/p/b"); a != 1 || b != 10 {
				t.Errorf("journal rows: trimmed actor %d (want 1, seq 12), other %d (want 10)", a, b)
			}
		})
	}
}
