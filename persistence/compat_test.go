package persistence_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPreviousReleaseRunsOnTheNewSchema proves the expand/contract rule of
// docs/operations.md for the newest migration: the store code and the store
// contract suite of the commit before it, run against the schema the
// current migrations make, still pass. During a rolling deploy the old
// nodes run against the new schema exactly like this.
//
// It needs the repository's history (git); .ci/run unshallows a shallow
// clone.
func TestPreviousReleaseRunsOnTheNewSchema(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", root}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s\n(this test needs the repository's history: a full clone, not --depth)", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if git("rev-parse", "--is-shallow-repository") == "true" {
		t.Fatal("shallow clone: run `git fetch --unshallow` (.ci/run does)")
	}
	added := git("log", "--diff-filter=A", "-1", "--format=%H", "--", "persistence/migrations/postgres")
	if added == "" {
		t.Fatal("no commit added a migration")
	}
	previous := added + "^"
	dir := t.TempDir()
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, previous, dir)
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("check out %s: %v\n%s", previous, err, out)
	}
	// The previous release's code, with today's migrations: its MigrateUp
	// makes the new schema.
	for _, backend := range []string{"postgres", "sqlite"} {
		dst := filepath.Join(dir, "persistence", "migrations", backend)
		if err := os.RemoveAll(dst); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(dst, os.DirFS(filepath.Join("migrations", backend))); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "test", "-count=1", "-run", "TestPostgresStoreContract|TestSQLiteStoreContract", "./persistence/")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the store contract suite of %s (before %s added a migration) fails on the new schema: %v\n%s",
			git("rev-parse", "--short", previous), git("rev-parse", "--short", added), err, out)
	}
	t.Logf("the contract suite of %s passes on the schema of today's %d migrations", git("rev-parse", "--short", previous), migrationCount)
}
