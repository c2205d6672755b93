package watch

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

func mustParse(t *testing.T, expr string) query.Query {
	t.Helper()
	q, err := query.Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func mustPoll(t *testing.T, w *Watcher) *model.Snapshot {
	t.Helper()
	snap, err := w.Poll()
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// cookies lists the cookies of a snapshot's rows.
func cookies(snap *model.Snapshot) []uint64 {
	var out []uint64
	for _, r := range snap.Rows {
		out = append(out, r.Sock.ID.Cookie)
	}
	return out
}

// TestFakeSocketHealths pins the healths the filter tests rely on.
func TestFakeSocketHealths(t *testing.T) {
	d := &fakeDumper{socks: always(okSock(1), idleSock(2), closeWaitSock(3), retransSock(4))}
	w := fakeWatcher(t, Config{}, d, &fakeNS{}, newFakeClock())
	snap := mustPoll(t, w)
	defer snap.Release()
	want := []model.Health{model.HealthOK, model.HealthUnguarded, model.HealthCloseWait, model.HealthRetransmitting}
	for i, r := range snap.Rows {
		if r.Health != want[i] {
			t.Errorf("socket %d: health %v, want %v", r.Sock.ID.Cookie, r.Health, want[i])
		}
	}
}

// TestPollBuffers checks the memory contract of Poll on a scripted dump:
// a snapshot released before the next poll gives its buffer to that poll,
// one still held is never written into, a failed dump gives its buffer
// back, a past peak is not kept, and a new buffer, or one too small for the
// last dump, is sized once (from the namespace's socket count for the
// first dump of an unfiltered query, else from the last dump).
func TestPollBuffers(t *testing.T) {
	many := make([]inetdiag.Socket, 5000)
	for i := range many {
		many[i] = okSock(uint64(i + 1))
	}
	few := many[:10]
	type step struct {
		releaseFirst []int // release the snapshots of these earlier steps first
		socks        []inetdiag.Socket
		fail         bool
		release      bool // release the snapshot at once
		// sameAs: the dump must fill the memory of step sameAs's dump
		// (fresh: memory no earlier step had).
		sameAs  int
		wantCap func(c int) bool // of the slice handed to the dump (nil: any)
	}
	const fresh = -1
	tests := []struct {
		name      string
		query     string
		sockstat  int
		steps     []step
		wantStats int // socket counts read
	}{
		{
			name:     "released before the next poll: one buffer",
			sockstat: 100,
			steps: []step{
				{socks: few, release: true, sameAs: fresh, wantCap: func(c int) bool { return c >= 100+100/32+16 }},
				{socks: few, release: true, sameAs: 0},
				{socks: few, release: true, sameAs: 0},
			},
			wantStats: 1,
		},
		{
			name:     "held across the next poll: another buffer",
			sockstat: 100,
			steps: []step{
				{socks: few, sameAs: fresh},
				{socks: few, sameAs: fresh},
				{socks: few, release: true, sameAs: fresh},
				{socks: few, release: true, sameAs: 2},
				{releaseFirst: []int{0}, socks: few, release: true, sameAs: 2},
			},
			wantStats: 1,
		},
		{
			name:     "a failed dump gives its buffer back",
			sockstat: 100,
			steps: []step{
				{socks: few, release: true, sameAs: fresh},
				{fail: true, sameAs: 0},
				{socks: few, release: true, sameAs: 0},
			},
			wantStats: 1,
		},
		{
			name:     "a past peak is not kept",
			sockstat: 100,
			steps: []step{
				{socks: many, release: true, sameAs: fresh},
				{socks: few, release: true, sameAs: 0, wantCap: func(c int) bool { return c >= len(many) }},
				// Released with 10 sockets in 5000 of room: dropped, and
				// sized again from the last dump.
				{socks: few, release: true, sameAs: fresh, wantCap: func(c int) bool { return c >= 10+10/32+16 && c < 100 }},
			},
			wantStats: 1,
		},
		{
			name:     "a filtered first dump is not sized from the namespace",
			query:    "port 443",
			sockstat: 100,
			steps: []step{
				{socks: few, release: true, sameAs: fresh, wantCap: func(c int) bool { return c == 0 }},
				{socks: few, release: true, sameAs: 0},
			},
			wantStats: 0,
		},
		{
			name:     "a buffer too small for the last dump is grown once",
			sockstat: 5,
			steps: []step{
				{socks: few, sameAs: fresh, wantCap: func(c int) bool { return c >= 5+5/32+16 && c < 100 }},
				{socks: many, release: true, sameAs: fresh},
				{socks: many, sameAs: 1},
				// The first buffer comes back with room for 21.
				{releaseFirst: []int{0}, socks: many, release: true, sameAs: fresh, wantCap: func(c int) bool { return c >= 5000+5000/32+16 }},
			},
			wantStats: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := tt.steps
			d := &fakeDumper{
				socks: func(i int) []inetdiag.Socket { return steps[i].socks },
				err: func(i int) error {
					if steps[i].fail {
						return errFakeDump
					}
					return nil
				},
			}
			ns := &fakeNS{sockets: tt.sockstat}
			w := fakeWatcher(t, Config{Query: mustParse(t, tt.query)}, d, ns, newFakeClock())
			held := map[int]*model.Snapshot{}
			var mem []*inetdiag.Socket // the first socket of each dump's result
			for i, st := range steps {
				for _, k := range st.releaseFirst {
					held[k].Release()
					delete(held, k)
				}
				snap, err := w.Poll()
				if st.fail != (err != nil) {
					t.Fatalf("step %d: error %v", i, err)
				}
				c := d.calls[i]
				if st.wantCap != nil && !st.wantCap(cap(c.dst)) {
					t.Errorf("step %d: the dump was given room for %d sockets", i, cap(c.dst))
				}
				given, got := firstOf(c.dst), firstOf(c.out)
				switch {
				case st.sameAs >= 0 && (given == nil || given != mem[st.sameAs]):
					t.Errorf("step %d: the dump did not reuse the memory of step %d", i, st.sameAs)
				case st.sameAs < 0 && given != nil && slices.Contains(mem, given):
					t.Errorf("step %d: the dump reused memory it should not have", i)
				}
				mem = append(mem, got)
				if err != nil {
					continue
				}
				if len(snap.Rows) != len(st.socks) {
					t.Errorf("step %d: %d rows, want %d", i, len(snap.Rows), len(st.socks))
				}
				if st.release {
					snap.Release()
				} else {
					held[i] = snap
				}
			}
			// The held snapshots still read as they were made.
			for i, snap := range held {
				for j, r := range snap.Rows {
					if r.Sock.ID.Cookie != uint64(j+1) || r.Sock.Inode != 7000+uint32(j+1) {
						t.Fatalf("the held snapshot of step %d changed: row %d has cookie %d", i, j, r.Sock.ID.Cookie)
					}
				}
				snap.Release()
			}
			if ns.socketReads != tt.wantStats {
				t.Errorf("the socket count was read %d times, want %d", ns.socketReads, tt.wantStats)
			}
		})
	}
}

// firstOf returns the first socket of the memory of s (nil if it has none).
func firstOf(s []inetdiag.Socket) *inetdiag.Socket {
	if cap(s) == 0 {
		return nil
	}
	return &s[:1][0]
}

// TestParamsRefresh: the sysctls are read when the watcher starts and
// again once paramsEvery has passed since the last reading, whether that
// reading succeeded or not; a failed reading keeps the parameters in force.
func TestParamsRefresh(t *testing.T) {
	clock := newFakeClock()
	ns := &fakeNS{}
	w := fakeWatcher(t, Config{}, &fakeDumper{socks: always(okSock(1))}, ns, clock)
	base := model.DefaultParams()
	changed := base
	changed.Retries2 = base.Retries2 + 3
	steps := []struct {
		after     time.Duration // since the start
		set       *model.Params
		fail      bool
		wantReads int
		want      model.Params
	}{
		{after: 0, wantReads: 1, want: base},
		{after: 5 * time.Second, set: &changed, wantReads: 1, want: base},
		{after: paramsEvery - time.Millisecond, wantReads: 1, want: base},
		{after: paramsEvery, wantReads: 2, want: changed},
		{after: paramsEvery + 9*time.Second, wantReads: 2, want: changed},
		// A failed reading: the parameters stay, the next attempt is
		// paramsEvery later.
		{after: 2 * paramsEvery, set: &base, fail: true, wantReads: 3, want: changed},
		{after: 2*paramsEvery + time.Second, wantReads: 3, want: changed},
		{after: 3 * paramsEvery, wantReads: 4, want: base},
	}
	start := clock.Now()
	for i, st := range steps {
		clock.advance(start.Add(st.after).Sub(clock.Now()))
		if st.set != nil {
			ns.params = *st.set
		}
		ns.paramsErr = nil
		if st.fail {
			ns.paramsErr = errors.New("sysctls unreadable")
		}
		snap := mustPoll(t, w)
		if ns.paramReads != st.wantReads {
			t.Errorf("step %d (+%v): %d readings, want %d", i, st.after, ns.paramReads, st.wantReads)
		}
		if snap.Params.Retries2 != st.want.Retries2 || w.Tracker().Params().Retries2 != st.want.Retries2 {
			t.Errorf("step %d (+%v): retries2 %d in the snapshot, %d in the tracker; want %d", i, st.after, snap.Params.Retries2, w.Tracker().Params().Retries2, st.want.Retries2)
		}
		snap.Release()
	}
}

// TestNotices: each notice is given once, in the order it first came up,
// and every snapshot carries all of them so far.
func TestNotices(t *testing.T) {
	old := okSock(2)
	old.Info.Len = inetdiag.TCPInfoLen6_7 - 8 // a kernel before 6.7
	params := model.DefaultParams()
	params.Missing = []string{"tcp_rto_max_ms"}
	ns := &fakeNS{params: params, countersErr: errors.New("no snmp")}
	d := &fakeDumper{socks: func(i int) []inetdiag.Socket {
		if i == 0 {
			return []inetdiag.Socket{okSock(1)}
		}
		return []inetdiag.Socket{okSock(1), old}
	}}
	clock := newFakeClock()
	cfg := Config{Owners: OwnersNone}
	w, err := newWatcher(Config{Owners: cfg.Owners, Clock: clock.Now}, d, ns, 0)
	if err != nil {
		t.Fatal(err)
	}
	hz := "kernel tick rate unknown (no /proc/config.gz): timer lateness assumes HZ=250"
	missing := "kernel has no tcp_rto_max_ms: using the built-in default"
	counters := "TCP counters unreadable: resets and normal closes between polls cannot be told apart"
	info := fmt.Sprintf("kernel sends a %d-byte tcp_info (no tcpi_total_rto_time, 6.7+): the start of the retransmission clock is reconstructed and windows are wider", old.Info.Len)
	want := [][]string{
		{hz, missing, counters},
		{hz, missing, counters, info},
		{hz, missing, counters, info},
	}
	for i, wantNotices := range want {
		snap := mustPoll(t, w)
		// (Not root: the test may run as anyone.)
		got := slices.DeleteFunc(slices.Clone(snap.Notices), func(s string) bool { return strings.HasPrefix(s, "not root:") })
		if !slices.Equal(got, wantNotices) {
			t.Errorf("poll %d: notices\n%q\nwant\n%q", i, got, wantNotices)
		}
		snap.Release()
	}
	if ns.counterReads != 3 {
		t.Errorf("unreadable counters read %d times in 3 polls, want once a poll (not again after the dump)", ns.counterReads)
	}
}

// TestCountersAroundTheDump: readable counters are read before and after
// each dump.
func TestCountersAroundTheDump(t *testing.T) {
	ns := &fakeNS{}
	w := fakeWatcher(t, Config{}, &fakeDumper{socks: always(okSock(1))}, ns, newFakeClock())
	for range 3 {
		mustPoll(t, w).Release()
	}
	if ns.counterReads != 6 {
		t.Errorf("counters read %d times in 3 polls, want 6", ns.counterReads)
	}
}

// TestRowFilter: the user-space part of the query (health, process) keeps
// the rows that pass it; the kernel part goes to the dump as its request
// and filters nothing here.
func TestRowFilter(t *testing.T) {
	socks := []inetdiag.Socket{okSock(1), idleSock(2), closeWaitSock(3), retransSock(4)}
	tests := []struct {
		expr string
		want []uint64
	}{
		{"", []uint64{1, 2, 3, 4}},
		{"port 443", []uint64{1, 2, 3, 4}},
		{"state close-wait", []uint64{1, 2, 3, 4}},
		{"unhealthy", []uint64{3, 4}},
		{"dying", []uint64{4}},
		{"health unguarded", []uint64{2}},
		{"health close-wait health unguarded", []uint64{2, 3}},
		{"port 443 dying", []uint64{4}},
		// No process is known (OwnersNone): a process term matches none.
		{"comm nginx", nil},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			q := mustParse(t, tt.expr)
			d := &fakeDumper{socks: always(socks...)}
			w := fakeWatcher(t, Config{Query: q}, d, &fakeNS{}, newFakeClock())
			snap := mustPoll(t, w)
			defer snap.Release()
			if fmt.Sprint(cookies(snap)) != fmt.Sprint(tt.want) {
				t.Errorf("rows %v, want %v", cookies(snap), tt.want)
			}
			wantReq := q.Request()
			if got := d.calls[0].req; got.States != wantReq.States || got.Filter.String() != wantReq.Filter.String() {
				t.Errorf("dump request %+v, want %+v", got, wantReq)
			}
			// tcp_info and nothing else: no view shows memory or
			// congestion attributes, and the kernel pays for each.
			if got := d.calls[0].req.Ext; got != inetdiag.ExtInfo {
				t.Errorf("dump asks for extensions %#x, want tcp_info alone (%#x)", got, inetdiag.ExtInfo)
			}
		})
	}
}

