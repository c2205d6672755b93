package model

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// phases is how many phases of the jiffy counter the kernel's outcome is
// computed for: a multiple of every wheel granularity an RTO of at most
// 120 s can use at HZ=250 (512 jiffies).
const phases = 512

// slackMax is how much wider than the set of the kernel's outcomes a
// window may be (jiffy rounding of what inet_diag reports, the start of
// the clock known to a jiffy or two).
const slackMax = 100 * time.Millisecond

// outcomes runs the episode for every phase of S and returns the range of
// abort instants after S and the number of retransmissions (which must
// not depend on the phase for the cases tested).
func outcomes(t *testing.T, k kern, spec rtoSpec) (lo, hi time.Duration, count int, runs []rtoRun) {
	t.Helper()
	lo, hi, counts, runs := outcomesAll(t, k, spec)
	if len(counts) != 1 {
		t.Fatalf("reference: retransmission counts %v depend on the phase: the case is bimodal", counts)
	}
	for c := range counts {
		count = c
	}
	return lo, hi, count, runs
}

// outcomesAll is outcomes for a case that may be bimodal: counts holds
// every number of retransmissions seen.
func outcomesAll(t *testing.T, k kern, spec rtoSpec) (lo, hi time.Duration, counts map[int]bool, runs []rtoRun) {
	t.Helper()
	counts = map[int]bool{}
	for ph := int64(0); ph < phases; ph++ {
		r := k.simulateRTO(1<<20+ph, spec)
		if r.abort < 0 {
			t.Fatalf("reference: no abort for phase %d", ph)
		}
		off := k.dur(r.fires[r.abort] - r.fires[0])
		if ph == 0 || off < lo {
			lo = off
		}
		if ph == 0 || off > hi {
			hi = off
		}
		counts[r.retransmitted()] = true
		runs = append(runs, r)
	}
	return lo, hi, counts, runs
}

