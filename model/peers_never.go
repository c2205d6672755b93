package model

import (
	"cmp"
	"slices"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// neverCache keeps the sorted references of an unresponsive host's
// never-noticing connections from its base (PeerBase) from one verdict
// to the next (Peer.NeverNoticeConns). Between two sweeps the base's list
// does not change, and what refreshed connections add to it is a few
// suspects at most, so the base's part made and sorted at one refresh
// serves the next: at 10^6 connections to one host (a dead backend of an
// edge proxy, or the load fixture's loopback) making and sorting half a
// million references again took 0.3–0.9 s of every refresh, and the
// countdowns, whose interval stretches with slow refreshes, ticked every
// 7–12 s instead of every second.
type neverCache struct {
	// from is the base's list the refs were made of: its first element
	// and length. A base's list is never changed, so the same first
	// element and length are the same list; the pointer keeps that array
	// alive, so no later list can be allocated where it is.
	from **inetdiag.Socket
	n    int
	list []ConnRef
}

// refs returns the references of base and extra sorted by cookie, base
// being the part that comes from a base (nil without one): that part is
// made again only when it is not the last call's, extra merged in.
func (c *neverCache) refs(base, extra []*inetdiag.Socket) []ConnRef {
	if len(base) == 0 {
		c.from, c.n, c.list = nil, 0, nil
		return sortedRefs(extra)
	}
	if c.from != &base[0] || c.n != len(base) {
		c.from, c.n, c.list = &base[0], len(base), sortedRefs(base)
	}
	if len(extra) == 0 {
		return c.list
	}
	more := sortedRefs(extra)
	out := make([]ConnRef, 0, len(c.list)+len(more))
	i, j := 0, 0
	for i < len(c.list) && j < len(more) {
		if c.list[i].ID.Cookie <= more[j].ID.Cookie {
			out, i = append(out, c.list[i]), i+1
		} else {
			out, j = append(out, more[j]), j+1
		}
	}
	out = append(append(out, c.list[i:]...), more[j:]...)
	return out
}

// sortedRefs are the references of socks, sorted by cookie.
func sortedRefs(socks []*inetdiag.Socket) []ConnRef {
	list := make([]ConnRef, len(socks))
	for k, s := range socks {
		list[k] = ConnRef{Family: s.Family, ID: s.ID}
	}
	slices.SortFunc(list, func(a, b ConnRef) int { return cmp.Compare(a.ID.Cookie, b.ID.Cookie) })
	return list
}
