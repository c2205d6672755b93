package model

import (
	"fmt"
	"time"
)

// rtoCase is a connection in a retransmission episode, as seen at sample
// time t: everything predictRTO needs, already extracted from the sample,
// the socket options and the connection's history.
type rtoCase struct {
	t        time.Time
	n        int           // icsk_retransmits: RTO firings since the last forward ACK
	backoff  int           // icsk_backoff
	rto      time.Duration // icsk_rto (already backed off)
	pending  time.Time     // programmed expiry of the pending RTO timer
	armed    time.Duration // interval that timer was armed with
	align    int64         // the arming instant is a multiple of this many jiffies (1: unknown)
	clock    clockWindow   // retrans_stamp
	orphan   bool
	userTO   time.Duration // TCP_USER_TIMEOUT, 0 if unset (or unknown)
	rtoMax   time.Duration
	past     []Firing
	inputs   []Input
	conf     Confidence
	notes    []string
	synSent  bool
	synLimit int // SYN_SENT: retransmissions allowed (retry_until + linear timeouts)
	linear   int // SYN_SENT: tcp_syn_linear_timeouts
}

// clockWindow is an estimate of the instant the kernel's clock started.
type clockWindow struct {
	lo, mid, hi time.Time
	how         string
}

func (c clockWindow) valid() bool { return !c.mid.IsZero() }

