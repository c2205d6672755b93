package watch

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/model"
)

// TestLoopPacing drives Loop on a scripted dump whose polls cost what the
// script says (on a fake clock), with the wait between polls recorded
// instead of slept: two slow polls in a row stretch the interval to
// PollShare times the cheaper one, a single slow one does not, and a
// failed poll keeps the interval in force and is reported on errs.
func TestLoopPacing(t *testing.T) {
	const interval = time.Second // polls are slow above 1s/PollShare, 83 ms
	ms := time.Millisecond
	failed := time.Duration(-1) // a poll whose dump fails
	tests := []struct {
		name       string
		costs      []time.Duration
		wantWaits  []time.Duration
		wantSlowed []bool // per snapshot
	}{
		{
			name:       "cheap polls",
			costs:      []time.Duration{10 * ms, 10 * ms, 10 * ms},
			wantWaits:  []time.Duration{interval, interval, interval},
			wantSlowed: []bool{false, false, false},
		},
		{
			name:       "a slow first poll (filling the process index) is forgiven",
			costs:      []time.Duration{900 * ms, 10 * ms, 10 * ms},
			wantWaits:  []time.Duration{interval, interval, interval},
			wantSlowed: []bool{false, false, false},
		},
		{
			name:       "a one-off stall is forgiven",
			costs:      []time.Duration{10 * ms, 500 * ms, 10 * ms},
			wantWaits:  []time.Duration{interval, interval, interval},
			wantSlowed: []bool{false, false, false},
		},
		{
			name:       "slow polls in a row stretch the interval to PollShare times the cheaper",
			costs:      []time.Duration{200 * ms, 300 * ms, 100 * ms, 10 * ms},
			wantWaits:  []time.Duration{interval, 2400 * ms, 1200 * ms, interval},
			wantSlowed: []bool{false, true, true, false},
		},
		{
			name:       "just at the share is not slow",
			costs:      []time.Duration{interval / PollShare, interval / PollShare},
			wantWaits:  []time.Duration{interval, interval},
			wantSlowed: []bool{false, false},
		},
		{
			name:       "a failed poll keeps the interval in force and the cost before it",
			costs:      []time.Duration{200 * ms, 200 * ms, failed, 100 * ms, failed},
			wantWaits:  []time.Duration{interval, 2400 * ms, 2400 * ms, 1200 * ms, 1200 * ms},
			wantSlowed: []bool{false, true, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			d := &fakeDumper{
				socks: always(okSock(1)),
				cost: func(i int) time.Duration {
					return max(tt.costs[i], 0)
				},
				err: func(i int) error {
					if tt.costs[i] == failed {
						return errFakeDump
					}
					return nil
				},
			}
			w := fakeWatcher(t, Config{}, d, &fakeNS{}, clock)
			var waits []time.Duration
			w.wait = func(_ context.Context, d time.Duration) bool {
				waits = append(waits, d)
				return len(waits) < len(tt.costs)
			}
			out := make(chan *model.Snapshot, len(tt.costs))
			errs := make(chan error, len(tt.costs))
			w.Loop(context.Background(), interval, out, errs)
			// The polls that made a snapshot, and those that failed.
			var made []int
			for i, c := range tt.costs {
				if c != failed {
					made = append(made, i)
				}
			}
			var slowed []bool
			for s := range out {
				k := len(slowed)
				slowed = append(slowed, s.Slowed)
				if k < len(made) && k < len(waits) && s.Interval != waits[made[k]] {
					t.Errorf("snapshot %d says interval %v, the loop waited %v after it", k, s.Interval, waits[made[k]])
				}
				s.Release()
			}
			if fmt.Sprint(waits) != fmt.Sprint(tt.wantWaits) {
				t.Errorf("waits %v, want %v", waits, tt.wantWaits)
			}
			if fmt.Sprint(slowed) != fmt.Sprint(tt.wantSlowed) {
				t.Errorf("slowed %v, want %v", slowed, tt.wantSlowed)
			}
			close(errs)
			n := 0
			for err := range errs {
				if !errors.Is(err, errFakeDump) {
					t.Errorf("error %v, want the dump's", err)
				}
				n++
			}
			if want := len(tt.costs) - len(made); n != want {
				t.Errorf("%d errors reported, want %d", n, want)
			}
		})
	}
}
