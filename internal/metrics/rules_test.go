package metrics

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v2"

	"github.com/tcpwatch/tcpwatch/model"
)

// The Prometheus rules shipped for this exporter (deploy/prometheus) are
// tested here, next to what they read: their unit tests' input series and
// the metric names in their expressions and annotation queries must be
// what a real scrape of the exporter shows, so that renaming a metric or a
// label here breaks this test rather than a fleet's alerts.

const rulesDir = "../../deploy/prometheus"

// Labels that Prometheus adds to every scraped series; the exporter never
// sets them.
var targetLabels = []string{"instance", "job"}

// realScrape scrapes an exporter that has published a snapshot with a
// connection of every kind (mixedRows) and every kind of event.
func realScrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	snap, _ := snapshot(t0, mixedRows())
	snap.Slowed = true
	snap.Events = []model.Event{{Kind: model.EventAborted}, {Kind: model.EventReset}, {Kind: model.EventClosed}, {Kind: model.EventRecovered}}
	e := New()
	e.Update(snap)
	snap.Release()
	return scrape(t, e.Handler())
}

var (
	seriesRe = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}$`)
	labelRe  = regexp.MustCompile(`\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)`)
	// A metric name in PromQL: recording rules' names have colons, so a
	// token is taken whole before it is compared.
	nameTokenRe = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// parseSeries splits `name{a="x",b="y"}` into its name and labels.
func parseSeries(s string) (string, map[string]string, bool) {
	m := seriesRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return "", nil, false
	}
	labels := map[string]string{}
	rest := m[2]
	for rest != "" {
		lm := labelRe.FindStringSubmatchIndex(rest)
		if lm == nil || lm[0] != 0 {
			return "", nil, false
		}
		labels[rest[lm[2]:lm[3]]] = rest[lm[4]:lm[5]]
		rest = rest[lm[1]:]
	}
	return m[1], labels, true
}

// exportedLabels returns, for a family, the sorted label names of its
// series and every value each label takes.
func exportedLabels(mf *dto.MetricFamily) ([]string, map[string][]string) {
	var names []string
	values := map[string][]string{}
	for _, m := range mf.GetMetric() {
		var ns []string
		for _, l := range m.GetLabel() {
			ns = append(ns, l.GetName())
			if !slices.Contains(values[l.GetName()], l.GetValue()) {
				values[l.GetName()] = append(values[l.GetName()], l.GetValue())
			}
		}
		sort.Strings(ns)
		names = ns
	}
	return names, values
}

type rulesTestFile struct {
	Tests []struct {
		Name        string `yaml:"name"`
		InputSeries []struct {
			Series string `yaml:"series"`
		} `yaml:"input_series"`
	} `yaml:"tests"`
}

type rulesFile struct {
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

// readYAML decodes the part of a YAML file that v describes.
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestRulesInputSeriesAreExported checks every input series of the rules'
// unit tests against a real scrape: the metric exists, its labels are the
// exported ones plus job and instance, and each label value is one the
// exporter can produce (an endpoint as it writes them, a port number, or
// one of the values it lists for an enumerated label).
func TestRulesInputSeriesAreExported(t *testing.T) {
	mfs := realScrape(t)
	var tf rulesTestFile
	readYAML(t, filepath.Join(rulesDir, "tcpwatch.rules.test.yml"), &tf)
	// Values of enumerated labels, as the exporter lists them (every
	// value, zeros included), and the two confidences.
	enums := map[string][]string{"confidence": {model.Exact.String(), model.Assumed.String()}}
	for _, fam := range []string{"tcpwatch_connections", "tcpwatch_connections_by_health", "tcpwatch_dying_connections", "tcpwatch_events_total"} {
		_, vals := exportedLabels(mfs[fam])
		for k, v := range vals {
			enums[k] = v
		}
	}
	n := 0
	for _, tc := range tf.Tests {
		for _, in := range tc.InputSeries {
			n++
			name, labels, ok := parseSeries(in.Series)
			if !ok {
				t.Errorf("%s: cannot parse input series %q", tc.Name, in.Series)
				continue
			}
			if name == "up" {
				continue // Prometheus' own
			}
			mf := mfs[name]
			if mf == nil {
				t.Errorf("%s: input series %s: the exporter has no metric %s", tc.Name, in.Series, name)
				continue
			}
			var got []string
			for k := range labels {
				if !slices.Contains(targetLabels, k) {
					got = append(got, k)
				}
			}
			sort.Strings(got)
			want, _ := exportedLabels(mf)
			if !slices.Equal(got, want) {
				t.Errorf("%s: input series %s: labels %q, the exporter's are %q", tc.Name, in.Series, got, want)
			}
			for _, k := range targetLabels {
				if labels[k] == "" {
					t.Errorf("%s: input series %s: no %s label (Prometheus adds one to every scraped series)", tc.Name, in.Series, k)
				}
			}
			for k, v := range labels {
				if err := checkLabelValue(k, v, enums); err != "" {
					t.Errorf("%s: input series %s: %s", tc.Name, in.Series, err)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d input series found in the rules' tests", n)
	}
}

// checkLabelValue says what is wrong with a label value, or "".
func checkLabelValue(k, v string, enums map[string][]string) string {
	switch k {
	case "local", "remote":
		ap, err := netip.ParseAddrPort(v)
		if err != nil || model.Endpoint(ap) != v {
			return k + "=" + strconv.Quote(v) + " is not an endpoint as the exporter writes it"
		}
	case "port":
		if p, err := strconv.ParseUint(v, 10, 16); err != nil || p == 0 {
			return "port=" + strconv.Quote(v) + " is not a port number"
		}
	case "process":
		// A process name (comm): anything the kernel allows, up to 15
		// bytes; empty when the owner is unknown.
		if len(v) > 15 {
			return "process=" + strconv.Quote(v) + " is longer than a comm"
		}
	case "instance", "job":
	default:
		vals, ok := enums[k]
		if !ok {
			return "label " + k + ": no known values"
		}
		if !slices.Contains(vals, v) {
			return k + "=" + strconv.Quote(v) + " is not one of the exported values " + strings.Join(vals, ", ")
		}
	}
	return ""
}

// TestRulesReadExportedMetrics checks that every tcpwatch_ metric named in
// the rules (expressions and the queries of annotations) is exported, and
// that every recording rule read is defined there.
func TestRulesReadExportedMetrics(t *testing.T) {
	mfs := realScrape(t)
	var rf rulesFile
	readYAML(t, filepath.Join(rulesDir, "tcpwatch.rules.yml"), &rf)
	recorded := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
		}
	}
	used := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			texts := []string{r.Expr}
			for _, a := range r.Annotations {
				texts = append(texts, a)
			}
			for _, text := range texts {
				for _, tok := range nameTokenRe.FindAllString(text, -1) {
					switch {
					case strings.HasPrefix(tok, "tcpwatch_"):
						used++
						if mfs[tok] == nil {
							t.Errorf("rule %s%s reads %s, which the exporter does not export", r.Record, r.Alert, tok)
						}
					case strings.Contains(tok, ":tcpwatch_"):
						if !recorded[tok] {
							t.Errorf("rule %s%s reads %s, which no recording rule defines", r.Record, r.Alert, tok)
						}
					}
				}
			}
		}
	}
	if used < 10 {
		t.Fatalf("only %d references to tcpwatch_ metrics found in the rules", used)
	}
}

// promtool finds promtool, skipping the test when it is missing (Debian's
// prometheus package has it; CI installs it, and there a missing promtool
// fails instead).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not found, but CI must have it (.ci/run installs the prometheus package)")
		}
		t.Skip("promtool not found: install Prometheus' promtool (Debian: apt-get install prometheus) to check and unit-test the rules")
	}
	return p
}

// TestRulesPromtool runs promtool check rules and promtool test rules on
// the shipped rules and their unit tests (every alert, fired and not).
func TestRulesPromtool(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "tcpwatch.rules.yml"},
		{"test", "rules", "tcpwatch.rules.test.yml"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = rulesDir
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			continue
		}
		t.Logf("promtool %s (%v): %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(out)))
	}
}

// TestRulesTestEveryAlert makes sure that each alert of the rules has a unit
// test in which it fires.
func TestRulesTestEveryAlert(t *testing.T) {
	var rf rulesFile
	readYAML(t, filepath.Join(rulesDir, "tcpwatch.rules.yml"), &rf)
	var tf struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, filepath.Join(rulesDir, "tcpwatch.rules.test.yml"), &tf)
	fired, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tf.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fired[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	alerts := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			if !fired[r.Alert] || !quiet[r.Alert] {
				t.Errorf("alert %s: tested firing %v, tested quiet %v; want both", r.Alert, fired[r.Alert], quiet[r.Alert])
			}
		}
	}
	if alerts == 0 {
		t.Fatal("no alert found in the rules")
	}
}

// TestDashboardReadsExportedMetrics checks that every tcpwatch_ metric the
// Grafana dashboard (deploy/grafana) queries is exported, and every
// recording rule it reads is defined in the shipped rules.
func TestDashboardReadsExportedMetrics(t *testing.T) {
	mfs := realScrape(t)
	var rf rulesFile
	readYAML(t, filepath.Join(rulesDir, "tcpwatch.rules.yml"), &rf)
	recorded := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			recorded[r.Record] = true
		}
	}
	b, err := os.ReadFile("../../deploy/grafana/tcpwatch.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	// Every string under an "expr" or "query" key is PromQL (or a
	// label_values call around a selector).
	var exprs []string
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(x, k)
			}
		case []any:
			for _, x := range v {
				walk(x, key)
			}
		case string:
			if key == "expr" || key == "query" || key == "definition" {
				exprs = append(exprs, v)
			}
		}
	}
	walk(doc, "")
	used := 0
	for _, e := range exprs {
		for _, tok := range nameTokenRe.FindAllString(e, -1) {
			switch {
			case strings.HasPrefix(tok, "tcpwatch_"):
				used++
				if mfs[tok] == nil {
					t.Errorf("dashboard query %q reads %s, which the exporter does not export", e, tok)
				}
			case strings.Contains(tok, ":tcpwatch_"):
				used++
				if !recorded[tok] {
					t.Errorf("dashboard query %q reads %s, which no recording rule defines", e, tok)
				}
			}
		}
	}
	if used < 15 {
		t.Fatalf("only %d tcpwatch metrics read by the dashboard's %d queries", used, len(exprs))
	}
}
