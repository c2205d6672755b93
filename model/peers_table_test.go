package model

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// zeroWindow makes r a connection probing a zero window with n probes
// outstanding; its last answer came rx ago (as peerRow set it).
func zeroWindow(r Row, n int, pr *Prediction) Row {
	r.Health = HealthZeroWindow
	r.Sock.Timer, r.Sock.Retrans, r.Sock.Info.Probes = inetdiag.TimerProbe0, uint8(n), uint8(n)
	r.Prediction = pr
	return r
}

func synSent(cookie uint64, remote string, since time.Time) Row {
	r := peerRow(cookie, remote, HealthSynSent, 0)
	r.Sock.State, r.Sock.Info.State = inetdiag.StateSynSent, uint8(inetdiag.StateSynSent)
	r.HealthSince, r.Exposure = InstantOf(since), nil
	return r
}

func withState(r Row, st inetdiag.State) Row {
	r.Sock.State = st
	if st == inetdiag.StateTimeWait {
		r.Sock.Info = inetdiag.TCPCore{}
	}
	return r
}

func keepaliveIdle(r Row, after time.Duration) Row {
	r.Health, r.Exposure = HealthOK, &Exposure{After: after, Reason: ReasonKeepalive}
	return r
}

// TestPeerVerdictTable: one host's connections, one poll, its verdict and
// counts.
func TestPeerVerdictTable(t *testing.T) {
	now := base.Add(time.Hour)
	stall := now.Add(-20 * time.Second)
	abort := now.Add(15 * time.Minute)
	rtx := func(c uint64, remote string, rx time.Duration) Row {
		return retransmitting(peerRow(c, remote, HealthOK, rx), stall, abort)
	}
	answered := &Prediction{Reason: ReasonUserTimeout, At: now.Add(time.Minute)}
	for _, tt := range []struct {
		name        string
		rows        []Row
		addr        string
		want        PeerStatus
		conns       int
		never       int
		silentSince time.Time // zero: not checked
		neverIDs    int       // want len(NeverNoticeConns)
		reasons     bool      // an alive verdict with reasons
	}{
		{name: "one retransmitting connection, nothing heard since", rows: []Row{rtx(1, "10.0.0.7:5432", 21*time.Second)},
			addr: "10.0.0.7", want: PeerUnresponsive, conns: 1, silentSince: now.Add(-21 * time.Second)},
		{name: "retransmitting, an idle neighbour silent as long", rows: []Row{rtx(1, "10.0.0.7:5432", 21*time.Second), unguarded(peerRow(2, "10.0.0.7:5433", HealthOK, 40*time.Second))},
			addr: "10.0.0.7", want: PeerUnresponsive, conns: 2, never: 1, neverIDs: 1},
		{name: "retransmitting, a neighbour heard from after the stall", rows: []Row{rtx(1, "10.0.0.7:5432", 21*time.Second), peerRow(2, "10.0.0.7:5433", HealthOK, 5*time.Second)},
			addr: "10.0.0.7", want: PeerPartial, conns: 2},
		{name: "nothing stalls: alive, idle connections counted", rows: []Row{unguarded(peerRow(1, "10.0.0.7:5433", HealthOK, time.Hour)), peerRow(2, "10.0.0.7:80", HealthOK, time.Second)},
			addr: "10.0.0.7", want: PeerAlive, conns: 2, never: 1},
		{name: "zero window, probes answered: alive", rows: []Row{zeroWindow(peerRow(1, "10.0.0.8:9000", HealthOK, 100*time.Millisecond), 0, nil)},
			addr: "10.0.0.8", want: PeerAlive, conns: 1},
		{name: "zero window, one probe outstanding proves nothing", rows: []Row{zeroWindow(peerRow(1, "10.0.0.8:9000", HealthOK, 3*time.Second), 1, nil)},
			addr: "10.0.0.8", want: PeerAlive, conns: 1},
		{name: "zero window under TCP_USER_TIMEOUT, probes answered: alive although dying", rows: []Row{zeroWindow(peerRow(1, "10.0.0.8:9000", HealthOK, 100*time.Millisecond), 0, answered)},
			addr: "10.0.0.8", want: PeerAlive, conns: 1},
		{name: "zero window, two probes unanswered", rows: []Row{zeroWindow(peerRow(1, "10.0.0.8:9000", HealthOK, 10*time.Second), 2, nil), unguarded(peerRow(2, "10.0.0.8:9001", HealthOK, 11*time.Second))},
			addr: "10.0.0.8", want: PeerUnresponsive, conns: 2, never: 1, neverIDs: 1, silentSince: now.Add(-10 * time.Second)},
		{name: "unanswered SYNs only: unresponsive, never heard from", rows: []Row{synSent(1, "10.0.0.9:443", now.Add(-3*time.Second))},
			addr: "10.0.0.9", want: PeerUnresponsive, conns: 1},
		{name: "TIME-WAIT connections are not counted", rows: []Row{rtx(1, "10.0.0.7:5432", 21*time.Second), withState(peerRow(2, "10.0.0.7:5432", HealthOK, 0), inetdiag.StateTimeWait)},
			addr: "10.0.0.7", want: PeerUnresponsive, conns: 1},
		{name: "keepalive of two hours never notices, of ten minutes does", rows: []Row{rtx(1, "10.0.0.7:5432", 21*time.Second), keepaliveIdle(peerRow(2, "10.0.0.7:6379", HealthOK, 30*time.Second), 2*time.Hour), keepaliveIdle(peerRow(3, "10.0.0.7:6380", HealthOK, 30*time.Second), 10*time.Minute)},
			addr: "10.0.0.7", want: PeerUnresponsive, conns: 3, never: 1, neverIDs: 1},
		{name: "IPv6 host", rows: []Row{rtx(1, "[2001:db8::7]:5432", 21*time.Second), unguarded(peerRow(2, "[2001:db8::7]:22", HealthOK, time.Minute))},
			addr: "2001:db8::7", want: PeerUnresponsive, conns: 2, never: 1, neverIDs: 1},
		{name: "IPv4-mapped and IPv4 connections are one host", rows: []Row{rtx(1, "10.0.0.7:5432", 21*time.Second), peerRow(2, "[::ffff:10.0.0.7]:8080", HealthOK, time.Second)},
			addr: "10.0.0.7", want: PeerPartial, conns: 2},
		{name: "a stall younger than Settle: not judged yet", rows: []Row{retransmitting(peerRow(1, "10.0.0.7:5432", HealthOK, 2*time.Second), now.Add(-900*time.Millisecond), abort)},
			addr: "10.0.0.7", want: PeerAlive, conns: 1, reasons: true},
		{name: "a stall younger than Settle, a neighbour heard after it: partial at once", rows: []Row{retransmitting(peerRow(1, "10.0.0.7:5432", HealthOK, 2*time.Second), now.Add(-900*time.Millisecond), abort), peerRow(2, "10.0.0.7:80", HealthOK, 100*time.Millisecond)},
			addr: "10.0.0.7", want: PeerPartial, conns: 2},
		{name: "loopback", rows: []Row{rtx(1, "127.0.0.1:9000", 21*time.Second)},
			addr: "127.0.0.1", want: PeerUnresponsive, conns: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			peers, events := NewPeerTracker(PeerConfig{}).Update(now, time.Millisecond, 4*time.Millisecond, tt.rows)
			if len(peers) != 1 {
				t.Fatalf("%d peers, want 1", len(peers))
			}
			p := findPeer(t, peers, tt.addr)
			if p.Status != tt.want {
				t.Errorf("status %v (%v), want %v", p.Status, p.Reasons, tt.want)
			}
			if p.Conns != tt.conns || p.NeverNotice != tt.never || len(p.NeverNoticeConns) != tt.neverIDs {
				t.Errorf("%d connections, %d never notice (%d ids); want %d, %d (%d)", p.Conns, p.NeverNotice, len(p.NeverNoticeConns), tt.conns, tt.never, tt.neverIDs)
			}
			if !tt.silentSince.IsZero() && !p.SilentSince.Equal(tt.silentSince) {
				t.Errorf("silent since %v, want %v", p.SilentSince, tt.silentSince)
			}
			if (p.Status != PeerAlive || tt.reasons) && len(p.Reasons) == 0 {
				t.Errorf("a %v verdict without reasons", p.Status)
			}
			wantEvents := 0
			if tt.want == PeerUnresponsive {
				wantEvents = 1
			}
			if len(events) != wantEvents {
				t.Errorf("events %+v, want %d", events, wantEvents)
			}
			for _, id := range p.NeverNoticeConns {
				if id.ID.Cookie == 1 {
					t.Errorf("the stalled connection is among those that never notice")
				}
			}
		})
	}
}

