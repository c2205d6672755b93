package model

// A one-shot sees every connection once: nothing is compared with an
// earlier poll and nothing is kept for a later one, so a connection need
// not enter the tracker at all. AssessOnce is the tracker's first sight of
// one socket, without the memory (~500 bytes a connection) that Update
// keeps for the next poll, and PeerSuspect says which rows may make their
// host's verdict other than alive.

import (
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// AssessOnce returns the row that a first Update of a new tracker makes
// of s, sampled at now within uncertainty u, and forgets the connection:
// the tracker's connections, events and counters are left as they were.
// The row points at s. A one-shot can then stream its rows, each with the
// sample time of its own socket, instead of holding the whole dump.
func (tr *Tracker) AssessOnce(s *inetdiag.Socket, now time.Time, u time.Duration, opts OptionSource) Row {
	c := Conn{Sock: s, FirstSeen: InstantOf(now), StateSince: InstantOf(now)}
	saved := tr.uncertainty
	tr.uncertainty = u
	tr.assess(&c, nil, now, opts)
	tr.uncertainty = saved
	r := Row{
		Sock: s, Health: c.Health, HealthSince: c.HealthSince, FirstSeen: c.FirstSeen,
		Prediction: c.Prediction, Exposure: c.Exposure, Sampled: InstantOf(now),
	}
	if len(c.History) > 0 {
		r.History = &History{Samples: c.History} // c is this call's: no copy
	}
	return r
}

// PeerSuspect reports whether a row can make its host's verdict other
// than alive (PeerTracker): it is a connection to a host and it waits for
// an answer. A host none of whose connections is suspect is judged alive,
// whatever else they show.
func PeerSuspect(r *Row, now time.Time) bool {
	if !hasPeer(r) {
		return false
	}
	_, _, ok := stallStart(r, now)
	return ok
}
