package watch

import (
	"net/netip"
	"time"

	"github.com/tcpwatch/tcpwatch/model"
)

// judgePeers runs the model's peer tracker over every row of a poll: it
// runs before the user-space part of the filter, so that hiding some
// connections from view does not change what their hosts are judged.
// (The part of a filter the kernel applies does limit what is seen: the
// README says so.)
func (w *Watcher) judgePeers(sp sourcePoll, rows []model.Row) ([]model.Peer, []model.Event) {
	if w.peers == nil {
		w.peers = model.NewPeerTracker(model.PeerConfig{})
	}
	return w.updatePeers(sp.refresh, sp.time.Add(-sp.uncertainty), sp.time, sp.uncertainty, w.src.tracker.Params().Jiffy(), rows, sp.poll.Events)
}

// updatePeers judges the hosts of a poll's rows: all of them after a
// sweep; after a refresh only those of the connections it refreshed or
// found gone (the others' rows are the sweep's, sampled before since,
// and so are their verdicts) — at 10^5 sockets judging every host was
// half a refresh's cost.
func (w *Watcher) updatePeers(refresh bool, since, now time.Time, u, jiffy time.Duration, rows []model.Row, events []model.Event) ([]model.Peer, []model.Event) {
	if !refresh {
		peers, evs := w.peers.Update(now, u, jiffy, rows)
		w.lastPeers = peers
		return peers, evs
	}
	only := map[netip.Addr]bool{}
	for i := range rows {
		if r := &rows[i]; r.Sampled >= model.InstantOf(since) {
			only[model.PeerAddr(r)] = true
		}
	}
	for _, e := range events {
		only[e.ID.Remote.Addr().Unmap()] = true
	}
	peers, evs := w.peers.UpdateSome(now, u, jiffy, nil, rows, only, w.lastPeers)
	w.lastPeers = peers
	return peers, evs
}

// withPeers puts a poll's peers on its snapshot and their events among
// the snapshot's, without writing into the tracker's event slices.
func (w *Watcher) withPeers(snap *model.Snapshot, peers []model.Peer, events []model.Event) *model.Snapshot {
	snap.Peers = peers
	if len(events) > 0 {
		snap.Events = append(append([]model.Event(nil), snap.Events...), events...)
	}
	if w.peers != nil && len(w.peers.Events()) > 0 {
		snap.AllEvents = model.MergeEvents(snap.AllEvents, w.peers.Events())
	}
	return snap
}

// judgeAllPeers is judgePeers over the rows of every namespace: a remote
// address is one host whichever namespace reaches it, except loopback,
// which each namespace has its own of (those rows are not judged). The
// namespaces are dumped one after the other within the poll, so the
// verdict takes the widest uncertainty of any of them.
func (w *Watcher) judgeAllPeers(refresh bool, since, now time.Time, u, jiffy time.Duration, rows []model.Row, events []model.Event) ([]model.Peer, []model.Event) {
	if w.peers == nil {
		w.peers = model.NewPeerTracker(model.PeerConfig{SkipLoopback: true})
	}
	return w.updatePeers(refresh, since, now, u, jiffy, rows, events)
}
