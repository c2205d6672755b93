package model

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// peerRow is a connection from 10.0.0.1 to remote, last hearing from it
// rx ago (at now).
func peerRow(cookie uint64, remote string, h Health, rx time.Duration) Row {
	s := &inetdiag.Socket{
		Family: inetdiag.FamilyInet, State: inetdiag.StateEstablished, Inode: uint32(100 + cookie),
		ID: inetdiag.SockID{Src: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(40000+cookie)), Dst: netip.MustParseAddrPort(remote), Cookie: cookie},
		Info: inetdiag.TCPCore{Len: inetdiag.TCPInfoLen6_18, RTO: inetdiag.MicrosOf(204 * time.Millisecond),
			LastDataRecv: inetdiag.MillisOf(rx), LastAckRecv: inetdiag.MillisOf(rx), LastDataSent: inetdiag.MillisOf(rx)},
	}
	if s.ID.Dst.Addr().Is6() {
		s.Family = inetdiag.FamilyInet6
		s.ID.Src = netip.MustParseAddrPort("[::ffff:10.0.0.1]:40000")
	}
	return Row{Sock: s, Health: h, PID: 42, Comm: "api", Exposure: &Exposure{After: 15 * time.Minute}}
}

// retransmitting makes r a connection whose first unanswered
// retransmission went out at stall, aborting at abort.
func retransmitting(r Row, stall, abort time.Time) Row {
	r.Health = HealthRetransmitting
	r.Sock.Timer, r.Sock.Retrans, r.Sock.Info.Retransmits, r.Sock.Info.Unacked = inetdiag.TimerRetransmit, 3, 3, 1
	r.Prediction = &Prediction{Reason: ReasonRetries2, Clock: stall, ClockEarliest: stall.Add(-4 * time.Millisecond), ClockLatest: stall,
		At: abort, Earliest: abort.Add(-time.Second), Latest: abort.Add(time.Second)}
	r.Exposure = &Exposure{After: abort.Sub(stall)}
	return r
}

// keepaliveProbing makes r an idle connection with n unanswered probes,
// the next one due at next, every intvl.
func keepaliveProbing(r Row, n int, next time.Time, intvl time.Duration, abort time.Time) Row {
	r.Health = HealthKeepaliveProbing
	r.Sock.Timer, r.Sock.Retrans, r.Sock.Info.Probes = inetdiag.TimerKeepalive, uint8(n), uint8(n)
	r.Prediction = &Prediction{Reason: ReasonKeepalive, At: abort, Earliest: abort, Latest: abort,
		Schedule: []Firing{{N: n + 1, Kind: FireProbe, At: next, Earliest: next, Latest: next, Interval: intvl}, {N: n + 1, Kind: FireAbort, At: abort}}}
	return r
}

func unguarded(r Row) Row {
	r.Health, r.Exposure = HealthUnguarded, &Exposure{Never: true}
	return r
}

func findPeer(t *testing.T, peers []Peer, addr string) Peer {
	t.Helper()
	for _, p := range peers {
		if p.Addr == netip.MustParseAddr(addr) {
			return p
		}
	}
	t.Fatalf("no peer %s in %d peers", addr, len(peers))
	return Peer{}
}