func TestRTOPrediction(t *testing.T) {
	k := kern{hz: 250}
	rtoMin := k.j(200)
	retries2 := func(n uint, rtoMaxJ int64) func(int64) int64 {
		return func(int64) int64 { return k.refModelTimeoutMs(n, rtoMin, rtoMaxJ) }
	}
	// tcp_orphan_retries(sk, alive) with alive = icsk_rto < rto_max.
	orphan := func(sysctl uint, rtoMaxJ int64) func(int64) int64 {
		return func(rto int64) int64 {
			n := sysctl
			if n == 0 && rto < rtoMaxJ {
				n = 8
			}
			return k.refModelTimeoutMs(n, rtoMin, rtoMaxJ)
		}
	}
	tests := []struct {
		name       string
		params     func(p *Params)
		spec       rtoSpec
		state      inetdiag.State
		inode0     bool
		opts       OptionSource
		wantReason Reason
		wantHealth Health
		wantConf   Confidence
		wantBudget time.Duration
		maxWidth   time.Duration
		// measured are abort instants after S seen on a real kernel.
		measured []time.Duration
	}{
		{
			// Kernel notes §4.3: loopback, HZ=250, R0=204 ms, one segment.
			// Measured: tcpi_total_rto_time 13105 ms at the abort; the crash
			// lab saw aborts 13.3 and 13.5 s after the send with S ≈ send +
			// 0.415 s.
			name:       "retries2=5 R0=204ms",
			params:     func(p *Params) { p.Retries2 = 5 },
			spec:       rtoSpec{r0: 51, rtoMax: k.j(120000), budgetMs: retries2(5, k.j(120000))},
			state:      inetdiag.StateEstablished,
			wantReason: ReasonRetries2, wantHealth: HealthRetransmitting, wantConf: Assumed,
			wantBudget: 12600 * time.Millisecond,
			maxWidth:   time.Second,
			measured:   []time.Duration{13105 * time.Millisecond, 13300*time.Millisecond - 415*time.Millisecond, 13500*time.Millisecond - 415*time.Millisecond},
		},
		{
			// §4.3: the 16th firing is nominally 0.2 s short of 924.6 s; the
			// lateness of the backed-off timers makes it abort there.
			name:       "retries2=15 R0=200ms",
			spec:       rtoSpec{r0: 50, rtoMax: k.j(120000), budgetMs: retries2(15, k.j(120000))},
			state:      inetdiag.StateEstablished,
			wantReason: ReasonRetries2, wantHealth: HealthRetransmitting, wantConf: Assumed,
			wantBudget: 924600 * time.Millisecond,
			maxWidth:   3 * time.Second,
		},
		{
			name:       "retries2=15 CLOSE_WAIT",
			spec:       rtoSpec{r0: 51, rtoMax: k.j(120000), budgetMs: retries2(15, k.j(120000))},
			state:      inetdiag.StateCloseWait,
			wantReason: ReasonRetries2, wantHealth: HealthRetransmitting, wantConf: Assumed,
			wantBudget: 924600 * time.Millisecond,
			maxWidth:   3 * time.Second,
		},
		{
			// The knee moves to ilog2(1000/200) = 2: 1.4 s + 7 × 1 s.
			name:       "retries2=9 rto_max=1s",
			params:     func(p *Params) { p.Retries2, p.RTOMax = 9, time.Second },
			spec:       rtoSpec{r0: 51, rtoMax: k.j(1000), budgetMs: retries2(9, k.j(1000))},
			state:      inetdiag.StateEstablished,
			wantReason: ReasonRetries2, wantHealth: HealthRetransmitting, wantConf: Assumed,
			wantBudget: 8400 * time.Millisecond,
			maxWidth:   time.Second,
		},
		{
			// Measured: U=3000 → abort at S+3.004 s.
			name:       "TCP_USER_TIMEOUT=3s",
			params:     func(p *Params) { p.Retries2 = 5 },
			spec:       rtoSpec{r0: 51, rtoMax: k.j(120000), userMs: 3000},
			state:      inetdiag.StateEstablished,
			opts:       optsOf(SockOpts{UserTimeout: 3 * time.Second}),
			wantReason: ReasonUserTimeout, wantHealth: HealthRetransmitting, wantConf: Exact,
			wantBudget: 3 * time.Second,
			maxWidth:   100 * time.Millisecond,
			measured:   []time.Duration{3004 * time.Millisecond},
		},
		{
			// The crash lab: U=4000 → abort 4.4 s after the send (S ≈ send +
			// 0.415 s). The clamped timer is on wheel level 1 here.
			name:       "TCP_USER_TIMEOUT=4s",
			params:     func(p *Params) { p.Retries2 = 5 },
			spec:       rtoSpec{r0: 51, rtoMax: k.j(120000), userMs: 4000},
			state:      inetdiag.StateEstablished,
			opts:       optsOf(SockOpts{UserTimeout: 4 * time.Second}),
			wantReason: ReasonUserTimeout, wantHealth: HealthRetransmitting, wantConf: Exact,
			wantBudget: 4 * time.Second,
			maxWidth:   100 * time.Millisecond,
		},
		{
			name:       "TCP_USER_TIMEOUT=40s beyond retries2",
			params:     func(p *Params) { p.Retries2 = 5 },
			spec:       rtoSpec{r0: 51, rtoMax: k.j(120000), userMs: 40000},
			state:      inetdiag.StateEstablished,
			opts:       optsOf(SockOpts{UserTimeout: 40 * time.Second}),
			wantReason: ReasonUserTimeout, wantHealth: HealthRetransmitting, wantConf: Exact,
			wantBudget: 40 * time.Second,
			maxWidth:   time.Second,
		},
		{
			name:       "options known without user timeout",
			params:     func(p *Params) { p.Retries2 = 5 },
			spec:       rtoSpec{r0: 51, rtoMax: k.j(120000), budgetMs: retries2(5, k.j(120000))},
			state:      inetdiag.StateEstablished,
			opts:       optsOf(SockOpts{KeepAlive: true}),
			wantReason: ReasonRetries2, wantHealth: HealthRetransmitting, wantConf: Exact,
			wantBudget: 12600 * time.Millisecond,
			maxWidth:   time.Second,
		},
		{
			// tcp_orphan_retries=0 means 8 while the RTO is below rto_max:
			// 102.2 s.
			name:       "orphan FIN_WAIT1",
			spec:       rtoSpec{r0: 50, rtoMax: k.j(120000), budgetMs: orphan(0, k.j(120000))},
			state:      inetdiag.StateFinWait1,
			inode0:     true,
			opts:       optsOf(SockOpts{UserTimeout: time.Second}), // never asked: orphans have no owner
			wantReason: ReasonOrphanRetries, wantHealth: HealthOrphanRetrying, wantConf: Assumed,
			wantBudget: 102200 * time.Millisecond,
			maxWidth:   2500 * time.Millisecond,
		},
		{
			// Once the RTO reaches rto_max the orphan is no longer "alive":
			// retries 0, a 200 ms budget, abort at that firing.
			name:       "orphan rto_max=1s",
			params:     func(p *Params) { p.RTOMax = time.Second },
			spec:       rtoSpec{r0: 50, rtoMax: k.j(1000), budgetMs: orphan(0, k.j(1000))},
			state:      inetdiag.StateFinWait1,
			inode0:     true,
			wantReason: ReasonOrphanRetries, wantHealth: HealthOrphanRetrying, wantConf: Assumed,
			wantBudget: 200 * time.Millisecond,
			maxWidth:   time.Second,
		},
		{
			name:       "orphan retries 2 LAST_ACK",
			params:     func(p *Params) { p.OrphanRetries = 2 },
			spec:       rtoSpec{r0: 51, rtoMax: k.j(120000), budgetMs: orphan(2, k.j(120000))},
			state:      inetdiag.StateLastAck,
			inode0:     true,
			wantReason: ReasonOrphanRetries, wantHealth: HealthOrphanRetrying, wantConf: Assumed,
			wantBudget: 1400 * time.Millisecond,
			maxWidth:   time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, hi, count, runs := outcomes(t, k, tt.spec)
			// A sample 100 ms after the first RTO: the same for every phase.
			at := func(r rtoRun) int64 { return r.fires[0] + 25 }
			s := rtoSock(1, tt.state, runs[0], at(runs[0]), inetdiag.TCPInfoLen6_18)
			for _, r := range runs[1:] {
				o := rtoSock(1, tt.state, r, at(r), inetdiag.TCPInfoLen6_18)
				if !reflect.DeepEqual(o, s) {
					t.Fatalf("the sample depends on the phase")
				}
			}
			if tt.inode0 {
				s.Inode = 0
			}
			S := k.at(base, runs[0].fires[0])
			now := k.at(base, at(runs[0]))
			_, c := track(t, cfgWith(tt.params), now, tt.opts, s)
			p := c.Prediction
			if c.Health != tt.wantHealth {
				t.Errorf("health %v, want %v", c.Health, tt.wantHealth)
			}
			if p == nil {
				t.Fatalf("no prediction")
			}
			checkInvariants(t, p, now)
			if p.Reason != tt.wantReason {
				t.Errorf("reason %v, want %v", p.Reason, tt.wantReason)
			}
			if p.Confidence != tt.wantConf {
				t.Errorf("confidence %v, want %v", p.Confidence, tt.wantConf)
			}
			if p.Budget != tt.wantBudget {
				t.Errorf("budget %v, want %v", p.Budget, tt.wantBudget)
			}
			if p.Count != count {
				t.Errorf("count %d, want %d retransmissions (kernel rules)", p.Count, count)
			}
			if !contains(p.ClockEarliest, p.ClockLatest, S) {
				t.Errorf("clock window [%s, %s] misses S", rel(p.ClockEarliest, S), rel(p.ClockLatest, S))
			}
			// Every outcome the kernel can produce lies in the window.
			if !contains(p.Earliest, p.Latest, S.Add(lo)) || !contains(p.Earliest, p.Latest, S.Add(hi)) {
				t.Errorf("window [%s, %s] does not contain the kernel's aborts [%s, %s]", rel(p.Earliest, S), rel(p.Latest, S), rel(S.Add(lo), S), rel(S.Add(hi), S))
			}
			for _, m := range tt.measured {
				if !contains(p.Earliest, p.Latest, S.Add(m)) {
					t.Errorf("window [%s, %s] misses the measured abort %s", rel(p.Earliest, S), rel(p.Latest, S), rel(S.Add(m), S))
				}
			}
			t.Logf("window [%s, %s], kernel [%s, %s]", rel(p.Earliest, S), rel(p.Latest, S), rel(S.Add(lo), S), rel(S.Add(hi), S))
			if w := p.Latest.Sub(p.Earliest); w > tt.maxWidth || w > hi-lo+slackMax {
				t.Errorf("window %v wide, want at most %v and at most the kernel's range %v + %v", w, tt.maxWidth, hi-lo, slackMax)
			}
			// The kernel gives up only once the budget is spent.
			if floor := S.Add(p.Budget - 3*k.jiffy()); p.Earliest.Before(floor) {
				t.Errorf("earliest %s before S+budget %v", rel(p.Earliest, S), p.Budget)
			}
			if p.MaySlip {
				t.Errorf("MaySlip set, but every phase aborts after %d retransmissions", count)
			}
			// The schedule: retransmission 1 at S, then one entry per
			// firing, each window containing the kernel's firing for every
			// phase, and the abort.
			if len(p.Schedule) != count+1 {
				t.Fatalf("schedule has %d entries, want %d retransmissions and the abort", len(p.Schedule), count)
			}
			for i, f := range p.Schedule[:count] {
				if f.N != i+1 || f.Kind != FireRetransmit {
					t.Errorf("schedule[%d] = #%d %v, want retransmission #%d", i, f.N, f.Kind, i+1)
				}
				if i == 0 {
					if !f.Past || !f.At.Equal(S) {
						t.Errorf("schedule[0] at %s past=%v, want the first RTO at S, past", rel(f.At, S), f.Past)
					}
					continue
				}
				for _, r := range runs {
					off := k.dur(r.fires[i] - r.fires[0])
					if !contains(f.Earliest, f.Latest, S.Add(off)) {
						t.Errorf("schedule[%d] window [%s, %s] misses the kernel's firing at %s", i, rel(f.Earliest, S), rel(f.Latest, S), rel(S.Add(off), S))
						break
					}
				}
			}
			if ab := p.Schedule[count]; ab.N != count {
				t.Errorf("abort entry carries #%d, want %d", ab.N, count)
			}
		})
	}
}

