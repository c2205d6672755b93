package model

import (
	"fmt"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// idleConn is an established connection that carried nothing for d.
func idleConn(cookie uint64, d time.Duration) inetdiag.Socket {
	s := conn(cookie, inetdiag.StateEstablished)
	s.Info.LastDataSent, s.Info.LastDataRecv, s.Info.LastAckRecv = inetdiag.MillisOf(d), inetdiag.MillisOf(d), inetdiag.MillisOf(d)
	return s
}

// with applies changes to a socket.
func with(s inetdiag.Socket, f func(s *inetdiag.Socket)) inetdiag.Socket {
	f(&s)
	return s
}

func TestHealth(t *testing.T) {
	const idleAfter, closeWaitAfter = 5 * time.Second, 5 * time.Second
	type poll struct {
		after time.Duration // since the first poll
		s     inetdiag.Socket
	}
	one := func(s inetdiag.Socket) []poll { return []poll{{0, s}} }
	closeWait := func(lastAck time.Duration) inetdiag.Socket {
		return with(conn(1, inetdiag.StateCloseWait), func(s *inetdiag.Socket) {
			s.Info.LastAckRecv, s.Info.LastDataRecv, s.Info.LastDataSent = inetdiag.MillisOf(lastAck), inetdiag.MillisOf(lastAck), inetdiag.MillisOf(lastAck)
		})
	}
	tests := []struct {
		name      string
		polls     []poll
		want      Health
		wantSince time.Duration // HealthSince relative to the first poll
	}{
		{"active", one(conn(1, inetdiag.StateEstablished)), HealthOK, 0},
		{"idle without keepalive", one(idleConn(1, 10*time.Second)), HealthUnguarded, 0},
		{"idle exactly IdleAfter", one(idleConn(1, idleAfter)), HealthUnguarded, 0},
		{"idle not long enough", one(idleConn(1, idleAfter-time.Millisecond)), HealthOK, 0},
		{"idle with keepalive timer", one(with(idleConn(1, 10*time.Second), func(s *inetdiag.Socket) {
			s.Timer, s.Expires = inetdiag.TimerKeepalive, 7190*time.Second
		})), HealthOK, 0},
		{"idle but data queued", one(with(idleConn(1, 10*time.Second), func(s *inetdiag.Socket) {
			s.SendQ = 10
		})), HealthOK, 0},
		{"unacknowledged data, no RTO yet", one(with(conn(1, inetdiag.StateEstablished), func(s *inetdiag.Socket) {
			s.Timer, s.Expires, s.SendQ, s.Info.Unacked = inetdiag.TimerRetransmit, 150*time.Millisecond, 100, 1
		})), HealthOK, 0},
		{"tail-loss probe pending", one(with(conn(1, inetdiag.StateEstablished), func(s *inetdiag.Socket) {
			s.Timer, s.Expires, s.SendQ, s.Info.Unacked, s.Info.TotalRetrans = inetdiag.TimerRetransmit, 200*time.Millisecond, 100, 1, 1
		})), HealthOK, 0},
		{"no tcp_info", one(with(idleConn(1, 10*time.Second), func(s *inetdiag.Socket) { s.Info = inetdiag.TCPCore{} })), HealthOK, 0},
		// A first sample uses the last ACK (the peer's FIN) as a lower bound
		// of the time spent in CLOSE-WAIT.
		{"close-wait young", one(closeWait(time.Second)), HealthOK, 0},
		{"close-wait old at first sight", one(closeWait(10 * time.Second)), HealthCloseWait, -10 * time.Second},
		{"close-wait aging across polls", []poll{{0, closeWait(500 * time.Millisecond)}, {3 * time.Second, closeWait(500 * time.Millisecond)}, {6 * time.Second, closeWait(500 * time.Millisecond)}}, HealthCloseWait, 6 * time.Second},
		{"close-wait not yet across polls", []poll{{0, closeWait(500 * time.Millisecond)}, {4 * time.Second, closeWait(500 * time.Millisecond)}}, HealthOK, 0},
		{"close-wait retransmitting", one(with(closeWait(2*time.Second), func(s *inetdiag.Socket) {
			s.Timer, s.Retrans, s.Expires, s.SendQ = inetdiag.TimerRetransmit, 2, 600*time.Millisecond, 100
			s.Info.CAState, s.Info.Retransmits, s.Info.Backoff, s.Info.RTO, s.Info.Unacked = caLoss, 2, 2, inetdiag.MicrosOf(816*time.Millisecond), 1
			s.Info.LastDataSent = inetdiag.MillisOf(200 * time.Millisecond)
			s.Info.TotalRTO, s.Info.TotalRTORecoveries, s.Info.TotalRTOTime = 2, 1, inetdiag.MillisOf(800*time.Millisecond)
		})), HealthRetransmitting, 0},
		{"listen", one(with(conn(1, inetdiag.StateListen), func(s *inetdiag.Socket) {
			s.Info.LastDataSent, s.Info.LastDataRecv, s.Info.LastAckRecv = inetdiag.MillisOf(time.Hour), inetdiag.MillisOf(time.Hour), inetdiag.MillisOf(time.Hour)
		})), HealthOK, 0},
		{"time-wait", one(with(conn(1, inetdiag.StateTimeWait), func(s *inetdiag.Socket) {
			s.Timer, s.Expires, s.Info = inetdiag.TimerTimeWait, 50*time.Second, inetdiag.TCPCore{}
		})), HealthOK, 0},
		{"fin-wait-2 orphan timeout", one(with(idleConn(1, 10*time.Second), func(s *inetdiag.Socket) {
			s.State, s.Inode, s.Timer, s.Expires = inetdiag.StateFinWait2, 0, inetdiag.TimerKeepalive, 50*time.Second
		})), HealthOK, 0},
		{"syn-sent first attempt", one(with(conn(1, inetdiag.StateSynSent), func(s *inetdiag.Socket) {
			s.Timer, s.Expires, s.Info.RTO = inetdiag.TimerRetransmit, 900*time.Millisecond, inetdiag.MicrosOf(time.Second)
		})), HealthOK, 0},
		{"syn-sent retrying", one(with(conn(1, inetdiag.StateSynSent), func(s *inetdiag.Socket) {
			s.Timer, s.Expires, s.Retrans, s.Info.Retransmits, s.Info.RTO = inetdiag.TimerRetransmit, 900*time.Millisecond, 1, 1, inetdiag.MicrosOf(time.Second)
		})), HealthSynSent, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(Config{IdleAfter: idleAfter, CloseWaitAfter: closeWaitAfter})
			var c *Conn
			for _, p := range tt.polls {
				c = tr.Update(PollInput{Time: base.Add(p.after), Socks: []inetdiag.Socket{p.s}}).Conns[0]
			}
			if c.Health != tt.want {
				t.Errorf("health %v, want %v", c.Health, tt.want)
			}
			if want := base.Add(tt.wantSince); tt.want != HealthOK && !c.HealthSince.Time().Equal(want) {
				t.Errorf("health since %v, want %v", c.HealthSince.Time().Sub(base), tt.wantSince)
			}
			if c.Health.Unhealthy() != (tt.want != HealthOK && tt.want != HealthUnguarded) {
				t.Errorf("Unhealthy() = %v for %v", c.Health.Unhealthy(), c.Health)
			}
		})
	}
}

