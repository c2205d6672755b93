package watch

import (
	"errors"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
	"github.com/tcpwatch/tcpwatch/sockowner"
)

// options is the tracker's OptionSource: the owner from the index, then
// the options through pidfd_getfd (cached per cookie).
func (w *Watcher) options(s *inetdiag.Socket) (model.SockOpts, bool) {
	if w.index == nil || s.Inode == 0 {
		return model.SockOpts{}, false
	}
	now := w.cfg.Clock()
	owner, n := w.index.Owner(s.Inode)
	if n == 0 {
		if _, err := w.index.Refresh([]uint32{s.Inode}, now); err != nil {
			return model.SockOpts{}, false
		}
		owner, n = w.index.Owner(s.Inode)
		if n == 0 {
			return model.SockOpts{}, false
		}
	}
	o, err := w.opts.Get(owner, s.ID.Cookie, now)
	if err != nil {
		if errors.Is(err, sockowner.ErrPermission) {
			w.optsDenied.Store(true)
		}
		return model.SockOpts{}, false
	}
	so := model.SockOpts{
		KeepAlive: o.KeepAlive, KeepIdle: o.KeepIdle, KeepIntvl: o.KeepIntvl, KeepCnt: o.KeepCnt,
		UserTimeout: o.UserTimeout, SynCnt: o.SynCnt,
	}
	if o.Has(sockowner.OptRTOMax) {
		so.RTOMax = o.RTOMax
	}
	return so, true
}

// resolveOwners fills PID and Comm for the rows that need them: all of
// them under OwnersAll or on a host of at most OwnerLimit connections,
// else the unhealthy ones, those an interface shows (SetShown), and those
// a process filter must test (the rows that pass its health terms: the
// others are dropped whatever their process).
//
// A process filter on a host above the owner limit asks for the owner of
// every row it must test, up to every socket of the host. Re-reading the
// descriptor link of every cached owner on every poll then more than
// doubled a poll's cost at 10^5 sockets (BenchmarkPoll/flagged-comm:
// 1.4-1.9 s a poll, against 0.6-0.8 s and 0.4-0.5 s unfiltered), so while
// such a filter is in force a cached owner is trusted for
// sockowner.DefaultRescanAfter, as OwnersAll does. The scans of
// descriptor tables keep OwnersFlagged's budget per poll (the interface
// stays responsive): names the budget did not reach come in the next
// polls.
func (w *Watcher) resolveOwners(rows []model.Row, now time.Time, q query.Query) {
	w.ownerStats = sockowner.Stats{}
	if w.index == nil {
		return
	}
	all := w.cfg.Owners == OwnersAll || len(rows) <= w.cfg.OwnerLimit
	comm := q.NeedsOwners()
	if w.cfg.Owners == OwnersFlagged {
		w.index.RevalidateAfter = 0
		if comm && !all {
			w.index.RevalidateAfter = sockowner.DefaultRescanAfter
		}
	}
	shown := w.shownSet()
	wanted := w.wanted[:0]
	for i := range rows {
		r := &rows[i]
		if r.Sock.Inode != 0 && (all || r.Health.Unhealthy() || shown[r.Sock.Inode] || comm && q.MatchHealth(r)) {
			wanted = append(wanted, r.Sock.Inode)
		}
	}
	w.wanted = wanted
	if len(wanted) == 0 {
		return
	}
	st, err := w.index.Refresh(wanted, now)
	if err != nil {
		w.notices.add("cannot read /proc: no process names")
		return
	}
	w.ownerStats = st
	for i := range rows {
		r := &rows[i]
		if r.Sock.Inode == 0 {
			continue
		}
		if o, n := w.index.Owner(r.Sock.Inode); n > 0 {
			r.PID, r.Comm = o.PID, o.Comm
		}
	}
	if w.opts != nil {
		w.opts.Prune(now.Add(-5 * time.Minute))
	}
}