// TestRTOFifteenNominal checks the premise of the retries2=15 case: the
// 16th firing is nominally 0.2 s short of the budget, so only the timer
// lateness makes it the abort.
func TestRTOFifteenNominal(t *testing.T) {
	k := kern{hz: 250}
	var sum int64
	r0 := int64(50)
	for i := 1; i <= 15; i++ {
		sum += min(r0<<i, k.j(120000))
	}
	if got, budget := k.ms(sum), k.refModelTimeoutMs(15, 50, k.j(120000)); budget-got != 200 {
		t.Fatalf("16th firing nominally at S+%d ms, budget %d ms: want 200 ms short", got, budget)
	}
}

// TestRTOClampedUserTimeout: without the socket's options, a timer armed
// short of the backed-off RTO reveals TCP_USER_TIMEOUT
// (tcp_clamp_rto_to_user_timeout). Measured: U=3000, expires 72 ms instead
// of 3264 ms, abort at S+3.004 s.
func TestRTOClampedUserTimeout(t *testing.T) {
	k := kern{hz: 250}
	cfg := cfgWith(func(p *Params) { p.Retries2 = 5 })
	for ph := int64(0); ph < 8; ph++ {
		r := k.simulateRTO(1<<20+ph, rtoSpec{r0: 51, rtoMax: k.j(120000), userMs: 3000})
		if r.abort != 4 {
			t.Fatalf("reference: abort after %d retransmissions, want 4", r.abort)
		}
		// Just after the 4th retransmission, the timer clamped.
		tj := r.fires[3] + 2
		s := rtoSock(1, inetdiag.StateEstablished, r, tj, inetdiag.TCPInfoLen6_18)
		S, now, abort := k.at(base, r.fires[0]), k.at(base, tj), k.at(base, r.fires[r.abort])
		if s.Expires+s.Info.LastDataSent.Duration() >= s.Info.RTO.Duration() {
			t.Fatalf("sample not clamped: expires %v + last sent %v vs RTO %v", s.Expires, s.Info.LastDataSent, s.Info.RTO)
		}
		_, c := track(t, cfg, now, nil, s)
		p := c.Prediction
		if p == nil {
			t.Fatalf("phase %d: no prediction", ph)
		}
		checkInvariants(t, p, now)
		if p.Reason != ReasonUserTimeout {
			t.Errorf("phase %d: reason %v, want user_timeout", ph, p.Reason)
		}
		if !hasNote(p, "TCP_USER_TIMEOUT") {
			t.Errorf("phase %d: no note about the clamp: %q", ph, p.Notes)
		}
		if in, ok := input(p, "TCP_USER_TIMEOUT"); !ok || in.Source != FromInferred || !strings.Contains(in.Value, "3s") {
			t.Errorf("phase %d: TCP_USER_TIMEOUT input %+v, want ≈3s inferred", ph, in)
		}
		if !contains(p.Earliest, p.Latest, abort) {
			t.Errorf("phase %d: window [%s, %s] misses the abort at %s", ph, rel(p.Earliest, S), rel(p.Latest, S), rel(abort, S))
		}
		if w := p.Latest.Sub(p.Earliest); w > 50*time.Millisecond {
			t.Errorf("phase %d: window %v wide for a timer a few jiffies ahead", ph, w)
		}
	}
}

