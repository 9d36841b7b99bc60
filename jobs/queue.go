package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"github.com/staylock/staylock/jobs/mail"
	"github.com/staylock/staylock/jobs/webhook"
	"github.com/staylock/staylock/persistence"
)

// Role is what a process does with the queue.
type Role int

const (
	// RoleWorker runs jobs (emails) and never leads: `staylock worker`.
	RoleWorker Role = iota + 1
	// RoleScheduler takes part in River's leader election; the leader
	// alone enqueues the periodic jobs and rescues jobs whose worker died:
	// `staylock scheduler`, one or more per environment (exactly one leads).
	RoleScheduler
	// RoleEmbedded does both in the serving process: the single node on
	// the embedded SQLite file.
	RoleEmbedded
	// RoleNode is a serving node on Postgres: it runs only the engine
	// queue's jobs (the hold sweep), which need its actors; never leads.
	RoleNode
)

func (r Role) String() string {
	switch r {
	case RoleWorker:
		return "worker"
	case RoleScheduler:
		return "scheduler"
	case RoleEmbedded:
		return "embedded"
	case RoleNode:
		return "node"
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// engineWorkers is how many engine-queue jobs a serving node runs at once:
// two, so that a long history walk does not hold up the hold sweep.
const engineWorkers = 2

// Defaults of Options.
const (
	DefaultConcurrency = 10
	DefaultPurgeEvery  = time.Hour
	DefaultSweepEvery  = time.Minute
	DefaultPruneEvery  = 24 * time.Hour
	DefaultHistoryKeep = 30
	DefaultReportEvery = 24 * time.Hour
	DefaultJobTimeout  = time.Minute
	DefaultRescueAfter = 10 * time.Minute

	DefaultWebhookMaxAttempts = 8
	DefaultRetryBase          = 10 * time.Second
	DefaultWebhookTimeout     = 10 * time.Second
)

// Options configure a Queue.
type Options struct {
	Role   Role
	Store  persistence.Store
	Sender mail.Sender
	From   string // the mails' From address
	// Concurrency is how many emails one process sends at once.
	Concurrency int
	// PurgeEvery is the period of the idempotency purge, SweepEvery the
	// period of the backstop hold sweep (scheduler).
	PurgeEvery, SweepEvery time.Duration
	// PruneEvery is the period of the history pruning (scheduler);
	// HistoryKeep how many past nights the actors keep.
	PruneEvery  time.Duration
	HistoryKeep int
	// ReportTo receives the occupancy report every ReportEvery (none when
	// empty).
	ReportTo    string
	ReportEvery time.Duration
	// Engine runs the engine queue's jobs: the serving node's actors (nil
	// in worker and scheduler processes).
	Engine Engine
	// JobTimeout bounds one attempt; RescueAfter (longer) is when the
	// leader takes back a job left running by a dead worker and retries it.
	JobTimeout, RescueAfter time.Duration
	// PollInterval is how often workers look for jobs when no insert
	// notification arrives (always, on SQLite). 0: River's default (1 s).
	PollInterval time.Duration
	// ID names this process in River (its leader id); "" makes one.
	ID     string
	Logger *zap.Logger
	// WebhookMaxAttempts is how often a delivery is tried before it is
	// discarded (the dead-letter state); RetryBase the first retry's wait
	// (doubling after each attempt, with jitter); WebhookTimeout bounds one
	// attempt.
	WebhookMaxAttempts int
	RetryBase          time.Duration
	WebhookTimeout     time.Duration
	// AllowPrivateTargets lets webhooks reach loopback and private
	// addresses over http: APP_ENV=local only.
	AllowPrivateTargets bool
	// Registry, when set, receives the job outcome metrics
	// (hotel_jobs_completed_total, …) of the jobs this process runs.
	Registry prometheus.Registerer
}

func (o *Options) withDefaults() error {
	if o.Role < RoleWorker || o.Role > RoleNode {
		return fmt.Errorf("jobs: unknown role %d", o.Role)
	}
	if o.Store == nil || o.Sender == nil {
		return errors.New("jobs: a store and a mail sender are required")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.PurgeEvery <= 0 {
		o.PurgeEvery = DefaultPurgeEvery
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = DefaultSweepEvery
	}
	if o.PruneEvery <= 0 {
		o.PruneEvery = DefaultPruneEvery
	}
	if o.HistoryKeep <= 0 {
		o.HistoryKeep = DefaultHistoryKeep
	}
	if o.ReportEvery <= 0 {
		o.ReportEvery = DefaultReportEvery
	}
	if o.JobTimeout <= 0 {
		o.JobTimeout = DefaultJobTimeout
	}
	if o.RescueAfter <= 0 {
		o.RescueAfter = DefaultRescueAfter
	}
	if o.RescueAfter <= o.JobTimeout {
		return fmt.Errorf("jobs: rescue after %s must be longer than the job timeout %s", o.RescueAfter, o.JobTimeout)
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.WebhookMaxAttempts <= 0 {
		o.WebhookMaxAttempts = DefaultWebhookMaxAttempts
	}
	if o.RetryBase <= 0 {
		o.RetryBase = DefaultRetryBase
	}
	if o.WebhookTimeout <= 0 {
		o.WebhookTimeout = DefaultWebhookTimeout
	}
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = fmt.Sprintf("%s-%s-%d", o.Role, host, os.Getpid())
	}
	return nil
}

// Queue is a running River client of one role.
type Queue struct {
	role  Role
	id    string
	start func(context.Context) error
	stop  func(context.Context) error
}

// NewPostgres makes the queue of a Postgres deployment over pool.
func NewPostgres(pool *pgxpool.Pool, opts Options) (*Queue, error) {
	if err := opts.withDefaults(); err != nil {
		return nil, err
	}
	if opts.Role == RoleEmbedded {
		return nil, errors.New("jobs: the embedded role is for the SQLite store; run `staylock worker` and `staylock scheduler` on Postgres")
	}
	return newQueue[pgx.Tx](riverpgxv5.New(pool), opts, false)
}

// NewSQLite makes the queue of the embedded store over its writer handle.
func NewSQLite(db *sql.DB, opts Options) (*Queue, error) {
	if err := opts.withDefaults(); err != nil {
		return nil, err
	}
	return newQueue[*sql.Tx](riversqlite.New(db), opts, true)
}

func newQueue[TTx any](driver riverdriver.Driver[TTx], o Options, pollOnly bool) (*Queue, error) {
	log := o.Logger.With(zap.String("component", "jobs"), zap.Stringer("role", o.Role))
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &mailWorker{store: o.Store, sender: o.Sender, from: o.From, log: log}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &purgeWorker{store: o.Store, log: log}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &sweepWorker{engine: o.Engine, log: log}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &reportWorker{engine: o.Engine, sender: o.Sender, from: o.From, to: o.ReportTo, log: log}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &pruneWorker{engine: o.Engine, keep: o.HistoryKeep, timeout: o.RescueAfter / 2, log: log}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &fanoutWorker{store: o.Store, maxAttempts: o.WebhookMaxAttempts}); err != nil {
		return nil, err
	}
	sender := webhook.NewSender(webhook.URLPolicy{AllowPrivate: o.AllowPrivateTargets}, o.WebhookTimeout)
	if err := river.AddWorkerSafely(workers, &deliveryWorker{store: o.Store, sender: sender, retryBase: o.RetryBase, log: log}); err != nil {
		return nil, err
	}
	cfg := &river.Config{
		ID:                   o.ID,
		Workers:              workers,
		JobTimeout:           o.JobTimeout,
		RescueStuckJobsAfter: o.RescueAfter,
		FetchPollInterval:    o.PollInterval,
		PollOnly:             pollOnly,
		Logger:               slog.New(zapslog.NewHandler(log.Core())),
		// Workers never lead: periodic jobs and rescues are the
		// scheduler's, so that exactly one process per environment runs
		// them whatever the number of workers.
		LeaderElectionDisabled: o.Role == RoleWorker || o.Role == RoleNode,
	}
	switch o.Role {
	case RoleWorker:
		cfg.Queues = map[string]river.QueueConfig{QueueMail: {MaxWorkers: o.Concurrency}, QueueWebhooks: {MaxWorkers: o.Concurrency}}
	case RoleScheduler:
		cfg.Queues = map[string]river.QueueConfig{QueueMaintenance: {MaxWorkers: 1}}
	case RoleEmbedded:
		cfg.Queues = map[string]river.QueueConfig{QueueMail: {MaxWorkers: o.Concurrency}, QueueWebhooks: {MaxWorkers: o.Concurrency},
			QueueMaintenance: {MaxWorkers: 1}, QueueEngine: {MaxWorkers: engineWorkers}}
	case RoleNode:
		cfg.Queues = map[string]river.QueueConfig{QueueEngine: {MaxWorkers: engineWorkers}}
	}
	if o.Role == RoleScheduler || o.Role == RoleEmbedded {
		cfg.PeriodicJobs = []*river.PeriodicJob{
			periodic(KindPurgeIdempotency, o.PurgeEvery, QueueMaintenance, PurgeArgs{}),
			periodic(KindSweepHolds, o.SweepEvery, QueueEngine, SweepArgs{}),
			periodic(KindPruneHistory, o.PruneEvery, QueueEngine, PruneArgs{}),
		}
		if o.ReportTo != "" {
			cfg.PeriodicJobs = append(cfg.PeriodicJobs, periodic(KindOccupancyReport, o.ReportEvery, QueueEngine, ReportArgs{}))
		}
	}
	if pollOnly && o.PollInterval == 0 {
		cfg.FetchPollInterval = 200 * time.Millisecond // no LISTEN on SQLite: poll often, it is a local file
	}
	client, err := river.NewClient(driver, cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	q := &Queue{role: o.Role, id: o.ID, start: client.Start, stop: client.Stop}
	if o.Registry != nil {
		m := NewMetrics(o.Registry)
		events, unsubscribe := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
		go m.observe(events)
		q.stop = func(ctx context.Context) error {
			defer unsubscribe() // closes events: observe returns
			return client.Stop(ctx)
		}
	}
	return q, nil
}

// Start begins working; it returns once the client runs.
func (q *Queue) Start(ctx context.Context) error {
	if err := q.start(ctx); err != nil {
		return fmt.Errorf("start %s queue: %w", q.role, err)
	}
	return nil
}

// Stop finishes the jobs in hand (until ctx ends) and stops.
func (q *Queue) Stop(ctx context.Context) error { return q.stop(ctx) }

// ID is this process's name in River (leader id).
func (q *Queue) ID() string { return q.id }

// periodic is a periodic job that makes one job per period, whichever
// scheduler leads when it comes: a new leader cannot run a tick twice.
func periodic(id string, every time.Duration, queue string, args river.JobArgs) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(every), func() (river.JobArgs, *river.InsertOpts) {
		return args, &river.InsertOpts{Queue: queue, UniqueOpts: river.UniqueOpts{ByPeriod: every}}
	}, &river.PeriodicJobOpts{ID: id})
}
