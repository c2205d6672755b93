package watch

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/netns"
	"github.com/tcpwatch/tcpwatch/model"
)

// fakeHostNS is a host of fake namespaces for the poller of all of them:
// discovery lists what the test put in list, opening gives each its fake
// dump and reader.
type fakeHostNS struct {
	list    []netns.Namespace
	listErr error
	dumps   map[uint64]dumper
	readers map[uint64]*fakeNS
	openErr map[uint64]error
	opened  map[uint64]int
	shared  map[uint64]bool // namespaces that share the host's socket table
}

func newFakeHostNS() *fakeHostNS {
	return &fakeHostNS{dumps: map[uint64]dumper{}, readers: map[uint64]*fakeNS{}, openErr: map[uint64]error{}, opened: map[uint64]int{}}
}

// add makes namespace ino, named name ("host" is the host's), with its
// parameters and dump.
func (h *fakeHostNS) add(ino uint64, name string, p model.Params, d dumper) {
	ns := netns.Namespace{ID: netns.ID{Dev: 4, Inode: ino}, Path: fmt.Sprintf("/run/netns/%s", name), Named: name}
	if name == "host" {
		ns.Host, ns.Self, ns.Named, ns.Path = true, true, "", ""
	}
	h.list = append(h.list, ns)
	h.dumps[ino] = d
	h.readers[ino] = &fakeNS{params: p}
}

func (h *fakeHostNS) remove(ino uint64) {
	h.list = slices.DeleteFunc(h.list, func(ns netns.Namespace) bool { return ns.ID.Inode == ino })
}

// fakeAllWatcher is a Watcher over every namespace of h, with a fake
// clock and no owners.
func fakeAllWatcher(t *testing.T, h *fakeHostNS, clock *fakeClock) (*Watcher, error) {
	t.Helper()
	w := newBase(Config{Owners: OwnersNone, Clock: clock.Now}, 250)
	a := newAllNS(w)
	a.discover = func() (netns.Found, error) {
		return netns.Found{Namespaces: slices.Clone(h.list)}, h.listErr
	}
	a.pods = func() map[string]netns.Pod { return nil }
	a.label = func(ns *netns.Namespace, _ map[string]netns.Pod) netns.Label {
		if ns.Host {
			return netns.Label{Name: "host"}
		}
		return netns.Label{Name: ns.Named}
	}
	a.open = func(ns *netns.Namespace) (nsHandle, error) {
		h.opened[ns.ID.Inode]++
		if err := h.openErr[ns.ID.Inode]; err != nil {
			return nsHandle{}, err
		}
		return nsHandle{dump: h.dumps[ns.ID.Inode], ns: h.readers[ns.ID.Inode], sharedTable: h.shared[ns.ID.Inode]}, nil
	}
	return w, a.start()
}

