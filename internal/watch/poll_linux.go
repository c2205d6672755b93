package watch

import (
	"os"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// Poll dumps the sockets once and returns the snapshot. Its steps: the
// source's dump and tracker update, the rows, their owners, the peers'
// verdicts, the user-space filter, the notices, the snapshot.
func (w *Watcher) Poll() (*model.Snapshot, error) {
	if w.all != nil {
		return w.all.poll()
	}
	q := w.Query()
	start := w.cfg.Clock()
	sp, err := w.src.poll(start, q.Request(), !q.IsZero(), w.rec.wrap(w.options))
	if err != nil {
		return nil, err
	}
	sp.rows = w.takeRows()
	rows := sp.poll.AppendRows(sp.rows.rows[:0], nil)
	w.resolveOwners(rows, sp.time, q)
	// The recorder runs before the peers are judged: a keyframe holds the
	// peer tracker's memory from before this poll, which replay restores
	// and then feeds this poll, as live.
	w.rec.append(w, sp, rows, start)
	peers, peerEvents := w.judgePeers(sp, rows)
	rows = filterRows(rows, q)
	sp.rows.rows, sp.rows.rowsEpoch = rows, 0
	w.noticeLimits()
	return w.withPeers(w.snapshot(start, sp, rows), peers, peerEvents), nil
}

// filterRows keeps, in place, the rows that pass the user-space part of
// the query (the kernel applied the rest).
func filterRows(rows []model.Row, q query.Query) []model.Row {
	if !q.FiltersRows() {
		return rows
	}
	kept := rows[:0]
	for i := range rows {
		if q.MatchRow(&rows[i]) {
			kept = append(kept, rows[i])
		}
	}
	return kept
}

// noticeLimits tells once what the poll could not read for lack of
// privilege.
func (w *Watcher) noticeLimits() {
	if w.index != nil && w.index.Partial() && os.Geteuid() == 0 {
		// (Without root, the notice given at start says it already.)
		w.notices.add("some processes' sockets are unreadable: process names limited")
	}
	if w.optsDenied.Load() {
		w.notices.add("socket options unreadable (needs CAP_SYS_PTRACE): predictions assume the sysctls (~)")
	}
}

// snapshot assembles the immutable result of a poll that began at start:
// its Release hands the source's buffer back.
func (w *Watcher) snapshot(start time.Time, sp sourcePoll, rows []model.Row) *model.Snapshot {
	snap := model.NewSnapshot(sp.release)
	snap.Time = sp.time
	snap.PollCost = w.cfg.Clock().Sub(start)
	snap.Params = w.src.tracker.Params()
	snap.Rows = rows
	snap.Events = sp.poll.Events
	snap.AllEvents = append([]model.Event(nil), w.src.tracker.Events()...)
	snap.Host = w.host
	snap.NetNS = w.cfg.NetNSName
	snap.Notices = w.notices.all()
	snap.Listening = sp.listening
	if snap.Listening == nil {
		snap.Listening = listening(sp.sweptSocks())
	}
	snap.Refresh = sp.refresh
	if w.cfg.CountOtherNetNS {
		snap.OtherNetNS = w.other.count(start)
	}
	return snap
}

// listening is the set of local ports with a listener, which tells a
// service's connections from a client's.
func listening(socks []inetdiag.Socket) map[uint16]bool {
	ports := map[uint16]bool{}
	for i := range socks {
		if socks[i].State == inetdiag.StateListen {
			ports[socks[i].ID.Src.Port()] = true
		}
	}
	return ports
}
