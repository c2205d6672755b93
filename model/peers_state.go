package model

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// peerStateVersion is the format of PeerTracker.MarshalState (2: written
// with the tracker state's encoding, stateWriter).
const peerStateVersion = 2

// MarshalState returns what the peer tracker remembers of each host (its
// last receive, verdict and last poll), so that a replay starting at a
// keyframe judges hosts as the live run did: without it the silence of a
// host would restart at the keyframe and its verdict's event be told
// again. Hosts are written in address order, so the bytes are stable.
// The kept events are not included (they are history, not judgement).
// Times are stored relative to now, the poll's time, and restored on the
// replayed poll's time, as the tracker's state is (Tracker.MarshalState).
func (pt *PeerTracker) MarshalState(now time.Time) []byte {
	addrs := make([]netip.Addr, 0, len(pt.hosts))
	for a := range pt.hosts {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	w := stateWriter{b: []byte{peerStateVersion}, ref: now}
	w.uvarint(uint64(len(addrs)))
	for _, a := range addrs {
		m := pt.hosts[a]
		ab, _ := a.MarshalBinary() // 0, 4 or 16 bytes (a zone is never set)
		w.str(string(ab))
		w.time(m.lastRx)
		w.uvarint(uint64(m.status))
		w.time(m.lastSeen)
	}
	return w.b
}

// RestorePeerTracker is NewPeerTracker(cfg) with the memory MarshalState
// wrote. Damaged or foreign bytes are an error, never a panic.
func RestorePeerTracker(cfg PeerConfig, b []byte, now time.Time) (*PeerTracker, error) {
	pt := NewPeerTracker(cfg)
	if len(b) == 0 {
		return nil, errors.New("model: peer state: empty")
	}
	if b[0] != peerStateVersion {
		return nil, fmt.Errorf("model: peer state: version %d, want %d", b[0], peerStateVersion)
	}
	r := stateReader{b: b[1:], ref: now}
	n := r.count(1 << 24)
	for i := uint64(0); i < n && r.err == nil; i++ {
		var a netip.Addr
		if ab := r.str(); r.err == nil {
			if err := a.UnmarshalBinary([]byte(ab)); err != nil || !a.IsValid() {
				r.fail(fmt.Sprintf("host %d: bad address", i))
			}
		}
		m := peerMemory{lastRx: r.time(), status: PeerStatus(r.small(uint64(PeerUnresponsive))), lastSeen: r.time()}
		if _, dup := pt.hosts[a]; dup && r.err == nil {
			r.fail(fmt.Sprintf("host %d: %v twice", i, a))
		}
		if r.err == nil {
			pt.hosts[a] = &m
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("bytes after the last host")
	}
	if r.err != nil {
		return nil, fmt.Errorf("model: peer state: %w", r.err)
	}
	return pt, nil
}
