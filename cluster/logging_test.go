package cluster_test

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/staylock/staylock/cluster"
)

// startObserved starts and stops a single node whose logger is at level,
// and returns everything it logged.
func startObserved(t *testing.T, level zapcore.Level) *observer.ObservedLogs {
	t.Helper()
	core, logs := observer.New(level)
	n, err := cluster.Start(MustOpen(t, ""), cluster.Options{Logger: zap.New(core)})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	n.Shutdown(true)
	return logs
}

// protoactor's own messages go through our logger, at warn and above
// unless the node logs at debug: a start at the default level (info) shows
// our lines, not protoactor's narration.
func TestProtoactorLogsAtWarnUnlessDebug(t *testing.T) {
	t.Run("info", func(t *testing.T) {
		logs := startObserved(t, zapcore.InfoLevel)
		for _, e := range logs.FilterLoggerName("protoactor").All() {
			if e.Level < zapcore.WarnLevel {
				t.Errorf("protoactor %s line at LOG_LEVEL=info: %q", e.Level, e.Message)
			}
		}
		if logs.FilterMessage("cluster member started").Len() != 1 {
			t.Errorf("our own info line is missing: %v", messages(logs))
		}
	})
	t.Run("debug", func(t *testing.T) {
		logs := startObserved(t, zapcore.DebugLevel)
		pa := logs.FilterLoggerName("protoactor")
		if pa.FilterMessage("actor system started").Len() == 0 {
			t.Fatalf("at LOG_LEVEL=debug protoactor's info lines should come through our logger; got %v", messages(logs))
		}
		for _, e := range pa.All() {
			if v, ok := e.ContextMap()["component"]; !ok || v != "protoactor" {
				t.Errorf("protoactor line %q lacks component=protoactor: %v", e.Message, e.ContextMap())
			}
		}
	})
}

func messages(logs *observer.ObservedLogs) []string {
	var out []string
	for _, e := range logs.All() {
		out = append(out, e.LoggerName+": "+e.Message)
	}
	return out
}