// TestRTOUserTimeoutClampFellShort: the clamped firing that should end the
// budget can fall short of it by a fraction of a millisecond (the timer
// runs on jiffies, the budget is measured on the TCP clock), so the kernel
// retransmits once more, re-arms for 1 jiffy (tcp_clamp_rto_to_user_timeout:
// the budget is spent) and aborts then. A sample taken in between sees the
// retransmission count up by one, the backed-off RTO, and a timer due in
// 0–4 ms: the abort is at most a couple of jiffies away, whatever the RTO
// says (measured in the crash-lab soak, TCP_USER_TIMEOUT=2500: windows 28 ms
// late on such samples, 5 times in 40 rounds).
func TestRTOUserTimeoutClampFellShort(t *testing.T) {
	k := kern{hz: 250}
	cfg := cfgWith(func(p *Params) { p.Retries2 = 3 })
	for _, known := range []bool{true, false} {
		for _, exp := range []time.Duration{0, time.Millisecond, 3 * time.Millisecond} {
			for ph := int64(0); ph < 8; ph++ {
				r := k.simulateRTO(1<<20+ph, rtoSpec{r0: 51, rtoMax: k.j(120000), userMs: 2500})
				if r.abort < 2 {
					t.Fatalf("reference: abort after %d retransmissions", r.abort)
				}
				miss := r.fires[r.abort] // the clamped firing, here short of U
				lastSent := time.Millisecond
				tj := miss
				s := rtoSock(1, inetdiag.StateEstablished, r, tj-1, inetdiag.TCPInfoLen6_18)
				// That firing retransmitted and re-armed for 1 jiffy.
				n := r.abort + 1
				in := &s.Info
				s.Retrans, in.Retransmits, in.Backoff = uint8(n), uint8(n), uint8(n)
				in.RTO = inetdiag.MicrosOf(min(k.dur(r.rto[r.abort])*2, 120*time.Second))
				in.TotalRTO = uint16(n)
				in.LastDataSent, s.Expires = inetdiag.MillisOf(lastSent), exp
				now := k.at(base, tj).Add(lastSent)
				in.TotalRTOTime = inetdiag.MillisOf(now.Sub(k.at(base, r.fires[0])))
				S := k.at(base, r.fires[0])
				abortLo, abortHi := k.at(base, miss+1), k.at(base, miss+2)
				var opts OptionSource
				if known {
					opts = optsOf(SockOpts{Known: true, UserTimeout: 2500 * time.Millisecond})
				}
				_, c := track(t, cfg, now, opts, s)
				p := c.Prediction
				if p == nil {
					t.Fatalf("known %v expires %v phase %d: no prediction", known, exp, ph)
				}
				checkInvariants(t, p, now)
				if p.Reason != ReasonUserTimeout {
					t.Errorf("known %v expires %v phase %d: reason %v, want user_timeout", known, exp, ph, p.Reason)
				}
				if p.Earliest.After(abortLo) || p.Latest.Before(abortHi) {
					t.Errorf("known %v expires %v phase %d: window [%s, %s] misses the abort in [%s, %s]", known, exp, ph, rel(p.Earliest, S), rel(p.Latest, S), rel(abortLo, S), rel(abortHi, S))
				}
				if w := p.Latest.Sub(now); w > 20*time.Millisecond {
					t.Errorf("known %v expires %v phase %d: latest %v after the sample, for a timer 1 jiffy ahead", known, exp, ph, w)
				}
			}
		}
	}
}

