package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgBinDir holds Debian's PostgreSQL server binaries (initdb, pg_ctl,
// pg_basebackup): the newest /usr/lib/postgresql/N/bin (15 on Debian 12);
// PG_BIN overrides it.
func pgBinDir() string {
	if d := os.Getenv("PG_BIN"); d != "" {
		return d
	}
	best, bestN := "/usr/lib/postgresql/15/bin", 0
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for _, d := range dirs {
		if n, err := strconv.Atoi(filepath.Base(filepath.Dir(d))); err == nil && n > bestN {
			best, bestN = d, n
		}
	}
	return best
}

// pgCluster is a PostgreSQL cluster this test owns: its own data folder
// and port on loopback, started with pg_ctl and stopped at cleanup. The
// machine's own cluster (5432) is never touched.
type pgCluster struct {
	t    testing.TB
	data string
	port int
	cred *syscall.Credential // the postgres user when the test runs as root
}

// pgWorkDir is a folder the cluster's user can use: initdb refuses to run
// as root, so as root the server runs as the postgres user, which cannot
// enter the test's own 0700 temporary folders.
func pgWorkDir(t testing.TB) (string, *syscall.Credential) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pgBinDir(), "initdb")); err != nil {
		t.Fatalf("PostgreSQL server binaries not found in %s (apt-get install -y postgresql; or set PG_BIN)", pgBinDir())
	}
	dir, err := os.MkdirTemp("", "staylock-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() != 0 {
		return dir, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("running as root needs the postgres user to run initdb: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	return dir, &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// pgRun runs a PostgreSQL binary (or another tool on PATH, such as tar)
// as the cluster's user.
func pgRun(t testing.TB, cred *syscall.Credential, dir string, name string, args ...string) string {
	t.Helper()
	bin := filepath.Join(pgBinDir(), name)
	if _, err := os.Stat(bin); err != nil {
		bin = name
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LANG=C", "LC_ALL=C", "TZ=UTC"}
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// mkdirFor makes a folder owned by the cluster's user, mode 0700 (the
// server refuses a data folder others can read).
func mkdirFor(t testing.TB, cred *syscall.Credential, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
}

// initPGCluster runs initdb in dir/name; conf lines go to postgresql.conf.
func initPGCluster(t testing.TB, work string, cred *syscall.Credential, name string, conf ...string) *pgCluster {
	t.Helper()
	c := &pgCluster{t: t, data: filepath.Join(work, name), cred: cred}
	pgRun(t, cred, work, "initdb", "-D", c.data, "-U", "postgres", "--auth=trust", "--no-instructions", "-E", "UTF8", "--locale=C")
	c.configure(conf...)
	return c
}

// configure appends settings to the cluster's postgresql.conf (the last
// occurrence of a setting wins).
func (c *pgCluster) configure(conf ...string) {
	c.t.Helper()
	f, err := os.OpenFile(filepath.Join(c.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	for _, l := range conf {
		if _, err := fmt.Fprintln(f, l); err != nil {
			c.t.Fatal(err)
		}
	}
}

// start starts the server on a free loopback port and waits until it
// accepts connections (pg_ctl -w: after crash recovery or archive
// recovery has reached consistency).
func (c *pgCluster) start() {
	c.t.Helper()
	c.port = freePorts(c.t, 1)[0]
	c.configure(fmt.Sprintf("port = %d", c.port), "listen_addresses = '127.0.0.1'",
		"unix_socket_directories = '"+c.data+"'")
	pgRun(c.t, c.cred, filepath.Dir(c.data), "pg_ctl", "-D", c.data, "-l", filepath.Join(c.data, "server.log"),
		"-w", "-t", "600", "start")
	c.t.Cleanup(func() { c.stop("immediate") })
}

// stop stops the server: "fast" (a clean shutdown) or "immediate" (as a
// crash). Stopping a stopped server is a no-op.
func (c *pgCluster) stop(mode string) {
	cmd := exec.Command(filepath.Join(pgBinDir(), "pg_ctl"), "-D", c.data, "-m", mode, "-w", "stop")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	_ = cmd.Run()
}

// url is the postgres:// URL of database db.
func (c *pgCluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// conn connects to database db for the test's own queries.
func (c *pgCluster) conn(db string) *pgx.Conn {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.url(db))
	if err != nil {
		c.t.Fatalf("connect %s: %v", c.url(db), err)
	}
	c.t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}
