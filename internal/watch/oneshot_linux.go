package watch

// A one-shot (--once) prints one dump and exits. Poll would hold the
// whole dump (192 bytes a socket), the tracker's memory of every
// connection for a next poll that never comes (~500 bytes), the rows and
// the output at once: 100 MB at 40k sockets. Once instead decodes the
// dump in batches of onceBatch sockets, gives each batch its owners,
// assesses each socket as a new tracker's first poll would (without
// keeping it) and hands the rows on as they come: what it holds is one
// batch, the cookies seen (to drop a socket the dump repeats), the
// listening ports and the owner index. It reads no TCP counters (they
// only tell a reset from a close between two polls) and keeps no history.

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// onceBatch is how many sockets Once decodes before resolving their
// owners and handing their rows on: 1024 copies of a socket are 590 KB,
// and the owner index is asked once per batch rather than per socket.
const onceBatch = 1024

// funcDumper is a dumper that hands out sockets one at a time
// (inetdiag.Conn); a dumper without it (the tests' fakes) is read whole.
type funcDumper interface {
	DumpFunc(req inetdiag.Request, fn func(s *inetdiag.Socket) error) error
}

// OnceFunc receives one row of a one-shot, sampled at t: the row and its
// socket are valid only during the call.
type OnceFunc func(r *model.Row, t time.Time) error

// CanStream reports whether Once can serve this watcher: it watches one
// namespace and records nothing (a recording is made of polls).
func (w *Watcher) CanStream() bool { return w.src != nil && w.rec == nil }

// Once takes one dump and calls emit for every row that passes the
// query, in the order of the dump, as soon as the row's batch is decoded
// and its owners are known (every row's, unless Config.Owners is
// OwnersNone). Each socket's sample time is the middle of the span
// between the start of the dump and the moment it was decoded, and half
// that span its uncertainty: the kernel read it within that span. The
// returned snapshot has no rows: it carries what comes after them (the
// hosts that are not alive, their events, the notices, the listening
// ports and the parameters).
//
// Hosts are judged over all of their connections (PeerTracker). A host
// can be judged other than alive only if one of its connections waits
// for an answer (model.PeerSuspect); when the dump found such hosts, a
// second dump collects their connections, and their verdicts are of that
// dump's time. An error from emit stops the one-shot and is returned.
func (w *Watcher) Once(emit OnceFunc) (*model.Snapshot, error) {
	if !w.CanStream() {
		return nil, fmt.Errorf("watch: one-shot streaming needs a single namespace without recording")
	}
	q := w.Query()
	req := q.Request()
	req.Ext = dumpExtensions
	o := &oneShot{w: w, q: q, emit: emit, start: w.cfg.Clock(),
		seen: map[uint64]struct{}{}, listening: map[uint16]bool{}, suspects: map[netip.Addr]bool{}}
	if err := o.dump(req, o.stream); err != nil {
		return nil, err
	}
	end := w.cfg.Clock()
	snapTime := o.start.Add(end.Sub(o.start) / 2)
	var peers []model.Peer
	var peerEvents []model.Event
	if len(o.suspects) > 0 {
		var err error
		if snapTime, peers, peerEvents, err = o.judgeSuspects(req); err != nil {
			return nil, err
		}
	}
	w.noticeLimits()
	snap := model.NewSnapshot(nil)
	snap.Time = snapTime
	snap.PollCost = w.cfg.Clock().Sub(o.start)
	snap.Params = w.src.tracker.Params()
	snap.Host = w.host
	snap.NetNS = w.cfg.NetNSName
	snap.Notices = w.notices.all()
	snap.Listening = o.listening
	snap.Peers = peers
	snap.Events = peerEvents
	snap.AllEvents = peerEvents
	return snap, nil
}

// oneShot is the state of one Once.
type oneShot struct {
	w     *Watcher
	q     query.Query
	emit  OnceFunc
	start time.Time // when the first dump began; the owner index's clock

	socks  []inetdiag.Socket // the batch being decoded
	times  []time.Time       // when each of them was decoded
	inodes []uint32          // scratch: the batch's inodes

	seen      map[uint64]struct{} // cookies handed on (a dump may repeat a socket)
	listening map[uint16]bool
	suspects  map[netip.Addr]bool // hosts with a connection waiting for an answer
}

