package model

// What a host's connections say, gathered one connection at a time: the
// counts, the latest receive, the stalls, the predicted aborts and the
// blast radius that a verdict (peers_verdict.go) rests on. A tally can be
// started from another (see PeerBase): between two sweeps most of a
// host's connections keep the sweep's sample, so what they add is
// gathered once and only the refreshed connections are added each poll.

import (
	"maps"
	"slices"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// groupKey is a blast-radius group under plain numbers (hashing the
// process name for each of 10^5 connections of one host was most of a
// verdict's cost); the name is taken from the group's first row.
type groupKey struct {
	pid           int
	remote, local uint16
	health        Health
}

// stall is a connection waiting for an answer (see stallStart).
type stall struct {
	at, latest time.Time
	sock       *inetdiag.Socket
}

// hostTally is what one host's connections add up to.
type hostTally struct {
	conns, dying int
	byHealth     [healthCount]int
	// heard is the latest receive on the connections, heardBy its
	// socket (nil when none received).
	heard   time.Time
	heardBy *inetdiag.Socket
	stalled []stall
	// firstAbort and lastAbort bound the predicted aborts.
	firstAbort, lastAbort time.Time
	// never are the never-noticing connections this tally added, and
	// neverBase, for a tally cloned from a base, the base's (shared,
	// never changed): a refresh adds its few to a host's 10^5 without
	// copying them (800 KB a refresh, see neverCache).
	never     []*inetdiag.Socket
	neverBase []*inetdiag.Socket
	groups    map[groupKey]int
	names     map[groupKey]string
}

func newTally() *hostTally {
	return &hostTally{groups: map[groupKey]int{}, names: map[groupKey]string{}}
}

// clone is a tally that starts where t is and can be added to without
// changing t.
func (t *hostTally) clone() *hostTally {
	c := *t
	c.stalled = slices.Clip(t.stalled)
	c.never, c.neverBase = nil, t.neverList()
	c.groups, c.names = maps.Clone(t.groups), maps.Clone(t.names)
	return &c
}

// neverCount is how many of the host's connections never notice.
func (t *hostTally) neverCount() int { return len(t.neverBase) + len(t.never) }

// neverList is the host's never-noticing connections in one list: the
// base's alone when the tally added none (a clone's base list is not
// copied).
func (t *hostTally) neverList() []*inetdiag.Socket {
	if len(t.never) == 0 {
		return t.neverBase
	}
	if len(t.neverBase) == 0 {
		return t.never
	}
	return append(slices.Clip(t.neverBase), t.never...)
}

// add counts one connection of the host. listening are the local ports
// with a listener (see PeerGroup); noticeWithin is
// PeerConfig.NoticeWithin. The tally keeps r.Sock, not r.
func (t *hostTally) add(r *Row, now time.Time, listening map[uint16]bool, noticeWithin time.Duration) {
	t.conns++
	if r.Health < healthCount {
		t.byHealth[r.Health]++
	}
	if r.Health.Dying() {
		t.dying++
	}
	// Ties go to the lower cookie, so that the verdict does not depend
	// on the order connections are added in (see PeerBase).
	if at, ok := lastReceived(r, now); ok && (at.After(t.heard) || at.Equal(t.heard) && t.heardBy != nil && r.Sock.ID.Cookie < t.heardBy.ID.Cookie) {
		t.heard, t.heardBy = at, r.Sock
	}
	if at, latest, ok := stallStart(r, now); ok {
		t.stalled = append(t.stalled, stall{at: at, latest: latest, sock: r.Sock})
	}
	if pr := r.Prediction; pr != nil {
		if t.firstAbort.IsZero() || pr.At.Before(t.firstAbort) {
			t.firstAbort = pr.At
		}
		if pr.At.After(t.lastAbort) {
			t.lastAbort = pr.At
		}
	}
	if neverNotices(r, noticeWithin) {
		t.never = append(t.never, r.Sock)
	}
	t.join(groupOf(r, listening), r.Comm)
}

// groupOf is r's blast-radius group.
func groupOf(r *Row, listening map[uint16]bool) groupKey {
	k := groupKey{pid: r.PID, remote: r.Sock.ID.Dst.Port(), health: r.Health}
	if lp := r.Sock.ID.Src.Port(); listening[lp] {
		k.remote, k.local = 0, lp
	}
	return k
}

// join counts a connection of the process comm in group k; leave undoes
// it.
func (t *hostTally) join(k groupKey, comm string) {
	if t.groups[k]++; comm != "" && t.names[k] == "" {
		t.names[k] = comm
	}
}

func (t *hostTally) leave(k groupKey) {
	switch n := t.groups[k]; n {
	case 0:
	case 1:
		delete(t.groups, k)
		delete(t.names, k)
	default:
		t.groups[k] = n - 1
	}
}

// listeningPorts is the set of local ports with a listener among rows.
func listeningPorts(rows []Row) map[uint16]bool {
	ports := map[uint16]bool{}
	for i := range rows {
		if r := &rows[i]; r.Sock != nil && r.Sock.State == inetdiag.StateListen {
			ports[r.Sock.ID.Src.Port()] = true
		}
	}
	return ports
}

// connName is how a verdict names a connection: "local → remote".
func connName(s *inetdiag.Socket) string {
	return Endpoint(s.ID.Src) + " → " + Endpoint(s.ID.Dst)
}
