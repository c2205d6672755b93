package watch

import (
	"errors"
	"fmt"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// Refreshing the suspects between two sweeps. When a full dump costs more
// than the poll budget (10^5 sockets and up, or hundreds of namespaces),
// the dump — the sweep — runs less often, and every interval in between
// the connections that are or may be dying (model.Conn.Suspect) are asked
// for by their id and cookie: exact look-ups (inetdiag.Conn.Lookup) of a
// few sockets cost microseconds each, so their countdowns stay exact and
// tick every interval while the rest of the host is read once a sweep. A
// connection refreshed once is looked up until the next sweep, so that
// every refreshed connection's sample is in the last look-ups' buffer.

// lookuper is a dumper that also answers look-ups by id: *inetdiag.Conn.
// A source whose dumper is not one (a fake, a recording) only sweeps.
type lookuper interface {
	Lookup(targets []inetdiag.Target, ext inetdiag.Extensions, fn func(i int, s *inetdiag.Socket, err error)) error
}

// sweepState is what a source keeps of its last sweep for the refreshes
// that follow it.
type sweepState struct {
	// conns are the last sweep's connections, in its order, less those
	// gone since: a refresh's rows.
	conns []*model.Conn
	// refreshed are the cookies looked up since the sweep; look is the
	// buffer of the last look-ups, which their connections point into
	// (held for the tracker as s.prev is).
	refreshed map[uint64]bool
	look      *buffer
	// Scratch for a refresh.
	targets []inetdiag.Target
	cookies []uint64
	gone    []uint64
}

// canRefresh reports whether the source answers look-ups and has swept.
func (s *source) canRefresh() bool {
	_, ok := s.dump.(lookuper)
	return ok && s.prev != nil
}

// noteSweep starts a new sweep state from a sweep's poll: the last
// look-ups' buffer is let go (every connection now points into the
// sweep's).
func (s *source) noteSweep(p model.Poll) {
	st := &s.sweep
	if st.look != nil {
		st.look.release()
		st.look = nil
	}
	st.conns = p.Conns // made by the tracker for this poll, never modified
	clear(st.refreshed)
}

// refresh looks up the source's suspects and feeds the answers to the
// tracker. Its sourcePoll's rows are every connection of the last sweep
// still tracked; its buffer holds the look-ups, and shared the sweep's
// (both released by the snapshot). A failed look-up leaves the tracker as
// it was.
func (s *source) refresh(start time.Time, opts model.OptionSource) (sourcePoll, error) {
	st := &s.sweep
	if st.refreshed == nil {
		st.refreshed = map[uint64]bool{}
	}
	st.targets, st.cookies = st.targets[:0], st.cookies[:0]
	for _, c := range st.conns {
		k := c.Sock.ID.Cookie
		if st.refreshed[k] || c.Suspect() {
			st.refreshed[k] = true
			st.targets = append(st.targets, inetdiag.Target{Family: c.Sock.Family, ID: c.Sock.ID})
			st.cookies = append(st.cookies, k)
		}
	}
	buf := s.bufs.get()
	buf.refs.Store(bufHolders)
	if len(st.targets) == 0 {
		// Nothing to look up: no reading of the namespace either (with
		// every namespace, each reading is an entry into it).
		now := s.clock()
		s.prev.refs.Add(1)
		if st.look != nil {
			st.look.release() // nothing points into it: no connection was looked up since the sweep
		}
		st.look = buf
		return sourcePoll{buf: buf, shared: s.prev, time: now, refresh: true,
			poll: model.Poll{Time: now, Conns: st.conns}}, nil
	}
	s.refreshParams(start)
	counters, cerr := s.ns.Counters()
	if cerr != nil {
		s.notice("TCP counters unreadable: resets and normal closes between polls cannot be told apart")
	}
	st.gone = st.gone[:0]
	lookStart := s.clock()
	var err error
	if len(st.targets) > 0 {
		err = s.dump.(lookuper).Lookup(st.targets, dumpExtensions, func(i int, sk *inetdiag.Socket, lerr error) {
			switch {
			case lerr == nil:
				buf.socks = append(buf.socks, *sk)
			case errors.Is(lerr, inetdiag.ErrNotFound):
				st.gone = append(st.gone, st.cookies[i])
			}
			// Another error of one look-up (none is known) leaves the
			// connection as it was until the next answer.
		})
	}
	end := s.clock()
	if err != nil {
		s.dropBuffer(buf)
		return sourcePoll{}, fmt.Errorf("watch: refresh: %w", err)
	}
	var after *model.Counters
	if counters != nil {
		after, _ = s.ns.Counters()
	}
	sp := sourcePoll{buf: buf, shared: s.prev, time: lookStart.Add(end.Sub(lookStart) / 2), uncertainty: end.Sub(lookStart) / 2,
		counters: counters, countersAfter: after, refresh: true}
	s.prev.refs.Add(1) // for the snapshot, beside the tracker's hold
	p := s.tracker.Refresh(model.PollInput{
		Time: sp.time, Uncertainty: sp.uncertainty, Socks: buf.socks, Options: opts,
		Counters: counters, CountersAfter: after,
	}, st.gone)
	if len(st.gone) > 0 {
		// A new slice: earlier polls' results share the old one.
		kept := make([]*model.Conn, 0, len(st.conns))
		for _, c := range st.conns {
			if s.tracker.Tracked(c.Sock.ID.Cookie) {
				kept = append(kept, c)
			} else {
				delete(st.refreshed, c.Sock.ID.Cookie)
			}
		}
		st.conns = kept
	}
	// The connections point into this buffer now: the last one is free
	// for the tracker.
	if st.look != nil {
		st.look.release()
	}
	st.look = buf
	sp.poll = model.Poll{Time: p.Time, Conns: st.conns, Events: p.Events}
	return sp, nil
}

// Refresh is Poll between two sweeps, which Loop runs on its own when
// dumps are costly: the suspects looked up, then the same steps as a poll
// over every connection of the last sweep (owners, peers, filter,
// snapshot). It needs a Poll before it (and look-ups: see canRefresh),
// and is never recorded: a recording holds dumps only.
func (w *Watcher) Refresh() (*model.Snapshot, error) {
	if !w.canRefresh() {
		return nil, fmt.Errorf("watch: refresh: no sweep to refresh, or no look-ups here")
	}
	if w.all != nil {
		return w.all.refresh()
	}
	q := w.Query()
	start := w.cfg.Clock()
	sp, err := w.src.refresh(start, w.options)
	if err != nil {
		return nil, err
	}
	rows := sp.poll.AppendRows(sp.buf.rows[:0], nil)
	w.resolveOwners(rows, sp.time, q)
	peers, peerEvents := w.judgePeers(sp, rows)
	rows = filterRows(rows, q)
	sp.buf.rows = rows
	w.noticeLimits()
	return w.withPeers(w.snapshot(start, sp, rows), peers, peerEvents), nil
}
