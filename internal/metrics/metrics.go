// Package metrics exports what tcpwatch sees in Prometheus' exposition
// format, so that the dying connections of many hosts can be scraped,
// graphed and alerted on from one place.
//
// The exporter keeps no rows: each Update reduces a snapshot to the few
// numbers it publishes (counts by state, health and abort reason, exposure,
// poll cost, kernel budgets, and series for at most MaxConnSeries dying
// connections), so a scrape never reads a snapshot that the poller has
// already reused. Every series except the events counter is rebuilt from
// the last snapshot alone: a connection or port that disappears from it
// disappears from the next scrape too. Counts by state, health, abort
// reason and event list every known label value, zeros included, so that
// dashboards see 0 rather than nothing; tcpwatch_soonest_abort_seconds is
// absent when no abort is predicted (an alert on "< 60" must not fire on a
// made-up value); nothing but the events counter is published before the
// first snapshot. Times to an abort are counted from the snapshot's time,
// so they are at most one polling interval old.
//
// The package only reads snapshots; it never polls the kernel, never
// changes a socket and never picks a listening address by itself.
package metrics

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

const (
	// MaxConnSeries bounds the connections that get series of their own
	// (tcpwatch_connection_*): the dying ones whose predicted abort comes
	// soonest. A host with thousands of dying connections would otherwise
	// flood the time-series database with short-lived label sets; the
	// counts by reason still cover every connection.
	MaxConnSeries = 100
	// MaxPortSeries bounds tcpwatch_never_detect_dead_peer_connections_by_port
	// to the ports with the most exposed connections, for the same reason.
	MaxPortSeries = 10
)

// Exporter turns snapshots into Prometheus metrics. Update and scrapes of
// Handler may run concurrently.
type Exporter struct {
	mu     sync.Mutex
	cur    *values // nil until the first Update; never modified once set
	events map[string]uint64

	// sums summarizes the snapshots (see model.Summarizer: between two
	// sweeps of 10^6 sockets, a pass over the suspects instead of every
	// row, most of the exporter's CPU).
	sumMu sync.Mutex
	sums  model.Summarizer

	handler http.Handler
	// The per-connection families, with a netns label or without.
	connAbort, connRetrans, connProbes connFamily
}

// New returns an exporter with its own registry, which also holds the
// standard Go runtime and process collectors, so that tcpwatch's own cost
// can be watched with the same scrape.
func New() *Exporter { return newExporter(false) }

func newExporter(withNetNS bool) *Exporter {
	e := &Exporter{events: map[string]uint64{}}
	e.connAbort, e.connRetrans, e.connProbes = connFamilies(withNetNS)
	if withNetNS {
		e.events[model.EventNetNSGone.String()] = 0
	}
	for _, k := range eventKinds {
		e.events[k.String()] = 0
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collector{e},
	)
	e.handler = promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry: reg,
		// A failing collector (the process collector on an exotic
		// /proc) must not hide tcpwatch's own numbers.
		ErrorHandling: promhttp.ContinueOnError,
		// Scrapes are cheap but not free; a misconfigured fleet of
		// scrapers must not take a core from the poller.
		MaxRequestsInFlight: 4,
	}))
	return e
}

// Handler serves the exporter's registry in the Prometheus exposition
// formats (text, OpenMetrics, protobuf, as negotiated).
func (e *Exporter) Handler() http.Handler { return e.handler }

// Update publishes snap: from now on scrapes show its numbers, and its new
// events are added to tcpwatch_events_total. The numbers are copied out of
// snap, so the caller may Release it as soon as Update returns. A snapshot
// older than the one already published only adds its events (two pollers
// racing must not make the gauges go back in time). A nil snap is ignored.
func (e *Exporter) Update(snap *model.Snapshot) {
	if snap == nil {
		return
	}
	// The reduction reads only the immutable snapshot: do it before taking
	// the lock so that a scrape never waits for a pass over 10^5 rows.
	e.sumMu.Lock()
	v := reduce(snap, e.sums.Summarize(snap))
	e.sumMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range snap.Events {
		k := snap.Events[i].Kind
		if validEvent(k) || k == model.EventNetNSGone && e.connAbort.netns {
			e.events[k.String()]++
		}
	}
	if e.cur == nil || !v.time.Before(e.cur.time) {
		e.cur = v
	}
}

