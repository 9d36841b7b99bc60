package docs_test

import (
	"go/build"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/staylock/staylock/"

// root is the repository root (tests run in docs/).
const root = ".."

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// Every relative link of the README and the docs names a file of the
// repository, and the README links the project's own design document.
func TestDocLinksResolve(t *testing.T) {
	readme := mustRead(t, "README.md")
	if !strings.Contains(readme, "](docs/architecture.md)") {
		t.Error("README.md does not link docs/architecture.md")
	}
	if strings.Contains(readme, "../shared") {
		t.Error("README.md points outside the repository (../shared)")
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range append([]string{filepath.Join(root, "README.md")}, docs...) {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(doc), target)); err != nil {
				t.Errorf("%s links %s, which does not exist", filepath.Base(doc), m[1])
			}
		}
	}
}

var tableRow = regexp.MustCompile("(?m)^\\| `([a-z/-]+)` \\| [^|]+ \\| ([^|]+) \\|$")
var backticked = regexp.MustCompile("`([a-z/-]+)`")

// The package map of docs/architecture.md says what each package imports of
// ours; it must be what the code imports (default build, tests excluded).
func TestArchitecturePackageMapMatchesImports(t *testing.T) {
	rows := tableRow.FindAllStringSubmatch(mustRead(t, "docs/architecture.md"), -1)
	if len(rows) < 10 {
		t.Fatalf("found %d package rows in docs/architecture.md, want the whole map", len(rows))
	}
	listed := map[string]bool{}
	for _, row := range rows {
		pkg := row[1]
		listed[pkg] = true
		var want []string
		if !strings.HasPrefix(strings.TrimSpace(row[2]), "—") {
			for _, m := range backticked.FindAllStringSubmatch(row[2], -1) {
				want = append(want, m[1])
			}
		}
		slices.Sort(want)
		if got := importsOfOurs(t, pkg); !slices.Equal(got, want) {
			t.Errorf("docs/architecture.md says %s imports %v; the code imports %v", pkg, want, got)
		}
	}
	// Every non-test package at the top level (and in each group) has a row.
	dirs := []string{}
	for _, g := range append([]string{"."}, groups...) {
		entries, err := os.ReadDir(filepath.Join(root, g))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			d := path.Join(g, e.Name())
			if e.IsDir() && d != "e2e" && d != "internal" && !slices.Contains(groups, d) && !strings.HasPrefix(e.Name(), ".") {
				dirs = append(dirs, d)
			}
		}
	}
	for _, d := range dirs {
		if p, err := build.ImportDir(filepath.Join(root, d), 0); err != nil || len(p.GoFiles) == 0 {
			continue // not a Go package, or tests only (deploy)
		}
		if !listed[d] {
			t.Errorf("package %s has no row in docs/architecture.md", d)
		}
	}
}

// groups are folders of packages that the map lists one by one (commands,
// benchmark code) rather than as one package.
var groups = []string{"cmd", "bench", "bench/cmd"}

// inGroup reports whether the package at rel (from the root) is in a group.
func inGroup(rel string) bool {
	return slices.ContainsFunc(groups, func(g string) bool { return strings.HasPrefix(rel, g+"/") })
}

// importsOfOurs lists the packages of the map (top level, or in a group)
// that pkg's non-test files import.
func importsOfOurs(t *testing.T, pkg string) []string {
	t.Helper()
	p, err := build.ImportDir(filepath.Join(root, pkg), 0)
	if err != nil {
		t.Fatalf("%s: %v", pkg, err)
	}
	var out []string
	for _, imp := range p.Imports {
		if rest, ok := strings.CutPrefix(imp, module); ok {
			if !inGroup(rest) {
				rest, _, _ = strings.Cut(rest, "/")
			}
			if !slices.Contains(out, rest) {
				out = append(out, rest)
			}
		}
	}
	slices.Sort(out)
	return out
}
