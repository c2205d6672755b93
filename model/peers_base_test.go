package model

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// mixedRows are connections to four hosts in every shape a verdict reads:
// retransmitting, probing keepalives, zero windows, SYNs, unguarded and
// keepalive-idle connections, inbound connections to a listener, rows
// heard at different times, and a TIME-WAIT and a listener that are no
// host's.
func mixedRows(now time.Time) []Row {
	stall, abort := now.Add(-20*time.Second), now.Add(15*time.Minute)
	listener := peerRow(900, "0.0.0.0:0", HealthOK, 0)
	listener.Sock.State, listener.Sock.ID.Src = inetdiag.StateListen, netip.MustParseAddrPort("10.0.0.1:5432")
	rows := []Row{listener, withState(peerRow(901, "10.0.9.1:80", HealthOK, 0), inetdiag.StateTimeWait)}
	for h, host := range []string{"10.0.9.1", "10.0.9.2", "10.0.9.3", "2001:db8::4"} {
		ep := func(port int) string { return netip.AddrPortFrom(netip.MustParseAddr(host), uint16(port)).String() }
		c := uint64(h * 100)
		rows = append(rows,
			retransmitting(peerRow(c+1, ep(5432), HealthOK, 30*time.Second), stall.Add(time.Duration(h)*time.Second), abort),
			retransmitting(peerRow(c+2, ep(5432), HealthOK, 25*time.Second), stall.Add(3*time.Second), abort.Add(time.Minute)),
			keepaliveProbing(peerRow(c+3, ep(6379), HealthOK, 2*time.Hour), 2, now.Add(40*time.Second), 75*time.Second, now.Add(10*time.Minute)),
			zeroWindow(peerRow(c+4, ep(9092), HealthOK, time.Duration(h+1)*time.Second), 3, nil),
			synSent(c+5, ep(443), now.Add(-5*time.Second)),
			unguarded(peerRow(c+6, ep(5432), HealthOK, time.Minute)),
			unguarded(peerRow(c+7, ep(5433), HealthOK, 2*time.Minute)),
			keepaliveIdle(peerRow(c+8, ep(8080), HealthOK, time.Duration(h)*time.Millisecond+10*time.Millisecond), 2*time.Hour),
			peerRow(c+9, ep(8080), HealthOK, 40*time.Second),
		)
		in := peerRow(c+10, ep(50000+h), HealthOK, 5*time.Second)
		in.Sock.ID.Src = netip.MustParseAddrPort("10.0.0.1:5432")
		in.PID, in.Comm = 7, "db"
		rows = append(rows, in)
		if h == 2 {
			// One host that answers: its stalls are a partial verdict.
			rows = append(rows, peerRow(c+11, ep(8081), HealthOK, 0))
		}
	}
	for i := range rows {
		rows[i].Sampled = InstantOf(now.Add(-time.Duration(i%3) * 100 * time.Millisecond))
	}
	return rows
}

// TestPeerBaseMatchesUpdate: a host judged from a base (what its fixed
// connections add, gathered once) and its other connections is judged
// exactly as from all its connections at once, whichever connections the
// base holds.
func TestPeerBaseMatchesUpdate(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	rows := mixedRows(now)
	want, _ := NewPeerTracker(PeerConfig{}).Update(now, time.Millisecond, 4*time.Millisecond, rows)
	if len(want) != 4 {
		t.Fatalf("%d hosts, want 4", len(want))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 40 {
		fixed := make([]bool, len(rows))
		for i := range fixed {
			fixed[i] = trial > 0 && rng.IntN(3) > 0 // trial 0: an empty base
		}
		if trial == 1 {
			for i := range fixed {
				fixed[i] = true // everything in the base, nothing refreshed
			}
		}
		t.Run(fmt.Sprint(trial), func(t *testing.T) {
			pt := NewPeerTracker(PeerConfig{})
			b := pt.NewBase(now, rows, func(i int) bool { return fixed[i] })
			var live []Row
			only := map[netip.Addr]bool{}
			for i := range rows {
				if a, ok := pt.host(&rows[i]); ok {
					only[a] = true
				}
				if !fixed[i] {
					live = append(live, rows[i])
				}
			}
			got, _ := pt.UpdateSome(now, time.Millisecond, 4*time.Millisecond, b, live, only, nil)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("from a base of %d rows and %d live:\n%+v\nfrom all rows:\n%+v", len(rows)-len(live), len(live), got, want)
			}
		})
	}
}