func TestHealthNames(t *testing.T) {
	for h := HealthOK; h < healthCount; h++ {
		got, err := ParseHealth(h.String())
		if err != nil || got != h {
			t.Errorf("ParseHealth(%q) = %v, %v", h.String(), got, err)
		}
	}
	if _, err := ParseHealth("dead"); err == nil {
		t.Error("ParseHealth(dead): no error")
	}
	if s := Health(200).String(); s != "UNKNOWN_200" {
		t.Errorf("Health(200) = %q", s)
	}
}

func TestExposure(t *testing.T) {
	p := DefaultParams()
	rto := 204 * time.Millisecond
	ka := SockOpts{KeepAlive: true, KeepIdle: 60 * time.Second, KeepIntvl: 10 * time.Second, KeepCnt: 5}
	kaUser := ka
	kaUser.UserTimeout = 75 * time.Second
	// userK is the keepalive abort with TCP_USER_TIMEOUT:
	// k = max(1, ceil((U - idle) / intvl)) probes.
	userK := func(o SockOpts) time.Duration {
		k := int64(1)
		if over := o.UserTimeout - o.KeepIdle; over > 0 {
			k = max(1, (int64(over)+int64(o.KeepIntvl)-1)/int64(o.KeepIntvl))
		}
		return o.KeepIdle + time.Duration(k)*o.KeepIntvl
	}
	inFlight := func(s *inetdiag.Socket) {
		s.Timer, s.Expires, s.SendQ, s.Info.Unacked, s.Info.RTO = inetdiag.TimerRetransmit, 150*time.Millisecond, 100, 1, inetdiag.MicrosOf(rto)
	}
	kaTimer := func(s *inetdiag.Socket) { s.Timer, s.Expires = inetdiag.TimerKeepalive, 7000*time.Second }
	tests := []struct {
		name  string
		opts  *SockOpts // read while the connection was flagged earlier
		s     inetdiag.Socket
		want  *Exposure
		state inetdiag.State
	}{
		{name: "data in flight", s: with(conn(1, inetdiag.StateEstablished), inFlight),
			want: &Exposure{After: rto + 924600*time.Millisecond, Reason: ReasonRetries2, Confidence: Assumed}},
		{name: "data in flight, user timeout", opts: &SockOpts{UserTimeout: 30 * time.Second}, s: with(conn(1, inetdiag.StateEstablished), inFlight),
			want: &Exposure{After: rto + 30*time.Second, Reason: ReasonUserTimeout, Confidence: Exact}},
		{name: "data in flight, options without user timeout", opts: &SockOpts{KeepAlive: true}, s: with(conn(1, inetdiag.StateEstablished), inFlight),
			want: &Exposure{After: rto + 924600*time.Millisecond, Reason: ReasonRetries2, Confidence: Exact}},
		{name: "idle with keepalive timer", s: with(idleConn(1, 12*time.Second), kaTimer),
			want: &Exposure{After: 7200*time.Second + 9*75*time.Second - 12*time.Second, Reason: ReasonKeepalive, Confidence: Assumed}},
		{name: "idle, last ACK newer than data", s: with(idleConn(1, 12*time.Second), func(s *inetdiag.Socket) { kaTimer(s); s.Info.LastAckRecv = inetdiag.MillisOf(3 * time.Second) }),
			want: &Exposure{After: 7200*time.Second + 9*75*time.Second - 3*time.Second, Reason: ReasonKeepalive, Confidence: Assumed}},
		{name: "idle with keepalive options", opts: &ka, s: with(idleConn(1, 12*time.Second), kaTimer),
			want: &Exposure{After: 60*time.Second + 5*10*time.Second - 12*time.Second, Reason: ReasonKeepalive, Confidence: Exact}},
		{name: "idle with keepalive and user timeout", opts: &kaUser, s: with(idleConn(1, 12*time.Second), kaTimer),
			want: &Exposure{After: userK(kaUser) - 12*time.Second, Reason: ReasonUserTimeout, Confidence: Exact}},
		{name: "keepalive long overdue", s: with(idleConn(1, 9000*time.Second), kaTimer),
			want: &Exposure{After: 0, Reason: ReasonKeepalive, Confidence: Assumed}},
		{name: "idle without keepalive", s: idleConn(1, 12*time.Second), want: &Exposure{Never: true, Confidence: Assumed}},
		{name: "idle, keepalive off per the socket", opts: &SockOpts{}, s: idleConn(1, 12*time.Second), want: &Exposure{Never: true, Confidence: Exact}},
		// A connection that carried data lately will send again, and its
		// retransmissions will find a dead peer.
		{name: "active, nothing in flight", s: conn(1, inetdiag.StateEstablished),
			want: &Exposure{After: rto + 924600*time.Millisecond, Reason: ReasonRetries2, Confidence: Assumed}},
		{name: "close-wait", s: with(idleConn(1, 12*time.Second), func(s *inetdiag.Socket) { s.State = inetdiag.StateCloseWait }), want: nil},
		{name: "listen", s: conn(1, inetdiag.StateListen), want: nil},
		{name: "fin-wait-1", s: with(conn(1, inetdiag.StateFinWait1), inFlight), want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(Config{Params: p})
			now := base
			if tt.opts != nil {
				// A first poll in which the connection was retransmitting:
				// its options were read then, and are kept.
				o := *tt.opts
				s := with(tt.s, func(s *inetdiag.Socket) {
					s.State = inetdiag.StateEstablished
					s.Timer, s.Retrans, s.Expires, s.SendQ = inetdiag.TimerRetransmit, 1, 300*time.Millisecond, 100
					s.Info.CAState, s.Info.Retransmits, s.Info.Backoff, s.Info.RTO, s.Info.Unacked = caLoss, 1, 1, inetdiag.MicrosOf(408*time.Millisecond), 1
					s.Info.LastDataSent, s.Info.TotalRTO, s.Info.TotalRTORecoveries, s.Info.TotalRTOTime = inetdiag.MillisOf(100*time.Millisecond), 1, 1, inetdiag.MillisOf(100*time.Millisecond)
				})
				c := tr.Update(PollInput{Time: now, Socks: []inetdiag.Socket{s}, Options: optsOf(o)}).Conns[0]
				if c.Health != HealthRetransmitting || !c.Opts().Known {
					t.Fatalf("setup: health %v, options known %v", c.Health, c.Opts().Known)
				}
				now = now.Add(time.Second)
			}
			c := tr.Update(PollInput{Time: now, Socks: []inetdiag.Socket{tt.s}}).Conns[0]
			if c.Prediction != nil {
				t.Fatalf("unexpected prediction %+v", c.Prediction)
			}
			switch {
			case tt.want == nil && c.Exposure != nil:
				t.Errorf("exposure %+v for %v, want none", *c.Exposure, tt.s.State)
			case tt.want != nil && c.Exposure == nil:
				t.Errorf("no exposure, want %+v", *tt.want)
			case tt.want != nil && *c.Exposure != *tt.want:
				t.Errorf("exposure %+v, want %+v", *c.Exposure, *tt.want)
			}
		})
	}
}

