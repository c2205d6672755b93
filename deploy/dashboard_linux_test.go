package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const dashboardFile = "grafana/tcpwatch.json"

// dashboard is the part of a Grafana dashboard this test checks.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos *struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// dashboardQuery is one PromQL expression of the dashboard, with where it
// comes from.
type dashboardQuery struct {
	where, expr string
}

var labelValuesRe = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// queries returns every PromQL expression of d: the panels' targets and
// the selectors of its label_values variables.
func (d dashboard) queries(t *testing.T) []dashboardQuery {
	t.Helper()
	var out []dashboardQuery
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, dashboardQuery{fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		s, _ := q["query"].(string)
		m := labelValuesRe.FindStringSubmatch(s)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(SELECTOR, LABEL)", v.Name, s)
			continue
		}
		out = append(out, dashboardQuery{"variable " + v.Name, m[1]})
	}
	return out
}

// expand replaces the dashboard's variables by values Grafana could send:
// "All" for the multi-value variables and a typical rate interval.
func expand(expr string) string {
	return strings.NewReplacer(`$job`, `.+`, `$instance`, `.+`, `$__rate_interval`, `1m`).Replace(expr)
}

// TestDashboardStructure checks that the dashboard is JSON that Grafana
// imports: an uid, a title, panels with unique ids, positions, a data
// source that is the dashboard's own variable, and an expression in each
// target.
func TestDashboardStructure(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("uid %q, title %q, schemaVersion %d: all are needed to import", d.UID, d.Title, d.SchemaVersion)
	}
	var names []string
	for _, v := range d.Templating.List {
		names = append(names, v.Name)
	}
	for _, want := range []string{"datasource", "job", "instance"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %s variable (have %v)", want, names)
		}
	}
	ids := map[int]string{}
	rows, panels := 0, 0
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup || p.ID == 0 {
				t.Errorf("panel %q: id %d (also %q)", p.Title, p.ID, prev)
			}
			ids[p.ID] = p.Title
			if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: gridPos %+v", p.Title, p.GridPos)
			}
			if p.Type == "row" {
				rows++
				walk(p.Panels)
				continue
			}
			panels++
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q: no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" {
					t.Errorf("panel %q: target %+v", p.Title, tg)
				}
			}
		}
	}
	walk(d.Panels)
	if rows < 2 || panels < 10 {
		t.Errorf("%d rows and %d panels: want a fleet row and a host row, 10 panels or more", rows, panels)
	}
}

// TestDashboardQueriesOnPrometheus evaluates every expression of the
// dashboard on a real Prometheus that scrapes a real tcpwatch with the
// shipped rules: each must be valid PromQL (Prometheus' own parser), and
// the panels that always have data (every host has a last poll, states
// and budgets) must have some, which proves their selectors match the
// series as scraped.
func TestDashboardQueriesOnPrometheus(t *testing.T) {
	d := readDashboard(t)
	target := startTCPWatch(t, netHost{}, nil, "--interval", "250ms")
	prom := startPrometheus(t, netHost{}, target)
	if !waitFor(30*time.Second, func() bool {
		v, err := prom.query(`tcpwatch_last_poll_timestamp_seconds{job="tcpwatch"}`)
		return err == nil && len(v) == 1
	}) {
		t.Fatal("Prometheus never scraped tcpwatch")
	}
	// Let the rules run at least once over the scraped series.
	time.Sleep(2 * time.Second)
	mustHaveData := []string{"Hosts watched", "Connections by state", "Kernel budgets", "Poll", "tcpwatch's own cost", "variable job", "variable instance"}
	qs := d.queries(t)
	if len(qs) < 15 {
		t.Fatalf("only %d queries found in the dashboard", len(qs))
	}
	for _, q := range qs {
		expr := expand(q.expr)
		v, err := prom.query(expr)
		if err != nil {
			t.Errorf("%s: %s: %v", q.where, q.expr, err)
			continue
		}
		for _, m := range mustHaveData {
			if strings.HasPrefix(q.where, m) || strings.Contains(q.where, fmt.Sprintf("%q", m)) {
				if len(v) == 0 {
					t.Errorf("%s: %s: no data, though tcpwatch is scraped", q.where, expr)
				}
			}
		}
	}
}
