package persistence

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivershared/uniquestates"
	"github.com/riverqueue/river/rivertype"
)

// JobRow is a background job written in a batch's own transaction (River's
// river_job table): a commit without its jobs, or a job without its commit,
// cannot happen. Key identifies the job: a second row with the same Kind
// and Key is not inserted while the first is pending, running, retrying or
// completed (River's unique jobs), so a batch written twice (an unknown
// commit outcome resolved by a retry) or a reservation row carried by two
// batches makes one job.
type JobRow struct {
	Kind        string
	Queue       string
	Key         string          // e.g. "r_abc.confirmed.v1"
	Args        json.RawMessage // the worker's arguments
	MaxAttempts int             // 0: River's default (25)
}

// jobArgs is how a JobRow travels through River: {"key":…, "args":…}; only
// key makes it unique.
type jobArgs struct {
	kind string
	Key  string          `json:"key" river:"unique"`
	Args json.RawMessage `json:"args"`
}

func (a jobArgs) Kind() string { return a.kind }

// uniqueStates are River's default unique states: a job is a duplicate of
// one that is pending, scheduled, available, running, retryable or completed.
var uniqueStates = uniquestates.UniqueStatesToBitmask(rivertype.UniqueOptsByStateDefault())

// jobUniqueKey is River's unique key of a jobArgs with UniqueOpts{ByArgs}
// (river/internal/dbunique: sha256 of "&kind=K&args={"key":K}"), so that
// rows written here and by River's client deduplicate alike.
func jobUniqueKey(j JobRow) []byte {
	key, _ := json.Marshal(j.Key) // a string always encodes
	sum := sha256.Sum256([]byte("&kind=" + j.Kind + `&args={"key":` + string(key) + "}"))
	return sum[:]
}

func (j JobRow) encodedArgs() ([]byte, error) {
	b, err := json.Marshal(jobArgs{Key: j.Key, Args: j.Args})
	if err != nil {
		return nil, fmt.Errorf("encode job %s %s: %w", j.Kind, j.Key, err)
	}
	return b, nil
}

func (j JobRow) maxAttempts() int {
	if j.MaxAttempts > 0 {
		return j.MaxAttempts
	}
	return river.MaxAttemptsDefault
}

func (j JobRow) queue() string {
	if j.Queue != "" {
		return j.Queue
	}
	return river.QueueDefault
}

// pgJobsSQL inserts a batch's jobs as River's own JobInsertFastMany does
// (riverpgxv5), inside the batch's pipeline: a duplicate of a live or
// completed job with the same unique key is skipped.
const pgJobsSQL = `INSERT INTO river_job (args, kind, max_attempts, metadata, priority, queue, scheduled_at, state, tags, unique_key, unique_states)
	SELECT args, kind, max_attempts, '{}'::jsonb, 1, queue, $6, 'available'::river_job_state, '{}'::varchar(255)[], unique_key, $7::integer::bit(8)
	FROM unnest($1::jsonb[], $2::text[], $3::smallint[], $4::text[], $5::bytea[]) AS j(args, kind, max_attempts, queue, unique_key)
	ON CONFLICT (unique_key)
		WHERE unique_key IS NOT NULL AND unique_states IS NOT NULL AND river_job_state_in_bitmask(unique_states, state)
	DO NOTHING`

// pgJobsNotifySQL wakes River's producers of the queues that got jobs (what
// River's client does after an insert) once the transaction commits.
const pgJobsNotifySQL = `SELECT pg_notify(current_schema() || '.river_insert', json_build_object('queue', q)::text)
	FROM unnest($1::text[]) AS q`

// pgJob is a JobRow encoded for pgJobsSQL.
type pgJob struct {
	args, uniqueKey []byte
	kind, queue     string
	maxAttempts     int16
}

func newPGJob(j JobRow) (pgJob, error) {
	args, err := j.encodedArgs()
	if err != nil {
		return pgJob{}, err
	}
	return pgJob{args: args, uniqueKey: jobUniqueKey(j), kind: j.Kind, queue: j.queue(), maxAttempts: int16(j.maxAttempts())}, nil
}

