package model

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// oneShotSocks is a dump with one socket of every kind the rules tell
// apart: healthy, idle, retransmitting, SYN-SENT retrying, keepalive
// probing, CLOSE-WAIT, TIME-WAIT, a listener and an orphan.
func oneShotSocks() []inetdiag.Socket {
	d, _, _ := dying(3)
	return []inetdiag.Socket{
		conn(1, inetdiag.StateEstablished),
		idleConn(2, 10*time.Second),
		d,
		with(conn(4, inetdiag.StateSynSent), func(s *inetdiag.Socket) {
			s.Timer, s.Expires, s.Retrans, s.Info.Retransmits, s.Info.RTO = inetdiag.TimerRetransmit, 900*time.Millisecond, 1, 1, inetdiag.MicrosOf(time.Second)
		}),
		with(idleConn(5, 30*time.Second), func(s *inetdiag.Socket) {
			s.Timer, s.Expires, s.Retrans, s.Info.Probes = inetdiag.TimerKeepalive, 20*time.Second, 2, 2
		}),
		with(conn(6, inetdiag.StateCloseWait), func(s *inetdiag.Socket) {
			s.Info.LastAckRecv, s.Info.LastDataRecv, s.Info.LastDataSent = inetdiag.MillisOf(10*time.Second), inetdiag.MillisOf(10*time.Second), inetdiag.MillisOf(10*time.Second)
		}),
		with(conn(7, inetdiag.StateTimeWait), func(s *inetdiag.Socket) {
			s.Timer, s.Expires, s.Info = inetdiag.TimerTimeWait, 50*time.Second, inetdiag.TCPCore{}
		}),
		with(conn(8, inetdiag.StateListen), func(s *inetdiag.Socket) {
			s.ID.Dst = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
		}),
		with(idleConn(9, 10*time.Second), func(s *inetdiag.Socket) {
			s.State, s.Inode, s.Timer, s.Expires = inetdiag.StateFinWait2, 0, inetdiag.TimerKeepalive, 50*time.Second
		}),
	}
}

// TestAssessOnceIsFirstUpdate: a one-shot's rows are those of a new
// tracker's first poll, field for field, and the tracker remembers none
// of them.
func TestAssessOnceIsFirstUpdate(t *testing.T) {
	_, _, now := dying(3)
	const u = 40 * time.Millisecond
	opts := optsOf(SockOpts{KeepAlive: true, KeepIdle: 10 * time.Second, KeepIntvl: 5 * time.Second, KeepCnt: 3})
	for _, withOpts := range []bool{false, true} {
		var o OptionSource
		if withOpts {
			o = opts
		}
		socks := oneShotSocks()
		want := NewTracker(cfgWith(nil)).Update(PollInput{Time: now, Uncertainty: u, Socks: socks, Options: o}).Rows(nil)
		tr := NewTracker(cfgWith(nil))
		for i := range socks {
			got := tr.AssessOnce(&socks[i], now, u, o)
			if !reflect.DeepEqual(got, want[i]) {
				t.Errorf("options %v, socket %d (%v): AssessOnce\n%+v\nwant the first Update's row\n%+v", withOpts, i, socks[i].State, got, want[i])
			}
		}
		if tr.Len() != 0 || len(tr.Events()) != 0 {
			t.Errorf("AssessOnce left %d connections and %d events in the tracker", tr.Len(), len(tr.Events()))
		}
	}
}

// TestAssessOnceUncertainty: the uncertainty widens the window as
// Update's does, and does not stay with the tracker.
func TestAssessOnceUncertainty(t *testing.T) {
	s, _, now := dying(1)
	tr := NewTracker(cfgWith(nil))
	narrow := tr.AssessOnce(&s, now, 0, nil)
	wide := tr.AssessOnce(&s, now, time.Second, nil)
	again := tr.AssessOnce(&s, now, 0, nil)
	if narrow.Prediction == nil || wide.Prediction == nil {
		t.Fatal("no prediction for a retransmitting connection")
	}
	if got := narrow.Prediction.Earliest.Sub(wide.Prediction.Earliest); got != time.Second {
		t.Errorf("earliest moved by %v with 1 s of uncertainty, want 1s", got)
	}
	if !reflect.DeepEqual(narrow, again) {
		t.Errorf("the uncertainty of one call leaked into the next")
	}
}

// TestPeerSuspect: a host is judged other than alive only when one of its
// connections is suspect, so a one-shot may judge just those hosts.
func TestPeerSuspect(t *testing.T) {
	_, _, now := dying(3)
	socks := oneShotSocks()
	rows := NewTracker(cfgWith(nil)).Update(PollInput{Time: now, Socks: socks}).Rows(nil)
	want := map[uint64]bool{3: true, 4: true, 5: true} // retransmitting, SYN-SENT retrying, keepalive probing
	for i := range rows {
		r := &rows[i]
		if got := PeerSuspect(r, now); got != want[r.Sock.ID.Cookie] {
			t.Errorf("socket %d (%v, %v): PeerSuspect %v, want %v", r.Sock.ID.Cookie, r.Sock.State, r.Health, got, !got)
		}
	}
	// Every row alone on its own host: the host is alive exactly when the
	// row is not suspect.
	for i := range rows {
		r := rows[i]
		sock := *r.Sock
		sock.ID.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, 0, byte(i + 1)}), 443)
		r.Sock = &sock
		peers, _ := NewPeerTracker(PeerConfig{}).Update(now.Add(2*time.Second), 0, time.Millisecond, []Row{r})
		if len(peers) == 0 {
			if PeerSuspect(&r, now) {
				t.Errorf("socket %d: suspect, but it has no host", sock.ID.Cookie)
			}
			continue
		}
		if alive := peers[0].Status == PeerAlive; alive == PeerSuspect(&r, now.Add(2*time.Second)) {
			t.Errorf("socket %d (%v): host %v, PeerSuspect %v", sock.ID.Cookie, r.Health, peers[0].Status, !alive)
		}
	}
}
