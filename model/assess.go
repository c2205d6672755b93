package model

// One connection at one poll: assess follows each rule's episode (rto.go,
// zerowindow.go, keepalive.go), lets classify pick the kernel rule whose
// timer runs (classify.go), predicts with it, and keeps the exposure
// (exposure.go) and the history. The kernel functions modelled are the
// rule files'.

import (
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// assess classifies a connection and predicts its abort from its latest
// sample (c.Sock), the previous one (prev, nil for a new connection) and
// what the tracker remembers.
func (tr *Tracker) assess(c *Conn, prev *lastSample, now time.Time, opts OptionSource) {
	s := c.Sock
	n := retransmissions(s)
	backoff := inRTOBackoff(s, n)
	c.retrans = c.retrans.update(backoff, prev, c.LastSeen.Time(), now)
	c.updateProbing(tr.cfg.Params, s, prev, now)

	health, pred := HealthOK, (*Prediction)(nil)
	if r := classify(s, n, backoff); r != ruleNone {
		readOptions(c, opts)
		health, pred = tr.predict(r, c, prev, now, n)
	}
	if health == HealthOK {
		health = tr.quietHealth(c, now)
	}
	if health != c.Health || c.HealthSince.IsZero() {
		c.HealthSince = InstantOf(now)
		if health == HealthCloseWait && c.FirstSeen == InstantOf(now) {
			c.HealthSince = InstantOf(now.Add(-tr.closeWaitAge(c, now)))
		}
	}
	if pred != nil && tr.uncertainty > 0 {
		widen(pred, tr.uncertainty)
	}
	c.Health, c.Prediction = health, pred
	tr.updateExposure(c, now)
	// History is for troubled connections only: unguarded is
	// informational and is what most idle connections of a busy host are
	// (120 samples each for 10^5 of them would be 600 MB).
	if health.Unhealthy() || len(c.History) > 0 {
		tr.record(c, now)
	}
}

// readOptions reads the options of a socket a rule applies to (the
// tracker asks for no others). Options rarely change after a socket is
// set up: a reading that fails now (the owner briefly not found) keeps
// the last good one. An orphan has no owner to read them from.
func readOptions(c *Conn, opts OptionSource) {
	if opts != nil && c.Sock.Inode != 0 {
		if o, ok := opts(c.Sock); ok {
			c.setOpts(o)
		}
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

// updateExposure keeps the exposure of an established connection.
func (tr *Tracker) updateExposure(c *Conn, now time.Time) {
	if c.Sock.State != inetdiag.StateEstablished {
		c.Exposure = nil
		return
	}
	// An Exposure is never modified once set, so that rows can share it:
	// a new value gets a new one, and an unchanged one (an idle
	// connection's, poll after poll) costs no allocation.
	e := tr.exposure(c, now)
	switch {
	case c.Exposure != nil && *c.Exposure == e:
	case e == neverAssumed:
		c.Exposure = &neverAssumed
	case e == neverExact:
		c.Exposure = &neverExact
	default:
		ne := e
		c.Exposure = &ne
	}
}

// neverAssumed and neverExact are the exposures of idle connections
// without keepalive, most of a large host's, shared by all of them rather
// than 24 bytes each (2.4 MB at 10^5). Like every Exposure they are never
// modified.
var (
	neverAssumed = Exposure{Never: true, Confidence: Assumed}
	neverExact   = Exposure{Never: true, Confidence: Exact}
)

// record appends the sample to the connection's history, dropping the
// oldest beyond the configured length.
func (tr *Tracker) record(c *Conn, now time.Time) {
	s := c.Sock
	smp := Sample{T: now, RTT: s.Info.RTT.Duration(), SendQ: s.SendQ, Unacked: s.Info.Unacked, Retransmits: s.Info.Retransmits, Backoff: s.Info.Backoff, Probes: s.Info.Probes}
	if len(c.History) >= tr.cfg.HistoryLen {
		copy(c.History, c.History[1:])
		c.History[len(c.History)-1] = smp
		return
	}
	c.History = append(c.History, smp)
}