// TestNeverExposureShared: the idle connections without keepalive share
// one Exposure (one per confidence) instead of one each, and a connection
// that leaves that state gets a value of its own, leaving the shared one
// as it was.
func TestNeverExposureShared(t *testing.T) {
	tr := NewTracker(Config{Params: DefaultParams()})
	socks := []inetdiag.Socket{idleConn(1, 12*time.Second), idleConn(2, 20*time.Second), idleConn(3, 12*time.Second)}
	p := tr.Update(PollInput{Time: base, Socks: socks})
	a, b, c := p.Conns[0].Exposure, p.Conns[1].Exposure, p.Conns[2].Exposure
	if a == nil || !a.Never || a != b || a != c {
		t.Fatalf("idle connections without keepalive: exposures %p %p %p (%+v), want one shared Never", a, b, c, a)
	}
	socks[0] = conn(1, inetdiag.StateEstablished) // sends again
	p = tr.Update(PollInput{Time: base.Add(time.Second), Socks: socks})
	if e := p.Conns[0].Exposure; e == a || e.Never || e.Reason != ReasonRetries2 {
		t.Errorf("a connection sending again: exposure %p %+v, want its own retries2 value", e, e)
	}
	if p.Conns[1].Exposure != a || *a != (Exposure{Never: true, Confidence: Assumed}) {
		t.Errorf("the shared exposure changed: %+v", *a)
	}
}

