package model

import (
	"fmt"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// kaSock is the diag view at jiffy t of an idle connection whose keepalive
// timer fired at fires (probes outstanding after each), the last segment
// received at lastRx.
func kaSock(k kern, lastRx int64, spec kaSpec, fires []int64, probes []int, t int64) inetdiag.Socket {
	i := 0
	for i+1 < len(fires) && fires[i+1] <= t {
		i++
	}
	s := conn(1, inetdiag.StateEstablished)
	s.Timer, s.Retrans, s.Expires = inetdiag.TimerKeepalive, uint8(probes[i]), k.dur(fires[i]+spec.intvl-t)
	in := &s.Info
	in.Probes = uint8(probes[i])
	in.LastDataRecv, in.LastAckRecv, in.LastDataSent = inetdiag.MillisOf(k.dur(t-lastRx)), inetdiag.MillisOf(k.dur(t-lastRx)), inetdiag.MillisOf(k.dur(t-lastRx)+time.Second)
	return s
}

func TestKeepalivePrediction(t *testing.T) {
	k := kern{hz: 250}
	opts := func(u time.Duration) OptionSource {
		return optsOf(SockOpts{KeepAlive: true, KeepIdle: 2 * time.Second, KeepIntvl: time.Second, KeepCnt: 3, UserTimeout: u})
	}
	tests := []struct {
		name       string
		spec       kaSpec
		opts       OptionSource
		wantReason Reason
		wantCount  int // probes sent before the abort
		wantBudget time.Duration
	}{
		// The crash lab's setting: idle 2 s, interval 1 s, 3 probes.
		{"cnt 3", kaSpec{idle: 500, intvl: 250, cnt: 3}, opts(0), ReasonKeepalive, 3, 5 * time.Second},
		// With TCP_USER_TIMEOUT the count is ignored: abort at the first
		// expiry U after the last segment with a probe outstanding.
		{"user timeout 3.5s", kaSpec{idle: 500, intvl: 250, cnt: 3, userMs: 3500}, opts(3500 * time.Millisecond), ReasonUserTimeout, 2, 3500 * time.Millisecond},
		{"user timeout 10s beyond cnt", kaSpec{idle: 500, intvl: 250, cnt: 3, userMs: 10000}, opts(10 * time.Second), ReasonUserTimeout, 8, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for ph := int64(0); ph < 64; ph++ {
				lastRx := int64(1<<20) + ph
				fires, probes := k.simulateKeepalive(lastRx, tt.spec)
				if probes[len(probes)-1] != tt.wantCount {
					t.Fatalf("reference: %d probes before the abort, want %d", probes[len(probes)-1], tt.wantCount)
				}
				// 72 ms after the second probe.
				tj := fires[1] + 18
				if probes[1] != 2 {
					t.Fatalf("reference: %d probes at the second firing", probes[1])
				}
				s := kaSock(k, lastRx, tt.spec, fires, probes, tj)
				now, L, abort := k.at(base, tj), k.at(base, lastRx), k.at(base, fires[len(fires)-1])
				_, c := track(t, Config{}, now, tt.opts, s)
				if c.Health != HealthKeepaliveProbing {
					t.Fatalf("phase %d: health %v, want keepalive-probing", ph, c.Health)
				}
				p := c.Prediction
				if p == nil {
					t.Fatalf("phase %d: no prediction", ph)
				}
				checkInvariants(t, p, now)
				if p.Reason != tt.wantReason || p.Count != tt.wantCount || p.Budget != tt.wantBudget || p.Confidence != Exact {
					t.Errorf("phase %d: reason %v count %d budget %v confidence %v, want %v %d %v exact", ph, p.Reason, p.Count, p.Budget, p.Confidence, tt.wantReason, tt.wantCount, tt.wantBudget)
				}
				if !p.Clock.Equal(L) {
					t.Errorf("phase %d: clock %s, want the last segment received", ph, rel(p.Clock, L))
				}
				if !contains(p.Earliest, p.Latest, abort) {
					t.Errorf("phase %d: window [%s, %s] misses the abort at %s (times after the last RX)", ph, rel(p.Earliest, L), rel(p.Latest, L), rel(abort, L))
				}
				if w := p.Latest.Sub(p.Earliest); w > 100*time.Millisecond {
					t.Errorf("phase %d: window %v wide", ph, w)
				}
			}
		})
	}
}