func mustAllWatcher(t *testing.T, h *fakeHostNS, clock *fakeClock) *Watcher {
	t.Helper()
	w, err := fakeAllWatcher(t, h, clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func paramsWith(retries2 int) model.Params {
	p := model.DefaultParams()
	p.Retries2 = retries2
	p.HZ = 250
	return p
}

// rowsByNS maps "namespace cookie" to the snapshot's rows.
func rowsByNS(snap *model.Snapshot) map[string]*model.Row {
	out := map[string]*model.Row{}
	for i := range snap.Rows {
		r := &snap.Rows[i]
		name := "<none>"
		if r.NetNS != nil {
			name = r.NetNS.Name
		}
		out[fmt.Sprintf("%s %d", name, r.Sock.ID.Cookie)] = r
	}
	return out
}

// TestAllNSOwnParams: the same retransmitting socket, cookie and
// four-tuple in two namespaces with different tcp_retries2 are two
// connections, each predicted with its own namespace's parameters: as a
// tracker given those parameters alone predicts it.
func TestAllNSOwnParams(t *testing.T) {
	clock := newFakeClock()
	h := newFakeHostNS()
	h.add(100, "host", paramsWith(15), &fakeDumper{socks: always(retransSock(1), okSock(2))})
	h.add(200, "short", paramsWith(5), &fakeDumper{socks: always(retransSock(1))})
	w := mustAllWatcher(t, h, clock)

	// The reference: one tracker per parameter set, fed the same samples.
	ref := map[string]*model.Tracker{
		"host":  model.NewTracker(model.Config{Params: paramsWith(15)}),
		"short": model.NewTracker(model.Config{Params: paramsWith(5)}),
	}
	var snap *model.Snapshot
	for i := range 3 {
		if i > 0 {
			clock.advance(500 * time.Millisecond)
		}
		snap = mustPoll(t, w)
		ref["host"].Update(model.PollInput{Time: clock.Now(), Socks: []inetdiag.Socket{retransSock(1), okSock(2)}})
		ref["short"].Update(model.PollInput{Time: clock.Now(), Socks: []inetdiag.Socket{retransSock(1)}})
		if i < 2 {
			snap.Release()
		}
	}
	defer snap.Release()
	rows := rowsByNS(snap)
	if len(snap.Rows) != 3 || len(rows) != 3 {
		t.Fatalf("%d rows (%v), want 3: host 1, host 2, short 1", len(snap.Rows), keys(rows))
	}
	keysSeen := map[model.Key]bool{}
	for _, r := range snap.Rows {
		keysSeen[r.Key()] = true
	}
	if len(keysSeen) != 3 {
		t.Errorf("rows share keys: %v", keysSeen)
	}
	var at [2]time.Time
	for i, name := range []string{"host", "short"} {
		r := rows[name+" 1"]
		if r == nil || r.Prediction == nil {
			t.Fatalf("%s: no prediction for the retransmitting socket: %+v", name, r)
		}
		want := ref[name].Update(model.PollInput{Time: clock.Now(), Socks: []inetdiag.Socket{retransSock(1)}}).Conns[0].Prediction
		if want == nil || !r.Prediction.At.Equal(want.At) || r.Prediction.Count != want.Count {
			t.Errorf("%s: predicted abort %v after %d, want %v after %d (its own parameters)", name, r.Prediction.At, r.Prediction.Count, want.At, want.Count)
		}
		if r.NetNS.Params.Retries2 != ref[name].Params().Retries2 {
			t.Errorf("%s: row carries retries2 %d", name, r.NetNS.Params.Retries2)
		}
		at[i] = r.Prediction.At
	}
	if !at[1].Before(at[0]) {
		t.Errorf("tcp_retries2=5 aborts at %v, not before tcp_retries2=15 at %v", at[1], at[0])
	}
	if snap.Params.Retries2 != 15 {
		t.Errorf("the snapshot's parameters are not the host's: retries2 %d", snap.Params.Retries2)
	}
	if !strings.Contains(snap.NetNS, "2") {
		t.Errorf("snapshot NetNS %q does not count the namespaces", snap.NetNS)
	}
}

func keys(m map[string]*model.Row) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// scribbleDumper fails the dumps from failFrom on, after writing garbage
// into the buffer it was given (as a dump cut short by a vanishing
// namespace may).
type scribbleDumper struct {
	fakeDumper
	failFrom int
}

func (d *scribbleDumper) Dump(req inetdiag.Request, dst []inetdiag.Socket) ([]inetdiag.Socket, error) {
	if len(d.calls) >= d.failFrom {
		d.calls = append(d.calls, dumpCall{req: req, dst: dst})
		dst = append(dst, okSock(999), okSock(998), okSock(997))
		return dst, errFakeDump
	}
	return d.fakeDumper.Dump(req, dst)
}

// TestAllNSGone: a namespace that disappears ends each of its connections
// with EventNetNSGone (not aborted, reset or closed), even a dying one and
// even after dumps of it failed in between; the other namespaces go on.
func TestAllNSGone(t *testing.T) {
	for _, failing := range []bool{false, true} {
		t.Run(fmt.Sprintf("failing=%v", failing), func(t *testing.T) {
			clock := newFakeClock()
			h := newFakeHostNS()
			h.add(100, "host", paramsWith(15), &fakeDumper{socks: always(okSock(1))})
			pod := &scribbleDumper{fakeDumper: fakeDumper{socks: always(retransSock(1), idleSock(7))}, failFrom: 1 << 30}
			h.add(200, "pod", paramsWith(5), pod)
			w := mustAllWatcher(t, h, clock)
			mustPoll(t, w).Release()
			if failing {
				// Two failed dumps: a notice each time, the host's rows
				// still come.
				pod.failFrom = len(pod.calls)
				for range 2 {
					clock.advance(100 * time.Millisecond)
					snap := mustPoll(t, w)
					if len(snap.Rows) != 1 || snap.Rows[0].NetNS.Name != "host" {
						t.Errorf("with the pod's dump failing: rows %v", keys(rowsByNS(snap)))
					}
					if !slices.ContainsFunc(snap.Notices, func(n string) bool { return strings.Contains(n, "pod") && strings.Contains(n, errFakeDump.Error()) }) {
						t.Errorf("no notice of the failed dump: %q", snap.Notices)
					}
					snap.Release()
				}
			}
			h.remove(200)
			clock.advance(rediscoverEvery)
			calls := len(pod.calls)
			snap := mustPoll(t, w)
			defer snap.Release()
			if len(pod.calls) != calls || pod.closed != 1 {
				t.Errorf("the gone namespace was dumped %d more times, closed %d times; want 0, 1", len(pod.calls)-calls, pod.closed)
			}
			var gone []uint64
			for _, e := range snap.Events {
				if e.Kind != model.EventNetNSGone {
					t.Errorf("event %v for cookie %d, want only netns_gone", e.Kind, e.ID.Cookie)
					continue
				}
				if e.NetNS == nil || e.NetNS.Name != "pod" || e.NetNS.Inode != 200 {
					t.Errorf("netns_gone event names namespace %+v", e.NetNS)
				}
				if e.ID.Cookie == 1 && (e.Predicted == nil || !e.Health.Dying()) {
					t.Errorf("the dying connection's event lost its prediction or health: %+v", e)
				}
				gone = append(gone, e.ID.Cookie)
			}
			slices.Sort(gone)
			if !slices.Equal(gone, []uint64{1, 7}) {
				t.Errorf("netns_gone for cookies %v, want [1 7]", gone)
			}
			if n := len(snap.AllEvents); n != 2 {
				t.Errorf("%d events kept, want the 2 netns_gone", n)
			}
			if len(snap.Rows) != 1 || snap.Rows[0].NetNS.Name != "host" {
				t.Errorf("rows after the namespace went: %v", keys(rowsByNS(snap)))
			}
			// Later polls say nothing more of it.
			clock.advance(time.Second)
			if snap := mustPoll(t, w); len(snap.Events) != 0 {
				t.Errorf("events after the namespace went: %+v", snap.Events)
			}
		})
	}
}

// TestAllNSDiscovery: a namespace that appears is opened within
// rediscoverEvery; one that cannot be opened costs a notice (and is tried
// again, TestAllNSRetriesFailedOpen); none opened, or the first listing
// failing, is an error.
func TestAllNSDiscovery(t *testing.T) {
	clock := newFakeClock()
	h := newFakeHostNS()
	h.add(100, "host", paramsWith(15), &fakeDumper{socks: always(okSock(1))})
	h.add(300, "locked", paramsWith(15), &fakeDumper{})
	h.openErr[300] = errors.New("operation not permitted")
	w := mustAllWatcher(t, h, clock)
	snap := mustPoll(t, w)
	if !slices.ContainsFunc(snap.Notices, func(n string) bool {
		return strings.Contains(n, "locked") && strings.Contains(n, "operation not permitted")
	}) {
		t.Errorf("no notice of the namespace that cannot be opened: %q", snap.Notices)
	}
	snap.Release()

	h.add(400, "new", paramsWith(8), &fakeDumper{socks: always(okSock(1))})
	clock.advance(rediscoverEvery - time.Millisecond)
	if snap := mustPoll(t, w); len(snap.Rows) != 1 {
		t.Errorf("the new namespace was listed before rediscoverEvery: %v", keys(rowsByNS(snap)))
	}
	clock.advance(time.Millisecond)
	snap = mustPoll(t, w)
	if got := keys(rowsByNS(snap)); !slices.Equal(got, []string{"host 1", "new 1"}) {
		t.Errorf("rows %v, want host 1 and new 1", got)
	}
	if h.opened[300] != 2 {
		t.Errorf("the namespace that cannot be opened was tried %d times, want twice (at start, then rediscoverEvery later)", h.opened[300])
	}
	snap.Release()

	// A failed listing later keeps the namespaces.
	h.listErr = errors.New("proc unreadable")
	clock.advance(rediscoverEvery)
	if snap := mustPoll(t, w); len(snap.Rows) != 2 || len(snap.Events) != 0 {
		t.Errorf("after a failed listing: rows %v, events %+v", keys(rowsByNS(snap)), snap.Events)
	}

	for name, h := range map[string]*fakeHostNS{
		"listing fails": {listErr: errors.New("proc unreadable")},
		"none opens": func() *fakeHostNS {
			h := newFakeHostNS()
			h.add(100, "host", paramsWith(15), &fakeDumper{})
			h.openErr[100] = errors.New("operation not permitted")
			return h
		}(),
		"sysctls unreadable": func() *fakeHostNS {
			h := newFakeHostNS()
			h.add(100, "host", paramsWith(15), &fakeDumper{})
			h.readers[100].paramsErr = errors.New("sysctl unreadable")
			return h
		}(),
	} {
		if h.opened == nil {
			h.opened = map[uint64]int{}
		}
		if _, err := fakeAllWatcher(t, h, clock); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestAllNSParallel: more namespaces than may be dumped at once are all
// dumped once a poll, never more than parallel at the same time.
func TestAllNSParallel(t *testing.T) {
	clock := newFakeClock()
	h := newFakeHostNS()
	g := &gauge{}
	h.add(1, "host", paramsWith(15), &gaugeDumper{g: g, cookie: 1})
	for i := uint64(2); i <= 20; i++ {
		h.add(i, fmt.Sprintf("ns%d", i), paramsWith(int(i)), &gaugeDumper{g: g, cookie: i})
	}
	w := mustAllWatcher(t, h, clock)
	w.all.parallel = 3
	for range 3 {
		snap := mustPoll(t, w)
		if len(snap.Rows) != 20 {
			t.Errorf("%d rows, want 20", len(snap.Rows))
		}
		for _, r := range snap.Rows {
			if r.NetNS.Inode != r.Sock.ID.Cookie {
				t.Errorf("row of cookie %d tagged with namespace %d", r.Sock.ID.Cookie, r.NetNS.Inode)
			}
		}
		snap.Release()
	}
	if g.peak > 3 || g.peak < 2 {
		t.Errorf("%d dumps at once at most, want 2..3", g.peak)
	}
}

// gauge counts dumps in progress.
type gauge struct{ cur, peak int }

func (g *gauge) add(d int) {
	g.cur += d
	g.peak = max(g.peak, g.cur)
}

// gaugeDumper dumps one socket of its cookie, slowly enough for dumps to
// overlap.
type gaugeDumper struct {
	g      *gauge
	cookie uint64
}

var gaugeMu = make(chan struct{}, 1)

func (d *gaugeDumper) Dump(_ inetdiag.Request, dst []inetdiag.Socket) ([]inetdiag.Socket, error) {
	gaugeMu <- struct{}{}
	d.g.add(1)
	<-gaugeMu
	time.Sleep(5 * time.Millisecond)
	gaugeMu <- struct{}{}
	d.g.add(-1)
	<-gaugeMu
	return append(dst, okSock(d.cookie)), nil
}

func (d *gaugeDumper) Close() error { return nil }

// TestAllNSRetriesFailedOpen: a namespace that cannot be opened is tried
// again rediscoverEvery after its first failure, then after twice the
// last wait, at most retryAtMost; the notice is given once; once it opens
// it is watched like any other.
func TestAllNSRetriesFailedOpen(t *testing.T) {
	clock := newFakeClock()
	h := newFakeHostNS()
	h.add(100, "host", paramsWith(15), &fakeDumper{socks: always(okSock(1))})
	h.add(300, "pod", paramsWith(15), &fakeDumper{socks: always(okSock(2))})
	h.openErr[300] = errors.New("too many open files")
	w := mustAllWatcher(t, h, clock)

	// Polls every rediscoverEvery for 200 s: when was the namespace tried?
	var tried []time.Duration
	seen := 0
	for at := time.Duration(0); at <= 200*time.Second; at += rediscoverEvery {
		if at > 0 {
			clock.advance(rediscoverEvery)
		}
		snap := mustPoll(t, w)
		if h.opened[300] > seen {
			seen = h.opened[300]
			tried = append(tried, at)
		}
		if n := slices.IndexFunc(snap.Rows, func(r model.Row) bool { return r.NetNS.Name == "pod" }); n >= 0 {
			t.Errorf("at %v: a row of the namespace that cannot be opened", at)
		}
		if c := countFunc(snap.Notices, func(n string) bool { return strings.Contains(n, "pod") && strings.Contains(n, "too many open files") }); c != 1 {
			t.Errorf("at %v: the failure is in %d notices, want 1: %q", at, c, snap.Notices)
		}
		snap.Release()
	}
	s := time.Second
	want := []time.Duration{0, 2 * s, 6 * s, 14 * s, 30 * s, 62 * s, 122 * s, 182 * s}
	if !slices.Equal(tried, want) {
		t.Errorf("tried at %v, want %v", tried, want)
	}

	// The failure passes: at the next try the namespace is watched.
	delete(h.openErr, 300)
	clock.advance(40 * s) // 240 s
	snap := mustPoll(t, w)
	if got := keys(rowsByNS(snap)); !slices.Equal(got, []string{"host 1"}) {
		t.Errorf("rows %v before the next try (at 242 s), want host 1 only", got)
	}
	snap.Release()
	clock.advance(2 * s)
	snap = mustPoll(t, w)
	if got := keys(rowsByNS(snap)); !slices.Equal(got, []string{"host 1", "pod 2"}) {
		t.Errorf("rows %v once the namespace opens, want host 1 and pod 2", got)
	}
	snap.Release()
}

func countFunc[T any](s []T, f func(T) bool) int {
	n := 0
	for _, v := range s {
		if f(v) {
			n++
		}
	}
	return n
}