// values is what one snapshot publishes. It is built once and only read
// afterwards.
type values struct {
	time     time.Time
	byState  map[string]int
	byHealth map[string]int
	byReason map[string]int

	// soonest is the time from the snapshot to the earliest predicted
	// abort; hasSoonest is false when nothing is predicted.
	soonest    time.Duration
	hasSoonest bool

	never       int
	neverByPort []model.PortExposure

	conns []connValues

	pollCost, interval    time.Duration
	slowed                bool
	sweepEvery, sweepCost time.Duration

	retries2                          int
	retransmitBudget, keepaliveBudget time.Duration

	peers peerSummary
}

// connValues are the series of one dying connection.
type connValues struct {
	// netns is the connection's namespace's label with --all-netns ("":
	// absent, as Prometheus reads an empty label).
	netns              string
	local, remote      string
	reason, confidence string
	// process is the owner's name ("" when unknown): the on-call's first
	// question, answered in the alert itself.
	process string
	// abort is the time from the snapshot to the predicted abort;
	// predicted is false for a dying connection the model could not
	// predict (then it only has its retransmit and probe counts).
	abort               time.Duration
	predicted           bool
	retransmits, probes int
	sortAt              time.Time // the predicted abort, for ordering
}

// Label values that always appear, zeros included, so that dashboards and
// alerts see 0 rather than an absent series. They are read from the model's
// and inetdiag's own names, so a health or state added there shows up here.
var (
	stateNames  = enumNames(func(i int) string { return inetdiag.State(i).Name() }, 1)
	healthNames = enumNames(func(i int) string { return model.Health(i).String() }, 0)
	reasonNames = enumNames(func(i int) string { return model.Reason(i).String() }, 1)
	eventKinds  = []model.EventKind{model.EventAborted, model.EventReset, model.EventClosed, model.EventRecovered}
)

// enumNames lists the names of a small enumeration from first on, up to
// the first value its String method does not know.
func enumNames(name func(int) string, first int) []string {
	var out []string
	for i := first; i < 256; i++ {
		n := name(i)
		if n == "" || strings.HasPrefix(n, "UNKNOWN_") {
			break
		}
		out = append(out, n)
	}
	return out
}

func validEvent(k model.EventKind) bool { return slices.Contains(eventKinds, k) }

// zeroed returns a map with every name at 0.
func zeroed(names []string) map[string]int {
	m := make(map[string]int, len(names))
	for _, n := range names {
		m[n] = 0
	}
	return m
}

// reduce computes what snap publishes from its summary sum. Rows
// without a socket sample count for nothing (they have no state, no
// endpoints).
func reduce(snap *model.Snapshot, sum *model.Summary) *values {
	v := &values{
		time:             snap.Time,
		byState:          zeroed(stateNames),
		byHealth:         zeroed(healthNames),
		byReason:         zeroed(reasonNames),
		pollCost:         snap.PollCost,
		interval:         snap.Interval,
		slowed:           snap.Slowed,
		sweepEvery:       snap.SweepEvery,
		sweepCost:        snap.SweepCost,
		retries2:         snap.Params.Retries2,
		retransmitBudget: snap.Params.RetransmitBudget(),
		keepaliveBudget:  snap.Params.KeepaliveBudget(),
	}
	counts := &sum.Counts
	for _, st := range counts.States() {
		v.byState[st.Name()] += counts.ByState[st]
	}
	for h := range counts.ByHealth {
		if n := counts.ByHealth[h]; n > 0 {
			v.byHealth[model.Health(h).String()] += n
		}
	}
	for i, n := range sum.ByReason {
		if n > 0 && model.Reason(i) != model.ReasonNone {
			v.byReason[model.Reason(i).String()] += n
		}
	}
	if r := sum.SoonestAbort(snap); r != nil {
		v.soonest, v.hasSoonest = r.Prediction.At.Sub(snap.Time), true
	}
	v.never = sum.Never
	v.neverByPort = topPorts(sum.NeverByPort, MaxPortSeries)
	// A zero-window connection is not Dying (its peer is alive) but once
	// its probes go unanswered it has a prediction and is counted under
	// tcpwatch_dying_connections: give it series too.
	dying := make([]*model.Row, len(sum.Dying))
	for k, i := range sum.Dying {
		dying[k] = &snap.Rows[i]
	}
	v.conns = connSeries(dying, snap.Time, MaxConnSeries)
	v.peers = reducePeers(snap)
	return v
}

