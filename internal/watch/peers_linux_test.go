package watch

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// deadHostSock is a connection to 10.0.0.9 in RTO backoff for 3 s (longer
// than the tracker waits before judging) that has heard nothing from its
// peer for silent.
func deadHostSock(cookie uint64, silent time.Duration) inetdiag.Socket {
	s := retransSock(cookie)
	s.ID.Dst = netip.MustParseAddrPort("10.0.0.9:5432")
	s.Info.TotalRTOTime = inetdiag.MillisOf(3 * time.Second)
	s.Info.LastAckRecv, s.Info.LastDataRecv = inetdiag.MillisOf(silent), inetdiag.MillisOf(silent)
	return s
}

// deadHostIdle is an idle connection without keepalive to the same host,
// through a dual-stack socket.
func deadHostIdle(cookie uint64, silent time.Duration) inetdiag.Socket {
	s := idleSock(cookie)
	s.Family = inetdiag.FamilyInet6
	s.ID.Src = netip.MustParseAddrPort("[::ffff:10.0.0.1]:40100")
	s.ID.Dst = netip.MustParseAddrPort("[::ffff:10.0.0.9]:5433")
	s.Info.LastAckRecv, s.Info.LastDataRecv, s.Info.LastDataSent = inetdiag.MillisOf(silent), inetdiag.MillisOf(silent), inetdiag.MillisOf(silent)
	return s
}

// TestPollPeers: the poller judges hosts over every row of the poll, so a
// user-space filter that hides a host's connections does not change its
// verdict; the verdict's event joins the snapshot's events, once.
func TestPollPeers(t *testing.T) {
	for _, tt := range []struct {
		name     string
		filter   string
		wantRows int
	}{
		{"no filter", "", 4},
		{"a filter that hides the dead host's connections", "health ok", 2},
		{"a filter that shows only them", "dying", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			poll := 0
			d := &fakeDumper{socks: func(int) []inetdiag.Socket {
				silent := 4*time.Second + time.Duration(poll)*time.Second
				poll++
				return []inetdiag.Socket{okSock(1), okSock(2), deadHostSock(3, silent), deadHostIdle(4, silent+10*time.Second)}
			}}
			cfg := Config{}
			if tt.filter != "" {
				cfg.Query = mustParse(t, tt.filter)
			}
			w := fakeWatcher(t, cfg, d, &fakeNS{}, clock)
			var events int
			for i := 0; i < 3; i++ {
				snap := mustPoll(t, w)
				if len(snap.Rows) != tt.wantRows {
					t.Fatalf("poll %d: %d rows, want %d", i, len(snap.Rows), tt.wantRows)
				}
				if len(snap.Peers) != 2 {
					t.Fatalf("poll %d: %d peers, want 2", i, len(snap.Peers))
				}
				p := snap.Peers[0]
				if p.Addr != netip.MustParseAddr("10.0.0.9") || p.Status != model.PeerUnresponsive || p.Conns != 2 || p.NeverNotice != 1 {
					t.Errorf("poll %d: first peer %v %v, %d connections, %d never notice; want 10.0.0.9 unresponsive, 2, 1", i, p.Addr, p.Status, p.Conns, p.NeverNotice)
				}
				if a := snap.Peers[1]; a.Status != model.PeerAlive || a.Conns != 2 {
					t.Errorf("poll %d: second peer %v %v with %d connections, want alive with 2", i, a.Addr, a.Status, a.Conns)
				}
				for _, e := range snap.Events {
					if e.Kind == model.EventPeerUnresponsive {
						events++
					}
				}
				if i == 2 {
					n := 0
					for _, e := range snap.AllEvents {
						if e.Kind == model.EventPeerUnresponsive {
							n++
						}
					}
					if n != 1 {
						t.Errorf("%d peer events kept among all events, want 1", n)
					}
				}
				snap.Release()
				clock.advance(time.Second)
			}
			if events != 1 {
				t.Errorf("%d peer_unresponsive events over 3 polls, want 1", events)
			}
		})
	}
}

// TestAllNSPeers: with every namespace watched, a host reached from two
// namespaces is one host, judged over the connections of both; loopback
// connections, whose address each namespace has its own of, are not
// judged.
func TestAllNSPeers(t *testing.T) {
	clock := newFakeClock()
	h := newFakeHostNS()
	poll := 0
	silent := func() time.Duration { return 4*time.Second + time.Duration(poll)*time.Second }
	loop := func(cookie uint64) inetdiag.Socket {
		s := retransSock(cookie)
		s.ID.Src, s.ID.Dst = netip.MustParseAddrPort("127.0.0.1:40500"), netip.MustParseAddrPort("127.0.0.1:6379")
		return s
	}
	h.add(100, "host", paramsWith(15), &fakeDumper{socks: func(int) []inetdiag.Socket {
		return []inetdiag.Socket{okSock(1), deadHostSock(3, silent()), loop(5)}
	}})
	h.add(200, "pod", paramsWith(5), &fakeDumper{socks: func(int) []inetdiag.Socket {
		return []inetdiag.Socket{deadHostIdle(4, silent()+10*time.Second), loop(5)}
	}})
	w := mustAllWatcher(t, h, clock)
	var snap *model.Snapshot
	for i := range 3 {
		if snap != nil {
			snap.Release()
			clock.advance(time.Second)
		}
		poll = i
		snap = mustPoll(t, w)
	}
	defer snap.Release()
	byAddr := map[netip.Addr]model.Peer{}
	for _, p := range snap.Peers {
		byAddr[p.Addr] = p
	}
	dead, ok := byAddr[netip.MustParseAddr("10.0.0.9")]
	if !ok || dead.Status != model.PeerUnresponsive || dead.Conns != 2 || dead.NeverNotice != 1 {
		t.Errorf("10.0.0.9: %+v; want unresponsive with 2 connections (one per namespace), 1 never noticing", dead)
	}
	if p, ok := byAddr[netip.MustParseAddr("127.0.0.1")]; ok {
		t.Errorf("loopback judged as a host across namespaces: %+v", p)
	}
	if _, ok := byAddr[netip.MustParseAddr("10.0.0.2")]; !ok {
		t.Errorf("the live host 10.0.0.2 is missing from the peers: %v", snap.Peers)
	}
}
