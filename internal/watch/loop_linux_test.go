package watch_test

import (
	"context"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
)

// steppingClock returns a clock that moves step forward at every reading,
// so that a poll seems to cost a multiple of step whatever it really took.
func steppingClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(step)
		return now
	}
}

// TestLoopStretchesSlowPolls checks Loop's contract when every poll
// dumps (Config.SweepEvery < 0): two polls in a row that cost more than
// 1/PollShare of the interval stretch it to PollShare times the cheaper
// one's cost, and the snapshot says so; the next poll starts no earlier
// than the interval in force. It watches the test's own namespace (no
// root needed).
func TestLoopStretchesSlowPolls(t *testing.T) {
	const interval = 100 * time.Millisecond
	no, yes := false, true
	tests := []struct {
		name       string
		clock      func() time.Time
		wantSlowed *bool // from the second snapshot on; nil: whatever the real cost says
	}{
		{name: "real clock", clock: nil},
		{name: "frozen clock, free polls", clock: steppingClock(0), wantSlowed: &no},
		// A poll reads the clock several times: its cost is a multiple of
		// 30 ms, more than 1/PollShare of 100 ms.
		{name: "slow polls", clock: steppingClock(30 * time.Millisecond), wantSlowed: &yes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := watch.New(watch.Config{Owners: watch.OwnersNone, Clock: tt.clock, SweepEvery: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := make(chan *model.Snapshot)
			errs := make(chan error, 1)
			go w.Loop(ctx, interval, out, errs)
			var got []time.Time
			var snaps []*model.Snapshot
			for len(snaps) < 4 {
				select {
				case s := <-out:
					got = append(got, time.Now())
					snaps = append(snaps, s)
				case err := <-errs:
					t.Fatal(err)
				}
			}
			cancel()
			for s := range out {
				s.Release()
			}
			var prevCost time.Duration
			for i, s := range snaps {
				// Two slow polls in a row stretch the interval to
				// PollShare times the cheaper one.
				want := interval
				if steady := min(s.PollCost, prevCost); steady*watch.PollShare > interval {
					want = watch.PollShare * steady
				}
				prevCost = s.PollCost
				if s.Interval != want || s.Slowed != (want > interval) {
					t.Errorf("snapshot %d: poll cost %v: Interval %v, Slowed %v; want %v, %v", i, s.PollCost, s.Interval, s.Slowed, want, want > interval)
				}
				if tt.wantSlowed != nil && i > 0 && s.Slowed != *tt.wantSlowed {
					t.Errorf("snapshot %d: poll cost %v: Slowed %v, want %v", i, s.PollCost, s.Slowed, *tt.wantSlowed)
				}
				// The loop waits out the interval after handing the
				// snapshot over: the next one cannot arrive sooner.
				if i > 0 {
					if gap := got[i].Sub(got[i-1]); gap < snaps[i-1].Interval {
						t.Errorf("snapshot %d arrived %v after the previous one, whose interval was %v", i, gap, snaps[i-1].Interval)
					}
				}
				s.Release()
			}
		})
	}
}

// TestLoopReportsErrorsAndGoesOn: a poll that fails is reported on errs
// and the loop keeps polling until its context ends, then closes out.
func TestLoopReportsErrorsAndGoesOn(t *testing.T) {
	w, err := watch.New(watch.Config{Owners: watch.OwnersNone})
	if err != nil {
		t.Fatal(err)
	}
	w.Close() // every dump fails from now on
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan *model.Snapshot)
	errs := make(chan error) // unbuffered: the loop must not block on it
	done := make(chan struct{})
	go func() {
		w.Loop(ctx, 100*time.Millisecond, out, errs)
		close(done)
	}()
	var n int
	for n < 2 {
		select {
		case err := <-errs:
			if err == nil {
				t.Fatal("nil error on errs")
			}
			n++
		case s, ok := <-out:
			if !ok {
				t.Fatal("out closed before the context ended")
			}
			t.Fatalf("a snapshot from a closed watcher: %d rows", len(s.Rows))
		}
	}
	cancel()
	if _, ok := <-out; ok {
		t.Error("a snapshot after the context ended")
	}
	<-done
}

// TestNoLeaks polls with every owner policy and closes the watcher: no
// descriptor or goroutine may be left behind.
func TestNoLeaks(t *testing.T) {
	for _, owners := range []watch.OwnerPolicy{watch.OwnersNone, watch.OwnersFlagged, watch.OwnersAll} {
		fds0, g0 := openFDs(t), runtime.NumGoroutine()
		w, err := watch.New(watch.Config{Owners: owners})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		out := make(chan *model.Snapshot)
		go w.Loop(ctx, 100*time.Millisecond, out, nil)
		for range 3 {
			s := <-out
			if len(s.Rows) == 0 && os.Geteuid() == 0 {
				// Not an error as such, but the test then proves less.
				t.Logf("policy %d: a poll of the test's namespace found no sockets", owners)
			}
			s.Release()
		}
		cancel()
		for s := range out {
			s.Release()
		}
		if err := w.Close(); err != nil {
			t.Errorf("policy %d: Close: %v", owners, err)
		}
		// Goroutines that just finished may take a moment to go.
		var g1 int
		for range 100 {
			if g1 = runtime.NumGoroutine(); g1 <= g0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if g1 > g0 {
			t.Errorf("policy %d: %d goroutines before, %d after", owners, g0, g1)
		}
		if fds1 := openFDs(t); fds1 != fds0 {
			t.Errorf("policy %d: %d descriptors open before, %d after", owners, fds0, fds1)
		}
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1 // the directory being read
}
