package metrics

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	pmodel "github.com/prometheus/common/model"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// sk builds a socket sample; info is the tcp_info length (0: none).
func sk(state inetdiag.State, local, remote string, info int) *inetdiag.Socket {
	s := &inetdiag.Socket{
		Family: inetdiag.FamilyInet,
		State:  state,
		ID:     inetdiag.SockID{Src: netip.MustParseAddrPort(local), Dst: netip.MustParseAddrPort(remote)},
		Inode:  1,
	}
	if s.ID.Src.Addr().Is6() {
		s.Family = inetdiag.FamilyInet6
	}
	s.Info.Len = int32(info)
	return s
}

func pred(at time.Time, r model.Reason, c model.Confidence) *model.Prediction {
	return &model.Prediction{Reason: r, Confidence: c, At: at, Earliest: at.Add(-time.Second), Latest: at.Add(time.Second), Made: t0}
}

// snapshot wraps rows in a snapshot taken at t. Its release wipes the rows,
// so that an exporter that kept them would publish garbage; the counter
// counts Release calls.
func snapshot(t time.Time, rows []model.Row) (*model.Snapshot, *int) {
	released := new(int)
	var s *model.Snapshot
	s = model.NewSnapshot(func() {
		*released++
		for i := range s.Rows {
			s.Rows[i] = model.Row{Sock: &inetdiag.Socket{State: inetdiag.StateClosing}, Health: model.HealthZeroWindow}
		}
		s.Events = nil
	})
	s.Time = t
	s.PollCost = 30 * time.Millisecond
	s.Interval = time.Second
	s.Params = model.DefaultParams()
	s.Rows = rows
	s.Listening = map[uint16]bool{5432: true}
	return s, released
}

// scrape fetches h's /metrics in the text format and parses it.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	mfs := parse(t, rec.Body.String())
	// The handler goes on after a collection error (a duplicate series,
	// an invalid label) and only counts it: a test must not.
	for k, v := range series(mfs, "promhttp_metric_handler_errors_total") {
		if v != 0 {
			t.Errorf("scrape: promhttp_metric_handler_errors_total%s = %v", k, v)
		}
	}
	return mfs
}

func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(pmodel.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, text)
	}
	return mfs
}

// series returns the samples of one family keyed by their labels, written
// as in the exposition format with label names sorted: `{a="x",b="y"}`.
func series(mfs map[string]*dto.MetricFamily, name string) map[string]float64 {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
		sort.Strings(ls)
		var v float64
		switch {
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		default:
			v = m.GetUntyped().GetValue()
		}
		out["{"+strings.Join(ls, ",")+"}"] = v
	}
	return out
}

// approx compares floats to a nanosecond, the resolution of the durations
// they come from.
var approx = cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-9 })

