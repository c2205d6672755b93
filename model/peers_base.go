package model

import (
	"net/netip"
	"time"
)

// PeerBase is what the connections that keep their sample until the next
// sweep add to their hosts' verdicts. Between two sweeps of a large host
// only the suspects are refreshed (see Tracker.Refresh); the rest of a
// host's connections — 10^5 to one upstream behind a proxy — say the same
// at every refresh, so their part of the verdict is gathered once, after
// the sweep, and a refresh judges a host at the cost of its refreshed
// connections (UpdateSome).
type PeerBase struct {
	hosts map[netip.Addr]*hostTally
	// order is the hosts in the order first met, for determinism.
	order     []netip.Addr
	listening map[uint16]bool
}

// NewBase gathers the part of the verdicts that the rows for which fixed
// is true add, at time now. rows are every connection of the sweep (the
// listeners among them are the base's listening ports); the others are
// the ones to be refreshed, given to each UpdateSome. The base keeps the
// rows' sockets, which must stay unchanged while it is used (as a Conn's
// Sock).
func (pt *PeerTracker) NewBase(now time.Time, rows []Row, fixed func(i int) bool) *PeerBase {
	b := &PeerBase{hosts: map[netip.Addr]*hostTally{}, listening: listeningPorts(rows)}
	for i := range rows {
		if !fixed(i) {
			continue
		}
		r := &rows[i]
		a, ok := pt.host(r)
		if !ok {
			continue
		}
		t := b.hosts[a]
		if t == nil {
			t = pt.newTally(a)
			b.hosts[a] = t
			b.order = append(b.order, a)
		}
		t.add(r, now, b.listening, pt.cfg.NoticeWithin)
	}
	return b
}

// of is the base's tally of host a, or nil.
func (b *PeerBase) of(a netip.Addr) *hostTally {
	if b == nil {
		return nil
	}
	return b.hosts[a]
}

// Reown moves row r, which the base counted as the process pid's (0:
// unknown), to the process it names now. Between two sweeps the owner
// index names the rows on screen as it finds them; gathering the base
// again for each took 0.3 s at 10^6 rows, a fifth of the interface's CPU.
// r must be a row the base counted (not a suspect's). Reown returns r's
// host, whose verdict now names another process, and false when the base
// has no connection of r's host in pid's group (a listener, a host
// skipped).
func (pt *PeerTracker) Reown(b *PeerBase, r *Row, pid int) (netip.Addr, bool) {
	a, ok := pt.host(r)
	if !ok || b == nil {
		return netip.Addr{}, false
	}
	t := b.hosts[a]
	if t == nil {
		return netip.Addr{}, false
	}
	k := groupOf(r, b.listening)
	old := k
	old.pid = pid
	if t.groups[old] == 0 {
		return netip.Addr{}, false
	}
	t.leave(old)
	t.join(k, r.Comm)
	return a, true
}
