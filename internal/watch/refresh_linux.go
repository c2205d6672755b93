package watch

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
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
	Lookup(targets []inetdiag.Target, ext inetdiag.Extensions, full inetdiag.FullFunc, fn func(i int, s *inetdiag.Socket, err error)) error
}

// sweepState is what a source keeps of its last sweep for the refreshes
// that follow it. The suspects are chosen once, at the first refresh
// after the sweep: a connection not looked up keeps its sample, so it
// cannot become one before the next sweep, and one looked up stays one
// (every refreshed connection's sample is then in the last look-ups'
// buffer). Everything else a refresh needs of the other connections —
// their rows with their owners, their part of their hosts' verdicts, the
// listening ports — is gathered then too, so that a refresh costs its
// suspects, not the host.
type sweepState struct {
	// conns are the last sweep's connections, in its order, less those
	// gone since: a refresh's rows.
	conns []*model.Conn
	// fresh is set by a sweep: the suspects are not chosen yet.
	fresh bool
	// at are the indices in conns of the suspects, ascending; targets
	// and cookies what looking them up takes.
	at      []int
	targets []inetdiag.Target
	cookies []uint64
	// owners are conns' owners (valid with haveRows): with conns they
	// make every row a refresh shows, the suspects' as of the last
	// refresh (a connection not looked up is as its sweep left it, so its
	// row is made again the same). base is their part of their hosts'
	// verdicts (see model.PeerBase); listening the sweep's listening
	// ports. Made by the first refresh after a sweep. (Whole rows kept
	// here were a third row array: 160 MB at 10^6 against 4.)
	owners   ownerTable
	haveRows bool
	// epoch names rows' contents but the suspects': it changes whenever
	// another row changes (a new sweep, a drop, owners resolved), so a
	// buffer whose rows are of the same epoch (buffer.rowsEpoch) needs
	// only the suspects' rows written.
	epoch uint64
	// touched are the rows, beside the suspects', written since the epoch
	// began (owners found for rows on screen): a buffer of the epoch gets
	// them written too, rather than a new epoch making the next refresh
	// copy every row (10^6 rows, 0.3 s, at each owner the index finds).
	touched []int
	// freshAt is at and touched merged (see freshRows), as of epoch
	// freshEpoch and freshTouched touched rows.
	freshAt      []int
	freshEpoch   uint64
	freshTouched int
	base         *model.PeerBase
	listening    map[uint16]bool
	// reowned are the rows whose owners this refresh found (rows on
	// screen), for base (see model.PeerTracker.Reown).
	reowned []reowned
	// shownGen is the generation of the rows on screen whose owners were
	// resolved into rows (see Watcher.SetShown); shownUnowned says some of
	// them are still without one.
	shownGen     uint64
	shownUnowned bool
	// unownedAt are the rows on screen still without one, as of epoch
	// unownedEpoch.
	unownedAt    []int
	unownedEpoch uint64
	// look is the buffer of the last look-ups, which the suspects point
	// into (held for the tracker as s.prev is).
	look *buffer
	// Scratch for a refresh.
	gone    []uint64
	live    []model.Row
	unowned []model.Row
}

// reowned is a row whose owner was found: its index and the process it
// named before.
type reowned struct{ i, pid int }

// rowOwner is the process a row names.
type rowOwner struct {
	pid  int
	comm string
}

// ownerOf is the owner row r names.
func ownerOf(r *model.Row) rowOwner { return rowOwner{r.PID, r.Comm} }

// ownerTable keeps the rows' owners between sweeps as 4-byte indices into
// the distinct owners (a host's processes, a few thousand at most), not
// 24 bytes a row: 20 MB at 10^6. The owners found since the last reset
// stay in the table until the next (a sweep's).
type ownerTable struct {
	ids   []uint32   // by row; 0 is no owner
	names []rowOwner // names[k] is owner k (names[0] unused)
	index map[rowOwner]uint32
}

// reset empties the table for a new sweep's rows.
func (t *ownerTable) reset() {
	t.ids, t.names = t.ids[:0], t.names[:0]
	clear(t.index)
}

// id is owner o's index, added if new.
func (t *ownerTable) id(o rowOwner) uint32 {
	if o == (rowOwner{}) {
		return 0
	}
	if k, ok := t.index[o]; ok {
		return k
	}
	if t.index == nil {
		t.index = map[rowOwner]uint32{}
	}
	if len(t.names) == 0 {
		t.names = append(t.names, rowOwner{})
	}
	k := uint32(len(t.names))
	t.names = append(t.names, o)
	t.index[o] = k
	return k
}

