package model

import (
	"net/netip"
	"reflect"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// TestPeerNeverListReused: between sweeps an unresponsive host's
// never-noticing connections come from the base unchanged, and the list
// made at one refresh serves the next (at 10^6 connections to one host
// making it again took half a second a refresh); a new base, or a
// refreshed connection that never notices, makes it again. Every list is
// the one a full judgement makes.
func TestPeerNeverListReused(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	stall, abort := now.Add(-20*time.Second), now.Add(15*time.Minute)
	// A dead host: two connections retransmitting since 20 s, five idle
	// without keepalive (they never notice), nothing heard since.
	rows := []Row{
		retransmitting(peerRow(1, "10.0.9.1:5432", HealthOK, 30*time.Second), stall, abort),
		retransmitting(peerRow(2, "10.0.9.1:5432", HealthOK, 25*time.Second), stall.Add(time.Second), abort),
	}
	for c := uint64(3); c <= 7; c++ {
		rows = append(rows, unguarded(peerRow(c, "10.0.9.1:5432", HealthOK, time.Duration(c)*time.Minute)))
	}
	host := netip.MustParseAddr("10.0.9.1")
	pt := NewPeerTracker(PeerConfig{})
	// The base holds all but the host's retransmitting connections and
	// one of its unguarded ones.
	inBase := func(r *Row) bool {
		return !(PeerAddr(r) == host && (r.Prediction != nil || r.Sock.ID.Cookie == 7))
	}
	split := func() (*PeerBase, []Row) {
		b := pt.NewBase(now, rows, func(i int) bool { return inBase(&rows[i]) })
		var live []Row
		for i := range rows {
			if !inBase(&rows[i]) {
				live = append(live, rows[i])
			}
		}
		return b, live
	}
	only := map[netip.Addr]bool{host: true}
	judge := func(at time.Time, b *PeerBase, live []Row) []ConnRef {
		t.Helper()
		got, _ := pt.UpdateSome(at, time.Millisecond, 4*time.Millisecond, b, live, only, nil)
		p := FindPeer(got, host)
		if p == nil || p.Status != PeerUnresponsive {
			t.Fatalf("%s: %+v, want unresponsive", host, p)
		}
		full, _ := NewPeerTracker(PeerConfig{}).Update(at, time.Millisecond, 4*time.Millisecond, rows)
		if want := FindPeer(full, host).NeverNoticeConns; !reflect.DeepEqual(p.NeverNoticeConns, want) {
			t.Fatalf("never-noticing connections %v, a full judgement says %v", p.NeverNoticeConns, want)
		}
		return p.NeverNoticeConns
	}
	b, live := split()
	cached := func() *ConnRef {
		t.Helper()
		c := &pt.hosts[host].never
		if len(c.list) == 0 {
			t.Fatalf("no list kept for the base")
		}
		return &c.list[0]
	}
	first := judge(now, b, live)
	if len(first) < 3 {
		t.Fatalf("%d never-noticing connections: the premise wants several", len(first))
	}
	kept := cached()
	// The same base: the base's part is not made again; the refreshed
	// connection that never notices (cookie 7) is merged in.
	if judge(now.Add(time.Second), b, live); cached() != kept {
		t.Errorf("the next refresh made the base's list again")
	}
	// A new sweep's base: made again, the same connections.
	b2, live2 := split()
	if judge(now.Add(2*time.Second), b2, live2); cached() == kept {
		t.Errorf("a new base's list is the old one")
	}
	// No longer unresponsive (heard from just now): the list is let go.
	rows[3].Sock.Info.LastAckRecv, rows[3].Sock.Info.LastDataRecv = 0, 0
	got, _ := pt.Update(now.Add(3*time.Second), time.Millisecond, 4*time.Millisecond, rows)
	if p := FindPeer(got, host); p == nil || p.Status == PeerUnresponsive || pt.hosts[host].never.list != nil {
		t.Errorf("heard from: %+v, list kept %v", p, pt.hosts[host].never.list != nil)
	}
}

// TestRefreshTallyKeepsBaseList: a refresh that adds a never-noticing
// connection to a host whose base holds 10^5 of them does not copy the
// base's list (it did, 800 KB of garbage a refresh on the load fixture's
// loopback), and both tallies count what they should.
func TestRefreshTallyKeepsBaseList(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	const n = 100000
	rows := make([]Row, 0, n+1)
	for c := uint64(1); c <= n+1; c++ {
		rows = append(rows, unguarded(peerRow(c, "10.0.9.1:5432", HealthOK, time.Minute)))
	}
	pt := NewPeerTracker(PeerConfig{})
	b := pt.NewBase(now, rows, func(i int) bool { return i < n })
	base := b.of(netip.MustParseAddr("10.0.9.1"))
	if base == nil || base.neverCount() != n {
		t.Fatalf("base tally: %+v, want %d never-noticing", base, n)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c := base.clone()
	c.add(&rows[n], now, b.listening, pt.cfg.NoticeWithin)
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
		t.Errorf("a clone and one connection allocated %d bytes, want no copy of the base's %d", got, n)
	}
	if c.neverCount() != n+1 || base.neverCount() != n {
		t.Errorf("never-noticing: clone %d, base %d; want %d and %d", c.neverCount(), base.neverCount(), n+1, n)
	}
	if l := c.neverList(); len(l) != n+1 || l[n] != rows[n].Sock || l[0] != rows[0].Sock {
		t.Errorf("clone's list: %d long, want the base's %d then the new one", len(l), n)
	}
}

// TestNeverListSized: a host's 10^5 never-noticing connections are
// gathered at every sweep; from the second on, the list is sized from the
// last verdict's count, so that a judgement allocates about the list once
// (append's growth by quarters allocated five times it, 4.5 MB at every
// sweep), whether the sweep judges every host or makes a base.
func TestNeverListSized(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	const n = 100000
	rows := make([]Row, 0, n)
	for c := uint64(1); c <= n; c++ {
		rows = append(rows, unguarded(peerRow(c, "10.0.9.1:5432", HealthOK, time.Minute)))
	}
	list := uint64(n) * uint64(unsafe.Sizeof(rows[0].Sock))
	pt := NewPeerTracker(PeerConfig{})
	pt.Update(now, time.Millisecond, 4*time.Millisecond, rows)
	for _, step := range []struct {
		name string
		run  func()
	}{
		{"full judgement", func() { pt.Update(now, time.Millisecond, 4*time.Millisecond, rows) }},
		{"base", func() { pt.NewBase(now, rows, func(int) bool { return true }) }},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		step.run()
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > list*3/2 {
			t.Errorf("%s of %d never-noticing connections allocated %d bytes, want about the %d-byte list", step.name, n, got, list)
		}
	}
	peers, _ := pt.Update(now, time.Millisecond, 4*time.Millisecond, rows)
	if p := FindPeer(peers, netip.MustParseAddr("10.0.9.1")); p == nil || p.NeverNotice != n {
		t.Errorf("verdict %+v, want %d never noticing", p, n)
	}
}
