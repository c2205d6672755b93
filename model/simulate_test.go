package model

import (
	"testing"
	"time"
)

// TestSimulateRunsKernel plays a doubling timer on the reference kernel's
// wheel for every phase of the jiffy it was armed at (which cannot be seen
// from outside): each firing must fall between the early and the late run,
// and the expected run between them too. Once a firing has aligned the
// timer to its wheel level, an interval of that level again fires exactly
// as late as the alignment says: the runs may then drift apart by no more
// than their one jiffy of slack each.
func TestSimulateRunsKernel(t *testing.T) {
	k := kern{hz: 250}
	p := DefaultParams()
	p.HZ = 250
	tests := []struct {
		name       string
		d0, rtoMax int64 // jiffies
		firings    int
	}{
		{"204 ms doubling to 120 s", 51, k.j(120000), 12},
		{"204 ms doubling to a 1 s rto_max", 51, k.j(1000), 10},
		{"armed at rto_max", k.j(120000), k.j(120000), 4},
		{"under one wheel level", 10, 40, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := []int64{tc.d0}
			rearm := make([]time.Duration, maxFirings)
			for i := range rearm {
				ds = append(ds, min(2*ds[i], tc.rtoMax))
				rearm[i] = k.dur(ds[i+1])
			}
			for phase := int64(0); phase < 4096; phase += 3 {
				armedAt := 100000 + phase
				ts := &timerSim{
					pending: k.at(base, armedAt+tc.d0), armed: k.dur(tc.d0), t: k.at(base, armedAt), rearm: rearm,
					aborts: func(i int, _, _, _ time.Time) bool { return i == tc.firings },
				}
				runs := p.simulateRuns(ts, base, base, base)
				for _, r := range runs {
					if r.abort != tc.firings || len(r.fires) != tc.firings+1 {
						t.Fatalf("phase %d: abort at %d after %d firings, want %d after %d", phase, r.abort, len(r.fires), tc.firings, tc.firings+1)
					}
				}
				at := armedAt
				for i := 0; i <= tc.firings; i++ {
					at = k.fire(at, ds[i])
					kernel := k.at(base, at)
					lo, mid, hi := runs[runEarly].fires[i], runs[runExpected].fires[i], runs[runLate].fires[i]
					if !contains(lo, hi, kernel) || !contains(lo, hi, mid) {
						t.Fatalf("phase %d, firing %d: kernel %s, runs %s %s %s", phase, i, rel(kernel, base), rel(lo, base), rel(mid, base), rel(hi, base))
					}
					if i > 0 && ds[i] == ds[i-1] {
						prevLo, prevHi := runs[runEarly].fires[i-1], runs[runLate].fires[i-1]
						if grow := hi.Sub(lo) - prevHi.Sub(prevLo); grow > 2*k.jiffy() {
							t.Fatalf("phase %d, firing %d: the window grew by %v at a firing whose lateness the alignment gives", phase, i, grow)
						}
					}
					if got, want := runs[runExpected].intervals[i], k.dur(ds[i]); got != want {
						t.Fatalf("phase %d, firing %d: armed with %v, want %v", phase, i, got, want)
					}
				}
			}
		})
	}
}

// TestSimulateRunsRules checks what the runs do with a rule's decisions:
// no firing before the sample, the abort at the first firing the rule
// gives up at (each run with its own clock start), the clamped intervals.
func TestSimulateRunsRules(t *testing.T) {
	p := DefaultParams()
	p.HZ = 1000
	now := base.Add(time.Hour)
	doubling := make([]time.Duration, maxFirings)
	for i, d := 0, 200*time.Millisecond; i < maxFirings; i++ {
		d = min(2*d, 120*time.Second)
		doubling[i] = d
	}
	budget := 10 * time.Second
	spent := func(_ int, _, fired, S time.Time) bool { return fired.Sub(S) >= budget }
	tests := []struct {
		name    string
		pending time.Time
		clamp   func(d time.Duration, fired, S time.Time) (time.Duration, bool)
		aborts  func(i int, due, fired, S time.Time) bool
		// clamped, if set, is the interval every firing after the first
		// must have been armed with.
		clamped time.Duration
	}{
		{name: "on time", pending: now.Add(200 * time.Millisecond), aborts: spent},
		{name: "overdue", pending: now.Add(-time.Second), aborts: spent},
		{name: "never gives up", pending: now.Add(200 * time.Millisecond), aborts: func(int, time.Time, time.Time, time.Time) bool { return false }},
		{
			name: "clamped", pending: now.Add(200 * time.Millisecond), aborts: spent, clamped: 300 * time.Millisecond,
			clamp: func(time.Duration, time.Time, time.Time) (time.Duration, bool) { return 300 * time.Millisecond, true },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := &timerSim{pending: tc.pending, armed: 200 * time.Millisecond, t: now, rearm: doubling, clamp: tc.clamp, aborts: tc.aborts}
			starts := [3]time.Time{now.Add(-3 * time.Second), now.Add(-2 * time.Second), now.Add(-time.Second)}
			runs := p.simulateRuns(ts, starts[0], starts[1], starts[2])
			for which, r := range runs {
				if len(r.fires) != len(r.intervals) || len(r.fires) == 0 {
					t.Fatalf("run %d: %d firings, %d intervals", which, len(r.fires), len(r.intervals))
				}
				if r.fires[0].Before(now) {
					t.Errorf("run %d: first firing %s, before the sample", which, rel(r.fires[0], now))
				}
				if which == int(runExpected) && r.fires[0].Before(tc.pending) {
					t.Errorf("expected run: first firing %s, before the pending expiry %s", rel(r.fires[0], now), rel(tc.pending, now))
				}
				first := -1
				for i, f := range r.fires {
					if i > 0 && f.Sub(r.fires[i-1]) < r.intervals[i] {
						t.Errorf("run %d: firing %d %v after the previous, armed with %v", which, i, f.Sub(r.fires[i-1]), r.intervals[i])
					}
					if i > 0 && tc.clamped > 0 && r.intervals[i] != tc.clamped {
						t.Errorf("run %d: firing %d armed with %v, want the clamped %v", which, i, r.intervals[i], tc.clamped)
					}
					if first < 0 && tc.aborts(i, time.Time{}, f, starts[which]) {
						first = i
					}
				}
				if r.abort != first {
					t.Errorf("run %d: abort at firing %d, want %d (the first that gives up)", which, r.abort, first)
				}
				if first < 0 && len(r.fires) != maxFirings {
					t.Errorf("run %d: gave up on nothing after %d firings, want %d", which, len(r.fires), maxFirings)
				}
			}
		})
	}
}