// TestRTOICMP: tcpi_backoff < tcpi_retransmits means ICMP unreachables
// reverted the backoff (RFC 6069, tcp_ld_RTO_revert): the RTO stays short
// and the abort may come at any firing once S+T has passed.
func TestRTOICMP(t *testing.T) {
	p := DefaultParams()
	p.Retries2 = 5
	T := 12600 * time.Millisecond
	S := base
	now := S.Add(10 * time.Second)
	s := conn(1, inetdiag.StateEstablished)
	s.Timer, s.Retrans, s.Expires, s.SendQ = inetdiag.TimerRetransmit, 7, 1132*time.Millisecond, 100
	in := &s.Info
	in.CAState, in.Retransmits, in.Backoff, in.RTO = caLoss, 7, 3, inetdiag.MicrosOf(1632*time.Millisecond)
	in.Unacked, in.LastDataSent, in.LastAckRecv, in.LastDataRecv = 1, inetdiag.MillisOf(500*time.Millisecond), inetdiag.MillisOf(11*time.Second), inetdiag.MillisOf(11*time.Second)
	in.TotalRTO, in.TotalRTORecoveries, in.TotalRTOTime = 7, 1, inetdiag.MillisOf(10*time.Second)
	_, c := track(t, Config{Params: p}, now, nil, s)
	pr := c.Prediction
	if pr == nil {
		t.Fatal("no prediction")
	}
	checkInvariants(t, pr, now)
	if !hasNote(pr, "ICMP") {
		t.Errorf("no ICMP note: %q", pr.Notes)
	}
	j := p.Jiffy()
	if d := pr.Earliest.Sub(S.Add(T)); d < -3*j || d > 3*j {
		t.Errorf("earliest %s, want ≈ S+T = S+12.6 s", rel(pr.Earliest, S))
	}
	// Without further ICMP errors the pending firing (S+11.132 s) misses
	// the budget and the next, one doubled RTO later, aborts.
	if noICMP := S.Add(11132*time.Millisecond + 3264*time.Millisecond); pr.Latest.Before(noICMP) {
		t.Errorf("latest %s before the abort without further ICMP errors %s", rel(pr.Latest, S), rel(noICMP, S))
	}
}

