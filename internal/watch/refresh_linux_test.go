package watch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// lookupDumper is a fakeDumper that also answers look-ups: answer gives
// the k-th look-up's socket for a cookie, or false when the kernel no
// longer has it. It records which cookies each Lookup asked for.
type lookupDumper struct {
	fakeDumper
	answer  func(k int, cookie uint64) (inetdiag.Socket, bool)
	cost    time.Duration // of one Lookup, taken of the clock
	lookups [][]uint64
}

func (d *lookupDumper) Lookup(targets []inetdiag.Target, _ inetdiag.Extensions, full inetdiag.FullFunc, fn func(int, *inetdiag.Socket, error)) error {
	k := len(d.lookups)
	var asked []uint64
	for i, t := range targets {
		asked = append(asked, t.ID.Cookie)
		if s, ok := d.answer(k, t.ID.Cookie); ok {
			keepWhole(&s, full)
			fn(i, &s, nil)
		} else {
			fn(i, nil, inetdiag.ErrNotFound)
		}
	}
	d.lookups = append(d.lookups, asked)
	d.fakeDumper.clock.advance(d.cost)
	return nil
}

// lookupWatcher is fakeWatcher over a lookupDumper.
func lookupWatcher(t *testing.T, cfg Config, d *lookupDumper, clock *fakeClock) *Watcher {
	t.Helper()
	cfg.Clock = clock.Now
	d.fakeDumper.clock = clock
	ns := &fakeNS{params: model.DefaultParams()}
	w, err := newWatcher(cfg, d, ns, 250)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// runLoop runs Loop for n snapshots on the fake clock (the waits advance
// it) and returns them with the waits; before is called before each
// poll with its number.
func runLoop(t *testing.T, w *Watcher, clock *fakeClock, interval time.Duration, n int, before func(i int)) ([]*model.Snapshot, []time.Duration) {
	t.Helper()
	var waits []time.Duration
	w.wait = func(_ context.Context, d time.Duration) bool {
		waits = append(waits, d)
		clock.advance(d)
		if len(waits) < n && before != nil {
			before(len(waits))
		}
		return len(waits) < n
	}
	out := make(chan *model.Snapshot, n)
	errs := make(chan error, n)
	if before != nil {
		before(0)
	}
	w.Loop(context.Background(), interval, out, errs)
	close(errs)
	for err := range errs {
		t.Errorf("poll error: %v", err)
	}
	var snaps []*model.Snapshot
	for s := range out {
		snaps = append(snaps, s)
	}
	return snaps, waits
}

// TestRefreshBetweenSweeps: dumps of 200 ms against a 1 s interval (a
// budget of 83 ms) split the polls. Between sweeps only the suspects are
// looked up (the dying connection and the one in CLOSE-WAIT, never the
// healthy one); the dying row's sample is the look-up's, the healthy
// row's the last sweep's, stamped with its time; a suspect the kernel no
// longer has ends with its event; the interval stays 1 s; and the sweeps
// come as often as the budget allows.
func TestRefreshBetweenSweeps(t *testing.T) {
	clock := newFakeClock()
	dying := func(retrans uint8) inetdiag.Socket { return retransSockAfter(2, retrans) }
	d := &lookupDumper{
		fakeDumper: fakeDumper{
			socks: always(okSock(1), dying(2), closeWaitSock(3)),
			cost:  func(int) time.Duration { return 200 * time.Millisecond },
		},
		answer: func(k int, cookie uint64) (inetdiag.Socket, bool) {
			switch {
			case cookie == 2:
				return dying(uint8(3 + k)), true
			case cookie == 3 && k == 0:
				return closeWaitSock(3), true
			}
			return inetdiag.Socket{}, false // 3 is gone from the second look-up on
		},
	}
	w := lookupWatcher(t, Config{Owners: OwnersNone}, d, clock)
	snaps, waits := runLoop(t, w, clock, time.Second, 9, nil)
	defer func() {
		for _, s := range snaps {
			s.Release()
		}
	}()
	// Sweep 0 is forgiven (a single slow one), sweep 1 (at 1.2 s) splits
	// the tiers: a sweep every 200 ms × SweepShare = 7.2 s (the sweeps'
	// share of the budget), at the first poll that late: 8.4 s.
	wantRefresh := []bool{false, false, true, true, true, true, true, true, false}
	var got []bool
	for _, s := range snaps {
		got = append(got, s.Refresh)
	}
	if fmt.Sprint(got) != fmt.Sprint(wantRefresh) {
		t.Fatalf("refresh pattern %v, want %v (waits %v)", got, wantRefresh, waits)
	}
	for i, wt := range waits {
		if wt != time.Second {
			t.Errorf("wait %d: %v, want the interval", i, wt)
		}
	}
	if s := snaps[1]; s.SweepEvery != 200*time.Millisecond*SweepShare || s.SweepCost != 200*time.Millisecond || s.Slowed {
		t.Errorf("after the second slow sweep: SweepEvery %v SweepCost %v Slowed %v", s.SweepEvery, s.SweepCost, s.Slowed)
	}
	for k, asked := range d.lookups {
		for _, c := range asked {
			if c == 1 {
				t.Errorf("look-up %d asked for the healthy connection: %v", k, asked)
			}
		}
	}
	if fmt.Sprint(d.lookups[0]) != "[2 3]" {
		t.Errorf("first look-up asked %v, want [2 3]", d.lookups[0])
	}
	refresh := snaps[2]
	rows := map[uint64]*model.Row{}
	for i := range refresh.Rows {
		rows[refresh.Rows[i].Sock.ID.Cookie] = &refresh.Rows[i]
	}
	if len(rows) != 3 {
		t.Fatalf("refresh rows %d, want the sweep's 3", len(rows))
	}
	if r := rows[2]; r.Retransmits() != 3 || !r.Sampled.Time().Equal(refresh.Time) || r.Prediction == nil {
		t.Errorf("dying row: %d retransmits sampled %v (snapshot %v), prediction %v", r.Retransmits(), r.Sampled, refresh.Time, r.Prediction)
	}
	if r := rows[1]; !r.Sampled.Time().Equal(snaps[1].Time) || r.Sampled.Time().Equal(refresh.Time) {
		t.Errorf("healthy row sampled %v, want the sweep's %v", r.Sampled, snaps[1].Time)
	}
	// The second refresh finds 3 gone: its rows lack it, its events say it.
	s3 := snaps[3]
	if len(s3.Rows) != 2 || len(s3.Events) != 1 || s3.Events[0].ID.Cookie != 3 {
		t.Errorf("refresh that found 3 gone: %d rows, events %+v", len(s3.Rows), s3.Events)
	}
	// The refreshes after it lack 3 too; the sweep after them sees 3
	// again (the fake dump still has it): a new connection to the
	// tracker, not an error.
	for _, s := range snaps[4:8] {
		if len(s.Rows) != 2 || len(s.Events) != 0 {
			t.Errorf("refresh after 3 was gone: %d rows, events %+v", len(s.Rows), s.Events)
		}
	}
	if s := snaps[8]; s.Refresh || len(s.Rows) != 3 {
		t.Errorf("sweep after: refresh %v, %d rows", s.Refresh, len(s.Rows))
	}
}

// TestRefreshStopsForFilterAndRecording: a new filter makes the next poll
// a sweep (its kernel filter needs a dump), and a watcher that cannot
// look up, or is told to dump every poll, never refreshes and stretches
// its interval as before.
func TestRefreshStopsForFilterAndRecording(t *testing.T) {
	mk := func(cfg Config) (*Watcher, *fakeClock, *lookupDumper) {
		clock := newFakeClock()
		d := &lookupDumper{
			fakeDumper: fakeDumper{socks: always(okSock(1), retransSock(2)), cost: func(int) time.Duration { return 200 * time.Millisecond }},
			answer:     func(int, uint64) (inetdiag.Socket, bool) { return retransSock(2), true },
		}
		return lookupWatcher(t, cfg, d, clock), clock, d
	}
	t.Run("new filter", func(t *testing.T) {
		w, clock, _ := mk(Config{Owners: OwnersNone})
		q, err := query.Parse("dport 443")
		if err != nil {
			t.Fatal(err)
		}
		snaps, _ := runLoop(t, w, clock, time.Second, 4, func(i int) {
			if i == 2 {
				if err := w.SetQuery(q); err != nil {
					t.Error(err)
				}
			}
		})
		var got []bool
		for _, s := range snaps {
			got = append(got, s.Refresh)
			s.Release()
		}
		if fmt.Sprint(got) != "[false false false true]" {
			t.Errorf("refresh pattern %v: the poll after SetQuery must sweep", got)
		}
	})
	t.Run("every poll dumps", func(t *testing.T) {
		w, clock, d := mk(Config{Owners: OwnersNone, SweepEvery: -1})
		snaps, waits := runLoop(t, w, clock, time.Second, 3, nil)
		for _, s := range snaps {
			if s.Refresh || s.SweepEvery != 0 {
				t.Errorf("refresh %v sweep every %v", s.Refresh, s.SweepEvery)
			}
			s.Release()
		}
		if len(d.lookups) != 0 || fmt.Sprint(waits) != "[1s 2.4s 2.4s]" {
			t.Errorf("%d look-ups, waits %v; want none and the stretched interval", len(d.lookups), waits)
		}
	})
	t.Run("fixed sweep", func(t *testing.T) {
		w, clock, d := mk(Config{Owners: OwnersNone, SweepEvery: 3 * time.Second})
		d.fakeDumper.cost = func(int) time.Duration { return 0 }
		snaps, _ := runLoop(t, w, clock, time.Second, 7, nil)
		var got []bool
		for _, s := range snaps {
			got = append(got, s.Refresh)
			s.Release()
		}
		if fmt.Sprint(got) != "[false true true false true true false]" {
			t.Errorf("refresh pattern %v, want a sweep every 3 polls", got)
		}
	})
}

// TestRefreshAllNS: with every namespace, a refresh looks up each
// namespace's own suspects in its own socket and tags the rows as a sweep
// does; a namespace whose socket cannot look up keeps every poll a
// sweep.
func TestRefreshAllNS(t *testing.T) {
	clock := newFakeClock()
	h := newFakeHostNS()
	mk := func(socks ...inetdiag.Socket) *lookupDumper {
		d := &lookupDumper{fakeDumper: fakeDumper{socks: always(socks...)}}
		d.answer = func(_ int, cookie uint64) (inetdiag.Socket, bool) {
			for _, s := range socks {
				if s.ID.Cookie == cookie {
					s.Info.LastAckRecv += inetdiag.MillisOf(time.Second) // tell a look-up's sample from the dump's
					return s, true
				}
			}
			return inetdiag.Socket{}, false
		}
		return d
	}
	hostD, podD := mk(retransSock(1), okSock(2)), mk(retransSock(1), closeWaitSock(3))
	h.add(100, "host", paramsWith(15), hostD)
	h.add(200, "pod", paramsWith(5), podD)
	w := mustAllWatcher(t, h, clock)
	for _, d := range []*lookupDumper{hostD, podD} {
		d.fakeDumper.clock = clock
	}
	hostD.fakeDumper.cost = func(int) time.Duration { return 150 * time.Millisecond }
	if !w.canRefresh() {
		t.Fatal("every namespace answers look-ups, yet canRefresh is false")
	}
	snaps, _ := runLoop(t, w, clock, time.Second, 3, nil)
	defer func() {
		for _, s := range snaps {
			s.Release()
		}
	}()
	if got := fmt.Sprint(snaps[0].Refresh, snaps[1].Refresh, snaps[2].Refresh); got != "false false true" {
		t.Fatalf("refresh pattern %s, want two sweeps (the first forgiven) then a refresh", got)
	}
	if fmt.Sprint(hostD.lookups) != "[[1]]" || fmt.Sprint(podD.lookups) != "[[1 3]]" {
		t.Errorf("look-ups: host %v, pod %v; want each namespace's own suspects", hostD.lookups, podD.lookups)
	}
	rows := rowsByNS(snaps[2])
	if len(rows) != 4 {
		t.Fatalf("refresh rows %v, want the sweep's four", keys(rows))
	}
	for k, fresh := range map[string]bool{"host 1": true, "host 2": false, "pod 1": true, "pod 3": true} {
		r := rows[k]
		if r == nil {
			t.Fatalf("no row %s", k)
		}
		if got := r.Sampled.Time().Equal(snaps[2].Time); got != fresh {
			t.Errorf("%s: sampled %v, snapshot %v: fresh %v, want %v", k, r.Sampled, snaps[2].Time, got, fresh)
		}
		if fresh && r.Sock.Info.LastAckRecv.Duration() < time.Second {
			t.Errorf("%s: its sample is not the look-up's", k)
		}
	}
	if p := rows["pod 1"].Prediction; p == nil || rows["pod 1"].NetNS.Params.Retries2 != 5 {
		t.Errorf("pod 1 refreshed without its namespace: prediction %v", p)
	}

	// A namespace that cannot look up (a fake dump) stops the refreshes.
	h.add(300, "plain", paramsWith(15), &fakeDumper{socks: always(okSock(9))})
	clock.advance(3 * time.Second)
	s := mustPoll(t, w) // a sweep: lists the namespaces again
	s.Release()
	if w.canRefresh() {
		t.Error("a namespace without look-ups, yet canRefresh is true")
	}
}