// TestPeerVanishes: a host whose last connection is gone is no longer
// judged and raises no event; when it is seen stalled again, a new event
// says so; it is forgotten after Forget.
func TestPeerVanishes(t *testing.T) {
	now := base.Add(time.Hour)
	pt := NewPeerTracker(PeerConfig{Forget: time.Minute})
	row := func(at time.Time) []Row {
		return []Row{retransmitting(peerRow(1, "10.0.0.7:5432", HealthOK, 30*time.Second), at.Add(-29*time.Second), at.Add(time.Minute))}
	}
	if _, ev := pt.Update(now, 0, 4*time.Millisecond, row(now)); len(ev) != 1 {
		t.Fatalf("first poll: %d events, want 1", len(ev))
	}
	peers, ev := pt.Update(now.Add(time.Second), 0, 4*time.Millisecond, nil)
	if len(peers) != 0 || len(ev) != 0 {
		t.Fatalf("its connection gone: peers %v events %v, want none", peers, ev)
	}
	if _, ev := pt.Update(now.Add(2*time.Second), 0, 4*time.Millisecond, row(now.Add(2*time.Second))); len(ev) != 1 || ev[0].Kind != EventPeerUnresponsive {
		t.Errorf("stalled again: events %+v, want one peer_unresponsive", ev)
	}
	pt.Update(now.Add(5*time.Minute), 0, 4*time.Millisecond, nil)
	if len(pt.hosts) != 0 {
		t.Errorf("%d hosts remembered after Forget, want 0", len(pt.hosts))
	}
	if n := len(pt.Events()); n != 2 {
		t.Errorf("%d events kept, want 2", n)
	}
}