// TestExposureOfDying: a connection the kernel is counting down is exposed
// until its predicted abort.
func TestExposureOfDying(t *testing.T) {
	k := kern{hz: 250}
	r := k.simulateRTO(1<<20, rtoSpec{r0: 51, rtoMax: k.j(120000), budgetMs: func(int64) int64 { return 12600 }})
	tj := r.fires[0] + 25
	now := k.at(base, tj)
	_, c := track(t, cfgWith(func(p *Params) { p.Retries2 = 5 }), now, nil, rtoSock(1, inetdiag.StateEstablished, r, tj, inetdiag.TCPInfoLen6_18))
	if c.Prediction == nil || c.Exposure == nil {
		t.Fatalf("prediction %v exposure %v", c.Prediction, c.Exposure)
	}
	if c.Exposure.After != c.Prediction.At.Sub(now) || c.Exposure.Reason != ReasonRetries2 {
		t.Errorf("exposure %+v, want the prediction's %v", *c.Exposure, c.Prediction.At.Sub(now))
	}
}

// dying returns the §4.3 connection 100 ms after its first RTO, and the
// kernel's run.
func dying(cookie uint64) (inetdiag.Socket, rtoRun, time.Time) {
	k := kern{hz: 250}
	r := k.simulateRTO(1<<20, rtoSpec{r0: 51, rtoMax: k.j(120000), budgetMs: func(int64) int64 { return 12600 }})
	tj := r.fires[0] + 25
	return rtoSock(cookie, inetdiag.StateEstablished, r, tj, inetdiag.TCPInfoLen6_18), r, k.at(base, tj)
}