// dump runs one dump through batches: handle gets each full batch and
// the last one.
func (o *oneShot) dump(req inetdiag.Request, handle func() error) error {
	o.socks, o.times = o.socks[:0], o.times[:0]
	add := func(s *inetdiag.Socket) error {
		o.socks = append(o.socks, *s)
		o.times = append(o.times, o.w.cfg.Clock())
		if len(o.socks) < onceBatch {
			return nil
		}
		err := handle()
		o.socks, o.times = o.socks[:0], o.times[:0]
		return err
	}
	var err error
	if fd, ok := o.w.src.dump.(funcDumper); ok {
		err = fd.DumpFunc(req, add)
	} else {
		var socks []inetdiag.Socket
		socks, err = o.w.src.dump.Dump(req, nil)
		for i := 0; err == nil && i < len(socks); i++ {
			err = add(&socks[i])
		}
	}
	if err == nil && len(o.socks) > 0 {
		err = handle()
	}
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	return nil
}

// owners resolves the owners of the batch's sockets. The index's clock
// stays at the start of the one-shot: a process scanned for one batch is
// not scanned again for the next (each is read at most once).
func (o *oneShot) owners(socks []inetdiag.Socket) {
	w := o.w
	if w.index == nil {
		return
	}
	o.inodes = o.inodes[:0]
	for i := range socks {
		if ino := socks[i].Inode; ino != 0 {
			o.inodes = append(o.inodes, ino)
		}
	}
	if len(o.inodes) == 0 {
		return
	}
	if _, err := w.index.Refresh(o.inodes, o.start); err != nil {
		w.notices.add("cannot read /proc: no process names")
	}
}

// row assesses the batch's i-th socket at its own sample time.
func (o *oneShot) row(i int) (model.Row, time.Time) {
	s := &o.socks[i]
	half := o.times[i].Sub(o.start) / 2
	t := o.start.Add(half)
	r := o.w.src.tracker.AssessOnce(s, t, half, o.w.options)
	o.ownerOf(&r)
	return r, t
}

// ownerOf names the row's process from the index.
func (o *oneShot) ownerOf(r *model.Row) {
	if o.w.index != nil && r.Sock.Inode != 0 {
		if ow, n := o.w.index.Owner(r.Sock.Inode); n > 0 {
			r.PID, r.Comm = ow.PID, ow.Comm
		}
	}
}

// stream handles a batch of the first dump: every new socket becomes a
// row, handed on if it passes the query.
func (o *oneShot) stream() error {
	o.w.src.noticeInfoLen(o.socks)
	o.owners(o.socks)
	for i := range o.socks {
		s := &o.socks[i]
		if s.State == inetdiag.StateListen {
			o.listening[s.ID.Src.Port()] = true
		}
		if _, dup := o.seen[s.ID.Cookie]; dup {
			continue // moved between hash buckets while the dump ran: keep the first
		}
		o.seen[s.ID.Cookie] = struct{}{}
		r, t := o.row(i)
		if model.PeerSuspect(&r, t) {
			o.suspects[model.PeerAddr(&r)] = true
		}
		if o.q.FiltersRows() && !o.q.MatchRow(&r) {
			continue
		}
		if err := o.emit(&r, t); err != nil {
			return err
		}
	}
	return nil
}

// judgeSuspects dumps again and judges the suspect hosts over all of
// their connections, as a poll would: one sample time (the middle of the
// dump) and its uncertainty for all.
func (o *oneShot) judgeSuspects(req inetdiag.Request) (time.Time, []model.Peer, []model.Event, error) {
	clear(o.seen)
	var keep []inetdiag.Socket
	start := o.w.cfg.Clock()
	err := o.dump(req, func() error {
		for i := range o.socks {
			s := &o.socks[i]
			if _, dup := o.seen[s.ID.Cookie]; dup || !o.suspects[s.ID.Dst.Addr().Unmap()] {
				continue
			}
			o.seen[s.ID.Cookie] = struct{}{}
			keep = append(keep, *s)
		}
		return nil
	})
	if err != nil {
		return time.Time{}, nil, nil, err
	}
	end := o.w.cfg.Clock()
	now, u := start.Add(end.Sub(start)/2), end.Sub(start)/2
	o.owners(keep)
	rows := make([]model.Row, len(keep))
	for i := range keep {
		rows[i] = o.w.src.tracker.AssessOnce(&keep[i], now, u, o.w.options)
		o.ownerOf(&rows[i])
	}
	if o.w.peers == nil {
		o.w.peers = model.NewPeerTracker(model.PeerConfig{})
	}
	peers, events := o.w.peers.Update(now, u, o.w.src.tracker.Params().Jiffy(), rows)
	return now, peers, events, nil
}
