package model

// The keepalive rule (net/ipv4/tcp_timer.c, tcp_keepalive_timer()): once
// an idle connection with SO_KEEPALIVE has received nothing for
// TCP_KEEPIDLE (keepalive_time_elapsed), a probe goes out every
// TCP_KEEPINTVL, and the connection is aborted at the expiry that finds
// TCP_KEEPCNT probes unanswered — or, with TCP_USER_TIMEOUT, the user
// timeout passed since the last received segment and a probe out. The
// README's "How predictions work" states it; states_test.go checks it and
// the crash lab's TestLabKeepalive measures it.

import (
	"strconv"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// keepaliveEpisode is what the tracker learned of a connection's
// outstanding keepalive probes across polls.
type keepaliveEpisode struct {
	since time.Time // first poll that saw a keepalive probe outstanding
	// pending and probes are the keepalive expiry and probe count at the
	// last poll.
	pending time.Time
	probes  int
	// intvl is the probe interval two consecutive probes revealed. It is
	// the socket's setting, not the episode's: it is kept when the probes
	// stop.
	intvl time.Duration
}

// probeEpisodes are the episodes of a connection's probes, allocated at
// its first keepalive or zero-window probe and dropped when nothing of
// them is left to remember (an interval learned stays).
type probeEpisodes struct {
	keepalive  keepaliveEpisode
	zeroWindow zeroWindowEpisode
}

// updateProbing follows the probe episodes of c to its sample s at now
// (prev is the previous sample, nil for a new connection).
func (c *Conn) updateProbing(p Params, s *inetdiag.Socket, prev *lastSample, now time.Time) {
	e := c.probing
	if e == nil {
		if s.Timer != inetdiag.TimerProbe0 && (s.Timer != inetdiag.TimerKeepalive || s.Retrans == 0) {
			return // nothing starts: both updates would leave zeros
		}
		e = new(probeEpisodes)
	}
	e.zeroWindow.update(s, prev, c.LastSeen.Time(), now)
	e.keepalive.update(p, s, now)
	if *e == (probeEpisodes{}) {
		e = nil
	}
	c.probing = e
}

// probes returns c's probe episodes, allocating them for a rule that
// records in them.
func (c *Conn) probes() *probeEpisodes {
	if c.probing == nil {
		c.probing = new(probeEpisodes)
	}
	return c.probing
}

// probesSeen returns a copy of c's probe episodes (zero if none).
func (c *Conn) probesSeen() probeEpisodes {
	if c.probing == nil {
		return probeEpisodes{}
	}
	return *c.probing
}

// update follows the probes to the sample s at now.
func (e *keepaliveEpisode) update(p Params, s *inetdiag.Socket, now time.Time) {
	if s.Timer != inetdiag.TimerKeepalive || s.Retrans == 0 {
		e.since, e.pending, e.probes = time.Time{}, time.Time{}, 0
		return
	}
	// Between two probes the timer is re-armed with the interval: two
	// consecutive expiries give it (TCP_KEEPINTVL is whole seconds).
	pending := now.Add(s.Expires)
	if int(s.Retrans) == e.probes+1 && !e.pending.IsZero() {
		d := pending.Sub(e.pending)
		_, late, _, _ := p.lateness(d, 1)
		if d = (d - late).Round(time.Second); d >= time.Second {
			e.intvl = d
		}
	}
	e.pending, e.probes = pending, int(s.Retrans)
}

// unanswered decides whether the outstanding keepalive probes of sample s
// mean the peer is gone (o are the socket's options, prev the previous
// sample). A live peer answers within a round trip, which resets the
// probe count; so a count above one, or one probe that stays unanswered
// across polls or for longer than a round trip would allow, means no
// answer is coming.
func (e *keepaliveEpisode) unanswered(s *inetdiag.Socket, o SockOpts, prev *lastSample, now time.Time) bool {
	if s.Retrans >= 2 {
		return true
	}
	if e.since.IsZero() {
		e.since = now
	}
	margin := 4 * s.Info.RTT.Duration()
	if margin < 200*time.Millisecond {
		margin = 200 * time.Millisecond
	}
	if prev != nil && prev.timer == inetdiag.TimerKeepalive && prev.retrans >= 1 && now.Sub(e.since) >= margin {
		return true
	}
	if o.Known {
		// The timer was re-armed with the interval when the probe left.
		sent := now.Add(s.Expires).Add(-o.KeepIntvl)
		return now.Sub(sent) > margin && lastRx(s, now).Before(sent)
	}
	return false
}

// hasKeepalive tells whether SO_KEEPALIVE is on: read from the socket if
// possible, else inferred from the keepalive timer (armed on an idle
// established socket iff SO_KEEPALIVE is set).
func hasKeepalive(c *Conn) bool {
	if c.Opts().Known {
		return c.Opts().KeepAlive
	}
	return c.Sock.Timer == inetdiag.TimerKeepalive
}

// lastRx is the time of the last segment received: the keepalive clock
// (keepalive_time_elapsed: the later of the last data and the last ACK).
func lastRx(s *inetdiag.Socket, now time.Time) time.Time {
	d := s.Info.LastDataRecv.Duration()
	if r := s.Info.LastAckRecv.Duration(); r < d {
		d = r
	}
	return now.Add(-d)
}

// keepaliveSettings are the connection's keepalive idle time, interval and
// count: the socket's own if read, else the sysctls.
func (tr *Tracker) keepaliveSettings(c *Conn) (idle, intvl time.Duration, cnt int, inputs []Input) {
	p := tr.cfg.Params
	idle, intvl, cnt = p.KeepaliveTime, p.KeepaliveIntvl, p.KeepaliveProbes
	o := c.Opts()
	known := o.Known
	if known {
		if o.KeepIdle > 0 {
			idle = o.KeepIdle
		}
		if o.KeepIntvl > 0 {
			intvl = o.KeepIntvl
		}
		if o.KeepCnt > 0 {
			cnt = o.KeepCnt
		}
	}
	inputs = []Input{
		optInput(InputKeepIdle, secs(idle), known),
		optInput(InputKeepIntvl, secs(intvl), known),
		optInput(InputKeepCnt, strconv.Itoa(cnt), known),
	}
	return
}

// keepalivePrediction gathers the evidence of a connection whose keepalive
// probes go unanswered and predicts its abort.
func (tr *Tracker) keepalivePrediction(c *Conn, now time.Time) *Prediction {
	p := tr.cfg.Params
	s := c.Sock
	idle, intvl, cnt, inputs := tr.keepaliveSettings(c)
	o := c.Opts()
	if !o.Known {
		switch learned := c.probesSeen().keepalive.intvl; {
		case learned > 0:
			intvl = learned
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
	kc := &keepaliveCase{
		t: now, pending: now.Add(s.Expires), armed: intvl, align: align, probes: int(s.Retrans), lastRx: lastRx(s, now),
		idle: idle, intvl: intvl, cnt: cnt, inputs: inputs, conf: confidence(o.Known),
	}
	if o.Known && o.UserTimeout > 0 {
		kc.userTO = o.UserTimeout
		kc.inputs = append(kc.inputs, Input{Name: InputUserTimeout, Value: secs(kc.userTO), Source: FromSocket})
	} else if !o.Known {
		kc.inputs = append(kc.inputs, Input{Name: InputUserTimeout, Value: "unknown, assumed unset", Source: FromSysctl})
	}
	kc.inputs = append(kc.inputs, Input{Name: InputClockStart, Value: "last segment received", Source: FromDiag})
	return predictKeepalive(p, kc)
}

// keepaliveCase is an idle connection with SO_KEEPALIVE at sample time t.
type keepaliveCase struct {
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
func predictKeepalive(p Params, c *keepaliveCase) *Prediction {
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
