package model

import (
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// TestProbeEpisodesOnlyWhileProbing: a connection's probe episodes exist
// from its first keepalive or zero-window probe until nothing of them is
// left to remember — an interval two probes revealed stays — and a
// restored tracker has them exactly where the live one has.
func TestProbeEpisodesOnlyWhileProbing(t *testing.T) {
	ka := func(retrans uint8, expires time.Duration) inetdiag.Socket {
		s := conn(1, inetdiag.StateEstablished)
		s.Timer, s.Retrans, s.Expires, s.Info.Probes = inetdiag.TimerKeepalive, retrans, expires, retrans
		return s
	}
	zw := func(probing bool) inetdiag.Socket {
		s := conn(2, inetdiag.StateEstablished)
		if probing {
			s.Timer, s.Retrans, s.Expires, s.SendQ, s.Info.Probes = inetdiag.TimerProbe0, 1, 400*time.Millisecond, 4096, 1
		}
		return s
	}
	idle := conn(3, inetdiag.StateEstablished)
	type want struct {
		keepalive, zeroWindow bool          // cookies 1 and 2 have episodes
		intvl                 time.Duration // cookie 1's learned interval
	}
	tr := NewTracker(Config{})
	for _, step := range []struct {
		at    time.Duration
		socks []inetdiag.Socket
		want  want
	}{
		{0, []inetdiag.Socket{ka(0, 7000*time.Second), zw(false), idle}, want{}},
		// The first probe left at 1 s: the timer re-armed with the
		// interval (5 s) then.
		{2 * time.Second, []inetdiag.Socket{ka(1, 4*time.Second), zw(true), idle}, want{keepalive: true, zeroWindow: true}},
		// The second at 6 s: two expiries 5 s apart reveal the interval.
		{7 * time.Second, []inetdiag.Socket{ka(2, 4*time.Second), zw(true), idle}, want{keepalive: true, zeroWindow: true, intvl: 5 * time.Second}},
		// Answered, and the window opened: the interval is remembered,
		// nothing else.
		{8 * time.Second, []inetdiag.Socket{ka(0, 7200*time.Second), zw(false), idle}, want{keepalive: true, intvl: 5 * time.Second}},
	} {
		now := base.Add(step.at)
		tr.Update(PollInput{Time: now, Socks: step.socks})
		live := tr
		restored, _, err := RestoreTracker(tr.MarshalState(now), step.socks)
		if err != nil {
			t.Fatalf("at %v: restore: %v", step.at, err)
		}
		for name, tr := range map[string]*Tracker{"live": live, "restored": restored} {
			got := want{keepalive: tr.conns[1].probing != nil, zeroWindow: tr.conns[2].probing != nil}
			if e := tr.conns[1].probing; e != nil {
				got.intvl = e.keepalive.intvl
			}
			if got != step.want {
				t.Errorf("at %v, %s: episodes %+v, want %+v", step.at, name, got, step.want)
			}
			if tr.conns[3].probing != nil {
				t.Errorf("at %v, %s: a connection that never probed has probe episodes", step.at, name)
			}
		}
	}
}