// topPorts returns the n ports with the most connections, most first
// (ties by port number, so that the selection is stable across scrapes).
func topPorts(byPort map[uint16]int, n int) []model.PortExposure {
	out := make([]model.PortExposure, 0, len(byPort))
	for p, c := range byPort {
		out = append(out, model.PortExposure{Port: p, Never: c})
	}
	slices.SortFunc(out, func(a, b model.PortExposure) int {
		if c := cmp.Compare(b.Never, a.Never); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// connSeries returns the series of the n dying connections whose abort is
// predicted soonest (those without a prediction last). Two rows with the
// same endpoints (possible across a reconnect within one dump) would make
// a duplicate series, which fails the whole scrape: the sooner one wins.
func connSeries(rows []*model.Row, now time.Time, n int) []connValues {
	all := make([]connValues, 0, len(rows))
	for _, r := range rows {
		c := connValues{
			local:       r.Local(),
			remote:      r.Remote(),
			retransmits: r.Retransmits(),
			probes:      r.Probes(),
			process:     r.Comm,
		}
		if r.NetNS != nil {
			c.netns = r.NetNS.Name
		}
		if p := r.Prediction; p != nil {
			c.predicted = true
			c.abort = p.At.Sub(now)
			c.reason = p.Reason.String()
			c.confidence = p.Confidence.String()
			c.sortAt = p.At
		}
		all = append(all, c)
	}
	slices.SortFunc(all, func(a, b connValues) int {
		if a.predicted != b.predicted {
			if a.predicted {
				return -1
			}
			return 1
		}
		if c := a.sortAt.Compare(b.sortAt); c != 0 {
			return c
		}
		if c := strings.Compare(a.local, b.local); c != 0 {
			return c
		}
		if c := strings.Compare(a.remote, b.remote); c != 0 {
			return c
		}
		return strings.Compare(a.netns, b.netns)
	})
	seen := make(map[[3]string]bool, min(n, len(all)))
	out := make([]connValues, 0, min(n, len(all)))
	for _, c := range all {
		if len(out) == n {
			break
		}
		k := [3]string{c.netns, c.local, c.remote}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, c)
	}
	return out
}

// connBound ends the help of the per-connection families.
var connBound = fmt.Sprintf("Only the %d dying connections predicted to abort soonest have series.", MaxConnSeries)

// Metric descriptions. The HELP texts are what an operator reads in
// Prometheus' UI: they say what the number means, not how it is computed.
var (
	descConnections = prometheus.NewDesc("tcpwatch_connections",
		"TCP sockets seen by the last poll, by kernel state (every state is listed, 0 included).",
		[]string{"state"}, nil)
	descByHealth = prometheus.NewDesc("tcpwatch_connections_by_health",
		"TCP sockets seen by the last poll, by tcpwatch's health verdict (every health is listed, 0 included).",
		[]string{"health"}, nil)
	descDying = prometheus.NewDesc("tcpwatch_dying_connections",
		"Connections the kernel is expected to abort, by the rule that will abort them (every reason is listed, 0 included).",
		[]string{"reason"}, nil)
	descSoonest = prometheus.NewDesc("tcpwatch_soonest_abort_seconds",
		"Seconds from the last poll to the earliest predicted connection abort (best estimate; negative when overdue). Absent when no abort is predicted.",
		nil, nil)
	descNever = prometheus.NewDesc("tcpwatch_never_detect_dead_peer_connections",
		"Established connections that would never notice if their peer host died: idle, no keepalive, nothing to retransmit.",
		nil, nil)
	descNeverByPort = prometheus.NewDesc("tcpwatch_never_detect_dead_peer_connections_by_port",
		fmt.Sprintf("Connections that would never notice a dead peer, by service port (the local port if something listens on it, else the remote one); only the %d ports with the most.", MaxPortSeries),
		[]string{"port"}, nil)
	descConnAbort = prometheus.NewDesc("tcpwatch_connection_abort_seconds",
		"Seconds from the last poll to the predicted abort of one dying connection (best estimate; negative when overdue); process is its owner's name, empty when unknown. "+connBound,
		[]string{"local", "remote", "reason", "confidence", "process"}, nil)
	descConnRetrans = prometheus.NewDesc("tcpwatch_connection_retransmits",
		"Unanswered RTO retransmissions in the current episode of one dying connection. "+connBound,
		[]string{"local", "remote"}, nil)
	descConnProbes = prometheus.NewDesc("tcpwatch_connection_probes",
		"Unanswered keepalive or zero-window probes of one dying connection. "+connBound,
		[]string{"local", "remote"}, nil)
	descPollDuration = prometheus.NewDesc("tcpwatch_poll_duration_seconds",
		"How long the last poll (socket dump and analysis) took.",
		nil, nil)
	descPollInterval = prometheus.NewDesc("tcpwatch_poll_interval_seconds",
		"Polling interval in force; longer than configured when polls are slow (see tcpwatch_poll_slowed).",
		nil, nil)
	descPollSlowed = prometheus.NewDesc("tcpwatch_poll_slowed",
		"1 when the polling interval was stretched because polls are slow, else 0.",
		nil, nil)
	descSweepInterval = prometheus.NewDesc("tcpwatch_sweep_interval_seconds",
		"How often the full socket dump runs when dumps cost more than the poll budget (the polls in between look up only the connections that are or may be dying); 0 when every poll dumps.",
		nil, nil)
	descSweepDuration = prometheus.NewDesc("tcpwatch_sweep_duration_seconds",
		"How long the last full socket dump took when dumps are spaced out (see tcpwatch_sweep_interval_seconds); 0 when every poll dumps.",
		nil, nil)
	descLastPoll = prometheus.NewDesc("tcpwatch_last_poll_timestamp_seconds",
		"Unix time of the last poll; a value that stops moving means the poller is stuck.",
		nil, nil)
	descEvents = prometheus.NewDesc("tcpwatch_events_total",
		"Connections that ended or recovered since tcpwatch started: aborted by the kernel on a timeout, reset, closed normally, or recovered from dying.",
		[]string{"event"}, nil)
	descRetries2 = prometheus.NewDesc("tcpwatch_kernel_tcp_retries2",
		"The net.ipv4.tcp_retries2 sysctl of the watched network namespace.",
		nil, nil)
	descRetransmitBudget = prometheus.NewDesc("tcpwatch_kernel_retransmit_budget_seconds",
		"Seconds after its first unanswered retransmission that the kernel aborts a connection under the namespace's tcp_retries2 (924.6 by default).",
		nil, nil)
	descKeepaliveBudget = prometheus.NewDesc("tcpwatch_kernel_keepalive_budget_seconds",
		"Seconds after the last received segment that the kernel aborts an idle keepalive connection whose peer died, under the namespace's keepalive sysctls (7875 by default).",
		nil, nil)
)

// collector emits const metrics from the last published values, so that
// label sets that vanish from a snapshot vanish from the next scrape.
type collector struct{ e *Exporter }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descConnections, descByHealth, descDying, descSoonest, descNever, descNeverByPort,
		c.e.connAbort.desc, c.e.connRetrans.desc, c.e.connProbes.desc, descPollDuration, descPollInterval,
		descPollSlowed, descSweepInterval, descSweepDuration, descLastPoll, descEvents, descRetries2, descRetransmitBudget, descKeepaliveBudget,
	} {
		ch <- d
	}
	for _, d := range peerDescs {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.e.mu.Lock()
	v := c.e.cur
	events := make(map[string]uint64, len(c.e.events))
	for k, n := range c.e.events {
		events[k] = n
	}
	c.e.mu.Unlock()

	for k, n := range events {
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(n), k)
	}
	if v == nil {
		// Nothing polled yet: no gauge rather than made-up zeros.
		return
	}
	gauge := func(d *prometheus.Desc, x float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, x, labels...)
	}
	for k, n := range v.byState {
		gauge(descConnections, float64(n), k)
	}
	for k, n := range v.byHealth {
		gauge(descByHealth, float64(n), k)
	}
	for k, n := range v.byReason {
		gauge(descDying, float64(n), k)
	}
	if v.hasSoonest {
		gauge(descSoonest, v.soonest.Seconds())
	}
	gauge(descNever, float64(v.never))
	for _, p := range v.neverByPort {
		gauge(descNeverByPort, float64(p.Never), strconv.Itoa(int(p.Port)))
	}
	for i := range v.conns {
		cv := &v.conns[i]
		if cv.predicted {
			c.e.connAbort.gauge(ch, cv.abort.Seconds(), cv, cv.reason, cv.confidence, cv.process)
		}
		c.e.connRetrans.gauge(ch, float64(cv.retransmits), cv)
		c.e.connProbes.gauge(ch, float64(cv.probes), cv)
	}
	gauge(descPollDuration, v.pollCost.Seconds())
	gauge(descPollInterval, v.interval.Seconds())
	slowed := 0.0
	if v.slowed {
		slowed = 1
	}
	gauge(descPollSlowed, slowed)
	gauge(descSweepInterval, v.sweepEvery.Seconds())
	gauge(descSweepDuration, v.sweepCost.Seconds())
	if !v.time.IsZero() {
		gauge(descLastPoll, float64(v.time.UnixNano())/1e9)
	}
	gauge(descRetries2, float64(v.retries2))
	gauge(descRetransmitBudget, v.retransmitBudget.Seconds())
	gauge(descKeepaliveBudget, v.keepaliveBudget.Seconds())
	collectPeers(&v.peers, gauge)
}