// mixedRows has one connection of each kind (see TestScrapeValues for the
// numbers they must give).
func mixedRows() []model.Row {
	var rows []model.Row
	add := func(s *inetdiag.Socket, h model.Health, p *model.Prediction, never bool) *inetdiag.Socket {
		r := model.Row{Sock: s, Health: h, Prediction: p}
		if never {
			r.Exposure = &model.Exposure{Never: true}
		} else if s != nil && s.State == inetdiag.StateEstablished {
			r.Exposure = &model.Exposure{After: 15 * time.Minute, Reason: model.ReasonRetries2}
		}
		rows = append(rows, r)
		return s
	}
	a := add(sk(inetdiag.StateEstablished, "10.0.0.1:40000", "10.0.0.2:5432", inetdiag.TCPInfoLen2_6),
		model.HealthRetransmitting, pred(t0.Add(30*time.Second), model.ReasonRetries2, model.Exact), false)
	a.Timer, a.Info.Retransmits = inetdiag.TimerRetransmit, 5
	b := add(sk(inetdiag.StateSynSent, "[fd00::1]:40001", "[fd00::2]:443", 0),
		model.HealthSynSent, pred(t0.Add(10*time.Second), model.ReasonSynRetries, model.Assumed), false)
	b.Timer, b.Retrans = inetdiag.TimerRetransmit, 2
	c := add(sk(inetdiag.StateEstablished, "10.0.0.1:40002", "10.0.0.3:6379", inetdiag.TCPInfoLen2_6),
		model.HealthKeepaliveProbing, pred(t0.Add(100*time.Second), model.ReasonKeepalive, model.Exact), false)
	c.Timer, c.Retrans, c.Info.Probes = inetdiag.TimerKeepalive, 3, 3
	add(sk(inetdiag.StateEstablished, "10.0.0.1:5432", "10.0.0.9:50000", inetdiag.TCPInfoLen2_6), model.HealthOK, nil, true)
	add(sk(inetdiag.StateEstablished, "10.0.0.1:40003", "10.0.0.4:6379", inetdiag.TCPInfoLen2_6), model.HealthUnguarded, nil, true)
	add(sk(inetdiag.StateEstablished, "10.0.0.1:5432", "10.0.0.10:50001", inetdiag.TCPInfoLen2_6), model.HealthUnguarded, nil, true)
	add(sk(inetdiag.StateListen, "0.0.0.0:5432", "0.0.0.0:0", inetdiag.TCPInfoLen2_6), model.HealthOK, nil, false)
	// A row without a sample counts nowhere.
	add(nil, model.HealthRetransmitting, pred(t0.Add(-time.Hour), model.ReasonRetries2, model.Exact), false)
	i := add(sk(inetdiag.StateEstablished, "10.0.0.1:40004", "10.0.0.5:80", inetdiag.TCPInfoLen2_6),
		model.HealthZeroWindow, pred(t0.Add(50*time.Second), model.ReasonZeroWindowProbes, model.Assumed), false)
	i.Timer, i.Info.Probes = inetdiag.TimerProbe0, 2
	add(sk(inetdiag.StateCloseWait, "10.0.0.1:40005", "10.0.0.6:80", inetdiag.TCPInfoLen2_6), model.HealthCloseWait, nil, false)
	k := add(sk(inetdiag.StateFinWait1, "10.0.0.1:40006", "10.0.0.7:80", 0), model.HealthOrphanRetrying, nil, false)
	k.Timer, k.Retrans, k.Inode = inetdiag.TimerRetransmit, 4, 0
	l := add(sk(inetdiag.StateEstablished, "[::ffff:10.0.0.1]:40007", "[::ffff:10.0.0.8]:443", inetdiag.TCPInfoLen2_6),
		model.HealthRetransmitting, pred(t0.Add(-2*time.Second), model.ReasonRetries2, model.Exact), false)
	l.Timer, l.Info.Retransmits = inetdiag.TimerRetransmit, 7
	return rows
}