func TestPeerVerdicts(t *testing.T) {
	now := base.Add(time.Hour)
	j := 4 * time.Millisecond
	died := now.Add(-20 * time.Second) // the dead host's last segment

	dead := []Row{
		retransmitting(peerRow(1, "10.0.0.7:5432", HealthOK, 20*time.Second), died.Add(400*time.Millisecond), now.Add(15*time.Minute)),
		keepaliveProbing(peerRow(2, "10.0.0.7:6379", HealthOK, 25*time.Second), 2, now.Add(500*time.Millisecond), 5*time.Second, now.Add(6*time.Second)),
		unguarded(peerRow(3, "10.0.0.7:5433", HealthOK, 22*time.Second)),
		unguarded(peerRow(4, "[::ffff:10.0.0.7]:5433", HealthOK, 21*time.Second)),
	}
	alive := []Row{
		peerRow(5, "10.0.0.8:9000", HealthZeroWindow, 100*time.Millisecond),
		peerRow(6, "10.0.0.8:9001", HealthOK, 200*time.Millisecond),
	}
	// One connection to 10.0.0.9 stalls, another still hears from it.
	partial := []Row{
		retransmitting(peerRow(7, "10.0.0.9:443", HealthOK, 30*time.Second), now.Add(-29*time.Second), now.Add(14*time.Minute)),
		peerRow(8, "10.0.0.9:444", HealthOK, time.Second),
	}
	listener := Row{Sock: &inetdiag.Socket{State: inetdiag.StateListen, ID: inetdiag.SockID{Src: netip.MustParseAddrPort("0.0.0.0:80"), Dst: netip.MustParseAddrPort("0.0.0.0:0")}}}
	rows := append(append(append(append([]Row(nil), dead...), alive...), partial...), listener)

	pt := NewPeerTracker(PeerConfig{})
	peers, events := pt.Update(now, time.Millisecond, j, rows)
	if len(peers) != 3 {
		t.Fatalf("%d peers, want 3 (the listener has none; the mapped address is 10.0.0.7)", len(peers))
	}
	if peers[0].Addr != netip.MustParseAddr("10.0.0.7") || peers[1].Addr != netip.MustParseAddr("10.0.0.9") {
		t.Errorf("order: %v, %v, %v; want the unresponsive host, then the partial one", peers[0].Addr, peers[1].Addr, peers[2].Addr)
	}
	d := findPeer(t, peers, "10.0.0.7")
	if d.Status != PeerUnresponsive {
		t.Fatalf("dead host: %v (%v), want unresponsive", d.Status, d.Reasons)
	}
	if !d.SilentSince.Equal(died) {
		t.Errorf("silent since %v, want %v (the latest receive over its connections)", d.SilentSince, died)
	}
	if d.Conns != 4 || d.Dying != 2 || d.NeverNotice != 2 {
		t.Errorf("blast radius: %d connections, %d dying, %d never notice; want 4, 2, 2", d.Conns, d.Dying, d.NeverNotice)
	}
	if !d.FirstAbort.Equal(now.Add(6*time.Second)) || !d.LastAbort.Equal(now.Add(15*time.Minute)) {
		t.Errorf("aborts %v .. %v", d.FirstAbort, d.LastAbort)
	}
	// The earliest stall: the first retransmission, before the keepalive
	// connection's first unanswered probe.
	if want := died.Add(400 * time.Millisecond); !d.StalledSince.Equal(want) {
		t.Errorf("stalled since %v, want %v", d.StalledSince, want)
	}
	if len(d.Groups) != 3 || d.Groups[0] != (PeerGroup{PID: 42, Comm: "api", RemotePort: 5433, Health: HealthUnguarded, Count: 2}) {
		t.Errorf("groups %+v", d.Groups)
	}
	if a := findPeer(t, peers, "10.0.0.8"); a.Status != PeerAlive {
		t.Errorf("zero-window host: %v, want alive", a.Status)
	}
	if p := findPeer(t, peers, "10.0.0.9"); p.Status != PeerPartial || len(p.Reasons) == 0 {
		t.Errorf("host with one stalled connection of two: %v %v, want partial", p.Status, p.Reasons)
	}
	if len(events) != 1 || events[0].Kind != EventPeerUnresponsive || events[0].Peer != netip.MustParseAddr("10.0.0.7") {
		t.Fatalf("events %+v, want one: 10.0.0.7 unresponsive", events)
	}

	// Next poll: the keepalive connection aborted (gone), the others go on.
	// Nothing new: no event, and the silence is remembered.
	now2 := now.Add(time.Second)
	next := []Row{
		retransmitting(peerRow(1, "10.0.0.7:5432", HealthOK, 21*time.Second), died.Add(400*time.Millisecond), now.Add(15*time.Minute)),
		unguarded(peerRow(3, "10.0.0.7:5433", HealthOK, 23*time.Second)),
	}
	peers, events = pt.Update(now2, time.Millisecond, j, next)
	if d := findPeer(t, peers, "10.0.0.7"); d.Status != PeerUnresponsive || !d.SilentSince.Equal(died) || len(events) != 0 {
		t.Errorf("second poll: %v since %v, events %+v", d.Status, d.SilentSince, events)
	}
	// The host answers: an ACK arrives on the stalled connection's
	// neighbour.
	now3 := now2.Add(time.Second)
	back := []Row{
		retransmitting(peerRow(1, "10.0.0.7:5432", HealthOK, 22*time.Second), died.Add(400*time.Millisecond), now.Add(15*time.Minute)),
		peerRow(3, "10.0.0.7:5433", HealthOK, 50*time.Millisecond),
	}
	peers, events = pt.Update(now3, time.Millisecond, j, back)
	if d := findPeer(t, peers, "10.0.0.7"); d.Status != PeerPartial {
		t.Errorf("after an answer: %v, want partial", d.Status)
	}
	if len(events) != 1 || events[0].Kind != EventPeerAnswering {
		t.Errorf("events after the answer %+v, want peer-answering", events)
	}
}

