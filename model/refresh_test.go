package model

import (
	"reflect"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// TestRefreshMatchesDumps follows a dying connection beside a healthy one
// twice: with a full dump every 250 ms, and with a dump every 2 s and
// look-ups of the dying one alone in between. The dying connection's
// verdict must be the same at every step (the look-ups are exact), the
// healthy one must keep its sweep's sample between sweeps, and the abort
// must be told the same way.
func TestRefreshMatchesDumps(t *testing.T) {
	cfg := cfgWith(func(p *Params) { p.Retries2 = 5 })
	_, r, _ := dying(1)
	healthy := conn(2, inetdiag.StateEstablished)
	full, swept := NewTracker(cfg), NewTracker(cfg)
	step := int64(62) // jiffies at HZ=250: 248 ms
	first := r.fires[0] + 25
	abortJ := r.fires[r.abort]
	var fullEvents, sweptEvents []Event
	for n, tj := 0, first; tj < abortJ+2*step; n, tj = n+1, tj+step {
		now := r.k.at(base, tj)
		alive := tj < abortJ
		var socks []inetdiag.Socket
		if alive {
			socks = append(socks, rtoSock(1, inetdiag.StateEstablished, r, tj, inetdiag.TCPInfoLen6_18))
		}
		socks = append(socks, healthy)
		fp := full.Update(PollInput{Time: now, Socks: socks})
		fullEvents = append(fullEvents, fp.Events...)

		var sp Poll
		if n%8 == 0 {
			sp = swept.Update(PollInput{Time: now, Socks: socks})
		} else if alive {
			sp = swept.Refresh(PollInput{Time: now, Socks: socks[:1]}, nil)
			if len(sp.Conns) != 1 || sp.Conns[0].Sock.ID.Cookie != 1 {
				t.Fatalf("step %d: refresh returned %d connections", n, len(sp.Conns))
			}
		} else {
			sp = swept.Refresh(PollInput{Time: now}, []uint64{1})
		}
		sweptEvents = append(sweptEvents, sp.Events...)

		if alive {
			fc, sc := findConn(t, fp, 1), findConn(t, sp, 1)
			if fc.Health != sc.Health || !reflect.DeepEqual(fc.Prediction, sc.Prediction) || !fc.HealthSince.Time().Equal(sc.HealthSince.Time()) {
				t.Fatalf("step %d: swept %v %+v, full dumps %v %+v", n, sc.Health, sc.Prediction, fc.Health, fc.Prediction)
			}
		}
		if n%8 != 0 {
			for _, c := range sp.Conns {
				if c.Sock.ID.Cookie == 2 {
					t.Fatalf("step %d: the healthy connection was refreshed", n)
				}
			}
		}
	}
	if len(fullEvents) != 1 || len(sweptEvents) != 1 {
		t.Fatalf("events: full dumps %+v, swept %+v", fullEvents, sweptEvents)
	}
	f, s := fullEvents[0], sweptEvents[0]
	if f.Kind != EventAborted || s.Kind != f.Kind || !s.Time.Equal(f.Time) || !s.LastSeen.Equal(f.LastSeen) || !reflect.DeepEqual(s.Predicted, f.Predicted) {
		t.Errorf("swept event %+v, full dumps %+v", s, f)
	}
	if swept.Len() != 1 || !swept.Tracked(2) || swept.Tracked(1) {
		t.Errorf("tracked after the abort: %d, healthy %v, dying %v", swept.Len(), swept.Tracked(2), swept.Tracked(1))
	}
}

func findConn(t *testing.T, p Poll, cookie uint64) *Conn {
	t.Helper()
	for _, c := range p.Conns {
		if c.Sock.ID.Cookie == cookie {
			return c
		}
	}
	t.Fatalf("connection %d not in the poll", cookie)
	return nil
}

// TestRefreshLeavesOthers: a refresh touches only what it names. An
// unknown socket is not tracked (new connections come with dumps), a gone
// cookie that is unknown is nothing, and a healthy connection keeps its
// sample time and verdict.
func TestRefreshLeavesOthers(t *testing.T) {
	tr := NewTracker(cfgWith(nil))
	t0 := base
	tr.Update(PollInput{Time: t0, Socks: []inetdiag.Socket{conn(1, inetdiag.StateEstablished), conn(2, inetdiag.StateCloseWait)}})
	p := tr.Refresh(PollInput{Time: t0.Add(time.Second), Socks: []inetdiag.Socket{conn(2, inetdiag.StateCloseWait), conn(9, inetdiag.StateEstablished)}}, []uint64{42})
	if len(p.Conns) != 1 || p.Conns[0].Sock.ID.Cookie != 2 || len(p.Events) != 0 {
		t.Fatalf("refresh: %d connections, events %+v", len(p.Conns), p.Events)
	}
	if tr.Len() != 2 || tr.Tracked(9) {
		t.Errorf("tracked %d, unknown socket tracked: %v", tr.Len(), tr.Tracked(9))
	}
	p = tr.Update(PollInput{Time: t0.Add(2 * time.Second), Socks: []inetdiag.Socket{conn(1, inetdiag.StateEstablished), conn(2, inetdiag.StateCloseWait)}})
	if len(p.Events) != 0 || len(p.Conns) != 2 {
		t.Errorf("the next dump after a refresh: %d connections, events %+v", len(p.Conns), p.Events)
	}
	// A cookie named gone that the same refresh also answered stays.
	p = tr.Refresh(PollInput{Time: t0.Add(3 * time.Second), Socks: []inetdiag.Socket{conn(2, inetdiag.StateCloseWait)}}, []uint64{2, 1, 1})
	if len(p.Events) != 1 || p.Events[0].ID.Cookie != 1 || p.Events[0].Kind != EventReset || !tr.Tracked(2) || tr.Tracked(1) {
		t.Errorf("gone 1 (twice) and answered 2: events %+v, tracked 1 %v 2 %v", p.Events, tr.Tracked(1), tr.Tracked(2))
	}
}

func TestSuspect(t *testing.T) {
	d, _, t0 := dying(1)
	tests := []struct {
		name string
		s    inetdiag.Socket
		want bool
	}{
		{"healthy", conn(2, inetdiag.StateEstablished), false},
		{"dying", d, true},
		{"close-wait", conn(3, inetdiag.StateCloseWait), true},
		{"syn-sent", with(conn(4, inetdiag.StateSynSent), func(s *inetdiag.Socket) {
			s.Timer, s.Info.RTO = inetdiag.TimerRetransmit, inetdiag.MicrosOf(time.Second)
		}), true},
		{"first probe", with(conn(5, inetdiag.StateEstablished), func(s *inetdiag.Socket) { s.Timer, s.Info.Probes = inetdiag.TimerKeepalive, 1 }), true},
		{"time-wait", with(conn(6, inetdiag.StateTimeWait), func(s *inetdiag.Socket) { s.Timer, s.Info = inetdiag.TimerTimeWait, inetdiag.TCPCore{} }), false},
		{"no tcp_info, retransmitting", with(conn(7, inetdiag.StateEstablished), func(s *inetdiag.Socket) {
			s.Timer, s.Retrans, s.Info = inetdiag.TimerRetransmit, 2, inetdiag.TCPCore{}
		}), true},
		{"no tcp_info, data in flight", with(conn(8, inetdiag.StateEstablished), func(s *inetdiag.Socket) {
			s.Timer, s.Info = inetdiag.TimerRetransmit, inetdiag.TCPCore{}
		}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := track(t, cfgWith(nil), t0, nil, tt.s)
			if got := c.Suspect(); got != tt.want {
				t.Errorf("Suspect() = %v, want %v (health %v)", got, tt.want, c.Health)
			}
		})
	}
}