// budgetAt returns the time budget the kernel applies at a firing where
// the RTO (before doubling) is rto: tcp_retries2 through
// tcp_model_timeout(), or for orphans tcp_orphan_retries() with its
// "alive" rule.
func (c *rtoCase) budgetAt(p Params, rto time.Duration) (time.Duration, Reason) {
	if c.userTO > 0 {
		return c.userTO, ReasonUserTimeout
	}
	if c.orphan {
		retries := p.OrphanRetries
		if retries == 0 && rto < c.rtoMax {
			retries = 8 // "select some safe number of retries": >100 s
		}
		return ModelTimeout(retries, RTOMin, c.rtoMax), ReasonOrphanRetries
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

// predictRTO predicts the abort of a connection whose retransmission timer
// is backing off (tcp_retransmit_timer → tcp_write_timeout).
func predictRTO(p Params, c *rtoCase) *Prediction {
	if c.userTO > 0 && !c.synSent {
		return predictRTOUserTimeout(p, c)
	}
	tl := newTimeline(p, c.pending, c.armed, c.align, c.t)
	rtos := []time.Duration{c.rto} // rto in force at firing j, before it doubles
	for j := 1; j < maxFirings; j++ {
		r := c.nextRTO(rtos[j-1], c.n+j)
		rtos = append(rtos, r)
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
// budget is spent (tcp_clamp_rto_to_user_timeout).
func predictRTOUserTimeout(p Params, c *rtoCase) *Prediction {
	type run struct {
		fires     []time.Time
		intervals []time.Duration
		abort     int
	}
	const (
		early = iota
		expected
		late
	)
	sim := func(S time.Time, which int) run {
		var r run
		align := c.align
		lateOf := func(d time.Duration) time.Duration {
			lo, m, hi, next := p.lateness(d, align)
			align = next
			return [...]time.Duration{lo - p.Jiffy(), m, hi}[which]
		}
		F := c.pending.Add(lateOf(c.armed))
		if F.Before(c.t) {
			F = c.t
		}
		n, rto, d := c.n, c.rto, c.armed
		for i := 0; i < maxFirings; i++ {
			r.fires = append(r.fires, F)
			r.intervals = append(r.intervals, d)
			if n > 0 && F.Sub(S) >= c.userTO {
				r.abort = i
				return r
			}
			n++
			rto = c.nextRTO(rto, n)
			d = rto
			if rem := c.userTO - F.Sub(S); rem <= 0 {
				d = p.Jiffy()
			} else if rem < d {
				d = (rem + p.Jiffy() - 1) / p.Jiffy() * p.Jiffy()
				// The clamped expiry is S+U: where it falls on the wheel
				// follows S, whose phase is not known to the jiffy.
				align = 0
			}
			F = F.Add(d + lateOf(d))
		}
		r.abort = -1
		return r
	}
	lo := sim(c.clock.lo, early)
	mid := sim(c.clock.mid, expected)
	hi := sim(c.clock.hi, late)
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
		for _, r := range [...]run{lo, hi} {
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

// futureFirings turns the timeline up to the best abort into a schedule.
// base numbers the firings: firing j is retransmission (or probe)
// base+j+1; the abort firing carries the number of the last one sent.
func futureFirings(tl *timeline, w window, base int, kind FiringKind) []Firing {
	out := make([]Firing, 0, w.bestIdx+1)
	for j := 0; j <= w.bestIdx; j++ {
		f := Firing{N: base + j + 1, Kind: kind, At: tl.mean[j], Earliest: tl.min[j], Latest: tl.max[j], Interval: tl.interval[j]}
		if j == w.bestIdx {
			f.Kind, f.N = FireAbort, base+j
			f.At, f.Earliest, f.Latest = w.best, w.earliest, w.latest
		}
		out = append(out, f)
	}
	return out
}

// kaCase is an idle connection with SO_KEEPALIVE at sample time t.
type kaCase struct {
	t       time.Time
	pending time.Time // programmed expiry of the keepalive timer
	armed   time.Duration
	align   int64
	probes  int       // icsk_probes_out
	lastRx  time.Time // last segment received (the keepalive clock)
	idle    time.Duration
	intvl   time.Duration
	cnt     int
	userTO  time.Duration
	inputs  []Input
	conf    Confidence
}

// predictKeepalive predicts the abort of a keepalive-guarded idle
// connection whose peer no longer answers (tcp_keepalive_timer): a probe
// every interval once idle has elapsed since the last received segment,
// and the abort at the expiry where cnt probes are outstanding (or, with
// TCP_USER_TIMEOUT, where that much time has passed since the last
// received segment and at least one probe is outstanding).
func predictKeepalive(p Params, c *kaCase) *Prediction {
	if c.intvl <= 0 || (c.cnt <= 0 && c.userTO <= 0) {
		return nil
	}
	// The pending expiry may be a stale one that only re-anchors the timer
	// to lastRx+idle: the first probe is sent at the first expiry that
	// finds idle elapsed.
	tl := newTimeline(p, c.pending, c.armed, c.align, c.t)
	probes := c.probes
	k := -1
	firstProbe := -1
	for j := 0; j < maxFirings; j++ {
		// At firing j: elapsed since lastRx, using the expected trajectory
		// for the decision (the count-based rule does not depend on it).
		elapsed := tl.mean[j].Sub(c.lastRx)
		if elapsed < c.idle && probes == 0 {
			// Re-arm to lastRx+idle.
			tl.addAt(c.lastRx.Add(c.idle))
			continue
		}
		if c.userTO > 0 {
			if elapsed >= c.userTO && probes > 0 {
				k = j
				break
			}
		} else if probes >= c.cnt {
			k = j
			break
		}
		if firstProbe < 0 {
			firstProbe = j
		}
		probes++
		tl.add(c.intvl)
	}
	if k < 0 {
		return nil
	}
	w := tl.countWindow(k)
	pred := &Prediction{
		Reason: ReasonKeepalive, Confidence: c.conf, Made: c.t,
		At: w.best, Earliest: w.earliest, Latest: w.latest,
		Clock: c.lastRx, ClockEarliest: c.lastRx, ClockLatest: c.lastRx,
		Budget: c.idle + time.Duration(c.cnt)*c.intvl, Inputs: c.inputs,
	}
	if c.userTO > 0 {
		pred.Reason = ReasonUserTimeout
		pred.Budget = c.userTO
	}
	n := c.probes
	for j := 0; j <= k; j++ {
		if j < firstProbe && j != k {
			continue // a re-anchoring expiry, not a probe
		}
		f := Firing{N: n + 1, Kind: FireProbe, At: tl.mean[j], Earliest: tl.min[j], Latest: tl.max[j], Interval: tl.interval[j]}
		if j == k {
			f.Kind, f.N = FireAbort, n
		} else {
			n++
		}
		pred.Schedule = append(pred.Schedule, f)
	}
	pred.Count = n
	return pred
}

// zwCase is a connection whose persist timer probes a zero window.
type zwCase struct {
	t         time.Time
	pending   time.Time
	probes    int // icsk_probes_out: probes not answered
	backoff   int
	rto       time.Duration
	maxProbes int
	retries2  int
	rtoMax    time.Duration
	inputs    []Input
	conf      Confidence
	orphan    bool
}

// probe0Interval is tcp_probe0_when(): the RTO (at least TCP_RTO_MIN)
// shifted by the backoff, capped.
func probe0Interval(rto time.Duration, backoff int, rtoMax time.Duration) time.Duration {
	base := rto
	if base < RTOMin {
		base = RTOMin
	}
	shift := ilog2(int64(RTOMaxDefault/RTOMin)) + 1
	if backoff < shift {
		shift = backoff
	}
	d := base << uint(shift)
	if d > rtoMax || d <= 0 {
		return rtoMax
	}
	return d
}

// predictZeroWindow predicts the abort of a zero-window connection whose
// probes go unanswered (tcp_probe_timer): abort at the expiry that finds
// tcp_retries2 probes outstanding. A peer that answers its probes resets
// the count and is never aborted (RFC 1122), so this is only called when
// probes are outstanding.
func predictZeroWindow(p Params, c *zwCase) *Prediction {
	armed := probe0Interval(c.rto, c.backoff, c.rtoMax)
	var align int64 = 1
	if c.backoff > 0 {
		align = p.alignAfter(probe0Interval(c.rto, c.backoff-1, c.rtoMax))
	}
	tl := newTimeline(p, c.pending, armed, align, c.t)
	probes, backoff := c.probes, c.backoff
	k := -1
	for j := 0; j < maxFirings; j++ {
		if probes >= c.maxProbes {
			k = j
			break
		}
		if backoff < c.retries2 {
			backoff++
		}
		probes++
		tl.add(probe0Interval(c.rto, backoff, c.rtoMax))
	}
	if k < 0 {
		return nil
	}
	w := tl.countWindow(k)
	pred := &Prediction{
		Reason: ReasonZeroWindowProbes, Confidence: c.conf, Made: c.t,
		At: w.best, Earliest: w.earliest, Latest: w.latest, Count: c.maxProbes,
		Inputs: c.inputs,
	}
	if c.orphan {
		pred.Reason = ReasonOrphanRetries
	}
	pred.Schedule = futureFirings(tl, w, c.probes, FireProbe)
	return pred
}