// TestRTONoStats: without tcpi_total_rto_time (tcp_info of 232 bytes,
// before 6.7) S is reconstructed from the doubling schedule: the window is
// wider but still contains the abort.
func TestRTONoStats(t *testing.T) {
	k := kern{hz: 250}
	cfg := cfgWith(func(p *Params) { p.Retries2 = 5 })
	spec := rtoSpec{r0: 51, rtoMax: k.j(120000), budgetMs: func(int64) int64 { return 12600 }}
	for ph := int64(0); ph < 64; ph++ {
		r := k.simulateRTO(1<<20+ph, spec)
		tj := r.fires[3] + 25 // 100 ms after the 4th retransmission
		S, now, abort := k.at(base, r.fires[0]), k.at(base, tj), k.at(base, r.fires[r.abort])
		var widths [2]time.Duration
		for i, l := range []int{inetdiag.TCPInfoLen6_18, inetdiag.TCPInfoLen5_4} {
			s := rtoSock(1, inetdiag.StateEstablished, r, tj, l)
			_, c := track(t, cfg, now, nil, s)
			p := c.Prediction
			if p == nil {
				t.Fatalf("phase %d len %d: no prediction", ph, l)
			}
			checkInvariants(t, p, now)
			if !contains(p.ClockEarliest, p.ClockLatest, S) {
				t.Errorf("phase %d len %d: clock [%s, %s] misses S", ph, l, rel(p.ClockEarliest, S), rel(p.ClockLatest, S))
			}
			if !contains(p.Earliest, p.Latest, abort) {
				t.Errorf("phase %d len %d: window [%s, %s] misses the abort at %s", ph, l, rel(p.Earliest, S), rel(p.Latest, S), rel(abort, S))
			}
			if p.Count != r.abort {
				t.Errorf("phase %d len %d: count %d, want %d", ph, l, p.Count, r.abort)
			}
			how, _ := input(p, "clock start")
			if reconstructed := strings.Contains(how.Value, "reconstructed"); reconstructed != (l < inetdiag.TCPInfoLen6_7) {
				t.Errorf("phase %d len %d: clock start %q", ph, l, how.Value)
			}
			widths[i] = p.Latest.Sub(p.Earliest)
		}
		if widths[1] < widths[0] {
			t.Errorf("phase %d: window without RTO stats %v narrower than with %v", ph, widths[1], widths[0])
		}
		if widths[1] > time.Second {
			t.Errorf("phase %d: window without RTO stats %v wide", ph, widths[1])
		}
	}
}

// TestRTOFollowedAcrossPolls feeds the whole episode, one poll every
// 250 ms: every prediction must contain the abort, and the connection
// vanishes as aborted.
func TestRTOFollowedAcrossPolls(t *testing.T) {
	k := kern{hz: 250}
	for _, ph := range []int64{0, 3, 5, 7} {
		r := k.simulateRTO(1<<20+ph, rtoSpec{r0: 51, rtoMax: k.j(120000), budgetMs: func(int64) int64 { return 12600 }})
		tr := NewTracker(cfgWith(func(p *Params) { p.Retries2 = 5 }))
		S, abort := k.at(base, r.fires[0]), k.at(base, r.fires[r.abort])
		// A calm poll before the episode.
		calm := conn(1, inetdiag.StateEstablished)
		calm.Info.Unacked = 1
		calm.Timer, calm.Expires = inetdiag.TimerRetransmit, 150*time.Millisecond
		tr.Update(PollInput{Time: S.Add(-60 * time.Millisecond), Socks: []inetdiag.Socket{calm}})
		var last *Prediction
		for tj := r.fires[0] + 1; tj < r.fires[r.abort]; tj += 62 {
			now := k.at(base, tj)
			poll := tr.Update(PollInput{Time: now, Socks: []inetdiag.Socket{rtoSock(1, inetdiag.StateEstablished, r, tj, inetdiag.TCPInfoLen6_18)}})
			p := poll.Conns[0].Prediction
			if p == nil {
				t.Fatalf("phase %d at %s: no prediction", ph, rel(now, S))
			}
			checkInvariants(t, p, now)
			if !contains(p.Earliest, p.Latest, abort) {
				t.Errorf("phase %d at %s: window [%s, %s] misses the abort at %s", ph, rel(now, S), rel(p.Earliest, S), rel(p.Latest, S), rel(abort, S))
			}
			last = p
		}
		poll := tr.Update(PollInput{Time: abort.Add(100 * time.Millisecond)})
		if len(poll.Events) != 1 || poll.Events[0].Kind != EventAborted || poll.Events[0].Predicted != last {
			t.Errorf("phase %d: events %+v, want one aborted with the last prediction", ph, poll.Events)
		}
	}
}