// TestKeepaliveOneProbe: one probe outstanding proves nothing on a single
// snapshot (a live peer answers within a round trip); on two polls at
// least 200 ms apart it does.
func TestKeepaliveOneProbe(t *testing.T) {
	one := func() inetdiag.Socket {
		s := conn(1, inetdiag.StateEstablished)
		s.Timer, s.Retrans, s.Expires = inetdiag.TimerKeepalive, 1, 40*time.Second
		s.Info.Probes = 1
		s.Info.LastDataRecv, s.Info.LastAckRecv, s.Info.LastDataSent = inetdiag.MillisOf(7235*time.Second), inetdiag.MillisOf(7235*time.Second), inetdiag.MillisOf(7235*time.Second)
		return s
	}
	tests := []struct {
		name  string
		gaps  []time.Duration // between polls
		want  Health
		wantP bool
	}{
		{"single snapshot", nil, HealthOK, false},
		{"two polls 250 ms apart", []time.Duration{250 * time.Millisecond}, HealthKeepaliveProbing, true},
		{"three polls 100 ms apart", []time.Duration{100 * time.Millisecond, 100 * time.Millisecond}, HealthKeepaliveProbing, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(Config{})
			now := base
			var c *Conn
			for i := 0; i <= len(tt.gaps); i++ {
				if i > 0 {
					now = now.Add(tt.gaps[i-1])
				}
				s := one()
				s.Expires -= now.Sub(base)
				s.Info.LastDataRecv = inetdiag.MillisOf(s.Info.LastDataRecv.Duration() + now.Sub(base))
				s.Info.LastAckRecv = inetdiag.MillisOf(s.Info.LastAckRecv.Duration() + now.Sub(base))
				c = tr.Update(PollInput{Time: now, Socks: []inetdiag.Socket{s}}).Conns[0]
			}
			if c.Health != tt.want {
				t.Errorf("health %v, want %v", c.Health, tt.want)
			}
			if (c.Prediction != nil) != tt.wantP {
				t.Errorf("prediction %v, want one: %v", c.Prediction, tt.wantP)
			}
			if c.Prediction != nil {
				checkInvariants(t, c.Prediction, now)
				if c.Prediction.Reason != ReasonKeepalive || c.Prediction.Confidence != Assumed {
					t.Errorf("reason %v confidence %v, want keepalive, assumed", c.Prediction.Reason, c.Prediction.Confidence)
				}
			}
		})
	}
}

func TestZeroWindow(t *testing.T) {
	k := kern{hz: 250}
	const retries2 = 5
	cfg := cfgWith(func(p *Params) { p.Retries2 = retries2 })
	rto := int64(51)
	for _, probes := range []int{0, 1, 2, 3, 4} {
		t.Run(fmt.Sprintf("probes=%d", probes), func(t *testing.T) {
			for ph := int64(0); ph < 64; ph++ {
				// The previous probe fired on a multiple of the granularity
				// of the interval before it.
				backoff := probes
				prevInterval := min(max(rto, 50)<<max(backoff-1, 0), k.j(120000))
				prev := int64(1<<20) + ph*k.gran(prevInterval)
				when := min(max(rto, 50)<<backoff, k.j(120000))
				tj := prev + 5
				s := conn(1, inetdiag.StateEstablished)
				s.Timer, s.Retrans, s.Expires, s.SendQ = inetdiag.TimerProbe0, uint8(probes), k.dur(prev+when-tj), 4096
				s.Info.Probes, s.Info.Backoff, s.Info.RTO = uint8(probes), uint8(backoff), inetdiag.MicrosOf(k.dur(rto))
				s.Info.SndWnd = 0
				s.Info.LastAckRecv = inetdiag.MillisOf(3 * time.Second)
				now := k.at(base, tj)
				_, c := track(t, cfg, now, nil, s)
				if c.Health != HealthZeroWindow {
					t.Fatalf("health %v, want zero-window", c.Health)
				}
				p := c.Prediction
				if probes < 2 {
					// A live receiver answers probes (rate-limited): one
					// outstanding probe proves nothing.
					if p != nil {
						t.Fatalf("prediction for %d probes outstanding, want none", probes)
					}
					return
				}
				if p == nil {
					t.Fatal("no prediction")
				}
				checkInvariants(t, p, now)
				fires := k.simulateProbe0(prev, probes, backoff, rto, k.j(120000), retries2, retries2)
				abort := k.at(base, fires[len(fires)-1])
				if p.Reason != ReasonZeroWindowProbes || p.Count != retries2 {
					t.Errorf("reason %v count %d, want zero_window_probes %d", p.Reason, p.Count, retries2)
				}
				if got, want := len(p.Schedule), retries2-probes+1; got != want {
					t.Errorf("schedule of %d entries, want %d probes and the abort", got, want-1)
				}
				if !contains(p.Earliest, p.Latest, abort) {
					t.Errorf("phase %d: window [%s, %s] misses the abort at %s", ph, rel(p.Earliest, now), rel(p.Latest, now), rel(abort, now))
				}
				if w := p.Latest.Sub(p.Earliest); w > 500*time.Millisecond {
					t.Errorf("window %v wide", w)
				}
			}
		})
	}
}