// TestPollDumpError: a failed dump is the poll's error, named; the next
// poll goes on.
func TestPollDumpError(t *testing.T) {
	d := &fakeDumper{
		socks: always(okSock(1)),
		err: func(i int) error {
			if i == 1 {
				return errFakeDump
			}
			return nil
		},
	}
	w := fakeWatcher(t, Config{}, d, &fakeNS{}, newFakeClock())
	mustPoll(t, w).Release()
	snap, err := w.Poll()
	if !errors.Is(err, errFakeDump) || !strings.HasPrefix(err.Error(), "watch: ") || snap != nil {
		t.Fatalf("poll over a failed dump: %v, %v; want no snapshot and a watch: error wrapping the dump's", snap, err)
	}
	snap = mustPoll(t, w)
	defer snap.Release()
	if len(snap.Rows) != 1 || w.Tracker().Len() != 1 {
		t.Errorf("after the failure: %d rows, %d tracked; want 1, 1", len(snap.Rows), w.Tracker().Len())
	}
	if err := w.Close(); err != nil || d.closed != 1 {
		t.Errorf("Close: %v, dumper closed %d times", err, d.closed)
	}
}

// TestSnapshot: what a snapshot says besides its rows.
func TestSnapshot(t *testing.T) {
	clock := newFakeClock()
	ln := fakeSock(9, inetdiag.StateListen)
	ln.ID.Src = netip.AddrPortFrom(ln.ID.Src.Addr(), 8080)
	d := &fakeDumper{socks: always(okSock(1), ln), cost: func(int) time.Duration { return 40 * time.Millisecond }}
	w := fakeWatcher(t, Config{NetNSName: "blue"}, d, &fakeNS{}, clock)
	start := clock.Now()
	snap := mustPoll(t, w)
	defer snap.Release()
	// The dump took 40 ms: the sample time is its middle.
	if !snap.Time.Equal(start.Add(20*time.Millisecond)) || snap.PollCost != 40*time.Millisecond {
		t.Errorf("time +%v, cost %v; want +20ms, 40ms", snap.Time.Sub(start), snap.PollCost)
	}
	if snap.NetNS != "blue" || !snap.Listening[8080] || len(snap.Listening) != 1 {
		t.Errorf("netns %q, listening %v", snap.NetNS, snap.Listening)
	}
}
