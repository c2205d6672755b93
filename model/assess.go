package model

import (
	"strconv"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// TCP congestion-avoidance states (tcpi_ca_state).
const (
	caOpen     = 0
	caRecovery = 3
	caLoss     = 4
)

// assess classifies a connection and predicts its abort from its latest
// sample (c.Sock), the previous one (prev, nil for a new connection) and
// what the tracker remembers.
func (tr *Tracker) assess(c *Conn, prev *lastSample, now time.Time, opts OptionSource) {
	s := c.Sock
	info := &s.Info
	hasInfo := info.Len >= inetdiag.TCPInfoLen2_6
	orphan := s.Inode == 0
	n := int(s.Retrans)
	if hasInfo {
		n = int(info.Retransmits)
	}
	inEpisode := s.Timer == inetdiag.TimerRetransmit && hasInfo && (n >= 1 || info.CAState == caLoss)

	// An episode starts at the first sample in RTO backoff. The sample
	// before it, if calm, tells how much of tcpi_total_rto_time belongs to
	// earlier episodes and bounds when this one started.
	if !inEpisode {
		c.ep = nil
	} else if c.ep == nil {
		c.ep = &episode{start: now, firings: map[int]time.Time{}}
		if prev != nil && prev.hasInfo() && prev.caState != caLoss && prev.retransmits == 0 {
			c.ep.calm = c.LastSeen
			c.ep.calmRTOTime = prev.rtoTime
			c.ep.calmRecoveries = prev.rtoRecoveries
			c.ep.calmKnown = prev.hasRTOStats()
			c.ep.sawRecovery = prev.caState == caRecovery
		}
	}
	// The zero-window episode: when the persist timer was first seen, and
	// the last poll before that (its first firing lies between them).
	if s.Timer == inetdiag.TimerProbe0 {
		if c.zwSince.IsZero() {
			c.zwSince, c.zwCalm = now, time.Time{}
			if prev != nil && prev.timer != inetdiag.TimerProbe0 {
				c.zwCalm = c.LastSeen
			}
		}
	} else {
		c.zwSince, c.zwCalm = time.Time{}, time.Time{}
	}
	if s.Timer != inetdiag.TimerKeepalive || s.Retrans == 0 {
		c.kaSince, c.kaPending, c.kaProbes = time.Time{}, time.Time{}, 0
	} else {
		// Between two probes the timer is re-armed with the interval: two
		// consecutive expiries give it (TCP_KEEPINTVL is whole seconds).
		pending := now.Add(s.Expires)
		if int(s.Retrans) == c.kaProbes+1 && !c.kaPending.IsZero() {
			d := pending.Sub(c.kaPending)
			_, late, _, _ := tr.cfg.Params.lateness(d, 1)
			if d = (d - late).Round(time.Second); d >= time.Second {
				c.kaIntvl = d
			}
		}
		c.kaPending, c.kaProbes = pending, int(s.Retrans)
	}

	health, pred := HealthOK, (*Prediction)(nil)
	// Options rarely change after a socket is set up: a reading that
	// fails now (the owner briefly not found) keeps the last good one.
	readOpts := func() {
		if opts != nil && !orphan {
			if o, ok := opts(s); ok {
				c.Opts = o
				c.Opts.Known = true
			}
		}
	}

	switch {
	case s.State == inetdiag.StateSynSent && n >= 1:
		health = HealthSynSent
		readOpts()
		pred = tr.predictSyn(c, now)
	case inEpisode && isSynchronized(s.State) && n == 0 && !orphan && info.Has(inetdiag.TCPInfoLen5_4) && info.SndWnd == 0:
		// Data in flight into a zero window: tcp_retransmit_timer's
		// window-probing branch, which never counts retransmissions.
		health = HealthZeroWindow
		readOpts()
		pred = tr.predictZeroWindowInFlight(c, now)
	case inEpisode && isSynchronized(s.State):
		health = HealthRetransmitting
		if orphan {
			health = HealthOrphanRetrying
		}
		readOpts()
		pred = tr.predictRetrans(c, now, n, orphan)
	case s.Timer == inetdiag.TimerProbe0 && isSynchronized(s.State):
		health = HealthZeroWindow
		if orphan {
			health = HealthOrphanRetrying
		}
		readOpts()
		pred = tr.predictProbe0(c, now, orphan)
	case s.Timer == inetdiag.TimerKeepalive && s.Retrans >= 1 && (s.State == inetdiag.StateEstablished || s.State == inetdiag.StateCloseWait):
		readOpts()
		if tr.keepaliveUnanswered(c, prev, now) {
			health = HealthKeepaliveProbing
			pred = tr.predictKeepalive(c, now)
		}
	}
	if health == HealthOK {
		switch {
		case s.State == inetdiag.StateCloseWait && tr.closeWaitAge(c, now) >= tr.cfg.CloseWaitAfter:
			health = HealthCloseWait
		case s.State == inetdiag.StateEstablished && tr.idleUnguarded(c):
			health = HealthUnguarded
		}
	}
	if health != c.Health || c.HealthSince.IsZero() {
		c.HealthSince = now
		if health == HealthCloseWait && c.FirstSeen.Equal(now) {
			c.HealthSince = now.Add(-tr.closeWaitAge(c, now))
		}
	}
	if pred != nil && tr.uncertainty > 0 {
		widen(pred, tr.uncertainty)
	}
	c.Health, c.Prediction = health, pred
	if s.State == inetdiag.StateEstablished {
		// An Exposure is never modified once set, so that rows can share
		// it: a new value gets a new one, and an unchanged one (an idle
		// connection's, poll after poll) costs no allocation.
		e := tr.exposure(c, now)
		if c.Exposure == nil || *c.Exposure != e {
			ne := e
			c.Exposure = &ne
		}
	} else {
		c.Exposure = nil
	}
	// History is for troubled connections only: unguarded is
	// informational and is what most idle connections of a busy host are
	// (120 samples each for 10^5 of them would be 600 MB).
	if health.Unhealthy() || len(c.History) > 0 {
		tr.record(c, now)
	}
}

// widen makes room in a prediction's window for the uncertainty of the
// sample time: all its instants were derived from it.
func widen(p *Prediction, u time.Duration) {
	p.Earliest, p.Latest = p.Earliest.Add(-u), p.Latest.Add(u)
	p.ClockEarliest, p.ClockLatest = p.ClockEarliest.Add(-u), p.ClockLatest.Add(u)
	for i := range p.Schedule {
		f := &p.Schedule[i]
		f.Earliest, f.Latest = f.Earliest.Add(-u), f.Latest.Add(u)
	}
}

func isSynchronized(st inetdiag.State) bool {
	switch st {
	case inetdiag.StateEstablished, inetdiag.StateCloseWait, inetdiag.StateFinWait1, inetdiag.StateLastAck, inetdiag.StateClosing:
		return true
	}
	return false
}

func (tr *Tracker) record(c *Conn, now time.Time) {
	s := c.Sock
	smp := Sample{T: now, RTT: s.Info.RTT, SendQ: s.SendQ, Unacked: s.Info.Unacked, Retransmits: s.Info.Retransmits, Backoff: s.Info.Backoff, Probes: s.Info.Probes}
	if len(c.History) >= tr.cfg.HistoryLen {
		copy(c.History, c.History[1:])
		c.History[len(c.History)-1] = smp
		return
	}
	c.History = append(c.History, smp)
}

// closeWaitAge is how long the connection has been in CLOSE-WAIT: at least
// since it was first seen there, and at least since the peer's FIN, which
// is the last ACK received unless the application sent data since.
func (tr *Tracker) closeWaitAge(c *Conn, now time.Time) time.Duration {
	age := now.Sub(c.StateSince)
	if c.Sock.Info.Len >= inetdiag.TCPInfoLen2_6 && c.Sock.Info.LastAckRecv > age {
		age = c.Sock.Info.LastAckRecv
	}
	return age
}

// hasKeepalive tells whether SO_KEEPALIVE is on: read from the socket if
// possible, else inferred from the keepalive timer (armed on an idle
// established socket iff SO_KEEPALIVE is set).
func hasKeepalive(c *Conn) bool {
	if c.Opts.Known {
		return c.Opts.KeepAlive
	}
	return c.Sock.Timer == inetdiag.TimerKeepalive
}

// idle reports whether nothing is in flight or queued and no data moved
// for at least d.
func idle(s *inetdiag.Socket, d time.Duration) bool {
	if s.SendQ != 0 || s.Timer == inetdiag.TimerRetransmit || s.Timer == inetdiag.TimerProbe0 {
		return false
	}
	if s.Info.Len < inetdiag.TCPInfoLen2_6 {
		return false
	}
	return s.Info.Unacked == 0 && s.Info.LastDataSent >= d && s.Info.LastDataRecv >= d
}

func (tr *Tracker) idleUnguarded(c *Conn) bool {
	return idle(c.Sock, tr.cfg.IdleAfter) && !hasKeepalive(c)
}

// lastRx is the time of the last segment received: the keepalive clock
// (keepalive_time_elapsed: the later of the last data and the last ACK).
func lastRx(s *inetdiag.Socket, now time.Time) time.Time {
	d := s.Info.LastDataRecv
	if s.Info.LastAckRecv < d {
		d = s.Info.LastAckRecv
	}
	return now.Add(-d)
}

// sysctlInput describes a value taken from a sysctl or from the socket.
func optInput(name InputName, v string, known bool) Input {
	if known {
		return Input{Name: name, Value: v, Source: FromSocket}
	}
	return Input{Name: name, Value: v, Source: FromSysctl}
}

func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

func confidence(known bool) Confidence {
	if known {
		return Exact
	}
	return Assumed
}

// rtoMax is the socket's effective rto_max.
func (tr *Tracker) rtoMax(c *Conn) time.Duration {
	if c.Opts.Known && c.Opts.RTOMax > 0 {
		return c.Opts.RTOMax
	}
	return tr.cfg.Params.RTOMax
}

// predictRetrans builds the RTO case of a synchronized connection.
func (tr *Tracker) predictRetrans(c *Conn, now time.Time, n int, orphan bool) *Prediction {
	p := tr.cfg.Params
	s := c.Sock
	info := &s.Info
	rc := &rtoCase{
		t: now, n: n, backoff: int(info.Backoff), rto: info.RTO, orphan: orphan,
		rtoMax: tr.rtoMax(c),
	}
	if rc.rto <= 0 {
		return nil
	}
	lastFire := now.Add(-info.LastDataSent)
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
	clamped := false
	if n >= 1 && !finOnly {
		if want := lastFire.Add(rc.rto); want.Sub(rc.pending) > 3*p.Jiffy()+rc.rto/50 {
			clamped = true
			rc.armed = max(rc.pending.Sub(lastFire), p.Jiffy())
		}
	}
	if s.Expires == 0 && n >= 1 {
		// Overdue (the wheel is late): the programmed expiry was the last
		// retransmission plus the RTO, already passed.
		if want := lastFire.Add(rc.rto); want.Before(now) {
			rc.pending = want
		}
	}
	ep := c.ep
	if ep != nil && n > ep.lastN && n >= 1 {
		ep.firings[n] = lastFire
	}
	if ep != nil {
		ep.lastN = n
	}
	rc.clock = tr.retransClock(c, now, n, lastFire)
	if !rc.clock.valid() {
		return nil
	}

	// The budget: TCP_USER_TIMEOUT if the socket has one, else the retry
	// count turned into time.
	known := c.Opts.Known
	rc.conf = confidence(known)
	if known && c.Opts.UserTimeout > 0 {
		rc.userTO = c.Opts.UserTimeout
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
			rc.inputs = append(rc.inputs, Input{Name: InputOrphanRetries, Value: strconv.Itoa(p.OrphanRetries), Source: FromSysctl})
			rc.notes = append(rc.notes, "orphaned socket: tcp_orphan_retries applies (0 means 8 while the RTO is below rto_max); the kernel may also kill orphans early under memory pressure or when tcp_max_orphans is exceeded")
		default:
			rc.inputs = append(rc.inputs, Input{Name: InputRetries2, Value: strconv.Itoa(p.Retries2), Source: FromSysctl})
		}
		if !known {
			rc.inputs = append(rc.inputs, Input{Name: InputUserTimeout, Value: "unknown, assumed unset", Source: FromSysctl})
		} else {
			rc.inputs = append(rc.inputs, Input{Name: InputUserTimeout, Value: "unset", Source: FromSocket})
		}
	}
	rc.inputs = append(rc.inputs,
		Input{Name: InputRTOMax, Value: secs(rc.rtoMax), Source: map[bool]Source{true: FromSocket, false: FromSysctl}[known && c.Opts.RTOMax > 0]},
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
	ep := c.ep
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
		stamp := now.Add(-(info.TotalRTOTime - before))
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
	r0 := info.RTO >> uint(b)
	capped := info.RTO >= rtoMax
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
		if b := now.Add(-info.TotalRTOTime); lo.Before(b) {
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
		if c.ep != nil {
			if t, ok := c.ep.firings[k]; ok {
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

// predictSyn predicts the abort of a connection attempt.
func (tr *Tracker) predictSyn(c *Conn, now time.Time) *Prediction {
	p := tr.cfg.Params
	s := c.Sock
	info := &s.Info
	n := int(info.Retransmits)
	retries := p.SynRetries
	src := FromSysctl
	if c.Opts.Known && c.Opts.SynCnt > 0 {
		retries, src = c.Opts.SynCnt, FromSocket
	}
	rc := &rtoCase{
		t: now, n: n, backoff: int(info.Backoff), rto: info.RTO, rtoMax: tr.rtoMax(c),
		synSent: true, synLimit: retries + p.SynLinearTimeouts, linear: p.SynLinearTimeouts,
		pending: now.Add(s.Expires), conf: confidence(c.Opts.Known),
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
	if c.Opts.Known && c.Opts.UserTimeout > 0 {
		rc.userTO = c.Opts.UserTimeout
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
	pred := predictRTO(p, rc)
	if pred == nil {
		return nil
	}
	// The time rule applies too: tcp_model_timeout(retries, 1 s).
	T := ModelTimeout(retries, TimeoutInit, rc.rtoMax)
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
			if rc.userTO > 0 {
				pred.Reason = ReasonUserTimeout
			}
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

// keepaliveUnanswered decides whether outstanding keepalive probes mean
// the peer is gone. A live peer answers within a round trip, which resets
// the probe count; so a count above one, or one probe that stays
// unanswered across polls or for longer than a round trip would allow,
// means no answer is coming.
func (tr *Tracker) keepaliveUnanswered(c *Conn, prev *lastSample, now time.Time) bool {
	s := c.Sock
	if s.Retrans >= 2 {
		return true
	}
	if c.kaSince.IsZero() {
		c.kaSince = now
	}
	margin := 4 * s.Info.RTT
	if margin < 200*time.Millisecond {
		margin = 200 * time.Millisecond
	}
	if prev != nil && prev.timer == inetdiag.TimerKeepalive && prev.retrans >= 1 && now.Sub(c.kaSince) >= margin {
		return true
	}
	if c.Opts.Known {
		// The timer was re-armed with the interval when the probe left.
		sent := now.Add(s.Expires).Add(-c.Opts.KeepIntvl)
		return now.Sub(sent) > margin && lastRx(s, now).Before(sent)
	}
	return false
}

func (tr *Tracker) keepaliveSettings(c *Conn) (idle, intvl time.Duration, cnt int, inputs []Input) {
	p := tr.cfg.Params
	idle, intvl, cnt = p.KeepaliveTime, p.KeepaliveIntvl, p.KeepaliveProbes
	known := c.Opts.Known
	if known {
		if c.Opts.KeepIdle > 0 {
			idle = c.Opts.KeepIdle
		}
		if c.Opts.KeepIntvl > 0 {
			intvl = c.Opts.KeepIntvl
		}
		if c.Opts.KeepCnt > 0 {
			cnt = c.Opts.KeepCnt
		}
	}
	inputs = []Input{
		optInput(InputKeepIdle, secs(idle), known),
		optInput(InputKeepIntvl, secs(intvl), known),
		optInput(InputKeepCnt, strconv.Itoa(cnt), known),
	}
	return
}

// predictKeepalive builds the keepalive case.
func (tr *Tracker) predictKeepalive(c *Conn, now time.Time) *Prediction {
	p := tr.cfg.Params
	s := c.Sock
	idle, intvl, cnt, inputs := tr.keepaliveSettings(c)
	if !c.Opts.Known {
		switch {
		case c.kaIntvl > 0:
			intvl = c.kaIntvl
			inputs[1] = Input{Name: InputKeepIntvl, Value: secs(intvl), Source: FromInferred}
		case s.Expires > intvl:
			// The timer was armed with the interval at the last probe: the
			// socket's interval is at least what remains.
			intvl = s.Expires.Truncate(time.Second) + time.Second
			inputs[1] = Input{Name: InputKeepIntvl, Value: "≥" + secs(intvl), Source: FromInferred}
		}
	}
	var align int64 = 1
	if s.Retrans >= 2 {
		align = p.alignAfter(intvl)
	}
	kc := &kaCase{
		t: now, pending: now.Add(s.Expires), armed: intvl, align: align, probes: int(s.Retrans), lastRx: lastRx(s, now),
		idle: idle, intvl: intvl, cnt: cnt, inputs: inputs, conf: confidence(c.Opts.Known),
	}
	if c.Opts.Known && c.Opts.UserTimeout > 0 {
		kc.userTO = c.Opts.UserTimeout
		kc.inputs = append(kc.inputs, Input{Name: InputUserTimeout, Value: secs(kc.userTO), Source: FromSocket})
	} else if !c.Opts.Known {
		kc.inputs = append(kc.inputs, Input{Name: InputUserTimeout, Value: "unknown, assumed unset", Source: FromSysctl})
	}
	kc.inputs = append(kc.inputs, Input{Name: InputClockStart, Value: "last segment received", Source: FromDiag})
	return predictKeepalive(p, kc)
}

// predictZeroWindowInFlight handles data in flight into a zero window
// (the peer shrank its window, or it went to zero with segments out). The
// RTO timer then probes the window without counting retransmissions, and
// tcp_rtx_probe0_timed_out() gives up only when, at an expiry, both the
// last ACK and the first of these retransmissions are more than
// 2 × TCP_RTO_MAX (240 s) old — or TCP_USER_TIMEOUT has passed since that
// retransmission (6.11+). A peer that keeps acknowledging is never
// aborted.
func (tr *Tracker) predictZeroWindowInFlight(c *Conn, now time.Time) *Prediction {
	p := tr.cfg.Params
	s := c.Sock
	info := &s.Info
	rtoMax := tr.rtoMax(c)
	limit := 2 * RTOMaxDefault
	lastAck := now.Add(-info.LastAckRecv)
	if info.LastAckRecv < info.RTO {
		return nil // still acknowledged: alive
	}
	// The first window retransmission came after the last ACK, and before
	// this episode was first seen.
	sLo, sHi := lastAck, now
	if c.ep != nil && !c.ep.start.IsZero() && c.ep.start.Before(sHi) {
		sHi = c.ep.start
	}
	sMid := sLo.Add(sHi.Sub(sLo) / 2)
	userTO := time.Duration(0)
	if c.Opts.Known {
		userTO = c.Opts.UserTimeout
	}
	pending := now.Add(s.Expires)
	type traj int
	const (
		early traj = iota
		expected
		late
	)
	sim := func(S time.Time, which traj) (time.Time, int, bool) {
		align := int64(1)
		lateOf := func(d time.Duration) time.Duration {
			lo, m, hi, next := p.lateness(d, align)
			align = next
			return [...]time.Duration{lo - p.Jiffy(), m, hi}[which]
		}
		P, rto := pending, info.RTO
		F := P.Add(lateOf(rto))
		for i := 0; i < maxFirings; i++ {
			if F.Before(now) {
				F = now
			}
			if (P.Sub(lastAck) > limit && F.Sub(S) > limit) || (userTO > 0 && F.Sub(S) >= userTO) {
				return F, i, true
			}
			if rto = 2 * rto; rto > rtoMax {
				rto = rtoMax
			}
			P = F.Add(rto)
			F = P.Add(lateOf(rto))
		}
		return time.Time{}, 0, false
	}
	lo, _, ok1 := sim(sLo, early)
	mid, k, ok2 := sim(sMid, expected)
	hi, _, ok3 := sim(sHi, late)
	if !ok1 || !ok2 || !ok3 {
		return nil
	}
	// The two rules cross their limits at different firings in each run
	// (an early run may miss one that a late run meets): the window spans
	// all three.
	lo, hi = span(lo, mid, hi)
	pred := &Prediction{
		Reason: ReasonZeroWindowProbes, Confidence: Assumed, Made: now,
		At: mid, Earliest: lo, Latest: hi, Count: k,
		Clock: sMid, ClockEarliest: sLo, ClockLatest: sHi, Budget: limit,
		Inputs: []Input{
			{Name: InputProbe0Limit, Value: secs(limit), Source: FromKernel},
			{Name: InputLastAck, Value: secs(info.LastAckRecv) + " ago", Source: FromDiag},
		},
		Notes:    []string{"data is in flight into a zero window: the kernel probes it with retransmissions and gives up only when the last ACK and the first of them are both more than 240 s old"},
		Schedule: []Firing{{N: k, Kind: FireAbort, At: mid, Earliest: lo, Latest: hi}},
	}
	if userTO > 0 {
		pred.Reason, pred.Confidence = ReasonUserTimeout, Exact
	}
	return pred
}

// predictProbe0UserTimeout: with TCP_USER_TIMEOUT, tcp_probe_timer()
// aborts a zero-window connection once the user timeout has passed since
// the first probe-timer expiry of the episode (icsk_probes_tstamp), even
// if the peer answers every probe, and the probe timer is clamped to fire
// then. The first expiry is bracketed by the polls around the start of the
// episode; without them there is no prediction.
func (tr *Tracker) predictProbe0UserTimeout(c *Conn, now time.Time) *Prediction {
	p := tr.cfg.Params
	s := c.Sock
	if c.zwCalm.IsZero() {
		return nil // the episode began before tcpwatch looked: no bound on its start
	}
	u := c.Opts.UserTimeout
	sLo, sHi := c.zwCalm, c.zwSince
	if s.Info.Backoff == 0 {
		// No probe yet: the first expiry is the pending one.
		sHi = now.Add(s.Expires + p.WheelGranularity(s.Expires) + p.Jiffy())
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
		pred.Latest = now.Add(s.Expires + p.WheelGranularity(s.Expires) + p.Jiffy())
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

// predictProbe0 handles the persist timer. A peer that answers its
// zero-window probes is alive: no abort is predicted. An answer resets the
// count, so two probes outstanding mean two went unanswered in a row;
// one alone proves nothing, because a live receiver rate-limits its
// answers to out-of-window segments (tcp_invalid_ratelimit, 500 ms by
// default) and may skip one when the probes come fast.
func (tr *Tracker) predictProbe0(c *Conn, now time.Time, orphan bool) *Prediction {
	p := tr.cfg.Params
	s := c.Sock
	probes := int(s.Retrans)
	interval := probe0Interval(s.Info.RTO, int(s.Info.Backoff), tr.rtoMax(c))
	if c.Opts.Known && c.Opts.UserTimeout > 0 {
		return tr.predictProbe0UserTimeout(c, now)
	}
	if probes < 2 {
		return nil
	}
	maxProbes := p.Retries2
	inputs := []Input{{Name: InputRetries2, Value: strconv.Itoa(p.Retries2), Source: FromSysctl}}
	if orphan {
		alive := interval < tr.rtoMax(c)
		maxProbes = p.OrphanRetries
		if maxProbes == 0 && alive {
			maxProbes = 8
		}
		inputs = []Input{{Name: InputOrphanRetries, Value: strconv.Itoa(p.OrphanRetries), Source: FromSysctl}}
	}
	zc := &zwCase{
		t: now, pending: now.Add(s.Expires), probes: probes, backoff: int(s.Info.Backoff), rto: s.Info.RTO,
		maxProbes: maxProbes, retries2: p.Retries2, rtoMax: tr.rtoMax(c), inputs: inputs,
		conf: confidence(c.Opts.Known && c.Opts.UserTimeout == 0), orphan: orphan,
	}
	pred := predictZeroWindow(p, zc)
	if pred != nil && !c.Opts.Known {
		pred.Notes = append(pred.Notes, "a TCP_USER_TIMEOUT on the socket would end this sooner (it cannot be read without privileges)")
	}
	return pred
}

// exposure is how long the kernel would take to notice that the peer host
// died at now.
func (tr *Tracker) exposure(c *Conn, now time.Time) Exposure {
	p := tr.cfg.Params
	s := c.Sock
	if c.Prediction != nil {
		return Exposure{After: c.Prediction.At.Sub(now), Reason: c.Prediction.Reason, Confidence: c.Prediction.Confidence}
	}
	known := c.Opts.Known
	// A connection that carried data lately will send again soon, and its
	// retransmissions will find out; only a quiet one relies on keepalive.
	sending := !idle(s, tr.cfg.IdleAfter)
	if sending {
		rto := s.Info.RTO
		if rto <= 0 {
			rto = RTOMin
		}
		if known && c.Opts.UserTimeout > 0 {
			return Exposure{After: rto + c.Opts.UserTimeout, Reason: ReasonUserTimeout, Confidence: Exact}
		}
		return Exposure{After: rto + ModelTimeout(p.Retries2, RTOMin, tr.rtoMax(c)), Reason: ReasonRetries2, Confidence: confidence(known)}
	}
	if !hasKeepalive(c) {
		return Exposure{Never: true, Confidence: confidence(known)}
	}
	idle, intvl, cnt, _ := tr.keepaliveSettings(c)
	budget := idle + time.Duration(cnt)*intvl
	reason := ReasonKeepalive
	if known && c.Opts.UserTimeout > 0 {
		k := 1
		if over := c.Opts.UserTimeout - idle; over > 0 && intvl > 0 {
			k = int((over + intvl - 1) / intvl)
		}
		budget = idle + time.Duration(k)*intvl
		reason = ReasonUserTimeout
	}
	after := lastRx(s, now).Add(budget).Sub(now)
	if after < 0 {
		after = 0
	}
	return Exposure{After: after, Reason: reason, Confidence: confidence(known)}
}

// span bounds the outcomes of several simulated runs.
func span(t ...time.Time) (earliest, latest time.Time) {
	earliest, latest = t[0], t[0]
	for _, x := range t[1:] {
		if x.Before(earliest) {
			earliest = x
		}
		if x.After(latest) {
			latest = x
		}
	}
	return earliest, latest
}
