package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/staylock/staylock/persistence/pgtest"
)

// synthesizedMetrics are made by Prometheus itself for every scrape
// target, never exposed by one.
var synthesizedMetrics = []string{"up"}

var (
	// ourMetric finds names of the families a Staylock node exposes.
	ourMetric = regexp.MustCompile(`\b(?:hotel|go|process|promhttp)_[a-zA-Z0-9_]+`)
	// selector finds any metric name written with label matchers (up{…}).
	selector = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_:]*)\{`)
	// quoted strips string literals (label values, legends) first.
	quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
)

// metricNames returns the metric names a PromQL expression (or an
// annotation template holding one) uses. Label names never start with our
// prefixes, and label values are removed with the strings.
func metricNames(expr string) []string {
	expr = quoted.ReplaceAllString(expr, `""`)
	names := ourMetric.FindAllString(expr, -1)
	for _, m := range selector.FindAllStringSubmatch(expr, -1) {
		names = append(names, m[1])
	}
	return names
}

// templateNames returns the metric names in an alert annotation: its
// templates hold queries as Go strings ({{ query "…" }}), so nothing is
// stripped.
func templateNames(text string) []string {
	names := ourMetric.FindAllString(text, -1)
	for _, m := range selector.FindAllStringSubmatch(text, -1) {
		names = append(names, m[1])
	}
	return names
}

// query is one PromQL expression of the deploy files, or an annotation
// (template) of an alert.
type query struct {
	where, text string
	template    bool
}

func (q query) names() []string {
	if q.template {
		return templateNames(q.text)
	}
	return metricNames(q.text)
}

// deployQueries returns every query of the Grafana dashboard and of the
// Prometheus rules, with where it came from, and the rules' recorded names.
func deployQueries(t *testing.T) (queries []query, recorded []string) {
	t.Helper()
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Record      string            `yaml:"record"`
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	b, err := os.ReadFile("../deploy/prometheus/staylock-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatalf("rules: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			queries = append(queries, query{where: "rule " + name, text: r.Expr})
			for k, v := range r.Annotations {
				queries = append(queries, query{where: "rule " + name + " annotation " + k, text: v, template: true})
			}
			if r.Record != "" {
				recorded = append(recorded, r.Record)
			}
		}
	}
	if b, err = os.ReadFile("../deploy/grafana/staylock.json"); err != nil {
		t.Fatal(err)
	}
	// Every "expr" and every templating "query"/"definition", wherever they
	// sit in the dashboard's tree; a panel is named by its title.
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if title, ok := v["title"].(string); ok {
				path += "[" + title + "]"
			}
			for k, c := range v {
				if s, ok := c.(string); ok && (k == "expr" || k == "definition" || (k == "query" && strings.Contains(path, "templating"))) {
					queries = append(queries, query{where: "dashboard " + path + "." + k, text: s})
				}
				walk(path+"."+k, c)
			}
		case []any:
			for i, c := range v {
				walk(path+"["+strconv.Itoa(i)+"]", c)
			}
		}
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	walk("", dash)
	return queries, recorded
}

// exposedFamilies scrapes /metrics and returns each family's type.
func exposedFamilies(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	families := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			families[f[2]] = f[3]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return families
}

// exposes reports whether a scrape with these families has the series name.
func exposes(families map[string]string, name string) bool {
	if _, ok := families[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if typ := families[base]; typ == "histogram" || (typ == "summary" && suffix != "_bucket") {
				return true
			}
		}
	}
	return false
}

// Every metric the dashboard and the alert rules query exists in the
// /metrics of a real `staylock serve` (Postgres) once it has served the
// usual traffic: a rename in the code, or a typo in a query, fails here
// instead of leaving an empty panel or an alert that can never fire.
func TestDeploy_DashboardAndAlertMetricsExist(t *testing.T) {
	queries, recorded := deployQueries(t)
	if len(queries) < 20 {
		t.Fatalf("found only %d queries in the dashboard and rules", len(queries))
	}

	b := backend{"postgres", []string{"STORAGE_PATH=" + t.TempDir(), "DB_URL=" + pgtest.NewDatabase(t)}}
	key := b.MustCreateKey(t, "acme", "admin")
	s := b.MustStart(t)
	c := newClient(s.url, key)
	// The usual traffic, so that every labelled family has a series.
	mustSetUpHotel(t, c, []string{"std"}, 5)
	arrival := time.Now().UTC().AddDate(0, 0, 45).Format(time.DateOnly)
	c.MustDo(t, "POST", "/v1/properties/p1/reservations", map[string]any{
		"stays": []stay{{RoomType: "std", Arrival: arrival, Departure: dayAfter(arrival, 2), Quantity: 1}},
		"guest": map[string]string{"name": "Guest"}, "channel": "direct",
	}, http.StatusCreated, nil)
	c.MustDo(t, "GET", "/v1/properties/p1/availability?from="+arrival+"&to="+dayAfter(arrival, 3), nil, http.StatusOK, nil)
	families := exposedFamilies(t, s.url)
	// The job outcome counters come from the processes that run jobs: a
	// worker, scraped on its METRICS_ADDR like Prometheus does.
	port := freePorts(t, 1)[0]
	b.MustStartQueue(t, "worker", fmt.Sprintf("METRICS_ADDR=127.0.0.1:%d", port))
	for name, typ := range exposedFamilies(t, fmt.Sprintf("http://127.0.0.1:%d", port)) {
		families[name] = typ
	}

	used := map[string][]string{} // metric → where
	for _, q := range queries {
		for _, name := range q.names() {
			if !slices.Contains(used[name], q.where) {
				used[name] = append(used[name], q.where)
			}
		}
	}
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		switch {
		case slices.Contains(recorded, name), slices.Contains(synthesizedMetrics, name):
		case !exposes(families, name):
			t.Errorf("%s is not in /metrics, but %s query it", name, strings.Join(used[name], ", "))
		}
	}
	t.Logf("%d queries use %d metrics, every one exposed by serve or a worker", len(queries), len(names))
}

func TestDeploy_MetricNamesOfAQuery(t *testing.T) {
	got := metricNames(`histogram_quantile(0.95, sum by (le, route) (rate(hotel_http_request_duration_seconds_bucket{route!~"/v1/stream|hotel_x"}[5m]))) / on() up{job="staylock"}`)
	want := []string{"hotel_http_request_duration_seconds_bucket", "hotel_http_request_duration_seconds_bucket", "up"}
	if !slices.Equal(got, want) {
		t.Errorf("metricNames: %q, want %q", got, want)
	}
	fam := map[string]string{"hotel_h": "histogram", "hotel_c": "counter"}
	for name, want := range map[string]bool{"hotel_h_bucket": true, "hotel_h_count": true, "hotel_c": true, "hotel_c_count": false, "hotel_x": false} {
		if exposes(fam, name) != want {
			t.Errorf("exposes(%s) = %v", name, !want)
		}
	}
}
