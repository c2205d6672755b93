package model

// The zero-window rules (net/ipv4/tcp_timer.c). The persist timer
// (tcp_probe_timer, re-armed by tcp_probe0_when) probes a zero window and
// aborts at the expiry that finds tcp_retries2 (for an orphan
// tcp_orphan_retries) probes unanswered; a peer that answers is never
// aborted (RFC 1122), except under TCP_USER_TIMEOUT, which ends the stall
// once the user timeout has passed since the first probe
// (icsk_probes_tstamp). Data already in flight into a zero window is
// probed by the retransmission timer instead, which gives up in
// tcp_rtx_probe0_timed_out(). The README's "How predictions work" states
// the facts; states_test.go checks them and the crash lab
// (TestLabZeroWindow, TestLabZeroWindowPeerDies,
// TestLabZeroWindowUserTimeout) measures them.

import (
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// zeroWindowEpisode is what the tracker learned of a connection's current
// stretch under the persist timer.
type zeroWindowEpisode struct {
	// since is the first poll that saw the persist timer of the episode,
	// calm the poll before it (zero if unseen): the first probe-timer
	// expiry lies between them.
	since, calm time.Time
}

// update follows the episode to the sample s at now; prev is the previous
// sample (nil for a new connection), taken at lastSeen.
func (e *zeroWindowEpisode) update(s *inetdiag.Socket, prev *lastSample, lastSeen, now time.Time) {
	if s.Timer != inetdiag.TimerProbe0 {
		*e = zeroWindowEpisode{}
		return
	}
	if e.since.IsZero() {
		e.since, e.calm = now, time.Time{}
		if prev != nil && prev.timer != inetdiag.TimerProbe0 {
			e.calm = lastSeen
		}
	}
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

// zeroWindowPrediction gathers the evidence of a connection under the
// persist timer (orphan if no process owns it) and predicts its abort.
func (tr *Tracker) zeroWindowPrediction(c *Conn, now time.Time, orphan bool) *Prediction {
	p := tr.cfg.Params
	s := c.Sock
	ep := c.probesSeen().zeroWindow
	zc := &zeroWindowCase{
		t: now, expires: s.Expires, probes: int(s.Retrans), backoff: int(s.Info.Backoff), rto: s.Info.RTO.Duration(),
		maxProbes: p.Retries2, retries2: p.Retries2, rtoMax: tr.rtoMax(c),
		inputs: []Input{retries2Input(p)},
		conf:   confidence(c.Opts().Known && c.Opts().UserTimeout == 0), orphan: orphan,
		firstLo: ep.calm, firstHi: ep.since,
	}
	if c.Opts().Known {
		zc.userTO = c.Opts().UserTimeout
	}
	if orphan {
		alive := probe0Interval(zc.rto, zc.backoff, zc.rtoMax) < zc.rtoMax
		zc.maxProbes = orphanRetries(p, alive)
		zc.inputs = []Input{orphanRetriesInput(p)}
	}
	pred := predictZeroWindow(p, zc)
	if pred != nil && !c.Opts().Known {
		pred.Notes = append(pred.Notes, "a TCP_USER_TIMEOUT on the socket would end this sooner (it cannot be read without privileges)")
	}
	return pred
}

// zeroWindowCase is a connection whose persist timer probes a zero window,
// at sample time t.
type zeroWindowCase struct {
	t         time.Time
	expires   time.Duration // until the pending probe-timer expiry
	probes    int           // icsk_probes_out: probes not answered
	backoff   int
	rto       time.Duration
	maxProbes int
	retries2  int
	rtoMax    time.Duration
	inputs    []Input
	conf      Confidence
	orphan    bool
	userTO    time.Duration // TCP_USER_TIMEOUT, 0 if unset (or unknown)
	// firstLo and firstHi bracket the first probe-timer expiry of the
	// episode (zero firstLo: the episode began before the first poll).
	firstLo, firstHi time.Time
}

// predictZeroWindow predicts the abort of a zero-window connection whose
// probes go unanswered (tcp_probe_timer): abort at the expiry that finds
// maxProbes probes outstanding. A peer that answers its probes resets
// the count and is never aborted (RFC 1122). An answer resets the count,
// so two probes outstanding mean two went unanswered in a row; one alone
// proves nothing, because a live receiver rate-limits its answers to
// out-of-window segments (tcp_invalid_ratelimit, 500 ms by default) and
// may skip one when the probes come fast. TCP_USER_TIMEOUT is another
// rule (predictProbe0UserTimeout).
func predictZeroWindow(p Params, c *zeroWindowCase) *Prediction {
	if c.userTO > 0 {
		return predictProbe0UserTimeout(p, c)
	}
	if c.probes < 2 {
		return nil
	}
	armed := probe0Interval(c.rto, c.backoff, c.rtoMax)
	var align int64 = 1
	if c.backoff > 0 {
		align = p.alignAfter(probe0Interval(c.rto, c.backoff-1, c.rtoMax))
	}
	tl := newTimeline(p, c.t.Add(c.expires), armed, align, c.t)
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

// predictProbe0UserTimeout: with TCP_USER_TIMEOUT, tcp_probe_timer()
// aborts a zero-window connection once the user timeout has passed since
// the first probe-timer expiry of the episode (icsk_probes_tstamp), even
// if the peer answers every probe, and the probe timer is clamped to fire
// then. The first expiry is bracketed by the polls around the start of the
// episode; without them there is no prediction.
func predictProbe0UserTimeout(p Params, c *zeroWindowCase) *Prediction {
	if c.firstLo.IsZero() {
		return nil // the episode began before tcpwatch looked: no bound on its start
	}
	u, now := c.userTO, c.t
	sLo, sHi := c.firstLo, c.firstHi
	if c.backoff == 0 {
		// No probe yet: the first expiry is the pending one.
		sHi = now.Add(c.expires + p.WheelGranularity(c.expires) + p.Jiffy())
	}
	g := p.WheelGranularity(u)
	mid := sLo.Add(sHi.Sub(sLo) / 2)
	pred := &Prediction{
		Reason: ReasonUserTimeout, Confidence: Exact, Made: now,
		Earliest: sLo.Add(u), Latest: sHi.Add(u + g + p.Jiffy()), At: mid.Add(u + g/2),
		Clock: mid, ClockEarliest: sLo, ClockLatest: sHi, Budget: u,
		Inputs: []Input{{Name: InputUserTimeout, Value: secs(u), Source: FromSocket}, {Name: InputClockStart, Value: "first zero-window probe, between two polls", Source: FromDiag}},
		Notes:  []string{"TCP_USER_TIMEOUT ends a zero-window stall even when the peer answers every window probe (tcp_probe_timer)"},
	}
	if pred.Latest.Before(now) {
		// The socket outlived the window: the abort can only come at a
		// probe expiry still to come, the pending one at the latest.
		pred.Latest = now.Add(c.expires + p.WheelGranularity(c.expires) + p.Jiffy())
	}
	if pred.Earliest.Before(now) {
		pred.Earliest = now
	}
	if pred.At.Before(pred.Earliest) {
		pred.At = pred.Earliest
	}
	if pred.At.After(pred.Latest) {
		pred.At = pred.Latest
	}
	pred.Schedule = []Firing{{Kind: FireAbort, At: pred.At, Earliest: pred.Earliest, Latest: pred.Latest}}
	return pred
}

// zeroWindowInFlightPrediction gathers the evidence of data in flight into
// a zero window (the peer shrank its window, or it went to zero with
// segments out) and predicts its abort. A peer that keeps acknowledging
// is alive and is never aborted.
func (tr *Tracker) zeroWindowInFlightPrediction(c *Conn, now time.Time) *Prediction {
	s := c.Sock
	info := &s.Info
	if info.LastAckRecv.Duration() < info.RTO.Duration() {
		return nil // still acknowledged: alive
	}
	ic := &zeroWindowInFlightCase{
		t: now, pending: now.Add(s.Expires), rto: info.RTO.Duration(), rtoMax: tr.rtoMax(c),
		lastAck: now.Add(-info.LastAckRecv.Duration()), lastAckAgo: info.LastAckRecv.Duration(),
	}
	// The first window retransmission came after the last ACK, and before
	// this episode was first seen.
	ic.firstLo, ic.firstHi = ic.lastAck, now
	if c.retrans != nil && !c.retrans.start.IsZero() && c.retrans.start.Before(ic.firstHi) {
		ic.firstHi = c.retrans.start
	}
	if c.Opts().Known {
		ic.userTO = c.Opts().UserTimeout
	}
	return predictZeroWindowInFlight(tr.cfg.Params, ic)
}

// zeroWindowInFlightCase is a connection whose retransmission timer probes
// a zero window with data in flight, at sample time t.
type zeroWindowInFlightCase struct {
	t          time.Time
	pending    time.Time     // programmed expiry of the retransmission timer
	rto        time.Duration // icsk_rto, what it was armed with
	rtoMax     time.Duration
	lastAck    time.Time     // the last ACK received
	lastAckAgo time.Duration // tcpi_last_ack_recv
	// firstLo and firstHi bracket the first of the window
	// retransmissions.
	firstLo, firstHi time.Time
	userTO           time.Duration // TCP_USER_TIMEOUT, 0 if unset (or unknown)
}

// predictZeroWindowInFlight: the retransmission timer probes the window
// without counting retransmissions, and tcp_rtx_probe0_timed_out() gives
// up only when, at an expiry, both the last ACK and the first of these
// retransmissions are more than 2 × TCP_RTO_MAX (240 s) old — or
// TCP_USER_TIMEOUT has passed since that retransmission (6.11+). Whether
// a limit is crossed depends on when each firing happened, so the timer
// is played out three times.
func predictZeroWindowInFlight(p Params, c *zeroWindowInFlightCase) *Prediction {
	limit := 2 * RTOMaxDefault
	sLo, sHi := c.firstLo, c.firstHi
	sMid := sLo.Add(sHi.Sub(sLo) / 2)
	rearm := make([]time.Duration, maxFirings)
	for i, rto := 0, c.rto; i < maxFirings; i++ {
		if rto = 2 * rto; rto > c.rtoMax {
			rto = c.rtoMax
		}
		rearm[i] = rto
	}
	runs := p.simulateRuns(&timerSim{
		pending: c.pending, armed: c.rto, align: 1, t: c.t, rearm: rearm,
		aborts: func(_ int, due, fired, S time.Time) bool {
			return (due.Sub(c.lastAck) > limit && fired.Sub(S) > limit) || (c.userTO > 0 && fired.Sub(S) >= c.userTO)
		},
	}, sLo, sMid, sHi)
	lo, mid, hi := runs[runEarly], runs[runExpected], runs[runLate]
	if lo.abort < 0 || mid.abort < 0 || hi.abort < 0 {
		return nil
	}
	// The two rules cross their limits at different firings in each run
	// (an early run may miss one that a late run meets): the window spans
	// all three.
	at, k := mid.fires[mid.abort], mid.abort
	earliest, latest := span(lo.fires[lo.abort], at, hi.fires[hi.abort])
	pred := &Prediction{
		Reason: ReasonZeroWindowProbes, Confidence: Assumed, Made: c.t,
		At: at, Earliest: earliest, Latest: latest, Count: k,
		Clock: sMid, ClockEarliest: sLo, ClockLatest: sHi, Budget: limit,
		Inputs: []Input{
			{Name: InputProbe0Limit, Value: secs(limit), Source: FromKernel},
			{Name: InputLastAck, Value: secs(c.lastAckAgo) + " ago", Source: FromDiag},
		},
		Notes:    []string{"data is in flight into a zero window: the kernel probes it with retransmissions and gives up only when the last ACK and the first of them are both more than 240 s old"},
		Schedule: []Firing{{N: k, Kind: FireAbort, At: at, Earliest: earliest, Latest: latest}},
	}
	if c.userTO > 0 {
		pred.Reason, pred.Confidence = ReasonUserTimeout, Exact
	}
	return pred
}