func TestScrapeValues(t *testing.T) {
	snap, released := snapshot(t0, mixedRows())
	snap.PollCost, snap.Interval, snap.Slowed = 120*time.Millisecond, 2*time.Second, true
	snap.SweepEvery, snap.SweepCost = 30*time.Second, 2500*time.Millisecond
	snap.Params.Retries2 = 8
	snap.Params.KeepaliveTime, snap.Params.KeepaliveIntvl, snap.Params.KeepaliveProbes = 10*time.Minute, 10*time.Second, 3
	snap.Events = []model.Event{{Kind: model.EventAborted}, {Kind: model.EventReset}, {Kind: model.EventAborted}}

	e := New()
	e.Update(snap)
	snap.Release()
	if *released != 1 {
		t.Fatalf("released %d times, want 1", *released)
	}
	mfs := scrape(t, e.Handler())

	tests := []struct {
		name string
		want map[string]float64
	}{
		{"tcpwatch_connections", map[string]float64{
			`{state="ESTABLISHED"}`: 7, `{state="SYN_SENT"}`: 1, `{state="SYN_RECV"}`: 0, `{state="FIN_WAIT1"}`: 1,
			`{state="FIN_WAIT2"}`: 0, `{state="TIME_WAIT"}`: 0, `{state="CLOSE"}`: 0, `{state="CLOSE_WAIT"}`: 1,
			`{state="LAST_ACK"}`: 0, `{state="LISTEN"}`: 1, `{state="CLOSING"}`: 0, `{state="NEW_SYN_RECV"}`: 0,
		}},
		{"tcpwatch_connections_by_health", map[string]float64{
			`{health="ok"}`: 2, `{health="retransmitting"}`: 2, `{health="keepalive-probing"}`: 1,
			`{health="zero-window"}`: 1, `{health="close-wait"}`: 1, `{health="unguarded"}`: 2,
			`{health="syn-sent"}`: 1, `{health="orphan-retrying"}`: 1,
		}},
		{"tcpwatch_dying_connections", map[string]float64{
			`{reason="tcp_retries2"}`: 2, `{reason="user_timeout"}`: 0, `{reason="keepalive"}`: 1,
			`{reason="orphan_retries"}`: 0, `{reason="syn_retries"}`: 1, `{reason="zero_window_probes"}`: 1,
		}},
		{"tcpwatch_soonest_abort_seconds", map[string]float64{`{}`: -2}},
		{"tcpwatch_never_detect_dead_peer_connections", map[string]float64{`{}`: 3}},
		{"tcpwatch_never_detect_dead_peer_connections_by_port", map[string]float64{`{port="5432"}`: 2, `{port="6379"}`: 1}},
		{"tcpwatch_connection_abort_seconds", map[string]float64{
			`{confidence="exact",local="10.0.0.1:40000",process="",reason="tcp_retries2",remote="10.0.0.2:5432"}`:       30,
			`{confidence="assumed",local="[fd00::1]:40001",process="",reason="syn_retries",remote="[fd00::2]:443"}`:     10,
			`{confidence="exact",local="10.0.0.1:40002",process="",reason="keepalive",remote="10.0.0.3:6379"}`:          100,
			`{confidence="assumed",local="10.0.0.1:40004",process="",reason="zero_window_probes",remote="10.0.0.5:80"}`: 50,
			`{confidence="exact",local="10.0.0.1:40007",process="",reason="tcp_retries2",remote="10.0.0.8:443"}`:        -2,
		}},
		{"tcpwatch_connection_retransmits", map[string]float64{
			`{local="10.0.0.1:40000",remote="10.0.0.2:5432"}`: 5, `{local="[fd00::1]:40001",remote="[fd00::2]:443"}`: 2,
			`{local="10.0.0.1:40002",remote="10.0.0.3:6379"}`: 0, `{local="10.0.0.1:40004",remote="10.0.0.5:80"}`: 0,
			`{local="10.0.0.1:40006",remote="10.0.0.7:80"}`: 4, `{local="10.0.0.1:40007",remote="10.0.0.8:443"}`: 7,
		}},
		{"tcpwatch_connection_probes", map[string]float64{
			`{local="10.0.0.1:40000",remote="10.0.0.2:5432"}`: 0, `{local="[fd00::1]:40001",remote="[fd00::2]:443"}`: 0,
			`{local="10.0.0.1:40002",remote="10.0.0.3:6379"}`: 3, `{local="10.0.0.1:40004",remote="10.0.0.5:80"}`: 2,
			`{local="10.0.0.1:40006",remote="10.0.0.7:80"}`: 0, `{local="10.0.0.1:40007",remote="10.0.0.8:443"}`: 0,
		}},
		{"tcpwatch_poll_duration_seconds", map[string]float64{`{}`: 0.12}},
		{"tcpwatch_poll_interval_seconds", map[string]float64{`{}`: 2}},
		{"tcpwatch_poll_slowed", map[string]float64{`{}`: 1}},
		{"tcpwatch_sweep_interval_seconds", map[string]float64{`{}`: 30}},
		{"tcpwatch_sweep_duration_seconds", map[string]float64{`{}`: 2.5}},
		{"tcpwatch_last_poll_timestamp_seconds", map[string]float64{`{}`: 1767323045}},
		{"tcpwatch_events_total", map[string]float64{`{event="aborted"}`: 2, `{event="reset"}`: 1, `{event="closed"}`: 0, `{event="recovered"}`: 0}},
		{"tcpwatch_kernel_tcp_retries2", map[string]float64{`{}`: 8}},
		// tcp_model_timeout(8, 200 ms): (2^9 - 1) × 0.2 s, below the
		// linear threshold of a 120 s rto_max.
		{"tcpwatch_kernel_retransmit_budget_seconds", map[string]float64{`{}`: 102.2}},
		// 600 s idle + 3 probes × 10 s.
		{"tcpwatch_kernel_keepalive_budget_seconds", map[string]float64{`{}`: 630}},
		// No peers on this snapshot (peers_test.go has them).
		{"tcpwatch_peers", map[string]float64{`{status="alive"}`: 0, `{status="partial"}`: 0, `{status="unresponsive"}`: 0}},
		{"tcpwatch_unresponsive_peers", map[string]float64{`{}`: 0}},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, series(mfs, tc.name), approx); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.name, diff)
			}
			if mfs[tc.name].GetHelp() == "" {
				t.Errorf("%s has no HELP", tc.name)
			}
		})
	}
	for name := range mfs {
		if strings.HasPrefix(name, "tcpwatch_") && !seen[name] {
			t.Errorf("unexpected family %s", name)
		}
	}
	if got := mfs["tcpwatch_events_total"].GetType(); got != dto.MetricType_COUNTER {
		t.Errorf("tcpwatch_events_total is a %v, want a counter", got)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if mfs[name] == nil {
			t.Errorf("standard family %s missing", name)
		}
	}
}