func TestEvents(t *testing.T) {
	cfg := cfgWith(func(p *Params) { p.Retries2 = 5 })
	d, r, t0 := dying(1)
	abort := r.k.at(base, r.fires[r.abort])
	est := conn(2, inetdiag.StateEstablished)
	tw := with(conn(3, inetdiag.StateTimeWait), func(s *inetdiag.Socket) { s.Timer, s.Info = inetdiag.TimerTimeWait, inetdiag.TCPCore{} })
	syn := with(conn(4, inetdiag.StateSynSent), func(s *inetdiag.Socket) {
		s.Timer, s.Info.RTO = inetdiag.TimerRetransmit, inetdiag.MicrosOf(time.Second)
	})
	fw2 := conn(5, inetdiag.StateFinWait2)
	tests := []struct {
		name      string
		first     inetdiag.Socket
		gone      time.Time  // when the poll that misses it runs
		counters  [2]*uint64 // EstabResets at both polls (nil: unknown)
		want      EventKind
		wantPred  bool
		wantState inetdiag.State
	}{
		{"dying, gone inside the window", d, abort.Add(50 * time.Millisecond), [2]*uint64{}, EventAborted, true, inetdiag.StateEstablished},
		{"dying, gone long before the window", d, t0.Add(time.Second), [2]*uint64{}, EventReset, true, inetdiag.StateEstablished},
		{"established, resets counted", est, t0.Add(time.Second), [2]*uint64{ptr(7), ptr(8)}, EventReset, false, inetdiag.StateEstablished},
		{"established, no reset counted", est, t0.Add(time.Second), [2]*uint64{ptr(7), ptr(7)}, EventClosed, false, inetdiag.StateEstablished},
		{"established, counters unknown", est, t0.Add(time.Second), [2]*uint64{}, EventReset, false, inetdiag.StateEstablished},
		{"time-wait", tw, t0.Add(time.Second), [2]*uint64{ptr(7), ptr(8)}, EventClosed, false, inetdiag.StateTimeWait},
		{"fin-wait-2", fw2, t0.Add(time.Second), [2]*uint64{}, EventClosed, false, inetdiag.StateFinWait2},
		{"syn-sent", syn, t0.Add(time.Second), [2]*uint64{}, EventReset, false, inetdiag.StateSynSent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(cfg)
			in := PollInput{Time: t0, Socks: []inetdiag.Socket{tt.first}}
			if tt.counters[0] != nil {
				in.Counters = &Counters{EstabResets: *tt.counters[0]}
			}
			c := tr.Update(in).Conns[0]
			pred := c.Prediction
			in = PollInput{Time: tt.gone}
			if tt.counters[1] != nil {
				in.Counters = &Counters{EstabResets: *tt.counters[1]}
			}
			poll := tr.Update(in)
			if len(poll.Events) != 1 {
				t.Fatalf("%d events, want 1: %+v", len(poll.Events), poll.Events)
			}
			e := poll.Events[0]
			if e.Kind != tt.want {
				t.Errorf("event %v, want %v", e.Kind, tt.want)
			}
			if (e.Predicted != nil) != tt.wantPred || (tt.wantPred && e.Predicted != pred) {
				t.Errorf("event prediction %p, want the connection's %p: %v", e.Predicted, pred, tt.wantPred)
			}
			if e.State != tt.wantState || e.ID.Cookie != tt.first.ID.Cookie || e.ID.Local != tt.first.ID.Src || e.ID.Remote != tt.first.ID.Dst || !e.LastSeen.Equal(t0) || !e.Time.Equal(tt.gone) {
				t.Errorf("event %+v does not describe the connection", e)
			}
			if tr.Len() != 0 {
				t.Errorf("%d connections still tracked", tr.Len())
			}
			if got := tr.Events(); len(got) != 1 || got[0].Kind != tt.want {
				t.Errorf("Events() = %+v", got)
			}
		})
	}
}

