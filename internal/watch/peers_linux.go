package watch

import (
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
	return w.peers.Update(sp.time, sp.uncertainty, w.src.tracker.Params().Jiffy(), rows)
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
func (w *Watcher) judgeAllPeers(now time.Time, u, jiffy time.Duration, rows []model.Row) ([]model.Peer, []model.Event) {
	if w.peers == nil {
		w.peers = model.NewPeerTracker(model.PeerConfig{SkipLoopback: true})
	}
	return w.peers.Update(now, u, jiffy, rows)
}
