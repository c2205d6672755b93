package model

// The retransmission-timeout rule of the synchronized states
// (net/ipv4/tcp_timer.c): tcp_retransmit_timer() retransmits and doubles
// the RTO up to rto_max, and tcp_write_timeout() aborts at the firing
// that finds the episode's clock (retrans_stamp, set by the first
// retransmission) older than the budget: tcp_retries2 turned into time by
// tcp_model_timeout(), or TCP_USER_TIMEOUT, which
// tcp_clamp_rto_to_user_timeout() also makes the timer fire on. ICMP
// errors revert the backoff (tcp_ld_RTO_revert). The README's "How
// predictions work" states the facts; rto_test.go checks them against
// kernelref_test.go, and the crash lab (TestLabRetransmitRetries2,
// TestLabICMPUnreachable) against real aborts. The SYN_SENT and orphan
// variants are in syn.go and orphan.go.

import (
	"fmt"
	"strconv"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// TCP congestion-avoidance states (tcpi_ca_state).
const (
	caRecovery = 3
	caLoss     = 4
)

// retransmissions is icsk_retransmits: from tcp_info, or without it from
// idiag_retrans.
func retransmissions(s *inetdiag.Socket) int {
	if s.Info.Len >= inetdiag.TCPInfoLen2_6 {
		return int(s.Info.Retransmits)
	}
	return int(s.Retrans)
}

// inRTOBackoff reports whether the sample shows a retransmission episode:
// the retransmission timer pending (or firing) after n ≥ 1 RTO firings,
// or in the Loss state (an RTO fired, then a partial ACK reset the count).
func inRTOBackoff(s *inetdiag.Socket, n int) bool {
	timer := s.Timer == inetdiag.TimerRetransmit || firingNow(s)
	return timer && s.Info.Len >= inetdiag.TCPInfoLen2_6 && (n >= 1 || s.Info.CAState == caLoss)
}

// firingNow reports whether the dump read the socket while its
// retransmission timer fired: inet_diag reads the timer without the
// socket's lock, and tcp_write_timer_handler clears icsk_pending before it
// retransmits, so the message says no timer (count 0, expiry 0), while
// tcp_info, read under the lock once the handler is done, shows the
// firing. A socket at rest with data in flight always has a timer, so no
// timer beside unacknowledged data in the Loss state is that moment, not
// the end of the episode.
func firingNow(s *inetdiag.Socket) bool {
	return s.Timer == inetdiag.TimerNone && s.Info.Unacked > 0 && s.Info.Retransmits >= 1 && s.Info.CAState == caLoss
}

// rtoEpisode is what the tracker learned about the current retransmission
// (or zero-window retransmission) episode of a connection. A connection
// holds it by pointer, nil between episodes: most never have one.
type rtoEpisode struct {
	start time.Time // first sample in the episode
	// calm is the last sample before the episode (zero if not seen), with
	// the tcp_info RTO counters it had.
	calm           time.Time
	calmRTOTime    time.Duration
	calmRecoveries uint16
	calmKnown      bool
	sawRecovery    bool
	clock          clockWindow       // retrans_stamp, once known exactly
	firings        map[int]time.Time // observed firing times by number
	lastN          int
}

// update follows the episode to the sample at now and returns the
// episode in progress (nil if none). in says whether the sample is in RTO
// backoff; prev is the previous sample (nil for a new connection), taken
// at lastSeen. An episode starts at the first sample in backoff; the
// sample before it, if calm, tells how much of tcpi_total_rto_time
// belongs to earlier episodes and bounds when this one started.
func (e *rtoEpisode) update(in bool, prev *lastSample, lastSeen, now time.Time) *rtoEpisode {
	if !in {
		return nil
	}
	if e != nil {
		return e
	}
	e = &rtoEpisode{start: now, firings: map[int]time.Time{}}
	if prev != nil && prev.hasInfo() && prev.caState != caLoss && prev.retransmits == 0 {
		e.calm = lastSeen
		e.calmRTOTime = prev.rtoTime
		e.calmRecoveries = prev.rtoRecoveries
		e.calmKnown = prev.hasRTOStats()
		e.sawRecovery = prev.caState == caRecovery
	}
	return e
}

// observe records the n-th retransmission, sent at lastFire, the first
// time a poll sees it.
func (e *rtoEpisode) observe(n int, lastFire time.Time) {
	if e == nil {
		return
	}
	if n > e.lastN && n >= 1 {
		e.firings[n] = lastFire
	}
	e.lastN = n
}

// rtoCase is a connection in a retransmission episode, as seen at sample
// time t: everything predictRTO needs, already extracted from the sample,
// the socket options and the connection's history.
type rtoCase struct {
	t          time.Time
	n          int           // icsk_retransmits: RTO firings since the last forward ACK
	backoff    int           // icsk_backoff
	rto        time.Duration // icsk_rto (already backed off)
	pending    time.Time     // programmed expiry of the pending RTO timer
	armed      time.Duration // interval that timer was armed with
	align      int64         // the arming instant is a multiple of this many jiffies (1: unknown)
	clock      clockWindow   // retrans_stamp
	orphan     bool
	userTO     time.Duration // TCP_USER_TIMEOUT, 0 if unset (or unknown)
	rtoMax     time.Duration
	past       []Firing
	inputs     []Input
	conf       Confidence
	notes      []string
	synSent    bool
	synRetries int // SYN_SENT: tcp_syn_retries or TCP_SYNCNT (retry_until)
	synLimit   int // SYN_SENT: retransmissions allowed (retry_until + linear timeouts)
	linear     int // SYN_SENT: tcp_syn_linear_timeouts
}

// clockWindow is an estimate of the instant the kernel's clock started.
type clockWindow struct {
	lo, mid, hi time.Time
	how         string
}

func (c clockWindow) valid() bool { return !c.mid.IsZero() }

// budgetAt returns the time budget the kernel applies at a firing where
// the RTO (before doubling) is rto: TCP_USER_TIMEOUT, tcp_retries2
// through tcp_model_timeout(), or for orphans tcp_orphan_retries() with
// its "alive" rule.
func (c *rtoCase) budgetAt(p Params, rto time.Duration) (time.Duration, Reason) {
	if c.userTO > 0 {
		return c.userTO, ReasonUserTimeout
	}
	if c.orphan {
		return orphanBudget(p, rto < c.rtoMax, c.rtoMax), ReasonOrphanRetries
	}
	return ModelTimeout(p.Retries2, RTOMin, c.rtoMax), ReasonRetries2
}

// nextRTO is the RTO after a firing (out_reset_timer): doubled up to
// rto_max, except for the linear SYN timeouts.
func (c *rtoCase) nextRTO(rto time.Duration, nAfter int) time.Duration {
	if c.synSent && nAfter <= c.linear {
		return rto
	}
	if 2*rto > c.rtoMax {
		return c.rtoMax
	}
	return 2 * rto
}

// backoffSchedule lists the RTO in force at the next k firings, before
// each doubles: the current one at the pending firing, then as each
// firing re-arms the timer.
func (c *rtoCase) backoffSchedule(k int) []time.Duration {
	rtos := make([]time.Duration, 1, k)
	rtos[0] = c.rto
	for j := 1; j < k; j++ {
		rtos = append(rtos, c.nextRTO(rtos[j-1], c.n+j))
	}
	return rtos
}

// rtoPrediction gathers the evidence of a synchronized connection in RTO
// backoff (n firings so far; orphan if no process owns it) and predicts
// its abort.
func (tr *Tracker) rtoPrediction(c *Conn, now time.Time, n int, orphan bool) *Prediction {
	p := tr.cfg.Params
	s := c.Sock
	info := &s.Info
	rc := &rtoCase{
		t: now, n: n, backoff: int(info.Backoff), rto: info.RTO.Duration(), orphan: orphan,
		rtoMax: tr.rtoMax(c),
	}
	if rc.rto <= 0 {
		return nil
	}
	lastFire := now.Add(-info.LastDataSent.Duration())
	rc.pending = now.Add(s.Expires)
	rc.armed = rc.rto
	// tcpi_last_data_sent only moves for segments that carry data: when
	// nothing but the FIN is outstanding, its retransmissions do not show,
	// and the last one is where the pending timer was armed from.
	finOnly := s.SendQ <= 1 && (s.State == inetdiag.StateFinWait1 || s.State == inetdiag.StateLastAck || s.State == inetdiag.StateClosing)
	if finOnly {
		if s.Expires > 0 {
			lastFire = rc.pending.Add(-rc.rto)
		} else {
			lastFire = now.Add(-rc.rto)
		}
	}
	// The last firing happened on the granularity of the interval it was
	// armed with: the RTO before its last doubling.
	rc.align = 1
	if n >= 2 && rc.backoff == n {
		if rc.rto < rc.rtoMax {
			rc.align = p.alignAfter(rc.rto / 2)
		} else {
			rc.align = min(p.alignAfter(rc.rtoMax/2), p.alignAfter(rc.rtoMax))
		}
	}
	// The timer was armed at the last retransmission with the current
	// RTO; when the remaining time says otherwise, TCP_USER_TIMEOUT
	// clamped it (tcp_clamp_rto_to_user_timeout). That includes a timer
	// reported due now (expires 0) right after a retransmission: the
	// clamped firing fell short of the budget by a fraction of a
	// millisecond (the timer runs on jiffies, the budget on the TCP clock)
	// and the kernel re-armed for 1 jiffy, to abort then.
	//
	// The same sight comes of a sample that straddles a firing: inet_diag
	// reads the timer without the socket's lock, before tcp_info, which
	// waits for the lock the timer handler holds. Read just before the
	// handler, the timer is due now (its old expiry) with the count before
	// the firing; read while it runs (tcp_write_timer_handler clears
	// icsk_pending first), there is no timer and a count of 0. Beside the
	// retransmission, backoff and RTO of that firing in tcp_info, neither
	// is a clamp, but the timer about to be re-armed with the RTO. Seen
	// once in the crash lab (a 6.1 guest under load), taken for a user
	// timeout on a socket without one: the abort predicted 5.8 s early.
	// It is told apart when the socket's options are known (no
	// TCP_USER_TIMEOUT, no clamp) or when the message's retransmission
	// count, read with the timer, is behind tcp_info's.
	clamped := false
	if n >= 1 && !finOnly {
		if want := lastFire.Add(rc.rto); want.Sub(rc.pending) > 3*p.Jiffy()+rc.rto/50 {
			straddled := int(s.Retrans) != int(info.Retransmits)
			if c.Opts().Known && c.Opts().UserTimeout == 0 || straddled {
				rc.pending = want
			} else {
				clamped = true
				rc.armed = max(rc.pending.Sub(lastFire), p.Jiffy())
			}
		}
	}
	if s.Expires == 0 && n >= 1 {
		// Overdue (the wheel is late): the programmed expiry was the last
		// retransmission plus the RTO, already passed.
		if want := lastFire.Add(rc.rto); want.Before(now) {
			rc.pending = want
		}
	}
	c.retrans.observe(n, lastFire)
	rc.clock = tr.retransClock(c, now, n, lastFire)
	if !rc.clock.valid() {
		return nil
	}

	// The budget: TCP_USER_TIMEOUT if the socket has one, else the retry
	// count turned into time.
	known := c.Opts().Known
	rc.conf = confidence(known)
	if known && c.Opts().UserTimeout > 0 {
		rc.userTO = c.Opts().UserTimeout
		rc.inputs = append(rc.inputs, Input{Name: InputUserTimeout, Value: secs(rc.userTO), Source: FromSocket})
	} else if clamped {
		// The clamp reveals the user timeout: the timer expires when it is
		// spent.
		rc.userTO = rc.pending.Sub(rc.clock.mid).Round(time.Millisecond)
		rc.inputs = append(rc.inputs, Input{Name: InputUserTimeout, Value: "≈" + secs(rc.userTO), Source: FromInferred})
		rc.notes = append(rc.notes, "the retransmission timer is armed short of the backed-off RTO: TCP_USER_TIMEOUT is set and expires with it")
		rc.conf = Exact
	} else {
		switch {
		case orphan:
			rc.inputs = append(rc.inputs, orphanRetriesInput(p))
			rc.notes = append(rc.notes, orphanNote)
		default:
			rc.inputs = append(rc.inputs, retries2Input(p))
		}
		if !known {
			rc.inputs = append(rc.inputs, Input{Name: InputUserTimeout, Value: "unknown, assumed unset", Source: FromSysctl})
		} else {
			rc.inputs = append(rc.inputs, Input{Name: InputUserTimeout, Value: "unset", Source: FromSocket})
		}
	}
	rc.inputs = append(rc.inputs,
		Input{Name: InputRTOMax, Value: secs(rc.rtoMax), Source: map[bool]Source{true: FromSocket, false: FromSysctl}[known && c.Opts().RTOMax > 0]},
		Input{Name: InputClockStart, Value: rc.clock.how, Source: FromDiag},
	)
	rc.past = tr.pastFirings(c, rc, lastFire)
	return predictRTO(p, rc)
}

// retransClock estimates retrans_stamp, the start of the kernel's clock:
// the first retransmission of the episode (an RTO or a fast retransmit,
// never a tail-loss probe).
func (tr *Tracker) retransClock(c *Conn, now time.Time, n int, lastFire time.Time) clockWindow {
	p := tr.cfg.Params
	info := &c.Sock.Info
	ep := c.retrans
	j := p.Jiffy()
	// Once known from an earlier poll, the clock does not move.
	if ep != nil && ep.clock.valid() {
		return ep.clock
	}
	var w clockWindow
	exact := false
	switch {
	case info.HasRTOStats() && info.CAState == caLoss && info.TotalRTORecoveries >= 1 &&
		(info.TotalRTORecoveries == 1 || (ep != nil && ep.calmKnown && ep.calmRecoveries+1 == info.TotalRTORecoveries)):
		// tcpi_total_rto_time includes the time since the first RTO of
		// this episode (rto_stamp); subtract the earlier episodes.
		var before time.Duration
		if info.TotalRTORecoveries > 1 {
			before = ep.calmRTOTime
		}
		stamp := now.Add(-(info.TotalRTOTime.Duration() - before))
		w = clockWindow{lo: stamp.Add(-2 * j), mid: stamp, hi: stamp.Add(j), how: "first RTO, from tcpi_total_rto_time"}
		exact = true
	case n == 1 && info.CAState == caLoss:
		// The first RTO's retransmission was the last transmission.
		w = clockWindow{lo: lastFire.Add(-j), mid: lastFire, hi: lastFire, how: "first RTO, from tcpi_last_data_sent"}
		exact = true
	case n >= 1:
		w = tr.reconstructClock(c, now, n, lastFire)
	default:
		return w
	}
	if ep != nil && ep.sawRecovery && !ep.calm.IsZero() && ep.calm.Before(w.lo) {
		// A fast retransmit may have started the clock before the RTO.
		w.lo = ep.calm
		w.how += "; the episode began in fast recovery, so it may have started earlier"
	}
	if ep != nil && !ep.calm.IsZero() && w.lo.Before(ep.calm) && !ep.sawRecovery {
		// It was calm at that poll: the episode started after it.
		w.lo = ep.calm
		if w.mid.Before(w.lo) {
			w.mid = w.lo
		}
		if w.hi.Before(w.lo) {
			w.hi = w.lo
		}
	}
	if ep != nil && exact {
		// Later samples reuse it: it keeps this sample's uncertainty.
		u := tr.uncertainty
		ep.clock = clockWindow{lo: w.lo.Add(-u), mid: w.mid, hi: w.hi.Add(u), how: w.how}
	}
	return w
}

// reconstructClock works back from the last retransmission along the
// doubling schedule (kernels without tcpi_total_rto_time, or a first
// sample taken late in an episode that is not the first).
func (tr *Tracker) reconstructClock(c *Conn, now time.Time, n int, lastFire time.Time) clockWindow {
	p := tr.cfg.Params
	info := &c.Sock.Info
	b := int(info.Backoff)
	rtoMax := tr.rtoMax(c)
	r0 := info.RTO.Duration() >> uint(b)
	capped := info.RTO.Duration() >= rtoMax
	var sum time.Duration
	var past []time.Duration
	for k := 1; k < n; k++ {
		d := r0 << uint(k)
		if d > rtoMax || d <= 0 {
			d = rtoMax
		}
		sum += d
		past = append(past, d)
	}
	lateLo, lateMean, lateHi := p.chain(past, 1)
	how := "reconstructed from the doubling schedule"
	hi := lastFire.Add(-sum - lateLo)
	mid := lastFire.Add(-sum - lateMean)
	lo := lastFire.Add(-sum - lateHi - p.Jiffy())
	if capped || b != n {
		// R0 cannot be read back (the RTO is capped, or ICMP errors reverted
		// the backoff): the schedule is uncertain. Each past interval was
		// at least a jiffy and at most rto_max.
		how = "reconstructed; the initial RTO is uncertain"
		hi = lastFire.Add(-time.Duration(n-1) * p.Jiffy())
		lo = lastFire.Add(-time.Duration(n-1)*(rtoMax+p.WheelGranularity(rtoMax)+p.Jiffy()) - p.Jiffy())
	}
	if info.HasRTOStats() && info.CAState == caLoss {
		// tcpi_total_rto_time covers at least this episode's RTO time.
		if b := now.Add(-info.TotalRTOTime.Duration()); lo.Before(b) {
			lo = b
		}
	}
	if mid.Before(lo) {
		mid = lo
	}
	if hi.Before(mid) {
		hi = mid
	}
	return clockWindow{lo: lo, mid: mid, hi: hi, how: how}
}

// pastFirings lists the retransmissions already sent in this episode:
// the first at the clock start, the latest at the last transmission,
// those seen by a poll in between where they were, and the others along
// the doubling schedule.
func (tr *Tracker) pastFirings(c *Conn, rc *rtoCase, lastFire time.Time) []Firing {
	if rc.n < 1 {
		return nil
	}
	out := make([]Firing, 0, rc.n)
	r0 := rc.rto >> uint(rc.backoff)
	at := rc.clock.mid
	for k := 1; k <= rc.n; k++ {
		f := Firing{N: k, Kind: FireRetransmit, Past: true}
		if k > 1 {
			d := r0 << uint(k-1)
			if d > rc.rtoMax || d <= 0 {
				d = rc.rtoMax
			}
			f.Interval = d
			at = at.Add(d)
		}
		if c.retrans != nil {
			if t, ok := c.retrans.firings[k]; ok {
				at, f.Observed = t, true
			}
		}
		if k == rc.n {
			at, f.Observed = lastFire, true
		}
		f.At, f.Earliest, f.Latest = at, at, at
		out = append(out, f)
	}
	return out
}

// predictRTO predicts the abort of a connection whose retransmission timer
// is backing off (tcp_retransmit_timer → tcp_write_timeout).
func predictRTO(p Params, c *rtoCase) *Prediction {
	if c.userTO > 0 && !c.synSent {
		return predictRTOUserTimeout(p, c)
	}
	tl := newTimeline(p, c.pending, c.armed, c.align, c.t)
	rtos := c.backoffSchedule(maxFirings) // rto in force at firing j, before it doubles
	for _, r := range rtos[1:] {
		tl.add(r)
	}
	pred := &Prediction{Confidence: c.conf, Made: c.t, Notes: c.notes}
	var w window
	var ok bool
	if c.synSent {
		// Count-based: abort at the firing where icsk_retransmits has
		// reached the limit (tcp_write_timeout for SYN_SENT).
		k := c.synLimit - c.n
		if k < 0 {
			k = 0
		}
		if k >= tl.len() {
			return nil
		}
		w, ok = tl.countWindow(k), true
		// A TCP_USER_TIMEOUT aborts sooner only if its time comes first;
		// predictSyn decides that and relabels.
		pred.Reason = ReasonSynRetries
	} else {
		budget := func(j int) time.Duration { T, _ := c.budgetAt(p, rtos[j]); return T }
		checks := func(j int) bool { return c.n+j > 0 }
		w, ok = tl.timeWindow(c.clock.lo, c.clock.mid, c.clock.hi, budget, checks)
		_, pred.Reason = c.budgetAt(p, c.rto)
		pred.Budget = budget(w.bestIdx)
		if c.backoff < c.n && ok {
			// ICMP errors reverted the backoff (RFC 6069): the RTO stays
			// short, so the abort comes at the first firing after the budget
			// is spent rather than at the next doubled one.
			d := c.rto
			early := c.clock.mid.Add(pred.Budget)
			if first := tl.min[0]; first.After(early) {
				early = first
			}
			w.best = early.Add(d / 2)
			w.earliest = c.clock.lo.Add(pred.Budget)
			if w.earliest.Before(tl.min[0]) {
				w.earliest = tl.min[0]
			}
			if w.best.After(w.latest) {
				w.best = w.latest
			}
			pred.Notes = append(pred.Notes, fmt.Sprintf("backoff %d < retransmits %d: ICMP unreachable errors are shortening the RTO (RFC 6069); the abort comes soon after the budget is spent, with EHOSTUNREACH", c.backoff, c.n))
		}
	}
	if !ok {
		return nil
	}
	pred.Clock, pred.ClockEarliest, pred.ClockLatest = c.clock.mid, c.clock.lo, c.clock.hi
	pred.At, pred.Earliest, pred.Latest, pred.MaySlip = w.best, w.earliest, w.latest, w.slip
	pred.Count = c.n + w.bestIdx
	pred.Schedule = append(append([]Firing(nil), c.past...), futureFirings(tl, w, c.n, FireRetransmit)...)
	pred.Inputs = c.inputs
	if w.slip {
		pred.Notes = append(pred.Notes, "the decisive check falls within the timer uncertainty: the kernel may give up one retransmission later (the window covers both)")
	}
	return pred
}

// predictRTOUserTimeout handles TCP_USER_TIMEOUT: the budget is the user
// timeout and the kernel clamps the timer so that it fires when the
// budget is spent (tcp_clamp_rto_to_user_timeout). The clamp depends on
// when each firing happened, so the timer is played out three times.
func predictRTOUserTimeout(p Params, c *rtoCase) *Prediction {
	j := p.Jiffy()
	runs := p.simulateRuns(&timerSim{
		pending: c.pending, armed: c.armed, align: c.align, t: c.t,
		rearm: c.backoffSchedule(maxFirings + 1)[1:],
		clamp: func(d time.Duration, fired, S time.Time) (time.Duration, bool) {
			rem := c.userTO - fired.Sub(S)
			if rem <= 0 {
				return j, false
			}
			if rem < d {
				// The clamped expiry is S+U: where it falls on the wheel
				// follows S, whose phase is not known to the jiffy.
				return (rem + j - 1) / j * j, true
			}
			return d, false
		},
		aborts: func(i int, _, fired, S time.Time) bool { return c.n+i > 0 && fired.Sub(S) >= c.userTO },
	}, c.clock.lo, c.clock.mid, c.clock.hi)
	lo, mid, hi := runs[runEarly], runs[runExpected], runs[runLate]
	if lo.abort < 0 || mid.abort < 0 || hi.abort < 0 {
		return nil
	}
	pred := &Prediction{
		Reason: ReasonUserTimeout, Confidence: c.conf, Made: c.t, Notes: c.notes,
		At:    mid.fires[mid.abort],
		Clock: c.clock.mid, ClockEarliest: c.clock.lo, ClockLatest: c.clock.hi,
		Budget: c.userTO, Count: c.n + mid.abort, Inputs: c.inputs,
	}
	// The three runs may end at different firings: the window spans them
	// all.
	pred.Earliest, pred.Latest = span(lo.fires[lo.abort], mid.fires[mid.abort], hi.fires[hi.abort])
	pred.Schedule = append([]Firing(nil), c.past...)
	for i := 0; i <= mid.abort; i++ {
		f := Firing{N: c.n + i + 1, Kind: FireRetransmit, At: mid.fires[i], Interval: mid.intervals[i]}
		// The runs clamp at different firings (each has its own S), so at
		// one index the early run may fire after the late one: the window
		// of a firing spans every run that reaches it.
		reached := append(make([]time.Time, 0, 3), mid.fires[i])
		for _, r := range [...]simRun{lo, hi} {
			if i < len(r.fires) {
				reached = append(reached, r.fires[i])
			}
		}
		f.Earliest, f.Latest = span(reached...)
		if i == mid.abort {
			f.Kind, f.N = FireAbort, c.n+i
			f.Earliest, f.Latest = pred.Earliest, pred.Latest
		}
		pred.Schedule = append(pred.Schedule, f)
	}
	return pred
}

// retries2Input is the tcp_retries2 input of a prediction.
func retries2Input(p Params) Input {
	return Input{Name: InputRetries2, Value: strconv.Itoa(p.Retries2), Source: FromSysctl}
}