// add appends a row's owner.
func (t *ownerTable) add(o rowOwner) { t.ids = append(t.ids, t.id(o)) }

// at is row i's owner.
func (t *ownerTable) at(i int) rowOwner {
	if k := t.ids[i]; k != 0 {
		return t.names[k]
	}
	return rowOwner{}
}

// set makes o row i's owner.
func (t *ownerTable) set(i int, o rowOwner) { t.ids[i] = t.id(o) }

// row is the row of conns[i] with its owner.
func (st *sweepState) row(i int) model.Row {
	r := model.RowOf(st.conns[i])
	o := st.owners.at(i)
	r.PID, r.Comm = o.pid, o.comm
	return r
}

// choose picks the suspects of the last sweep's connections.
func (st *sweepState) choose() {
	// at is a new slice: the snapshots of the last epoch share the old
	// one (Snapshot.Fresh).
	st.at, st.targets, st.cookies = nil, st.targets[:0], st.cookies[:0]
	for i, c := range st.conns {
		if c.Suspect() {
			st.at = append(st.at, i)
			st.targets = append(st.targets, inetdiag.Target{Family: c.Sock.Family, ID: c.Sock.ID})
			st.cookies = append(st.cookies, c.Sock.ID.Cookie)
		}
	}
	st.fresh, st.haveRows, st.base, st.listening = false, false, nil, nil
}

// drop removes the connections the tracker no longer follows (suspects
// found gone) from conns, rows and the suspects.
func (st *sweepState) drop(tracked func(cookie uint64) bool) {
	suspect := make(map[uint64]bool, len(st.cookies))
	for _, k := range st.cookies {
		suspect[k] = true
	}
	// A new slice: earlier polls' results share the old one. owners are
	// the state's own.
	conns := make([]*model.Conn, 0, len(st.conns))
	owners := st.owners.ids[:0]
	st.at, st.targets, st.cookies = nil, st.targets[:0], st.cookies[:0]
	for i, c := range st.conns {
		k := c.Sock.ID.Cookie
		if !tracked(k) {
			continue
		}
		if suspect[k] {
			st.at = append(st.at, len(conns))
			st.targets = append(st.targets, inetdiag.Target{Family: c.Sock.Family, ID: c.Sock.ID})
			st.cookies = append(st.cookies, k)
		}
		conns = append(conns, c)
		if st.haveRows {
			owners = append(owners, st.owners.ids[i])
		}
	}
	st.conns = conns
	if st.haveRows {
		st.owners.ids = owners
	}
	st.renew() // so the refresh copies every row: setup
}

// freshRows is Snapshot.Fresh for the epoch's rows: the suspects' and
// those touched since the epoch began. The slice is made anew when it
// grows, and shared by the snapshots until then.
func (st *sweepState) freshRows() []int {
	if len(st.touched) == 0 {
		return st.at
	}
	if st.freshEpoch != st.epoch || st.freshTouched != len(st.touched) {
		f := append(slices.Clone(st.at), st.touched...)
		slices.Sort(f)
		st.freshAt, st.freshEpoch, st.freshTouched = slices.Compact(f), st.epoch, len(st.touched)
	}
	return st.freshAt
}

// epochs are unique across sources, whose buffers may share a pool.
var epochs atomic.Uint64

func newEpoch() uint64 { return epochs.Add(1) }

// renew starts a new epoch: every buffer's rows are stale.
func (st *sweepState) renew() {
	st.epoch, st.touched = newEpoch(), st.touched[:0]
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
	st.fresh = true
}

