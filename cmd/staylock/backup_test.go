package main_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBackup_EmbeddedDatabaseToANewFile(t *testing.T) {
	e := localEnv(t)
	MustRun(t, e, "keys", "create", "--tenant", "acme", "--role", "admin")
	file := filepath.Join(t.TempDir(), "backup.db")

	r := MustRun(t, e, "backup", "--to", file)
	if !containsAll(r.stdout, "backed up", file, "integrity ok") {
		t.Errorf("backup output: %v", r)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatalf("no backup file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600 (it holds guests' data)", fi.Mode().Perm())
	}
	// The copy is a working database: the key created above is in it.
	restored := env{"STORAGE_PATH": t.TempDir()}
	data, _ := os.ReadFile(file)
	if err := os.WriteFile(filepath.Join(restored["STORAGE_PATH"], "staylock.db"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := MustRun(t, restored, "keys", "list", "--tenant", "acme"); len(lines(r.stdout)) != 2 {
		t.Errorf("keys in the restored copy: %v", r)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".backup.db.tmp-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left behind: %q", left)
	}
}

func TestBackup_Refusals(t *testing.T) {
	e := localEnv(t)
	MustRun(t, e, "migrate", "up")
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.db")
	if err := os.WriteFile(existing, []byte("an older backup"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("an existing file without --force is kept, exit 2", func(t *testing.T) {
		r := staylock(t, "", e, "backup", "--to", existing)
		if r.code != 2 || !containsAll(r.stderr, existing, "exists", "--force") {
			t.Errorf("%v", r)
		}
		if b, _ := os.ReadFile(existing); string(b) != "an older backup" {
			t.Errorf("the existing file was changed: %q", b)
		}
	})
	t.Run("an existing file with --force is replaced", func(t *testing.T) {
		MustRun(t, e, "backup", "--to", existing, "--force")
		if b, _ := os.ReadFile(existing); !strings.HasPrefix(string(b), "SQLite format 3") {
			t.Errorf("not replaced by a database: %.20q", b)
		}
	})
	t.Run("the database itself is refused, also with --force", func(t *testing.T) {
		db := filepath.Join(e["STORAGE_PATH"], "staylock.db")
		before, _ := os.ReadFile(db)
		r := staylock(t, "", e, "backup", "--to", db, "--force")
		if r.code != 1 || !strings.Contains(r.stderr, "is the database itself") {
			t.Errorf("%v", r)
		}
		if after, _ := os.ReadFile(db); string(after) != string(before) {
			t.Error("the database file changed")
		}
	})
	t.Run("no --to is a usage error", func(t *testing.T) {
		if r := staylock(t, "", e, "backup"); r.code != 2 || !strings.Contains(r.stderr, "--to FILE is required") {
			t.Errorf("%v", r)
		}
	})
	t.Run("a storage path without a database creates none", func(t *testing.T) {
		empty := t.TempDir()
		r := staylock(t, "", env{"STORAGE_PATH": empty}, "backup", "--to", filepath.Join(dir, "x.db"))
		if r.code != 1 || !strings.Contains(r.stderr, "no database at") {
			t.Errorf("%v", r)
		}
		if ents, _ := os.ReadDir(empty); len(ents) != 0 {
			t.Errorf("backup created %d file(s) in an empty STORAGE_PATH", len(ents))
		}
	})
	t.Run("postgres says which tools to use, exit 1", func(t *testing.T) {
		file := filepath.Join(dir, "pg.db")
		r := staylock(t, "", env{"DB_URL": "postgres://postgres@127.0.0.1:5432/test"}, "backup", "--to", file)
		if r.code != 1 || !containsAll(r.stderr, "pg_basebackup", "pg_dump", "docs/operations.md") {
			t.Errorf("%v", r)
		}
		if _, err := os.Stat(file); err == nil {
			t.Error("a file was written")
		}
	})
	t.Run("memory has nothing to back up", func(t *testing.T) {
		if r := staylock(t, "", env{"DB_URL": "memory://"}, "backup", "--to", filepath.Join(dir, "m.db")); r.code != 2 {
			t.Errorf("%v", r)
		}
	})
}

func TestProbe(t *testing.T) {
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer ready.Close()
	draining := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer draining.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"a 2xx exits 0", []string{"--url", ready.URL + "/readyz"}, 0, "200 OK"},
		{"a 503 exits 1", []string{"--url", draining.URL + "/readyz"}, 1, "503 Service Unavailable"},
		{"a 404 exits 1", []string{"--url", ready.URL + "/nope"}, 1, "404"},
		{"nothing listening exits 1", []string{"--url", closedURL + "/readyz"}, 1, "connection refused"},
		{"not an http URL exits 2", []string{"--url", "ftp://x/readyz"}, 2, "want an http:// or https:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := staylock(t, "", nil, append([]string{"probe"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.want) {
				t.Errorf("want exit %d with %q: %v", tc.code, tc.want, r)
			}
		})
	}
}
