package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// peerStateVersion is the format of PeerTracker.MarshalState.
const peerStateVersion = 1

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
	b := []byte{peerStateVersion}
	b = binary.AppendUvarint(b, uint64(len(addrs)))
	for _, a := range addrs {
		m := pt.hosts[a]
		ab, _ := a.MarshalBinary() // 0, 4 or 16 bytes (a zone is never set)
		b = append(b, byte(len(ab)))
		b = append(b, ab...)
		b = appendRel(b, m.lastRx, now)
		b = append(b, byte(m.status))
		b = appendRel(b, m.lastSeen, now)
	}
	return b
}

// RestorePeerTracker is NewPeerTracker(cfg) with the memory MarshalState
// wrote. Damaged or foreign bytes are an error, never a panic.
func RestorePeerTracker(cfg PeerConfig, b []byte, now time.Time) (*PeerTracker, error) {
	pt := NewPeerTracker(cfg)
	fail := func(what string) (*PeerTracker, error) {
		return nil, fmt.Errorf("model: peer state: %s", what)
	}
	if len(b) == 0 {
		return fail("empty")
	}
	if b[0] != peerStateVersion {
		return fail(fmt.Sprintf("version %d, want %d", b[0], peerStateVersion))
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) { // each host takes at least 4 bytes
		return fail("bad host count")
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return fail(fmt.Sprintf("host %d: truncated address", i))
		}
		var a netip.Addr
		if err := a.UnmarshalBinary(b[1 : 1+int(b[0])]); err != nil || !a.IsValid() {
			return fail(fmt.Sprintf("host %d: bad address", i))
		}
		b = b[1+int(b[0]):]
		var m peerMemory
		var err error
		if m.lastRx, b, err = readRel(b, now); err != nil {
			return fail(fmt.Sprintf("host %d: last receive: %v", i, err))
		}
		if len(b) < 1 || PeerStatus(b[0]) > PeerUnresponsive {
			return fail(fmt.Sprintf("host %d: bad verdict", i))
		}
		m.status, b = PeerStatus(b[0]), b[1:]
		if m.lastSeen, b, err = readRel(b, now); err != nil {
			return fail(fmt.Sprintf("host %d: last poll: %v", i, err))
		}
		if _, dup := pt.hosts[a]; dup {
			return fail(fmt.Sprintf("host %d: %v twice", i, a))
		}
		pt.hosts[a] = &m
	}
	if len(b) != 0 {
		return fail(fmt.Sprintf("%d bytes after the last host", len(b)))
	}
	return pt, nil
}

// appendRel appends t as a flag (1: zero time) and, when set, its
// distance from now in nanoseconds.
func appendRel(b []byte, t, now time.Time) []byte {
	if t.IsZero() {
		return append(b, 1)
	}
	return binary.AppendVarint(append(b, 0), int64(t.Sub(now)))
}

func readRel(b []byte, now time.Time) (time.Time, []byte, error) {
	if len(b) < 1 || b[0] > 1 {
		return time.Time{}, b, errors.New("bad time flag")
	}
	if b[0] == 1 {
		return time.Time{}, b[1:], nil
	}
	v, k := binary.Varint(b[1:])
	if k <= 0 {
		return time.Time{}, b, errors.New("truncated time")
	}
	return now.Add(time.Duration(v)), b[1+k:], nil
}
