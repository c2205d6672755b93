package watch

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/record"
	"github.com/tcpwatch/tcpwatch/internal/replay"
	"github.com/tcpwatch/tcpwatch/internal/report"
	"github.com/tcpwatch/tcpwatch/model"
)

// churn is a dump of n sockets at poll i: a window of cookies that moves
// on by a tenth of n every ten polls (connections come and go), every
// 50th retransmitting into a dead peer for a while, so that the tracker
// predicts aborts and emits events.
func churn(n int) func(i int) []inetdiag.Socket {
	return func(i int) []inetdiag.Socket {
		base := uint64(1 + i/10*(n/10))
		socks := make([]inetdiag.Socket, 0, n)
		for k := range uint64(n) {
			c := base + k
			s := okSock(c)
			if c%50 == 0 {
				s = retransSock(c)
			}
			s.Full = &inetdiag.Full{Info: s.Info.AsInfo()}
			s.Full.Info.BytesAcked = uint64(i) * c // active: something changes
			socks = append(socks, s)
		}
		return socks
	}
}

// TestRecordingOfAWatcher runs the poller with a recorder over a churning
// dump with a ring bound that keeps a few segments: after every poll the
// directory holds at most the bound, the oldest segments are gone, every
// file is 0600 in a 0700 directory, and the segments kept replay to the
// very JSON the live polls gave.
func TestRecordingOfAWatcher(t *testing.T) {
	const maxBytes = 1 << 20
	dir := filepath.Join(t.TempDir(), "rec")
	rw, err := record.Create(dir, record.Options{Host: "testhost", MaxBytes: maxBytes, SegmentDuration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	d := &fakeDumper{socks: churn(2000)}
	w := fakeWatcher(t, Config{Record: rw}, d, &fakeNS{}, clock)
	live := map[int64]string{}
	for range 400 {
		clock.advance(time.Second)
		snap := mustPoll(t, w)
		var b bytes.Buffer
		if err := report.WriteJSON(&b, snap); err != nil {
			t.Fatal(err)
		}
		live[snap.Time.UnixNano()] = b.String()
		snap.Release()
		if n := dirSize(t, dir); n > maxBytes {
			t.Fatalf("the recording holds %d bytes, bound %d", n, maxBytes)
		}
	}
	for _, n := range w.notices.all() {
		t.Errorf("notice: %s", n)
	}
	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", fi.Mode().Perm())
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", e.Name(), fi.Mode().Perm())
		}
	}

	rp, err := replay.Open(dir, model.Config{}, mustParse(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	segs := rp.Reader().Segments()
	if segs[0].Seq == 1 {
		t.Fatalf("the first segment is still there (%d segments): the ring bound never dropped one", len(segs))
	}
	replayed, events, predictions := 0, 0, 0
	for {
		st, err := rp.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		snap := rp.Snapshot(st)
		var b bytes.Buffer
		if err := report.WriteJSON(&b, snap); err != nil {
			t.Fatal(err)
		}
		want, ok := live[snap.Time.UnixNano()]
		if !ok {
			t.Fatalf("replayed a poll at %v that the live run did not take", snap.Time)
		}
		if b.String() != want {
			t.Fatalf("poll at %v replays differently:\nlive:   %.600s\nreplay: %.600s", snap.Time, want, b.String())
		}
		replayed++
		events += len(snap.Events)
		for _, r := range snap.Rows {
			if r.Prediction != nil {
				predictions++
			}
		}
	}
	if replayed < 50 || events == 0 || predictions == 0 {
		t.Fatalf("replayed %d polls (%d events, %d predictions): too little to compare", replayed, events, predictions)
	}
	t.Logf("%d segments kept of %d, %d polls replayed exactly (%d events, %d predictions)", len(segs), segs[len(segs)-1].Seq, replayed, events, predictions)
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && !fi.IsDir() {
			n += fi.Size()
		}
	}
	return n
}
