package watch

import (
	"net"
	"testing"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// TestSparseDump: a namespace without sockets of a family is not dumped
// for it, one without any is not dumped at all, and without counts (or
// with a family asked for) the dump is as requested; the counts serve one
// dump only.
func TestSparseDump(t *testing.T) {
	for _, tc := range []struct {
		name   string
		known  bool
		v4, v6 int
		ask    inetdiag.Family
		calls  int
		family inetdiag.Family
	}{
		{name: "both families", known: true, v4: 3, v6: 2, calls: 1, family: 0},
		{name: "no IPv6 socket", known: true, v4: 3, calls: 1, family: inetdiag.FamilyInet},
		{name: "only IPv6 sockets", known: true, v6: 3, calls: 1, family: inetdiag.FamilyInet6},
		{name: "no socket", known: true, calls: 0},
		{name: "counts unknown", known: false, calls: 1, family: 0},
		{name: "family asked for", known: true, v4: 3, ask: inetdiag.FamilyInet6, calls: 1, family: inetdiag.FamilyInet6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &fakeDumper{socks: always(okSock(1))}
			p := &nsProbe{v4: tc.v4, v6: tc.v6, known: tc.known}
			s := sparseDump{d, p}
			out, err := s.Dump(inetdiag.Request{Family: tc.ask}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.calls) != tc.calls || len(out) != tc.calls {
				t.Fatalf("%d dumps, %d sockets; want %d", len(d.calls), len(out), tc.calls)
			}
			if tc.calls > 0 && d.calls[0].req.Family != tc.family {
				t.Errorf("dumped family %v, want %v", d.calls[0].req.Family, tc.family)
			}
			// The next dump, without a new reading, is a full one.
			if _, err := s.Dump(inetdiag.Request{}, nil); err != nil {
				t.Fatal(err)
			}
			if last := d.calls[len(d.calls)-1].req.Family; last != 0 && tc.ask == 0 {
				t.Errorf("a second dump without new counts asked for family %v", last)
			}
		})
	}
}

// TestProbeOwnNamespace: the probe of our own namespace reads its
// counters and socket counts (a socket of ours counts).
func TestProbeOwnNamespace(t *testing.T) {
	p := &nsProbe{}
	if _, err := p.Counters(); err != nil {
		t.Fatal(err)
	}
	if !p.known {
		t.Fatal("socket counts unknown in our own namespace")
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := p.Counters(); err != nil {
		t.Fatal(err)
	}
	if p.v4 < 1 {
		t.Errorf("%d IPv4 TCP sockets with a listener of ours open", p.v4)
	}
}