// TestPeerEventLimit: the events kept are bounded, the newest kept.
func TestPeerEventLimit(t *testing.T) {
	now := base.Add(time.Hour)
	pt := NewPeerTracker(PeerConfig{EventLimit: 3, Settle: 100 * time.Millisecond})
	for i := 0; i < 10; i++ {
		at := now.Add(time.Duration(i) * time.Second)
		// A stall that began after the last answer: the host alternates
		// between unresponsive and partial.
		dead := []Row{retransmitting(peerRow(1, "10.0.0.7:5432", HealthOK, time.Hour), at.Add(-500*time.Millisecond), at.Add(time.Hour))}
		rows := dead
		if i%2 == 1 {
			rows = append(append([]Row(nil), dead...), peerRow(2, "10.0.0.7:80", HealthOK, 0))
		}
		pt.Update(at, 0, 4*time.Millisecond, rows)
	}
	ev := pt.Events()
	if len(ev) != 3 || !ev[2].Time.Equal(now.Add(9*time.Second)) {
		t.Errorf("kept %d events, last at %v; want 3, the last at +9s", len(ev), ev[len(ev)-1].Time)
	}
}

func TestMergeEvents(t *testing.T) {
	at := func(s int, k EventKind) Event { return Event{Time: base.Add(time.Duration(s) * time.Second), Kind: k} }
	for _, tt := range []struct {
		name string
		a, b []Event
		want []int
	}{
		{"empty", nil, nil, nil},
		{"only a", []Event{at(1, EventAborted)}, nil, []int{1}},
		{"only b", nil, []Event{at(2, EventPeerUnresponsive)}, []int{2}},
		{"interleaved", []Event{at(1, EventAborted), at(3, EventAborted)}, []Event{at(2, EventPeerUnresponsive), at(4, EventPeerAnswering)}, []int{1, 2, 3, 4}},
		{"same time: a first", []Event{at(1, EventAborted)}, []Event{at(1, EventPeerUnresponsive)}, []int{1, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := MergeEvents(tt.a, tt.b)
			if len(got) != len(tt.want) {
				t.Fatalf("%d events, want %d", len(got), len(tt.want))
			}
			for i, e := range got {
				if e.Time != base.Add(time.Duration(tt.want[i])*time.Second) {
					t.Errorf("event %d at %v, want +%ds", i, e.Time, tt.want[i])
				}
			}
			if tt.name == "same time: a first" && got[0].Kind != EventAborted {
				t.Errorf("same time: %v first, want a's event", got[0].Kind)
			}
		})
	}
}

func TestPeerProcesses(t *testing.T) {
	p := Peer{Groups: []PeerGroup{
		{PID: 7, Comm: "db", RemotePort: 5432, Count: 3},
		{PID: 9, Comm: "api", RemotePort: 80, Count: 2},
		{PID: 9, Comm: "api", RemotePort: 81, Count: 2},
		{RemotePort: 22, Count: 1},
	}}
	got := p.Processes()
	want := []string{"api[9]", "db[7]", "?"}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%v, want %v", got, want)
		}
	}
	if FindPeer([]Peer{{Addr: netip.MustParseAddr("10.0.0.7")}}, netip.MustParseAddr("::ffff:10.0.0.7")) == nil {
		t.Errorf("FindPeer: the mapped address is not its IPv4 host")
	}
}

// TestPeerKeepaliveScheduleWithPast: a schedule that lists the probes
// already sent dates the stall at the first of them.
func TestPeerKeepaliveScheduleWithPast(t *testing.T) {
	now := base.Add(3 * time.Hour)
	first := now.Add(-150 * time.Second)
	var sched []Firing
	for n := 1; n <= 4; n++ {
		at := first.Add(time.Duration(n-1) * 75 * time.Second)
		sched = append(sched, Firing{N: n, Kind: FireProbe, At: at, Earliest: at, Latest: at, Interval: 75 * time.Second, Past: n <= 3})
	}
	ka := keepaliveProbing(peerRow(1, "10.0.0.5:5432", HealthOK, 2*time.Hour), 3, now.Add(75*time.Second), 75*time.Second, now.Add(9*time.Minute))
	ka.Prediction.Schedule = sched
	for _, tt := range []struct {
		name string
		rx   time.Duration
		want PeerStatus
	}{
		{"neighbour heard from before the first probe", 3 * time.Minute, PeerUnresponsive},
		{"neighbour heard from after it", 2 * time.Minute, PeerPartial},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rows := []Row{ka, unguarded(peerRow(2, "10.0.0.5:5433", HealthOK, tt.rx))}
			peers, _ := NewPeerTracker(PeerConfig{}).Update(now, time.Millisecond, 4*time.Millisecond, rows)
			if peers[0].Status != tt.want || !peers[0].StalledSince.Equal(first) {
				t.Errorf("%v stalled since %v, want %v since %v", peers[0].Status, peers[0].StalledSince, tt.want, first)
			}
		})
	}
}
