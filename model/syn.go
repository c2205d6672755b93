package model

// The SYN_SENT rule (net/ipv4/tcp_timer.c): tcp_retransmit_timer()
// retransmits the SYN from TCP_TIMEOUT_INIT, linearly for the first
// tcp_syn_linear_timeouts firings and doubling after, and
// tcp_write_timeout() gives up when the count tcp_syn_retries (or
// TCP_SYNCNT) plus the linear timeouts is reached or the time rule
// tcp_model_timeout(retries, 1 s) is spent, whichever comes first;
// TCP_USER_TIMEOUT replaces the time rule and clamps the timer. The
// README's "How predictions work" states it; states_test.go checks it and
// the crash lab's TestLabSynSent measures it. The timer model is rto.go's.

import (
	"strconv"
	"time"
)

// synPrediction gathers the evidence of a connection attempt whose SYN is
// being retransmitted and predicts its abort.
func (tr *Tracker) synPrediction(c *Conn, now time.Time) *Prediction {
	p := tr.cfg.Params
	s := c.Sock
	info := &s.Info
	n := int(info.Retransmits)
	retries := p.SynRetries
	src := FromSysctl
	if c.Opts().Known && c.Opts().SynCnt > 0 {
		retries, src = c.Opts().SynCnt, FromSocket
	}
	rc := &rtoCase{
		t: now, n: n, backoff: int(info.Backoff), rto: info.RTO.Duration(), rtoMax: tr.rtoMax(c),
		synSent: true, synRetries: retries, synLimit: retries + p.SynLinearTimeouts, linear: p.SynLinearTimeouts,
		pending: now.Add(s.Expires), conf: confidence(c.Opts().Known),
	}
	if rc.rto <= 0 {
		return nil
	}
	rc.armed = rc.rto
	// The SYN was sent one initial RTO before the first firing; work back
	// along the schedule from the pending expiry.
	var sum time.Duration
	var past []time.Duration
	r := TimeoutInit
	for k := 0; k <= n; k++ {
		sum += r
		past = append(past, r)
		r = rc.nextRTO(r, k+1)
	}
	rc.align = 1
	if n >= 1 {
		rc.align = p.alignAfter(past[n-1])
	}
	lateLo, lateMean, lateHi := p.chain(past[:n], 1)
	syn := rc.pending.Add(-sum)
	rc.clock = clockWindow{lo: syn.Add(-lateHi), mid: syn.Add(-lateMean), hi: syn.Add(-lateLo), how: "SYN sent (reconstructed)"}
	rc.inputs = []Input{
		{Name: InputSynRetries, Value: strconv.Itoa(retries), Source: src},
		{Name: InputSynLinearTimeouts, Value: strconv.Itoa(p.SynLinearTimeouts), Source: FromSysctl},
	}
	if c.Opts().Known && c.Opts().UserTimeout > 0 {
		rc.userTO = c.Opts().UserTimeout
		rc.inputs = append(rc.inputs, Input{Name: InputUserTimeout, Value: secs(rc.userTO), Source: FromSocket})
		// The timer is clamped to expire when the user timeout is spent
		// (tcp_clamp_rto_to_user_timeout): a pending expiry U after a SYN
		// later than the schedule puts it was clamped, and where it falls
		// on the timer wheel follows the SYN, not the last firing.
		if synC := rc.pending.Add(-rc.userTO); n >= 1 && synC.After(rc.clock.mid) {
			rc.armed = rc.pending.Sub(synC.Add(sum - past[n] + lateMean))
			rc.align = 0
			rc.clock = clockWindow{lo: synC.Add(-p.Jiffy()), mid: synC, hi: synC, how: "SYN sent (the timer is clamped by TCP_USER_TIMEOUT)"}
		}
	}
	for k := 1; k <= n; k++ {
		rc.past = append(rc.past, Firing{N: k, Kind: FireRetransmit, Past: true})
	}
	return predictSyn(p, rc)
}

// predictSyn predicts the abort of a connection attempt: the count rule
// (predictRTO) or the time rule, whichever comes first, and the past SYN
// retransmissions along the schedule.
func predictSyn(p Params, rc *rtoCase) *Prediction {
	n, now := rc.n, rc.t
	pred := predictRTO(p, rc)
	if pred == nil {
		return nil
	}
	// The time rule applies too: tcp_model_timeout(retries, 1 s).
	T := ModelTimeout(rc.synRetries, TimeoutInit, rc.rtoMax)
	if rc.userTO > 0 {
		// TCP_USER_TIMEOUT replaces it, and clamps the timer as in the
		// synchronized states.
		T = rc.userTO
		if alt := predictRTOUserTimeout(p, rc); alt != nil && alt.At.Before(pred.At) {
			pred = alt
		}
	} else if alt := rc.clock.mid.Add(T); alt.Before(pred.At) {
		tl := newTimeline(p, rc.pending, rc.armed, rc.align, now)
		r := rc.rto
		for j := 1; j < maxFirings && tl.max[tl.len()-1].Before(pred.Latest); j++ {
			r = rc.nextRTO(r, n+j)
			tl.add(r)
		}
		if w, ok := tl.timeWindow(rc.clock.lo, rc.clock.mid, rc.clock.hi, func(int) time.Duration { return T }, func(j int) bool { return n+j > 0 }); ok && w.best.Before(pred.At) {
			pred.At, pred.Earliest, pred.Latest, pred.MaySlip = w.best, w.earliest, w.latest, w.slip
			pred.Count = n + w.bestIdx
			pred.Schedule = append(append([]Firing(nil), rc.past...), futureFirings(tl, w, n, FireRetransmit)...)
		}
	}
	// Fill in the past SYN retransmissions along the schedule.
	at, r := rc.clock.mid, TimeoutInit
	for k := range rc.past {
		at = at.Add(r)
		r = rc.nextRTO(r, k+1)
		pred.Schedule[k].At, pred.Schedule[k].Earliest, pred.Schedule[k].Latest = at, at, at
	}
	pred.Clock, pred.ClockEarliest, pred.ClockLatest = rc.clock.mid, rc.clock.lo, rc.clock.hi
	// The budget is the rule that decides: the time rule when it came
	// first, else the time the retry count works out to from the SYN.
	pred.Budget = T
	if pred.Reason == ReasonSynRetries && pred.At.Sub(rc.clock.mid) > T+p.Jiffy()*2 {
		pred.Budget = pred.At.Sub(rc.clock.mid).Round(time.Millisecond)
	}
	return pred
}