// refresh looks up the source's suspects and feeds the answers to the
// tracker. Its sourcePoll's rows are every connection of the last sweep
// still tracked; its buffer holds the look-ups, and shared the sweep's
// (both released by the snapshot). A failed look-up leaves the tracker as
// it was.
func (s *source) refresh(start time.Time, opts model.OptionSource) (sourcePoll, error) {
	st := &s.sweep
	if st.fresh {
		st.choose()
		st.listening = listening(s.prev.socks)
	}
	buf := s.lookBufs.get(bufHolders)
	if len(st.targets) == 0 {
		// Nothing to look up: only the counters are read, for the
		// firings of connections that were healthy at the sweep.
		if s.ledger.Active() {
			c, _ := s.ns.Counters()
			s.unexplained = s.ledger.Refreshed(c, 0)
		}
		now := s.clock()
		s.prev.refs.Add(1)
		if st.look != nil {
			st.look.release() // nothing points into it: no connection was looked up since the sweep
		}
		st.look = buf
		return sourcePoll{buf: buf, shared: s.prev, time: now, refresh: true, listening: st.listening,
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
		err = s.dump.(lookuper).Lookup(st.targets, dumpExtensions, buf.fullFor(s.keep), func(i int, sk *inetdiag.Socket, lerr error) {
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
		counters: counters, countersAfter: after, refresh: true, listening: st.listening}
	s.prev.refs.Add(1) // for the snapshot, beside the tracker's hold
	p := s.tracker.Refresh(model.PollInput{
		Time: sp.time, Uncertainty: sp.uncertainty, Socks: buf.socks, Options: opts,
		Counters: counters, CountersAfter: after,
	}, st.gone)
	s.unexplained = s.ledger.Refreshed(counters, p.Firings)
	if len(st.gone) > 0 {
		st.drop(s.tracker.Tracked)
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
	w.refreshSetup, w.refreshScreen = false, 0
	if w.all != nil {
		return w.all.refresh()
	}
	q := w.Query()
	start := w.cfg.Clock()
	sp, err := w.src.refresh(start, w.options)
	if err != nil {
		return nil, err
	}
	sp.rows = w.takeRows()
	rows := w.refreshRows(sp, q)
	peers, peerEvents := w.refreshPeers(sp, rows)
	rows = filterRows(rows, q)
	sp.rows.rows = rows
	w.noticeLimits()
	snap := w.snapshot(start, sp, rows)
	if e := sp.rows.rowsEpoch; e != 0 {
		// The rows but the suspects' are the epoch's (see refreshRows).
		snap.RowsEpoch, snap.Fresh = e, w.src.sweep.freshRows()
	}
	return w.withPeers(snap, peers, peerEvents), nil
}

// refreshRows are the rows of a refresh: the sweep's rows (and owners)
// kept since, with the suspects' rows made anew and their owners
// resolved. The first refresh after a sweep makes every row and keeps
// them; so does every refresh while a process filter is in force, which
// must test every row's owner.
func (w *Watcher) refreshRows(sp sourcePoll, q query.Query) []model.Row {
	st := &w.src.sweep
	buf := sp.rows
	// Making or copying every row is the sweep's price, not the
	// refresh's (see tiers.setup), unless a filter makes every refresh
	// pay it. (A drop of the gone goes over every row too, and changes
	// the epoch: the refresh copies.)
	if !st.haveRows || q.NeedsOwners() {
		w.refreshSetup = !st.haveRows && !q.NeedsOwners()
		rows := sp.poll.AppendRows(buf.rows[:0], nil)
		w.resolveOwners(rows, sp.time, q)
		st.owners.reset()
		for i := range rows {
			st.owners.add(ownerOf(&rows[i]))
		}
		st.haveRows, st.shownGen = true, w.shownGeneration()
		st.renew()
		st.shownUnowned = true // the next refresh asks again for those the budget did not reach
		buf.rowsEpoch = st.keptEpoch(q)
		return rows
	}
	var rows []model.Row
	if buf.rowsEpoch == st.epoch && len(buf.rows) == len(st.conns) {
		// As made below but the suspects' (patched below) and the rows
		// touched since this buffer was last written.
		rows = buf.rows
		for _, i := range st.touched {
			rows[i] = st.row(i)
		}
	} else {
		rows = slices.Grow(buf.rows[:0], len(st.conns))
		for i := range st.conns {
			rows = append(rows, st.row(i))
		}
		w.refreshSetup = !q.FiltersRows()
	}
	// The suspects' rows anew. An owner found once stands until the next
	// sweep, as the other rows' do: re-reading 5,000 suspects' descriptor
	// links every second would be a third of a refresh at 10^6. Those
	// without one are asked for (their rows may have come to need one).
	live, unowned := st.live[:0], st.unowned[:0]
	for _, i := range st.at {
		r := st.row(i)
		if r.PID == 0 {
			unowned = append(unowned, r)
		}
		live = append(live, r)
	}
	w.resolveOwners(unowned, sp.time, q)
	k := 0
	for j := range live {
		if live[j].PID == 0 {
			live[j] = unowned[k]
			k++
		}
	}
	for k, i := range st.at {
		rows[i] = live[k]
		st.owners.set(i, ownerOf(&live[k]))
	}
	st.live, st.unowned = live, unowned
	if gen := w.shownGeneration(); gen != st.shownGen || st.shownUnowned {
		// Rows came on screen: their owners, once, kept since. Those the
		// owner index's budget did not reach (a scan reads a few
		// processes' descriptor tables a poll, and 10^5 sockets may be
		// spread over dozens of processes) are asked for again at every
		// refresh until found (or every process was read, below), not at
		// the next sweep: the rows on screen carry their process within
		// seconds.
		var at []int
		live = live[:0]
		if gen == st.shownGen && st.unownedEpoch == st.epoch {
			// Asking again: the rows the last time left without one
			// (the epoch keeps the indices), not a pass over every row
			// for the shown inodes (10^6 look-ups a refresh).
			at = st.unownedAt
		} else {
			shown := w.shownSet()
			for i := range rows {
				if shown[rows[i].Sock.Inode] && (gen != st.shownGen || rows[i].PID == 0) {
					at = append(at, i)
				}
			}
		}
		for _, i := range at {
			live = append(live, rows[i])
		}
		// Finding them may read whole descriptor tables: timed apart,
		// for the sweeps' spacing (see tiers.refreshed).
		t0 := w.cfg.Clock()
		w.resolveOwners(live, sp.time, q)
		w.refreshScreen = w.cfg.Clock().Sub(t0)
		var unowned []int
		for k, i := range at {
			if was := ownerOf(&rows[i]); was != ownerOf(&live[k]) {
				st.reowned = append(st.reowned, reowned{i, was.pid}) // its host's groups name the processes
				st.touched = append(st.touched, i)                   // other buffers' rows lack the owner
			}
			if live[k].PID == 0 && live[k].Sock.Inode != 0 {
				unowned = append(unowned, i)
			}
			rows[i].PID, rows[i].Comm = live[k].PID, live[k].Comm
			st.owners.set(i, ownerOf(&live[k]))
		}
		st.live = live
		// Asked again while the index's budget fell short, not once it
		// read every process since they were first asked for: a socket
		// no process holds (the kernel's own, an NFS mount's) would keep
		// it reading descriptor tables every second, 15 % of a core at
		// 10^6. The next sweep asks again.
		st.shownGen, st.shownUnowned = gen, len(unowned) > 0 && w.ownerStats.OverBudget
		st.unownedAt, st.unownedEpoch = unowned, st.epoch
	}
	buf.rowsEpoch = st.keptEpoch(q)
	return rows
}

// keptEpoch is the epoch a refresh's buffer may be tagged with: none when
// a filter will keep only some of its rows.
func (st *sweepState) keptEpoch(q query.Query) uint64 {
	if q.FiltersRows() {
		return 0
	}
	return st.epoch
}

// refreshPeers judges again the hosts of the connections a refresh looked
// up or found gone, each on its suspects' rows and on what its other
// connections added at the first refresh after the sweep (see
// model.PeerBase).
func (w *Watcher) refreshPeers(sp sourcePoll, rows []model.Row) ([]model.Peer, []model.Event) {
	if w.peers == nil {
		w.peers = model.NewPeerTracker(model.PeerConfig{})
	}
	st := &w.src.sweep
	only := map[netip.Addr]bool{}
	if st.base == nil {
		suspect := make([]bool, len(rows))
		for _, i := range st.at {
			suspect[i] = true
		}
		st.base = w.peers.NewBase(sp.time, rows, func(i int) bool { return !suspect[i] })
	} else {
		for _, o := range st.reowned {
			if _, suspect := slices.BinarySearch(st.at, o.i); suspect {
				continue // not in the base: judged live
			}
			if a, ok := w.peers.Reown(st.base, &rows[o.i], o.pid); ok {
				only[a] = true // its verdict names the process
			}
		}
	}
	st.reowned = st.reowned[:0]
	live := st.live[:0]
	for _, i := range st.at {
		live = append(live, rows[i])
	}
	st.live = live
	since := sp.time.Add(-sp.uncertainty)
	for i := range live {
		if r := &live[i]; r.Sampled >= model.InstantOf(since) {
			only[model.PeerAddr(r)] = true
		}
	}
	for _, e := range sp.poll.Events {
		only[e.ID.Remote.Addr().Unmap()] = true
	}
	peers, evs := w.peers.UpdateSome(sp.time, sp.uncertainty, w.src.tracker.Params().Jiffy(), st.base, live, only, w.lastPeers)
	w.lastPeers = peers
	return peers, evs
}

// sweepWanted reports whether the last refresh found, in some namespace,
// RTO firings that none of its suspects explains (see tiers.early).
func (w *Watcher) sweepWanted() bool {
	if w.all == nil {
		return w.src != nil && w.src.unexplained
	}
	for _, m := range w.all.order {
		if m.src != nil && m.src.unexplained {
			return true
		}
	}
	return false
}