func ptr(v uint64) *uint64 { return &v }

func TestRecovered(t *testing.T) {
	d, _, t0 := dying(1)
	healthy := func() inetdiag.Socket {
		return with(conn(1, inetdiag.StateEstablished), func(s *inetdiag.Socket) {
			s.Info.TotalRTO, s.Info.TotalRTORecoveries, s.Info.TotalRTOTime = 2, 1, inetdiag.MillisOf(900*time.Millisecond)
		})
	}
	tr := NewTracker(cfgWith(func(p *Params) { p.Retries2 = 5 }))
	var events []Event
	polls := [][]inetdiag.Socket{{d}, {healthy()}, {healthy()}, {healthy()}}
	for i, socks := range polls {
		poll := tr.Update(PollInput{Time: t0.Add(time.Duration(i) * time.Second), Socks: socks})
		events = append(events, poll.Events...)
		if i == 0 && poll.Conns[0].Health != HealthRetransmitting {
			t.Fatalf("setup: health %v", poll.Conns[0].Health)
		}
		if i > 0 && (poll.Conns[0].Health != HealthOK || poll.Conns[0].Prediction != nil) {
			t.Errorf("poll %d: health %v prediction %v, want ok and none", i, poll.Conns[0].Health, poll.Conns[0].Prediction)
		}
	}
	if len(events) != 1 || events[0].Kind != EventRecovered || events[0].Health != HealthRetransmitting || !events[0].Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("events %+v, want one recovered at the second poll", events)
	}
}

