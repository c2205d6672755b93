package watch

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// TestBuffersReused checks the memory contract of Poll: a snapshot
// released before the next poll gives its socket buffer and rows to that
// poll (one buffer instead of two: 58 MB at 10^5 sockets), and a snapshot
// still held is never written into. It watches a loopback connection of
// the test's own namespace (no root needed).
func TestBuffersReused(t *testing.T) {
	q, err := query.Parse("port " + strconv.Itoa(loopbackPair(t)))
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Config{Owners: OwnersNone, Query: q})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	poll := func() *model.Snapshot {
		t.Helper()
		snap, err := w.Poll()
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Rows) != 3 { // the listener and both ends
			t.Fatalf("%d rows for the test's listener and connection, want 3", len(snap.Rows))
		}
		return snap
	}
	socks := func(snap *model.Snapshot) []inetdiag.Socket {
		var out []inetdiag.Socket
		for _, r := range snap.Rows {
			out = append(out, *r.Sock)
		}
		return out
	}

	first := poll()
	sock0, row0 := first.Rows[0].Sock, &first.Rows[0]
	first.Release()
	second := poll()
	if second.Rows[0].Sock != sock0 || &second.Rows[0] != row0 {
		t.Errorf("a poll after the release did not reuse the released buffer and rows")
	}

	// Held across the next poll: untouched, and not shared.
	held := socks(second)
	third := poll()
	for i, s := range socks(second) {
		if s.ID != held[i].ID || s.State != held[i].State || s.Info.Len != held[i].Info.Len {
			t.Errorf("row %d of a held snapshot changed under the next poll: %v %v → %v %v", i, held[i].ID, held[i].State, s.ID, s.State)
		}
	}
	for i := range third.Rows {
		for j := range second.Rows {
			if third.Rows[i].Sock == second.Rows[j].Sock || &third.Rows[i] == &second.Rows[j] {
				t.Fatalf("the next poll wrote into a held snapshot's memory")
			}
		}
	}
	second.Release()
	third.Release()
}

// loopbackPair opens a listener and a connection to it on 127.0.0.1
// (three sockets), closed when the test ends, and returns the port.
func loopbackPair(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// TestRefreshesKeepSweepBuffers: between sweeps, the look-ups of the
// refreshes draw their own buffers, never the sweeps' idle one, whose
// memory a few sockets' release would drop (room for 10^5 sockets holding
// a handful): then every sweep had to allocate its buffer anew. The
// consumer holds each snapshot until the next one is made, as the
// interface does, so that two sweep buffers take turns.
func TestRefreshesKeepSweepBuffers(t *testing.T) {
	socks := []inetdiag.Socket{retransSockAfter(1, 2)}
	for c := uint64(2); c <= 3000; c++ {
		socks = append(socks, okSock(c))
	}
	clock := newFakeClock()
	d := &lookupDumper{
		fakeDumper: fakeDumper{socks: always(socks...)},
		answer: func(k int, cookie uint64) (inetdiag.Socket, bool) {
			return retransSockAfter(cookie, uint8(3+k)), cookie == 1
		},
	}
	w := lookupWatcher(t, Config{Owners: OwnersNone}, d, clock)
	var held *model.Snapshot
	step := func(refresh bool) {
		t.Helper()
		clock.advance(time.Second)
		poll := w.Poll
		if refresh {
			poll = w.Refresh
		}
		snap, err := poll()
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Rows) != len(socks) {
			t.Fatalf("%d rows, want %d", len(snap.Rows), len(socks))
		}
		if held != nil {
			held.Release()
		}
		held = snap
	}
	for _, refresh := range []bool{false, false, true, true, true, false, true, true, false, true, false} {
		step(refresh)
	}
	held.Release()
	if len(d.lookups) != 6 {
		t.Fatalf("%d look-ups, want the 6 refreshes'", len(d.lookups))
	}
	if w.src.grown != 2 {
		t.Errorf("sweep buffers sized %d times over 5 sweeps, want 2 (two that take turns)", w.src.grown)
	}
}