// TestPeerReceiveWithinResolution: a receive that the readings' resolution
// cannot place after the stall does not make the host look alive.
func TestPeerReceiveWithinResolution(t *testing.T) {
	now := base.Add(time.Hour)
	stall := now.Add(-10 * time.Second)
	rows := []Row{
		retransmitting(peerRow(1, "10.0.0.7:5432", HealthOK, 10*time.Second+300*time.Millisecond), stall, now.Add(time.Minute)),
		peerRow(2, "10.0.0.7:5433", HealthOK, 10*time.Second-3*time.Millisecond), // 3 ms after the stall: within a jiffy
	}
	peers, _ := NewPeerTracker(PeerConfig{}).Update(now, 0, 4*time.Millisecond, rows)
	if peers[0].Status != PeerUnresponsive {
		t.Errorf("%v (%v), want unresponsive", peers[0].Status, peers[0].Reasons)
	}
	rows[1] = peerRow(2, "10.0.0.7:5433", HealthOK, 9*time.Second)
	peers, _ = NewPeerTracker(PeerConfig{}).Update(now, 0, 4*time.Millisecond, rows)
	if peers[0].Status != PeerPartial {
		t.Errorf("a receive a second after the stall: %v, want partial", peers[0].Status)
	}
}

// TestPeerKeepaliveStall: a keepalive connection idle for hours stalls at
// its first unanswered probe, not at its last receive: a neighbour that
// talked to the host after the long idle but before the probes does not
// make the host look alive.
func TestPeerKeepaliveStall(t *testing.T) {
	now := base.Add(3 * time.Hour)
	next := now.Add(500 * time.Millisecond) // the third probe; two went out 75 s apart
	ka := keepaliveProbing(peerRow(1, "10.0.0.5:5432", HealthOK, 2*time.Hour), 2, next, 75*time.Second, now.Add(9*time.Minute))
	for _, tt := range []struct {
		name string
		rx   time.Duration
		want PeerStatus
	}{
		{"neighbour heard from before the first probe", 3 * time.Minute, PeerUnresponsive},
		{"neighbour heard from after the first probe", time.Minute, PeerPartial},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rows := []Row{ka, unguarded(peerRow(2, "10.0.0.5:5433", HealthOK, tt.rx))}
			peers, _ := NewPeerTracker(PeerConfig{}).Update(now, time.Millisecond, 4*time.Millisecond, rows)
			if peers[0].Status != tt.want {
				t.Errorf("%v (%v), want %v", peers[0].Status, peers[0].Reasons, tt.want)
			}
			if want := next.Add(-150 * time.Second); !peers[0].StalledSince.Equal(want) {
				t.Errorf("stalled since %v, want the first probe at %v", peers[0].StalledSince, want)
			}
		})
	}
}
