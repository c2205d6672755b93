package model

// Refreshing some connections between two dumps. On a host of 10^6
// sockets a dump takes over a second of the kernel's time, so a full dump
// every second would eat a core; the poller then dumps less often (a
// sweep) and, in between, asks the kernel for the few connections that
// are or may be dying by their id (a look-up, no dump), so that their
// countdowns stay exact and fresh every second. Refresh is how those
// answers reach the tracker: the connections looked up get a new sample
// and verdict, those the kernel no longer has end with their event, and
// every other connection keeps its last sample and verdict untouched.

import (
	"slices"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// Suspect reports whether a connection must be looked up between sweeps:
// it is unhealthy (dying, stalled on a zero window, in CLOSE-WAIT), the
// kernel is predicted to abort it, or its last sample shows the start of
// trouble (a retransmission, a probe, a backoff) that the next sample may
// turn into a countdown. A healthy or merely unguarded connection is not:
// its sample from the last sweep stands until the next.
func (c *Conn) Suspect() bool {
	if c.Prediction != nil || c.Health.Unhealthy() {
		return true
	}
	s := c.Sock
	switch s.State {
	case inetdiag.StateSynSent, inetdiag.StateSynRecv, inetdiag.StateFinWait1, inetdiag.StateClosing, inetdiag.StateLastAck, inetdiag.StateCloseWait:
		return true
	}
	if s.Info.Has(inetdiag.TCPInfoLen2_6) {
		return s.Info.Retransmits > 0 || s.Info.Probes > 0 || s.Info.Backoff > 0
	}
	return (s.Timer == inetdiag.TimerRetransmit || s.Timer == inetdiag.TimerProbe0) && s.Retrans > 0
}

// Refresh feeds the answers of look-ups made between two dumps: in.Socks
// are the fresh samples of connections already tracked (a socket the
// tracker does not know is ignored: new connections come with dumps), and
// gone the cookies of those the kernel no longer has, which vanish as
// from a dump (aborted, reset or closed, told apart by in.Counters). The
// returned Poll's Conns are the connections refreshed, in the order of
// in.Socks, and its Events what happened to them.
func (tr *Tracker) Refresh(in PollInput, gone []uint64) Poll {
	now := in.Time
	tr.uncertainty = in.Uncertainty
	resetsKnown, resets := tr.takeCounters(in)
	tr.polls++
	poll := Poll{Time: now, Conns: make([]*Conn, 0, len(in.Socks))}
	for i := range in.Socks {
		if c := tr.observe(&poll, &in.Socks[i], now, in.Options, false); c != nil {
			poll.Conns = append(poll.Conns, c)
		}
	}
	gone = slices.Clone(gone)
	slices.Sort(gone)
	for _, key := range slices.Compact(gone) {
		c, ok := tr.conns[key]
		if !ok || c.poll == tr.polls {
			continue // unknown, or answered after all
		}
		tr.emit(&poll, tr.vanished(key, c, now, resetsKnown, resets))
		delete(tr.conns, key)
	}
	tr.trimEvents()
	return poll
}

// Tracked reports whether the tracker still follows the connection with
// this cookie.
func (tr *Tracker) Tracked(cookie uint64) bool {
	_, ok := tr.conns[cookie]
	return ok
}