// synSock is the diag view at jiffy t of a connection attempt.
func synSock(r rtoRun, t int64, linear int) inetdiag.Socket {
	k := r.k
	n := 0
	for n < r.abort && r.fires[n] <= t {
		n++
	}
	s := conn(1, inetdiag.StateSynSent)
	s.Timer, s.Retrans, s.Expires, s.SendQ = inetdiag.TimerRetransmit, uint8(n), k.dur(r.fires[n-1]+r.armed[n-1]-t), 0
	in := &s.Info
	in.CAState, in.Retransmits, in.Backoff, in.RTO = caLoss, uint8(n), uint8(max(0, n-linear)), inetdiag.MicrosOf(k.dur(r.rto[n]))
	in.Unacked, in.LastDataSent, in.LastDataRecv, in.LastAckRecv = 1, 0, 0, 0
	in.TotalRTO, in.TotalRTORecoveries = uint16(n), 1
	return s
}

func TestSynSent(t *testing.T) {
	k := kern{hz: 250}
	sec := k.j(1000)
	tests := []struct {
		name      string
		params    func(p *Params)
		opts      OptionSource
		retries   int
		wantCount int
		nominal   time.Duration // the abort without lateness
		userMs    int64
		reason    Reason
	}{
		// Firings at 1,2,3,4,5,7,11,19,35,67 s, abort at 131 s.
		{"defaults", nil, nil, 6, 10, 131 * time.Second, 0, ReasonSynRetries},
		// tcp_model_timeout(2, 1 s) = 7 s comes before the count (6).
		{"syn_retries=2", func(p *Params) { p.SynRetries = 2 }, nil, 2, 5, 7 * time.Second, 0, ReasonSynRetries},
		{"TCP_SYNCNT=2", nil, optsOf(SockOpts{SynCnt: 2}), 2, 5, 7 * time.Second, 0, ReasonSynRetries},
		{"no linear timeouts", func(p *Params) { p.SynLinearTimeouts = 0 }, nil, 6, 6, 127 * time.Second, 0, ReasonSynRetries},
		// TCP_USER_TIMEOUT applies from the SYN, and clamps the timer.
		{"TCP_USER_TIMEOUT=3.5s", nil, optsOf(SockOpts{UserTimeout: 3500 * time.Millisecond}), 6, 3, 3500 * time.Millisecond, 3500, ReasonUserTimeout},
		// A user timeout later than the count changes nothing.
		{"TCP_USER_TIMEOUT=300s", nil, optsOf(SockOpts{UserTimeout: 300 * time.Second}), 6, 10, 131 * time.Second, 300000, ReasonSynRetries},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cfgWith(tt.params)
			linear := cfg.Params.SynLinearTimeouts
			spec := rtoSpec{r0: sec, rtoMax: k.j(120000), syn: true, synMaxRetr: tt.retries + linear, synLinear: linear, userMs: tt.userMs,
				synBudgetMs: k.refModelTimeoutMs(uint(tt.retries), sec, k.j(120000))}
			for ph := int64(0); ph < 64; ph++ {
				syn := int64(1<<20) + ph
				r := k.simulateRTO(syn, spec)
				if r.abort != tt.wantCount {
					t.Fatalf("reference: %d SYN retransmissions, want %d", r.abort, tt.wantCount)
				}
				if late := k.dur(r.fires[r.abort]-syn) - tt.nominal; late < 0 || late > 5*time.Second {
					t.Fatalf("reference: abort %v after the SYN, want %v + lateness", k.dur(r.fires[r.abort]-syn), tt.nominal)
				}
				// Just after the 3rd firing (and the 1st, 2nd and 5th, as a
				// poller sees them).
				for _, i := range []int{2, 0, 1, 4} {
					if i >= r.abort {
						continue
					}
					tj := r.fires[i] + 2
					now, SYN, abort := k.at(base, tj), k.at(base, syn), k.at(base, r.fires[r.abort])
					_, c := track(t, cfg, now, tt.opts, synSock(r, tj, linear))
					if c.Health != HealthSynSent {
						t.Fatalf("health %v, want syn-sent", c.Health)
					}
					p := c.Prediction
					if p == nil {
						t.Fatal("no prediction")
					}
					checkInvariants(t, p, now)
					if p.Reason != tt.reason || p.Count != tt.wantCount {
						t.Errorf("phase %d firing %d: reason %v count %d, want %v %d", ph, i+1, p.Reason, p.Count, tt.reason, tt.wantCount)
					}
					if !contains(p.ClockEarliest, p.ClockLatest, SYN) {
						t.Errorf("phase %d firing %d: clock [%s, %s] misses the SYN", ph, i+1, rel(p.ClockEarliest, SYN), rel(p.ClockLatest, SYN))
					}
					if !contains(p.Earliest, p.Latest, abort) {
						t.Errorf("phase %d firing %d: window [%s, %s] misses the abort at %s (after the SYN)", ph, i+1, rel(p.Earliest, SYN), rel(p.Latest, SYN), rel(abort, SYN))
					}
					if w := p.Latest.Sub(p.Earliest); w > 3*time.Second {
						t.Errorf("phase %d: window %v wide", ph, w)
					}
				}
			}
		})
	}
}