// TestRTOBimodal: retries2=8 with rto_max=1s and R0=204 ms puts the 9th
// firing within the timer lateness of S+7.4 s: depending on the phase of
// the jiffy counter the kernel gives up there or one second later. The
// window must cover both and say so.
func TestRTOBimodal(t *testing.T) {
	k := kern{hz: 250}
	spec := rtoSpec{r0: 51, rtoMax: k.j(1000), budgetMs: func(int64) int64 { return k.refModelTimeoutMs(8, 50, k.j(1000)) }}
	lo, hi, counts, runs := outcomesAll(t, k, spec)
	if len(counts) != 2 {
		t.Fatalf("reference: counts %v, want two outcomes", counts)
	}
	r := runs[0]
	tj := r.fires[0] + 25
	S, now := k.at(base, r.fires[0]), k.at(base, tj)
	_, c := track(t, cfgWith(func(p *Params) { p.Retries2, p.RTOMax = 8, time.Second }), now, nil, rtoSock(1, inetdiag.StateEstablished, r, tj, inetdiag.TCPInfoLen6_18))
	p := c.Prediction
	if p == nil {
		t.Fatal("no prediction")
	}
	checkInvariants(t, p, now)
	t.Logf("window [%s, %s], kernel [%s, %s], counts %v", rel(p.Earliest, S), rel(p.Latest, S), rel(S.Add(lo), S), rel(S.Add(hi), S), counts)
	if !p.MaySlip || !hasNote(p, "one retransmission later") {
		t.Errorf("MaySlip %v notes %q, want the slip flagged", p.MaySlip, p.Notes)
	}
	if !counts[p.Count] {
		t.Errorf("count %d, kernel gives %v", p.Count, counts)
	}
	if !contains(p.Earliest, p.Latest, S.Add(lo)) || !contains(p.Earliest, p.Latest, S.Add(hi)) {
		t.Errorf("window [%s, %s] does not cover both outcomes [%s, %s]", rel(p.Earliest, S), rel(p.Latest, S), rel(S.Add(lo), S), rel(S.Add(hi), S))
	}
	if w := p.Latest.Sub(p.Earliest); w > hi-lo+slackMax {
		t.Errorf("window %v wide, kernel range %v", w, hi-lo)
	}
}

// TestRTOPartialAck: a partial ACK zeroes icsk_retransmits but not
// retrans_stamp, so the next firing skips the check (retransmits_timed_out
// returns false while icsk_retransmits is 0) although the budget is spent;
// the abort comes one firing later.
func TestRTOPartialAck(t *testing.T) {
	k := kern{hz: 250}
	cfg := cfgWith(func(p *Params) { p.Retries2 = 5 })
	for ph := int64(0); ph < 64; ph++ {
		S := int64(1<<20) + ph
		tj := S + k.j(13000)     // 13 s into the episode, past the 12.6 s budget
		armed := tj - 13         // the partial ACK re-armed the timer with a fresh RTO
		P := armed + 51          // programmed expiry
		F1 := k.fire(armed, 51)  // no check: retransmits is 0
		abort := k.fire(F1, 102) // doubled RTO; the check finds the budget spent
		s := conn(1, inetdiag.StateEstablished)
		s.Timer, s.Retrans, s.Expires, s.SendQ = inetdiag.TimerRetransmit, 0, k.dur(P-tj), 2000
		in := &s.Info
		in.CAState, in.Retransmits, in.Backoff, in.RTO, in.Unacked = caLoss, 0, 0, inetdiag.MicrosOf(k.dur(51)), 2
		in.LastDataSent, in.LastAckRecv, in.LastDataRecv = inetdiag.MillisOf(k.dur(tj-armed)), inetdiag.MillisOf(k.dur(tj-armed)), inetdiag.MillisOf(14*time.Second)
		in.TotalRTO, in.TotalRTORecoveries, in.TotalRTOTime = 6, 1, inetdiag.MillisOf(k.dur(tj-S))
		now := k.at(base, tj)
		_, c := track(t, cfg, now, nil, s)
		p := c.Prediction
		if c.Health != HealthRetransmitting || p == nil {
			t.Fatalf("phase %d: health %v prediction %v", ph, c.Health, p)
		}
		checkInvariants(t, p, now)
		Sat := k.at(base, S)
		if !contains(p.Earliest, p.Latest, k.at(base, abort)) {
			t.Errorf("phase %d: window [%s, %s] misses the abort at %s", ph, rel(p.Earliest, Sat), rel(p.Latest, Sat), rel(k.at(base, abort), Sat))
		}
		if !p.Earliest.After(k.at(base, F1)) {
			t.Errorf("phase %d: earliest %s at or before the firing that cannot abort (%s)", ph, rel(p.Earliest, Sat), rel(k.at(base, F1), Sat))
		}
		if p.Count != 1 {
			t.Errorf("phase %d: count %d, want 1 more retransmission", ph, p.Count)
		}
	}
}

