package model

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// TestStateCoversTheTracker fails when a field is added to what the
// tracker keeps without teaching MarshalState and RestoreTracker about
// it: a replay would then drift from the live run it replays.
func TestStateCoversTheTracker(t *testing.T) {
	for _, tt := range []struct {
		v    any
		want []string
	}{
		{Tracker{}, []string{"cfg", "conns", "events", "polls", "counters", "uncertainty", "gone"}},
		{Conn{}, []string{"Sock", "FirstSeen", "LastSeen", "StateSince", "Health", "HealthSince", "Prediction", "Exposure", "opts", "History", "last", "retrans", "probing", "poll"}},
		{probeEpisodes{}, []string{"keepalive", "zeroWindow"}},
		{rtoEpisode{}, []string{"start", "calm", "calmRTOTime", "calmRecoveries", "calmKnown", "sawRecovery", "clock", "firings", "lastN"}},
		{keepaliveEpisode{}, []string{"since", "pending", "probes", "intvl"}},
		{zeroWindowEpisode{}, []string{"since", "calm"}},
		{Prediction{}, []string{"Reason", "Confidence", "At", "Earliest", "Latest", "MaySlip", "Clock", "ClockEarliest", "ClockLatest", "Budget", "Count", "Schedule", "Inputs", "Notes", "Made"}},
		// A tracker never sets an event's NetNS: the poller of several
		// namespaces tags its copies of the events.
		{Event{}, []string{"Time", "Kind", "ID", "State", "Health", "LastSeen", "Predicted", "Peer", "NetNS"}},
		{SockOpts{}, []string{"Known", "KeepAlive", "KeepIdle", "KeepIntvl", "KeepCnt", "UserTimeout", "RTOMax", "SynCnt"}},
		{Config{}, []string{"Params", "CloseWaitAfter", "IdleAfter", "HistoryLen", "EventLimit"}},
	} {
		typ := reflect.TypeOf(tt.v)
		var got []string
		for i := range typ.NumField() {
			got = append(got, typ.Field(i).Name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s has fields %v; state.go knows %v: encode the new ones (or say why they need not be) and update this list", typ.Name(), got, tt.want)
		}
	}
}

// TestRestoreDamagedState: every truncation of a real state, and a few
// corruptions, give an error — never a panic, never a tracker.
func TestRestoreDamagedState(t *testing.T) {
	now := base.Add(time.Minute)
	k := kern{hz: 250}
	r := k.simulateRTO(1<<20, rtoSpec{r0: 51, rtoMax: k.j(120000), budgetMs: func(int64) int64 { return 12600 }})
	socks := []inetdiag.Socket{rtoSock(1, inetdiag.StateEstablished, r, r.fires[2]+10, inetdiag.TCPInfoLen6_18), conn(2, inetdiag.StateEstablished)}
	tr := NewTracker(Config{})
	tr.Update(PollInput{Time: now.Add(-time.Second), Socks: socks[1:]})
	tr.Update(PollInput{Time: now, Socks: socks})
	st := tr.MarshalState(now)
	if _, _, err := RestoreTracker(st, socks); err != nil {
		t.Fatalf("the intact state: %v", err)
	}
	for n := range len(st) {
		if _, _, err := RestoreTracker(st[:n], socks); err == nil {
			t.Fatalf("a state cut to %d of %d bytes was accepted", n, len(st))
		}
	}
	if _, _, err := RestoreTracker(append(st[:len(st):len(st)], 0), socks); err == nil {
		t.Errorf("trailing bytes were accepted")
	}
	if _, _, err := RestoreTracker(st, socks[:1]); err == nil {
		t.Errorf("a state restored without one of its connections' sockets was accepted")
	}
	newer := append([]byte{stateVersion + 1}, st[1:]...)
	if _, _, err := RestoreTracker(newer, socks); !errors.Is(err, ErrStateVersion) {
		t.Errorf("a newer version: %v, want ErrStateVersion", err)
	}
}

// FuzzRestoreTracker: arbitrary bytes give a tracker or an error, never a
// panic; a tracker that comes out encodes back to the same bytes.
func FuzzRestoreTracker(f *testing.F) {
	tr := NewTracker(Config{})
	socks := []inetdiag.Socket{conn(1, inetdiag.StateEstablished), conn(2, inetdiag.StateCloseWait)}
	tr.Update(PollInput{Time: base, Socks: socks})
	f.Add(tr.MarshalState(base))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rt, _, err := RestoreTracker(b, socks)
		if err != nil {
			return
		}
		if rt.Len() > len(socks) {
			t.Fatalf("%d connections from %d sockets", rt.Len(), len(socks))
		}
	})
}