// pgJobArgs are the arguments of pgJobsSQL and pgJobsNotifySQL. A job
// repeated (two batches of one transaction writing the same kind and key)
// is skipped by pgJobsSQL as a duplicate of a live one would be.
func pgJobArgs(jobs []pgJob, at time.Time) (insert []any, notify []any) {
	n := len(jobs)
	args, kinds, queues, keys := make([][]byte, n), make([]string, n), make([]string, n), make([][]byte, n)
	attempts := make([]int16, n)
	seen := map[string]bool{}
	var wake []string
	for i, j := range jobs {
		args[i], kinds[i], queues[i], keys[i], attempts[i] = j.args, j.kind, j.queue, j.uniqueKey, j.maxAttempts
		if !seen[queues[i]] {
			seen[queues[i]] = true
			wake = append(wake, queues[i])
		}
	}
	return []any{args, kinds, attempts, queues, keys, at, int32(uniqueStates)}, []any{wake}
}

// sqliteJobs inserts jobs in tx through River's client over riversqlite
// (insert only: it runs no workers).
type sqliteJobs struct {
	client *river.Client[*sql.Tx]
}

func newSQLiteJobs(db *sql.DB) (*sqliteJobs, error) {
	c, err := river.NewClient(riversqlite.New(db), &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return &sqliteJobs{client: c}, nil
}

func (s *sqliteJobs) insert(ctx context.Context, tx *sql.Tx, jobs []JobRow) error {
	params := make([]river.InsertManyParams, len(jobs))
	for i, j := range jobs {
		params[i] = river.InsertManyParams{
			Args: jobArgs{kind: j.Kind, Key: j.Key, Args: j.Args},
			InsertOpts: &river.InsertOpts{Queue: j.queue(), MaxAttempts: j.maxAttempts(),
				UniqueOpts: river.UniqueOpts{ByArgs: true}},
		}
	}
	if _, err := s.client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("insert jobs: %w", err)
	}
	return nil
}

// JobsWritten counts the jobs of kind in the queue.
func (s *PostgresStore) JobsWritten(ctx context.Context, kind string) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1`, kind).Scan(&n); err != nil {
		return 0, fmt.Errorf("count jobs: %w", err)
	}
	return n, nil
}

// JobsWritten counts the jobs of kind in the queue.
func (s *SQLiteStore) JobsWritten(ctx context.Context, kind string) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE kind = ?`, kind).Scan(&n); err != nil {
		return 0, fmt.Errorf("count jobs: %w", err)
	}
	return n, nil
}

// JobsWritten counts the jobs of kind written.
func (s *MemoryStore) JobsWritten(_ context.Context, kind string) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for k := range s.jobs {
		if k[0] == kind {
			n++
		}
	}
	return n, nil
}

// QueueStats is the state of the job queue, for metrics: per queue, the
// jobs waiting and the age of the oldest; per kind, the jobs discarded
// after their last attempt (the dead-letter state).
type QueueStats struct {
	Available       map[string]int           // by queue
	OldestAvailable map[string]time.Duration // by queue
	Discarded       map[string]int           // by kind
}

func newQueueStats() QueueStats {
	return QueueStats{Available: map[string]int{}, OldestAvailable: map[string]time.Duration{}, Discarded: map[string]int{}}
}

// JobQueueStats reads the queue's state.
func (s *PostgresStore) JobQueueStats(ctx context.Context) (QueueStats, error) {
	st := newQueueStats()
	rows, err := s.pool.Query(ctx, `SELECT queue, count(*), coalesce(extract(epoch FROM now() - min(scheduled_at)), 0)::float8
		FROM river_job WHERE state = 'available' GROUP BY queue`)
	if err != nil {
		return st, fmt.Errorf("queue stats: %w", err)
	}
	for rows.Next() {
		var q string
		var n int
		var age float64
		if err := rows.Scan(&q, &n, &age); err != nil {
			rows.Close()
			return st, fmt.Errorf("queue stats: %w", err)
		}
		st.Available[q], st.OldestAvailable[q] = n, time.Duration(max(age, 0)*float64(time.Second))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("queue stats: %w", err)
	}
	rows, err = s.pool.Query(ctx, `SELECT kind, count(*) FROM river_job WHERE state = 'discarded' GROUP BY kind`)
	if err != nil {
		return st, fmt.Errorf("queue stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return st, fmt.Errorf("queue stats: %w", err)
		}
		st.Discarded[k] = n
	}
	return st, rows.Err()
}