// TestRTOSampleStraddlesFiring: inet_diag reads the timer without the
// socket's lock, before tcp_info waits for it, so a dump taken while an
// RTO fires may carry the timer as it was before the firing (due now,
// with the count before it) or while the handler runs (no timer, count
// 0), beside tcp_info after it (one more retransmission, the RTO
// doubled, the last data sent just now). Neither is a timer clamped by
// TCP_USER_TIMEOUT: the abort is retries2's. Seen in the crash lab in a
// 6.1 guest under load: tcp_retries2=3 predicted as a user timeout 5.8 s
// early, with the socket's options known to have none.
func TestRTOSampleStraddlesFiring(t *testing.T) {
	k := kern{hz: 250}
	rtoMax := k.j(120000)
	budget := func(int64) int64 { return k.refModelTimeoutMs(3, k.j(200), rtoMax) }
	cfg := cfgWith(func(p *Params) { p.Retries2 = 3 })
	noUserTimeout := optsOf(SockOpts{Known: true, KeepAlive: false})
	tests := []struct {
		name  string
		timer inetdiag.Timer
		// behind is how far the message's count is behind tcp_info's:
		// -1 for a count of 0.
		behind int
		opts   OptionSource
	}{
		{"read before the handler, options unknown", inetdiag.TimerRetransmit, 1, nil},
		{"read while the handler runs, options unknown", inetdiag.TimerNone, -1, nil},
		{"read before the handler, options known", inetdiag.TimerRetransmit, 1, noUserTimeout},
		{"counts agree, options known", inetdiag.TimerRetransmit, 0, noUserTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for ph := int64(0); ph < 8; ph++ {
				r := k.simulateRTO(1<<20+ph, rtoSpec{r0: 51, rtoMax: rtoMax, budgetMs: budget})
				if r.abort < 3 {
					t.Fatalf("reference: abort after %d retransmissions", r.abort)
				}
				// One jiffy after the second firing, with its timer as it
				// was read at the firing.
				tj := r.fires[1] + 1
				s := rtoSock(1, inetdiag.StateEstablished, r, tj, inetdiag.TCPInfoLen6_18)
				n := int(s.Info.Retransmits)
				s.Timer, s.Expires = tt.timer, 0
				switch tt.behind {
				case -1:
					s.Retrans = 0
				default:
					s.Retrans = uint8(n - tt.behind)
				}
				S, abort := k.at(base, r.fires[0]), k.at(base, r.fires[r.abort])
				// Polled before, at and after that sample: the straddling
				// one neither ends the episode nor changes its clock.
				tr := NewTracker(cfg)
				for i, at := range []int64{r.fires[0] + 25, tj, r.fires[2] + 1} {
					sock := s
					if at != tj {
						sock = rtoSock(1, inetdiag.StateEstablished, r, at, inetdiag.TCPInfoLen6_18)
					}
					now := k.at(base, at)
					poll := tr.Update(PollInput{Time: now, Socks: []inetdiag.Socket{sock}, Options: tt.opts})
					if len(poll.Conns) != 1 {
						t.Fatalf("phase %d poll %d: %d connections", ph, i, len(poll.Conns))
					}
					c := poll.Conns[0]
					p := c.Prediction
					if p == nil || c.Health != HealthRetransmitting {
						t.Fatalf("phase %d poll %d: health %v, prediction %v", ph, i, c.Health, p)
					}
					checkInvariants(t, p, now)
					if p.Reason != ReasonRetries2 {
						t.Errorf("phase %d poll %d: reason %v (budget %v), want tcp_retries2", ph, i, p.Reason, p.Budget)
					}
					if !contains(p.Earliest, p.Latest, abort) {
						t.Errorf("phase %d poll %d: window [%s, %s] misses the abort at %s", ph, i, rel(p.Earliest, S), rel(p.Latest, S), rel(abort, S))
					}
					if !contains(p.ClockEarliest, p.ClockLatest, S) {
						t.Errorf("phase %d poll %d: clock window [%s, %s] misses S", ph, i, rel(p.ClockEarliest, S), rel(p.ClockLatest, S))
					}
				}
			}
		})
	}
}
