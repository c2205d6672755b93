package watch

import (
	"net"
	"strconv"
	"testing"

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