func TestDefaultKernelBudgets(t *testing.T) {
	snap, _ := snapshot(t0, nil)
	e := New()
	e.Update(snap)
	mfs := scrape(t, e.Handler())
	// The kernel's defaults: tcp_retries2 15 gives 924.6 s with a 120 s
	// rto_max, keepalive 7200 s + 9 × 75 s.
	want := map[string]float64{
		"tcpwatch_kernel_tcp_retries2":              15,
		"tcpwatch_kernel_retransmit_budget_seconds": 924.6,
		"tcpwatch_kernel_keepalive_budget_seconds":  7875,
	}
	for name, v := range want {
		if diff := cmp.Diff(map[string]float64{`{}`: v}, series(mfs, name), approx); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

func TestNothingBeforeFirstUpdate(t *testing.T) {
	mfs := scrape(t, New().Handler())
	want := map[string]float64{`{event="aborted"}`: 0, `{event="reset"}`: 0, `{event="closed"}`: 0, `{event="recovered"}`: 0}
	if diff := cmp.Diff(want, series(mfs, "tcpwatch_events_total")); diff != "" {
		t.Errorf("events before any poll (-want +got):\n%s", diff)
	}
	for name := range mfs {
		if strings.HasPrefix(name, "tcpwatch_") && name != "tcpwatch_events_total" {
			t.Errorf("%s published before any poll", name)
		}
	}
}

func TestCardinalityBounds(t *testing.T) {
	var rows []model.Row
	// 1000 dying connections, the soonest last in the dump.
	for i := range 1000 {
		s := sk(inetdiag.StateEstablished, fmt.Sprintf("10.1.%d.%d:40000", i/250, i%250+1), "10.2.0.1:5432", inetdiag.TCPInfoLen2_6)
		s.Timer, s.Info.Retransmits = inetdiag.TimerRetransmit, 3
		rows = append(rows, model.Row{Sock: s, Health: model.HealthRetransmitting,
			Prediction: pred(t0.Add(time.Duration(1000-i)*time.Second), model.ReasonRetries2, model.Exact)})
	}
	// 30 client ports with j+1 exposed connections each, and port 999 as
	// exposed as port 1020 (ties go to the lower port).
	never := func(port, n int) {
		for c := range n {
			s := sk(inetdiag.StateEstablished, fmt.Sprintf("10.3.%d.%d:50000", port%200, c+1), fmt.Sprintf("10.4.0.1:%d", port), inetdiag.TCPInfoLen2_6)
			rows = append(rows, model.Row{Sock: s, Health: model.HealthUnguarded, Exposure: &model.Exposure{Never: true}})
		}
	}
	for j := range 30 {
		never(1000+j, j+1)
	}
	never(999, 21)
	snap, _ := snapshot(t0, rows)
	e := New()
	e.Update(snap)
	mfs := scrape(t, e.Handler())

	abort := series(mfs, "tcpwatch_connection_abort_seconds")
	if len(abort) != 100 { // the documented bound
		t.Fatalf("%d abort series, want 100", len(abort))
	}
	got := map[float64]bool{}
	for _, v := range abort {
		got[v] = true
	}
	for s := 1; s <= MaxConnSeries; s++ {
		if !got[float64(s)] {
			t.Errorf("the connection aborting in %d s has no series: the bound must keep the soonest", s)
		}
	}
	for _, name := range []string{"tcpwatch_connection_retransmits", "tcpwatch_connection_probes"} {
		if n := len(series(mfs, name)); n != 100 {
			t.Errorf("%s has %d series, want 100", name, n)
		}
	}
	if diff := cmp.Diff(float64(1000), series(mfs, "tcpwatch_dying_connections")[`{reason="tcp_retries2"}`]); diff != "" {
		t.Errorf("dying count must cover every connection (-want +got):\n%s", diff)
	}
	wantPorts := map[string]float64{`{port="999"}`: 21}
	for j := 21; j < 30; j++ {
		wantPorts[fmt.Sprintf(`{port="%d"}`, 1000+j)] = float64(j + 1)
	}
	if diff := cmp.Diff(wantPorts, series(mfs, "tcpwatch_never_detect_dead_peer_connections_by_port")); diff != "" {
		t.Errorf("top ports (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]float64{`{}`: 465 + 21}, series(mfs, "tcpwatch_never_detect_dead_peer_connections")); diff != "" {
		t.Errorf("never total (-want +got):\n%s", diff)
	}
}

func TestSeriesDisappear(t *testing.T) {
	dying := func(local string, in time.Duration) model.Row {
		s := sk(inetdiag.StateEstablished, local, "10.0.0.2:5432", inetdiag.TCPInfoLen2_6)
		s.Timer, s.Info.Retransmits = inetdiag.TimerRetransmit, 1
		return model.Row{Sock: s, Health: model.HealthRetransmitting, Prediction: pred(t0.Add(in), model.ReasonRetries2, model.Exact)}
	}
	exposed := func(remote string) model.Row {
		return model.Row{Sock: sk(inetdiag.StateEstablished, "10.0.0.1:50000", remote, inetdiag.TCPInfoLen2_6),
			Health: model.HealthUnguarded, Exposure: &model.Exposure{Never: true}}
	}
	e := New()
	steps := []struct {
		name       string
		at         time.Time
		rows       []model.Row
		wantAbort  map[string]float64
		wantPorts  map[string]float64
		wantDying  float64
		wantSoon   map[string]float64
		wantStates float64 // ESTABLISHED
	}{
		{
			name: "both dying", at: t0,
			rows: []model.Row{dying("10.0.0.1:40000", 20*time.Second), dying("10.0.0.1:40001", 40*time.Second), exposed("10.0.0.3:6379"), exposed("10.0.0.4:11211")},
			wantAbort: map[string]float64{
				`{confidence="exact",local="10.0.0.1:40000",process="",reason="tcp_retries2",remote="10.0.0.2:5432"}`: 20,
				`{confidence="exact",local="10.0.0.1:40001",process="",reason="tcp_retries2",remote="10.0.0.2:5432"}`: 40,
			},
			wantPorts: map[string]float64{`{port="6379"}`: 1, `{port="11211"}`: 1},
			wantDying: 2, wantSoon: map[string]float64{`{}`: 20}, wantStates: 4,
		},
		{
			name: "one gone", at: t0.Add(time.Second),
			rows: []model.Row{dying("10.0.0.1:40001", 40*time.Second), exposed("10.0.0.4:11211")},
			wantAbort: map[string]float64{
				`{confidence="exact",local="10.0.0.1:40001",process="",reason="tcp_retries2",remote="10.0.0.2:5432"}`: 39,
			},
			wantPorts: map[string]float64{`{port="11211"}`: 1},
			wantDying: 1, wantSoon: map[string]float64{`{}`: 39}, wantStates: 2,
		},
		{
			name: "none left", at: t0.Add(2 * time.Second),
			rows:      []model.Row{{Sock: sk(inetdiag.StateEstablished, "10.0.0.1:40002", "10.0.0.2:5432", inetdiag.TCPInfoLen2_6)}},
			wantDying: 0, wantStates: 1,
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			snap, _ := snapshot(st.at, st.rows)
			e.Update(snap)
			snap.Release()
			mfs := scrape(t, e.Handler())
			if diff := cmp.Diff(st.wantAbort, series(mfs, "tcpwatch_connection_abort_seconds")); diff != "" {
				t.Errorf("abort series (-want +got):\n%s", diff)
			}
			if got := len(series(mfs, "tcpwatch_connection_retransmits")); got != len(st.wantAbort) {
				t.Errorf("%d retransmit series, want %d", got, len(st.wantAbort))
			}
			if diff := cmp.Diff(st.wantPorts, series(mfs, "tcpwatch_never_detect_dead_peer_connections_by_port")); diff != "" {
				t.Errorf("port series (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(st.wantSoon, series(mfs, "tcpwatch_soonest_abort_seconds")); diff != "" {
				t.Errorf("soonest (-want +got):\n%s", diff)
			}
			dy := series(mfs, "tcpwatch_dying_connections")
			if len(dy) != 6 || dy[`{reason="tcp_retries2"}`] != st.wantDying {
				t.Errorf("dying by reason = %v, want 6 reasons with tcp_retries2 = %v", dy, st.wantDying)
			}
			if got := series(mfs, "tcpwatch_connections")[`{state="ESTABLISHED"}`]; got != st.wantStates {
				t.Errorf("ESTABLISHED = %v, want %v", got, st.wantStates)
			}
			// Health and state counts keep their zeros.
			if n := len(series(mfs, "tcpwatch_connections")); n != 12 {
				t.Errorf("%d state series, want all 12 states", n)
			}
			wantHealth := map[string]float64{
				`{health="ok"}`: 0, `{health="retransmitting"}`: st.wantDying, `{health="keepalive-probing"}`: 0,
				`{health="zero-window"}`: 0, `{health="close-wait"}`: 0, `{health="unguarded"}`: float64(len(st.wantPorts)),
				`{health="syn-sent"}`: 0, `{health="orphan-retrying"}`: 0,
			}
			if st.wantDying == 0 {
				wantHealth[`{health="ok"}`] = 1
			}
			if diff := cmp.Diff(wantHealth, series(mfs, "tcpwatch_connections_by_health")); diff != "" {
				t.Errorf("by health (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEventsAccumulate(t *testing.T) {
	ev := func(kinds ...model.EventKind) []model.Event {
		var out []model.Event
		for _, k := range kinds {
			out = append(out, model.Event{Kind: k})
		}
		return out
	}
	e := New()
	steps := []struct {
		name   string
		at     time.Time
		events []model.Event
		rows   int
		want   map[string]float64
		// wantRows is the ESTABLISHED count published after the step.
		wantRows float64
	}{
		{"first", t0, ev(model.EventAborted, model.EventClosed, model.EventClosed), 1,
			map[string]float64{`{event="aborted"}`: 1, `{event="reset"}`: 0, `{event="closed"}`: 2, `{event="recovered"}`: 0}, 1},
		{"second", t0.Add(time.Second), ev(model.EventRecovered, model.EventAborted), 2,
			map[string]float64{`{event="aborted"}`: 2, `{event="reset"}`: 0, `{event="closed"}`: 2, `{event="recovered"}`: 1}, 2},
		{"no events", t0.Add(2 * time.Second), nil, 3,
			map[string]float64{`{event="aborted"}`: 2, `{event="reset"}`: 0, `{event="closed"}`: 2, `{event="recovered"}`: 1}, 3},
		{"unknown kind ignored", t0.Add(3 * time.Second), ev(model.EventKind(0), model.EventKind(99), model.EventReset), 4,
			map[string]float64{`{event="aborted"}`: 2, `{event="reset"}`: 1, `{event="closed"}`: 2, `{event="recovered"}`: 1}, 4},
		// A late snapshot older than the one published: its events count,
		// its gauges do not go back in time.
		{"older snapshot", t0.Add(time.Second / 2), ev(model.EventReset), 9,
			map[string]float64{`{event="aborted"}`: 2, `{event="reset"}`: 2, `{event="closed"}`: 2, `{event="recovered"}`: 1}, 4},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var rows []model.Row
			for i := range st.rows {
				rows = append(rows, model.Row{Sock: sk(inetdiag.StateEstablished, fmt.Sprintf("10.0.0.1:%d", 40000+i), "10.0.0.2:80", inetdiag.TCPInfoLen2_6)})
			}
			snap, _ := snapshot(st.at, rows)
			snap.Events = st.events
			e.Update(snap)
			snap.Release()
			mfs := scrape(t, e.Handler())
			if diff := cmp.Diff(st.want, series(mfs, "tcpwatch_events_total")); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if got := series(mfs, "tcpwatch_connections")[`{state="ESTABLISHED"}`]; got != st.wantRows {
				t.Errorf("ESTABLISHED = %v, want %v", got, st.wantRows)
			}
		})
	}
}

func TestDuplicateEndpoints(t *testing.T) {
	// A reconnect from the same port within one dump: two sockets, one
	// four-tuple. The scrape must not fail on a duplicate series.
	row := func(in time.Duration, retr uint8) model.Row {
		s := sk(inetdiag.StateEstablished, "10.0.0.1:40000", "10.0.0.2:5432", inetdiag.TCPInfoLen2_6)
		s.Timer, s.Info.Retransmits = inetdiag.TimerRetransmit, retr
		return model.Row{Sock: s, Health: model.HealthRetransmitting, Prediction: pred(t0.Add(in), model.ReasonRetries2, model.Exact)}
	}
	snap, _ := snapshot(t0, []model.Row{row(90*time.Second, 1), row(12*time.Second, 6)})
	e := New()
	e.Update(snap)
	mfs := scrape(t, e.Handler())
	wantAbort := map[string]float64{`{confidence="exact",local="10.0.0.1:40000",process="",reason="tcp_retries2",remote="10.0.0.2:5432"}`: 12}
	if diff := cmp.Diff(wantAbort, series(mfs, "tcpwatch_connection_abort_seconds")); diff != "" {
		t.Errorf("abort (-want +got):\n%s", diff)
	}
	wantRetr := map[string]float64{`{local="10.0.0.1:40000",remote="10.0.0.2:5432"}`: 6}
	if diff := cmp.Diff(wantRetr, series(mfs, "tcpwatch_connection_retransmits")); diff != "" {
		t.Errorf("retransmits (-want +got):\n%s", diff)
	}
	if got := series(mfs, "tcpwatch_dying_connections")[`{reason="tcp_retries2"}`]; got != 2 {
		t.Errorf("dying = %v, want 2 (both sockets count)", got)
	}
}

// TestLint checks the names and help texts with promlint, and what the
// collector emits against what it describes with a pedantic registry
// (which also refuses duplicate series).
func TestLint(t *testing.T) {
	e := New()
	rows := mixedRows()
	rows = append(rows, rows[0]) // the same connection twice
	snap, _ := snapshot(t0, rows)
	e.Update(snap)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector{e})
	if _, err := reg.Gather(); err != nil {
		t.Errorf("pedantic gather: %v", err)
	}
	problems, err := testutil.CollectAndLint(collector{e})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestConcurrentScrapes runs scrapes against updates (meant for -race) and
// checks that a scrape never mixes two snapshots.
func TestConcurrentScrapes(t *testing.T) {
	mk := func(n int) []model.Row {
		var rows []model.Row
		for i := range n {
			s := sk(inetdiag.StateEstablished, fmt.Sprintf("10.0.%d.%d:40000", i/200, i%200+1), "10.9.0.1:443", inetdiag.TCPInfoLen2_6)
			rows = append(rows, model.Row{Sock: s, Health: model.HealthRetransmitting, Prediction: pred(t0.Add(time.Minute), model.ReasonRetries2, model.Exact)})
		}
		return rows
	}
	small, large := mk(3), mk(300)
	e := New()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 200 {
			rows := small
			if i%2 == 1 {
				rows = large
			}
			snap, _ := snapshot(t0.Add(time.Duration(i)*time.Second), append([]model.Row(nil), rows...))
			e.Update(snap)
			snap.Release()
		}
	}()
	for range 50 {
		mfs := scrape(t, e.Handler())
		est := series(mfs, "tcpwatch_connections")[`{state="ESTABLISHED"}`]
		dying := series(mfs, "tcpwatch_dying_connections")[`{reason="tcp_retries2"}`]
		abort := len(series(mfs, "tcpwatch_connection_abort_seconds"))
		ok := mfs["tcpwatch_connections"] == nil ||
			(est == 3 && dying == 3 && abort == 3) || (est == 300 && dying == 300 && abort == MaxConnSeries)
		if !ok {
			t.Fatalf("torn scrape: ESTABLISHED %v, dying %v, %d abort series", est, dying, abort)
		}
	}
	wg.Wait()
}

// BenchmarkUpdate measures the reduction of a large host's snapshot: 10^5
// connections, 1% of them dying, 5% exposed.
func BenchmarkUpdate(b *testing.B) {
	rows := make([]model.Row, 100_000)
	// One buffer of samples, as the poller dumps them.
	socks := make([]inetdiag.Socket, len(rows))
	for i := range rows {
		s := &socks[i]
		*s = *sk(inetdiag.StateEstablished, "10.0.0.1:40000", "10.0.0.2:5432", inetdiag.TCPInfoLen2_6)
		s.ID.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000)
		rows[i] = model.Row{Sock: s}
		switch {
		case i%100 == 0:
			rows[i].Health = model.HealthRetransmitting
			rows[i].Prediction = pred(t0.Add(time.Duration(i)*time.Millisecond), model.ReasonRetries2, model.Exact)
		case i%20 == 1:
			rows[i].Health = model.HealthUnguarded
			rows[i].Exposure = &model.Exposure{Never: true}
		}
	}
	snap, _ := snapshot(t0, rows)
	b.Run("sweep", func(b *testing.B) {
		e := New()
		b.ReportAllocs()
		for b.Loop() {
			e.Update(snap)
		}
	})
	// A refresh between two sweeps: the dying rows (1 %) are the fresh.
	refresh := *snap
	refresh.RowsEpoch = 1
	for i := range rows {
		if rows[i].Health == model.HealthRetransmitting {
			refresh.Fresh = append(refresh.Fresh, i)
		}
	}
	b.Run("refresh", func(b *testing.B) {
		e := New()
		b.ReportAllocs()
		for b.Loop() {
			e.Update(&refresh)
		}
	})
}

// TestRefreshesPublishAsWhole: between two sweeps the exporter sums only
// the suspects' rows anew (model.Summarizer). What it publishes for each
// refresh — a suspect's countdown moving, its retransmissions growing,
// then its recovery — must be what an exporter given that snapshot alone
// publishes.
func TestRefreshesPublishAsWhole(t *testing.T) {
	rows := mixedRows()
	var fresh []int
	for i, r := range rows {
		if r.Prediction != nil || r.Health != model.HealthOK && r.Health != model.HealthUnguarded {
			fresh = append(fresh, i)
		}
	}
	e := New()
	for k := range 5 {
		now := t0.Add(time.Duration(k) * time.Second)
		// The first suspect's row anew, as a refresh makes it.
		s := *rows[0].Sock
		s.Info.Retransmits = uint8(5 + k)
		rows[0] = model.Row{Sock: &s, Health: model.HealthRetransmitting, Exposure: rows[0].Exposure,
			Prediction: pred(t0.Add(time.Duration(30-7*k)*time.Second), model.ReasonRetries2, model.Exact)}
		if k == 4 {
			rows[0].Health, rows[0].Prediction = model.HealthOK, nil
		}
		snap, _ := snapshot(now, rows)
		if k > 0 {
			snap.RowsEpoch, snap.Fresh = 9, fresh
		}
		e.Update(snap)
		alone := New()
		whole, _ := snapshot(now, rows)
		alone.Update(whole)
		got, want := scrape(t, e.Handler()), scrape(t, alone.Handler())
		for name := range want {
			if !strings.HasPrefix(name, "tcpwatch_") || name == "tcpwatch_events_total" {
				continue
			}
			if d := cmp.Diff(series(want, name), series(got, name), approx); d != "" {
				t.Errorf("refresh %d: %s (-alone +refreshed):\n%s", k, name, d)
			}
		}
	}
}

// BenchmarkScrape measures one scrape of the tcpwatch families at the
// bound (100 connection series), the Go and process collectors included.
func BenchmarkScrape(b *testing.B) {
	var rows []model.Row
	for i := range 1000 {
		s := sk(inetdiag.StateEstablished, fmt.Sprintf("10.1.%d.%d:40000", i/250, i%250+1), "10.2.0.1:5432", inetdiag.TCPInfoLen2_6)
		rows = append(rows, model.Row{Sock: s, Health: model.HealthRetransmitting,
			Prediction: pred(t0.Add(time.Duration(i)*time.Second), model.ReasonRetries2, model.Exact)})
	}
	snap, _ := snapshot(t0, rows)
	e := New()
	e.Update(snap)
	h := e.Handler()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	}
}

// TestConnectionProcess: the abort series of a dying connection names the
// process that owns it, so that an alert can say who will get the error.
func TestConnectionProcess(t *testing.T) {
	s := sk(inetdiag.StateEstablished, "10.0.0.1:40000", "10.0.0.2:5432", inetdiag.TCPInfoLen2_6)
	rows := []model.Row{
		{Sock: s, Health: model.HealthRetransmitting, Prediction: pred(t0.Add(20*time.Second), model.ReasonRetries2, model.Exact), PID: 4242, Comm: "psql"},
		{Sock: sk(inetdiag.StateEstablished, "10.0.0.1:40001", "10.0.0.2:5432", inetdiag.TCPInfoLen2_6), Health: model.HealthRetransmitting,
			Prediction: pred(t0.Add(30*time.Second), model.ReasonRetries2, model.Exact)},
	}
	snap, _ := snapshot(t0, rows)
	e := New()
	e.Update(snap)
	want := map[string]float64{
		`{confidence="exact",local="10.0.0.1:40000",process="psql",reason="tcp_retries2",remote="10.0.0.2:5432"}`: 20,
		`{confidence="exact",local="10.0.0.1:40001",process="",reason="tcp_retries2",remote="10.0.0.2:5432"}`:     30,
	}
	if diff := cmp.Diff(want, series(scrape(t, e.Handler()), "tcpwatch_connection_abort_seconds"), approx); diff != "" {
		t.Errorf("abort series (-want +got):\n%s", diff)
	}
}