func TestDuplicateCookie(t *testing.T) {
	a := conn(1, inetdiag.StateEstablished)
	b := with(conn(1, inetdiag.StateCloseWait), func(s *inetdiag.Socket) { s.Info.LastAckRecv = inetdiag.MillisOf(time.Hour) })
	tr := NewTracker(Config{})
	socks := []inetdiag.Socket{a, b, conn(2, inetdiag.StateEstablished)}
	poll := tr.Update(PollInput{Time: base, Socks: socks})
	if len(poll.Conns) != 2 || tr.Len() != 2 {
		t.Fatalf("%d connections in the poll, %d tracked, want 2", len(poll.Conns), tr.Len())
	}
	if poll.Conns[0].Sock != &socks[0] || poll.Conns[0].Health != HealthOK {
		t.Errorf("the duplicate replaced the first sample: %v %v", poll.Conns[0].Sock.State, poll.Conns[0].Health)
	}
	if len(poll.Events) != 0 {
		t.Errorf("events %+v", poll.Events)
	}
}

func TestStateSince(t *testing.T) {
	tr := NewTracker(Config{})
	tr.Update(PollInput{Time: base, Socks: []inetdiag.Socket{conn(1, inetdiag.StateEstablished)}})
	tr.Update(PollInput{Time: base.Add(time.Second), Socks: []inetdiag.Socket{conn(1, inetdiag.StateEstablished)}})
	c := tr.Update(PollInput{Time: base.Add(2 * time.Second), Socks: []inetdiag.Socket{conn(1, inetdiag.StateFinWait1)}}).Conns[0]
	if !c.FirstSeen.Time().Equal(base) || !c.StateSince.Time().Equal(base.Add(2*time.Second)) || !c.LastSeen.Time().Equal(base.Add(2*time.Second)) {
		t.Errorf("first %v state since %v last %v", c.FirstSeen, c.StateSince, c.LastSeen)
	}
}

// TestChurn: memory stays bounded when every poll brings new connections
// and the previous ones vanish.
func TestChurn(t *testing.T) {
	const polls, per = 200, 1000
	tr := NewTracker(Config{})
	limit := 1000 // the default EventLimit
	socks := make([][]inetdiag.Socket, 2)
	for p := 0; p < polls; p++ {
		buf := socks[p%2][:0]
		for i := 0; i < per; i++ {
			cookie := uint64(p*per + i + 1)
			buf = append(buf, conn(cookie, inetdiag.StateEstablished))
		}
		socks[p%2] = buf
		poll := tr.Update(PollInput{Time: base.Add(time.Duration(p) * time.Second), Socks: buf})
		if tr.Len() > per {
			t.Fatalf("poll %d: %d connections tracked, more than one poll's %d", p, tr.Len(), per)
		}
		if p > 0 && len(poll.Events) != per {
			t.Fatalf("poll %d: %d events, want %d", p, len(poll.Events), per)
		}
		if n := len(tr.Events()); n > limit {
			t.Fatalf("poll %d: %d events kept, more than %d", p, n, limit)
		}
	}
	// The newest are kept: those of the last poll, about the connections
	// of the poll before.
	ev := tr.Events()
	if len(ev) != limit {
		t.Fatalf("%d events kept, want %d", len(ev), limit)
	}
	lastPoll := base.Add(time.Duration(polls-1) * time.Second)
	for _, e := range ev {
		if !e.Time.Equal(lastPoll) || e.ID.Cookie <= uint64((polls-2)*per) || e.ID.Cookie > uint64((polls-1)*per) {
			t.Fatalf("event at %v for cookie %d kept, want only the last poll's", e.Time.Sub(base), e.ID.Cookie)
		}
	}
}

func TestEventLimit(t *testing.T) {
	tr := NewTracker(Config{EventLimit: 5})
	for p := 0; p < 10; p++ {
		tr.Update(PollInput{Time: base.Add(time.Duration(p) * time.Second), Socks: []inetdiag.Socket{conn(uint64(p+1), inetdiag.StateTimeWait)}})
		if n, want := len(tr.Events()), min(p, 5); n != want {
			t.Errorf("after poll %d: %d events kept, want %d", p, n, want)
		}
	}
	ev := tr.Events()
	if len(ev) != 5 {
		t.Fatalf("%d events kept, want 5", len(ev))
	}
	for i, e := range ev {
		// Cookies 1..9 vanished at polls 1..9; the newest 5 are 5..9.
		if want := uint64(5 + i); e.ID.Cookie != want {
			t.Errorf("event %d for cookie %d, want %d (oldest first)", i, e.ID.Cookie, want)
		}
	}
}

