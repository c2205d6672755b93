package model

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// TestPeerUpdateSome: between two sweeps only the hosts of the refreshed
// connections are judged again, exactly as Update judges them; the other
// hosts keep their verdict of the sweep even though their (stale) rows
// would now say otherwise, and a host whose connections are all gone is
// dropped.
func TestPeerUpdateSome(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	dead, live, gone := "10.0.9.14", "10.0.9.15", "10.0.9.16"
	sweep := []Row{
		retransmitting(peerRow(1, dead+":5432", HealthOK, 3*time.Second), t0.Add(-3*time.Second), t0.Add(10*time.Minute)),
		unguarded(peerRow(2, dead+":5433", HealthUnguarded, time.Minute)),
		peerRow(3, live+":443", HealthOK, 50*time.Millisecond),
		peerRow(4, gone+":80", HealthOK, 50*time.Millisecond),
	}
	full, some := NewPeerTracker(PeerConfig{}), NewPeerTracker(PeerConfig{})
	want, _ := full.Update(t0, time.Millisecond, 4*time.Millisecond, sweep)
	last, _ := some.Update(t0, time.Millisecond, 4*time.Millisecond, sweep)
	if !reflect.DeepEqual(want, last) {
		t.Fatalf("the same rows judged twice differ")
	}

	// A second later: the dying connection refreshed; the live host's row
	// is the sweep's but now reads as stalled (which a full Update would
	// act on); the gone host's connection vanished.
	now := t0.Add(time.Second)
	refreshed := retransmitting(peerRow(1, dead+":5432", HealthOK, 4*time.Second), t0.Add(-3*time.Second), t0.Add(10*time.Minute))
	stale := retransmitting(peerRow(3, live+":443", HealthOK, 50*time.Millisecond), t0.Add(-2*time.Second), t0.Add(5*time.Minute))
	rows := []Row{refreshed, sweep[1], stale}
	wantAll, _ := full.Update(now, time.Millisecond, 4*time.Millisecond, rows)
	got, _ := some.UpdateSome(now, time.Millisecond, 4*time.Millisecond, nil, rows, map[netip.Addr]bool{netip.MustParseAddr(dead): true}, last)

	if len(got) != 2 {
		t.Fatalf("%d hosts, want the dead and the live one (the gone one dropped): %+v", len(got), got)
	}
	if g, w := findPeer(t, got, dead), findPeer(t, wantAll, dead); !reflect.DeepEqual(g, w) {
		t.Errorf("the refreshed host: %+v\nUpdate judges it %+v", g, w)
	}
	if g, w := findPeer(t, got, live), findPeer(t, last, live); !reflect.DeepEqual(g, w) {
		t.Errorf("a host not refreshed: %+v, want its sweep verdict %+v", g, w)
	}
	if findPeer(t, wantAll, live).Status == findPeer(t, last, live).Status {
		t.Errorf("the stale row does not change a full Update's verdict: the test proves nothing")
	}
	if got[0].Addr != netip.MustParseAddr(dead) {
		t.Errorf("hosts not in urgency order: %v first", got[0].Addr)
	}
}

// TestPeerGroupsInbound: a host's connections to a local listener are one
// group per local port (the service it reaches), not one per client
// ephemeral port; its connections to its own services stay grouped by the
// remote port.
func TestPeerGroupsInbound(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	listener := peerRow(100, "0.0.0.0:0", HealthOK, 0)
	listener.Sock.State, listener.Sock.ID.Src = inetdiag.StateListen, netip.MustParseAddrPort("10.0.0.1:5432")
	rows := []Row{listener}
	for i := range 3 {
		r := peerRow(uint64(i+1), fmt.Sprintf("10.0.9.20:%d", 50000+i), HealthOK, time.Second)
		r.Sock.ID.Src = netip.MustParseAddrPort("10.0.0.1:5432")
		rows = append(rows, r)
	}
	rows = append(rows, peerRow(9, "10.0.9.20:443", HealthOK, time.Second)) // outbound, to its service
	peers, _ := NewPeerTracker(PeerConfig{}).Update(t0, time.Millisecond, 4*time.Millisecond, rows)
	p := findPeer(t, peers, "10.0.9.20")
	want := []PeerGroup{
		{PID: 42, Comm: "api", LocalPort: 5432, Health: HealthOK, Count: 3},
		{PID: 42, Comm: "api", RemotePort: 443, Health: HealthOK, Count: 1},
	}
	if !reflect.DeepEqual(p.Groups, want) {
		t.Errorf("groups %+v, want %+v", p.Groups, want)
	}
}