// TestPeerBaseOnly: between sweeps, a host whose refreshed connections are
// all gone is judged on its other connections; a host not to be judged
// keeps its verdict; a host with no connection left is dropped.
func TestPeerBaseOnly(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	dead, quiet, gone := "10.0.9.14", "10.0.9.15", "10.0.9.16"
	sweep := []Row{
		retransmitting(peerRow(1, dead+":5432", HealthOK, 3*time.Second), now.Add(-3*time.Second), now.Add(10*time.Minute)),
		unguarded(peerRow(2, dead+":5433", HealthOK, time.Minute)),
		peerRow(3, quiet+":443", HealthOK, 50*time.Millisecond),
		retransmitting(peerRow(4, gone+":80", HealthOK, 3*time.Second), now.Add(-3*time.Second), now.Add(10*time.Minute)),
	}
	suspect := func(i int) bool { return sweep[i].Prediction != nil }
	pt, full := NewPeerTracker(PeerConfig{}), NewPeerTracker(PeerConfig{})
	last, _ := pt.Update(now, time.Millisecond, 4*time.Millisecond, sweep)
	full.Update(now, time.Millisecond, 4*time.Millisecond, sweep)
	b := pt.NewBase(now, sweep, func(i int) bool { return !suspect(i) })

	// Both suspects vanished (aborted); their hosts are judged again.
	later := now.Add(time.Second)
	only := map[netip.Addr]bool{netip.MustParseAddr(dead): true, netip.MustParseAddr(gone): true}
	got, _ := pt.UpdateSome(later, time.Millisecond, 4*time.Millisecond, b, nil, only, last)
	want, _ := full.Update(later, time.Millisecond, 4*time.Millisecond, sweep[1:3])
	if len(got) != 2 {
		t.Fatalf("%d hosts, want the dead one and the quiet one (the gone one dropped): %+v", len(got), got)
	}
	if g, w := findPeer(t, got, dead), findPeer(t, want, dead); !reflect.DeepEqual(g, w) {
		t.Errorf("a host judged on its base alone: %+v\nwant %+v", g, w)
	}
	if g, w := findPeer(t, got, quiet), findPeer(t, last, quiet); !reflect.DeepEqual(g, w) {
		t.Errorf("a host not judged: %+v, want its sweep verdict %+v", g, w)
	}
}

// TestPeerBaseReown: rows of a base that get their owners between two
// sweeps (the rows on screen) are moved to their processes' groups, and
// the hosts are then judged as from a base gathered with the owners.
func TestPeerBaseReown(t *testing.T) {
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	rows := mixedRows(now)
	suspect := func(i int) bool { return rows[i].Prediction != nil || rows[i].Health.Dying() }
	// The sweep's owner index named none of the odd rows.
	for i := range rows {
		if i%2 == 1 {
			rows[i].PID, rows[i].Comm = 0, ""
		}
	}
	pt := NewPeerTracker(PeerConfig{})
	b := pt.NewBase(now, rows, func(i int) bool { return !suspect(i) })
	owned := slices.Clone(rows)
	var moved []netip.Addr
	for i := range owned {
		r := &owned[i]
		if suspect(i) || r.PID != 0 {
			continue
		}
		r.PID, r.Comm = 100+i%3, fmt.Sprintf("worker-%d", i%3)
		a, ok := pt.Reown(b, r, 0)
		if h, isHost := pt.host(r); ok != isHost || ok && a != h {
			t.Errorf("row %d: Reown says host %v %v; its host is %v %v", i, a, ok, h, isHost)
		}
		if ok {
			moved = append(moved, a)
		}
	}
	if len(moved) < 4 {
		t.Fatalf("only %d rows moved: the test names too few owners", len(moved))
	}
	want := pt.NewBase(now, owned, func(i int) bool { return !suspect(i) })
	for a, wt := range want.hosts {
		if g := b.hosts[a]; !reflect.DeepEqual(g.groups, wt.groups) || !reflect.DeepEqual(g.names, wt.names) {
			t.Errorf("host %v: groups %v names %v; gathered with the owners: %v %v", a, g.groups, g.names, wt.groups, wt.names)
		}
	}
	// A row the base has no connection of its group for is not moved.
	r := owned[len(owned)-1]
	if _, ok := pt.Reown(b, &r, 4242); ok {
		t.Errorf("a row of process 4242, which the base never counted, was moved")
	}
}
