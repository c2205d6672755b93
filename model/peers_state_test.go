package model

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

// TestPeerStateRoundTrip: a restored peer tracker judges the next poll as
// the one it was taken from: the same verdicts, the same silence, and no
// second event for a host already judged unresponsive.
func TestPeerStateRoundTrip(t *testing.T) {
	now := base.Add(time.Hour)
	died := now.Add(-20 * time.Second)
	rowsAt := func(i int) []Row {
		at := time.Duration(i) * time.Second
		return []Row{
			retransmitting(peerRow(1, "10.0.3.7:5432", HealthOK, 20*time.Second+at), died.Add(400*time.Millisecond), now.Add(15*time.Minute)),
			unguarded(peerRow(2, "10.0.3.7:6379", HealthOK, 22*time.Second+at)),
			peerRow(3, "10.0.9.1:443", HealthOK, 50*time.Millisecond),
		}
	}
	live := NewPeerTracker(PeerConfig{})
	live.Update(now, time.Millisecond, 4*time.Millisecond, rowsAt(0))
	state := live.MarshalState(now.Add(time.Second))
	restored, err := RestorePeerTracker(PeerConfig{}, state, now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if again := restored.MarshalState(now.Add(time.Second)); !bytes.Equal(again, state) {
		t.Errorf("restored state encodes differently:\n%x\n%x", again, state)
	}
	wantPeers, wantEvents := live.Update(now.Add(time.Second), time.Millisecond, 4*time.Millisecond, rowsAt(1))
	gotPeers, gotEvents := restored.Update(now.Add(time.Second), time.Millisecond, 4*time.Millisecond, rowsAt(1))
	if len(gotPeers) != len(wantPeers) || len(gotEvents) != len(wantEvents) {
		t.Fatalf("restored: %d peers, %d events; live: %d, %d", len(gotPeers), len(gotEvents), len(wantPeers), len(wantEvents))
	}
	for i := range wantPeers {
		w, g := wantPeers[i], gotPeers[i]
		if g.Addr != w.Addr || g.Status != w.Status || !g.SilentSince.Equal(w.SilentSince) {
			t.Errorf("peer %d: restored %v %v silent since %v; live %v %v %v", i, g.Addr, g.Status, g.SilentSince, w.Addr, w.Status, w.SilentSince)
		}
	}
	if wantPeers[0].Addr != netip.MustParseAddr("10.0.3.7") || wantPeers[0].Status != PeerUnresponsive {
		t.Errorf("fixture: first peer %v %v, want 10.0.3.7 unresponsive", wantPeers[0].Addr, wantPeers[0].Status)
	}
}

// TestRestorePeerStateDamaged: every cut and every flipped byte of a
// state is an error or a tracker, never a panic; foreign bytes are errors.
func TestRestorePeerStateDamaged(t *testing.T) {
	now := time.Date(2026, 12, 2, 3, 12, 0, 0, time.UTC)
	pt := NewPeerTracker(PeerConfig{})
	pt.Update(now, time.Millisecond, 4*time.Millisecond, []Row{peerRow(1, "10.0.3.7:5432", HealthOK, time.Second), peerRow(2, "[fd00::7]:80", HealthOK, time.Second)})
	state := pt.MarshalState(now)
	for _, bad := range [][]byte{nil, {}, {9}, {peerStateVersion, 200}, append(append([]byte(nil), state...), 0)} {
		if _, err := RestorePeerTracker(PeerConfig{}, bad, now); err == nil {
			t.Errorf("RestorePeerTracker(%x) = nil error", bad)
		}
	}
	for i := range state {
		_, _ = RestorePeerTracker(PeerConfig{}, state[:i], now)
		flipped := append([]byte(nil), state...)
		flipped[i] ^= 0xff
		_, _ = RestorePeerTracker(PeerConfig{}, flipped, now)
	}
}

func FuzzRestorePeerTracker(f *testing.F) {
	now := time.Date(2026, 12, 2, 3, 12, 0, 0, time.UTC)
	pt := NewPeerTracker(PeerConfig{})
	pt.Update(now, time.Millisecond, 4*time.Millisecond, []Row{peerRow(1, "10.0.3.7:5432", HealthOK, time.Second)})
	f.Add(pt.MarshalState(now))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := RestorePeerTracker(PeerConfig{}, b, now)
		if err != nil {
			return
		}
		// What restores re-encodes to bytes that restore to the same
		// memory (varints may have come in a longer form than written).
		once := r.MarshalState(now)
		r2, err := RestorePeerTracker(PeerConfig{}, once, now)
		if err != nil {
			t.Fatalf("re-encoded state %x does not restore: %v", once, err)
		}
		if twice := r2.MarshalState(now); !bytes.Equal(once, twice) {
			t.Fatalf("state drifts: %x then %x", once, twice)
		}
	})
}