// JobQueueStats reads the queue's state.
func (s *SQLiteStore) JobQueueStats(ctx context.Context) (QueueStats, error) {
	st := newQueueStats()
	rows, err := s.r.QueryContext(ctx, `SELECT queue, count(*), coalesce((julianday('now') - julianday(min(scheduled_at))) * 86400.0, 0)
		FROM river_job WHERE state = 'available' GROUP BY queue`)
	if err != nil {
		return st, fmt.Errorf("queue stats: %w", err)
	}
	for rows.Next() {
		var q string
		var n int
		var age float64
		if err := rows.Scan(&q, &n, &age); err != nil {
			rows.Close()
			return st, fmt.Errorf("queue stats: %w", err)
		}
		st.Available[q], st.OldestAvailable[q] = n, time.Duration(max(age, 0)*float64(time.Second))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("queue stats: %w", err)
	}
	rows, err = s.r.QueryContext(ctx, `SELECT kind, count(*) FROM river_job WHERE state = 'discarded' GROUP BY kind`)
	if err != nil {
		return st, fmt.Errorf("queue stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return st, fmt.Errorf("queue stats: %w", err)
		}
		st.Discarded[k] = n
	}
	return st, rows.Err()
}

// JobQueueStats is empty: nothing runs jobs on the memory store.
func (s *MemoryStore) JobQueueStats(context.Context) (QueueStats, error) { return newQueueStats(), nil }

// JobInfo is one job of a reservation, for operators and the smoke test.
type JobInfo struct {
	Kind      string
	Key       string // e.g. r_abc.confirmed.v1
	State     string // River's: available, running, retryable, completed, cancelled, discarded, …
	Attempts  int
	LastError string
	CreatedAt time.Time
}

// ReservationJobs lists the jobs whose key belongs to reservation id
// (keys start with "<id>."), oldest first. Reservation ids are random and
// unique across tenants; the caller checks the tenant owns the reservation.
func (s *PostgresStore) ReservationJobs(ctx context.Context, id string) ([]JobInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, args->>'key', state::text, attempt,
			coalesce(errors[array_length(errors, 1)]->>'error', ''), created_at
		FROM river_job WHERE args->>'key' LIKE $1 ESCAPE '\' ORDER BY id`, likePrefix(id))
	if err != nil {
		return nil, fmt.Errorf("reservation jobs: %w", err)
	}
	defer rows.Close()
	var out []JobInfo
	for rows.Next() {
		var j JobInfo
		if err := rows.Scan(&j.Kind, &j.Key, &j.State, &j.Attempts, &j.LastError, &j.CreatedAt); err != nil {
			return nil, fmt.Errorf("reservation jobs: %w", err)
		}
		j.CreatedAt = j.CreatedAt.UTC()
		out = append(out, j)
	}
	return out, rows.Err()
}

// ReservationJobs lists the jobs of reservation id.
func (s *SQLiteStore) ReservationJobs(ctx context.Context, id string) ([]JobInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT kind, json_extract(args, '$.key'), state, attempt,
			coalesce(json_extract(errors, '$[#-1].error'), ''), created_at
		FROM river_job WHERE json_extract(args, '$.key') LIKE ? ESCAPE '\' ORDER BY id`, likePrefix(id))
	if err != nil {
		return nil, fmt.Errorf("reservation jobs: %w", err)
	}
	defer rows.Close()
	var out []JobInfo
	for rows.Next() {
		var j JobInfo
		var created any
		if err := rows.Scan(&j.Kind, &j.Key, &j.State, &j.Attempts, &j.LastError, &created); err != nil {
			return nil, fmt.Errorf("reservation jobs: %w", err)
		}
		if t, ok := created.(time.Time); ok {
			j.CreatedAt = t.UTC()
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// ReservationJobs lists the jobs of reservation id (never run: the memory
// store has no workers).
func (s *MemoryStore) ReservationJobs(_ context.Context, id string) ([]JobInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []JobInfo
	for _, j := range s.jobList {
		if strings.HasPrefix(j.Key, id+".") {
			out = append(out, j)
		}
	}
	return out, nil
}

// likePrefix is a LIKE pattern for keys starting with id + ".".
func likePrefix(id string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(id) + `.%`
}