func TestHistory(t *testing.T) {
	const historyLen = 10
	k := kern{hz: 250}
	r := k.simulateRTO(1<<20, rtoSpec{r0: 51, rtoMax: k.j(120000), budgetMs: func(int64) int64 { return 924600 }})
	tr := NewTracker(Config{HistoryLen: historyLen})
	var c *Conn
	var last time.Time
	for i := 0; i < 50; i++ {
		tj := r.fires[0] + 1 + int64(i)*25
		last = k.at(base, tj)
		c = tr.Update(PollInput{Time: last, Socks: []inetdiag.Socket{rtoSock(1, inetdiag.StateEstablished, r, tj, inetdiag.TCPInfoLen6_18)}}).Conns[0]
		if len(c.History) > historyLen {
			t.Fatalf("poll %d: history of %d samples, want at most %d", i, len(c.History), historyLen)
		}
	}
	if len(c.History) != historyLen || !c.History[historyLen-1].T.Equal(last) {
		t.Errorf("history of %d samples ending at %v, want %d ending at the last poll", len(c.History), c.History[len(c.History)-1].T, historyLen)
	}
	for i := 1; i < len(c.History); i++ {
		if !c.History[i].T.After(c.History[i-1].T) {
			t.Errorf("history not in time order at %d", i)
		}
	}
	// A healthy connection keeps no history.
	h := tr.Update(PollInput{Time: last.Add(time.Second), Socks: []inetdiag.Socket{conn(2, inetdiag.StateEstablished)}}).Conns[0]
	if len(h.History) != 0 {
		t.Errorf("healthy connection has %d samples of history", len(h.History))
	}
}

// TestRemaining: the countdown is a function of time alone.
func TestRemaining(t *testing.T) {
	d, _, t0 := dying(1)
	_, c := track(t, cfgWith(func(p *Params) { p.Retries2 = 5 }), t0, nil, d)
	p := c.Prediction
	if p == nil {
		t.Fatal("no prediction")
	}
	r0 := p.Remaining(t0)
	for _, dt := range []time.Duration{0, time.Millisecond, 1500 * time.Millisecond, 12 * time.Second, time.Minute} {
		t.Run(fmt.Sprint(dt), func(t *testing.T) {
			if got := p.Remaining(t0.Add(dt)); got != r0-dt {
				t.Errorf("Remaining after %v = %v, want %v", dt, got, r0-dt)
			}
		})
	}
	if r0 <= 0 || !p.Made.Equal(t0) {
		t.Errorf("remaining %v at the sample, made %v", r0, p.Made)
	}
}

// TestUncertainty: the sample time's uncertainty widens every window.
func TestUncertainty(t *testing.T) {
	d, _, t0 := dying(1)
	cfg := cfgWith(func(p *Params) { p.Retries2 = 5 })
	_, c0 := track(t, cfg, t0, nil, d)
	tr := NewTracker(cfg)
	u := 30 * time.Millisecond
	c1 := tr.Update(PollInput{Time: t0, Uncertainty: u, Socks: []inetdiag.Socket{d}}).Conns[0]
	p0, p1 := c0.Prediction, c1.Prediction
	if !p1.Earliest.Equal(p0.Earliest.Add(-u)) || !p1.Latest.Equal(p0.Latest.Add(u)) || !p1.At.Equal(p0.At) {
		t.Errorf("window [%v, %v] at %v with uncertainty %v, without [%v, %v] at %v", p1.Earliest, p1.Latest, p1.At, u, p0.Earliest, p0.Latest, p0.At)
	}
	checkInvariants(t, p1, t0)
}
