package main

import (
	"net"
	"net/url"
	"testing"

	"github.com/staylock/staylock/actors"
	"github.com/staylock/staylock/cluster"
	"github.com/staylock/staylock/config"
	"github.com/staylock/staylock/gateway"
	"github.com/staylock/staylock/jobs"
	"github.com/staylock/staylock/jobs/mail"
	"github.com/staylock/staylock/loadtest"
	"github.com/staylock/staylock/persistence"
)

// config imports nothing of ours, so the defaults in its envDefault tags
// and its names of providers repeat the packages' own constants: each pair
// is held equal here, the package's constant being the one place.
func TestConfigDefaultsAreThePackagesDefaults(t *testing.T) {
	cfg, err := config.Load(config.LoadOptions{Environ: []string{}, NoDotEnv: true})
	if err != nil {
		t.Fatal(err)
	}
	_, httpPort, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	port := func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return u.Port()
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"IDEMPOTENCY_TTL", cfg.IdempotencyTTL, persistence.DefaultIdempotencyTTL},
		{"SNAPSHOT_EVERY", cfg.SnapshotEvery, actors.DefaultSnapshotEvery},
		{"MAX_BATCH", cfg.MaxBatch, actors.DefaultMaxBatch},
		{"ACTOR_IDLE_TIMEOUT", cfg.ActorIdleTimeout, actors.DefaultIdleTimeout},
		{"COMMIT_JOIN", cfg.CommitJoin, actors.DefaultJoinCommits},
		{"COMMIT_SLOTS", cfg.CommitSlots, actors.DefaultCommitSlots},
		{"config.MinIdempotencyTTL", config.MinIdempotencyTTL, persistence.MinIdempotencyTTL},
		{"BODY_LIMIT", int64(cfg.BodyLimit), int64(gateway.DefaultBodyLimit)},
		{"WEBHOOK_MAX_ATTEMPTS", cfg.Jobs.WebhookMaxAttempts, jobs.DefaultWebhookMaxAttempts},
		{"JOB_RETRY_BASE", cfg.Jobs.RetryBase, jobs.DefaultRetryBase},
		{"WEBHOOK_TIMEOUT", cfg.Jobs.WebhookTimeout, jobs.DefaultWebhookTimeout},
		{"JOB_CONCURRENCY", cfg.Jobs.Concurrency, jobs.DefaultConcurrency},
		{"JOB_PURGE_EVERY", cfg.Jobs.PurgeEvery, jobs.DefaultPurgeEvery},
		{"JOB_SWEEP_EVERY", cfg.Jobs.SweepEvery, jobs.DefaultSweepEvery},
		{"JOB_PRUNE_EVERY", cfg.Jobs.PruneEvery, jobs.DefaultPruneEvery},
		{"HISTORY_KEEP_DAYS", cfg.Jobs.HistoryKeepDays, jobs.DefaultHistoryKeep},
		{"JOB_REPORT_EVERY", cfg.Jobs.ReportEvery, jobs.DefaultReportEvery},
		{"JOB_TIMEOUT", cfg.Jobs.Timeout, jobs.DefaultJobTimeout},
		{"JOB_RESCUE_AFTER", cfg.Jobs.RescueAfter, jobs.DefaultRescueAfter},
		{"MAIL_ENCRYPTION", cfg.Mail.Encryption, mail.EncryptionSTARTTLS},
		{"CLUSTER_PROVIDER", cfg.ClusterProvider, cluster.ProviderLocal},
		{"CLUSTER_BIND", cfg.ClusterBind, cluster.DefaultBind},
		{"config.ClusterLocal", config.ClusterLocal, cluster.ProviderLocal},
		{"config.ClusterSeeds", config.ClusterSeeds, cluster.ProviderSeeds},
		{"config.ClusterEtcd", config.ClusterEtcd, cluster.ProviderEtcd},
		{"config.ClusterK8s", config.ClusterK8s, cluster.ProviderK8s},
		// The clients that find a node by default find the default node.
		{"probe's port (HTTP_ADDR)", port(defaultProbeURL), httpPort},
		{"loadtest's port (HTTP_ADDR)", port(loadtest.DefaultTarget), httpPort},
	} {
		if c.got != c.want {
			t.Errorf("%s: config has %v, the package %v", c.what, c.got, c.want)
		}
	}
}
