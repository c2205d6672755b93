package watch

import (
	"testing"
	"time"
)

// TestTiersChargeSetupToSweeps: the first refreshes after a sweep, which
// make or copy every row (0.42 s at 10^6), must not stretch the tick —
// the dying connections' countdowns would then stall for PollShare times
// that after every sweep — but they are the sweep's price: the sweeps are
// spaced so that sweeps and their setup keep to their share of the budget
// (the refreshes have half of it), all of it within the budget.
func TestTiersChargeSetupToSweeps(t *testing.T) {
	const interval = time.Second
	for _, tc := range []struct {
		name                  string
		sweep, setup, refresh time.Duration
		wantTick              time.Duration
	}{
		{"10^6", 2600 * time.Millisecond, 420 * time.Millisecond, 36 * time.Millisecond, interval},
		{"10^5", 210 * time.Millisecond, 32 * time.Millisecond, 3 * time.Millisecond, interval},
		{"no setup", 2600 * time.Millisecond, 0, 36 * time.Millisecond, interval},
		{"refreshes too costly", 2600 * time.Millisecond, 420 * time.Millisecond, 60 * time.Millisecond, 60 * time.Millisecond * 2 * PollShare},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTiers(interval, 0)
			start := time.Unix(1e9, 0)
			var every time.Duration
			for round := range 3 {
				wait := tr.swept(start, tc.sweep, true, 0)
				if round > 0 && wait != tc.wantTick {
					t.Errorf("round %d: wait after the sweep %v, want %v", round, wait, tc.wantTick)
				}
				if tc.setup > 0 {
					if wait := tr.refreshed(tc.setup, true, 0); round > 0 && wait != tc.wantTick {
						t.Errorf("round %d: wait after the setup refresh %v, want %v", round, wait, tc.wantTick)
					}
				}
				for k := range 2 {
					// (The first refresh of all is forgiven, as a single
					// slow one is: see TestTiersForgiveOneSlowRefresh.)
					if wait := tr.refreshed(tc.refresh, false, 0); (round > 0 || k > 0) && wait != tc.wantTick {
						t.Errorf("round %d: wait after refresh %d %v, want %v", round, k, wait, tc.wantTick)
					}
				}
				every = tr.sweepEvery
				start = start.Add(every)
			}
			// Over one sweep period: the sweep and its setup within
			// their share of the budget, a refresh at every other tick
			// within half of it, both together within the whole.
			ticks := float64(every) / float64(tc.wantTick)
			swept := tc.sweep + tc.setup
			refreshed := time.Duration((ticks - 1) * float64(tc.refresh))
			if share := float64(swept) / float64(every); share > 1/float64(SweepShare)+1e-9 {
				t.Errorf("sweep every %v: %.4f of the time sweeping, their share of the budget %.4f", every, share, 1/float64(SweepShare))
			}
			if share := float64(swept+refreshed) / float64(every); share > 1/float64(PollShare)+1e-9 {
				t.Errorf("sweep every %v: %.4f of the time polling, budget %.4f", every, share, 1/float64(PollShare))
			}
			// And not spaced more than the budget needs: a sweep a tick
			// sooner would exceed the sweeps' share.
			if sooner := every - tc.wantTick; float64(swept)/float64(sooner) <= 1/float64(SweepShare) {
				t.Errorf("sweep every %v: every %v would fit the sweeps' share too", every, sooner)
			}
		})
	}
}

// TestTiersForgiveOneSlowRefresh: a single slow refresh (a garbage
// collection of a 3 GiB heap beside it, say) does not stretch the tick;
// two in a row do, as two slow sweeps in a row do.
func TestTiersForgiveOneSlowRefresh(t *testing.T) {
	tr := newTiers(time.Second, 0)
	tr.swept(time.Unix(1e9, 0), 2600*time.Millisecond, true, 0)
	tr.swept(time.Unix(1e9+60, 0), 2600*time.Millisecond, true, 0)
	for i, step := range []struct {
		cost, want time.Duration
	}{
		{24 * time.Millisecond, time.Second},
		{24 * time.Millisecond, time.Second},
		{300 * time.Millisecond, time.Second},
		{24 * time.Millisecond, time.Second},
		{300 * time.Millisecond, time.Second},
		{300 * time.Millisecond, 300 * time.Millisecond * 2 * PollShare},
		{24 * time.Millisecond, time.Second},
	} {
		if got := tr.refreshed(step.cost, false, 0); got != step.want {
			t.Errorf("refresh %d (%v): wait %v, want %v", i, step.cost, got, step.want)
		}
	}
}

// TestTiersScreenWorkIsTheSweeps: what refreshes spend naming the rows on
// screen is charged to the next sweep's spacing, not to the tick: two
// refreshes of 300 ms, 290 of them reading descriptor links, keep the
// interval, and the sweep after them comes that much later; the same two
// refreshes spent on their suspects stretch the tick.
func TestTiersScreenWorkIsTheSweeps(t *testing.T) {
	for _, tc := range []struct {
		name      string
		screen    time.Duration
		wantTick  time.Duration
		wantEvery time.Duration
	}{
		{"naming the screen", 290 * time.Millisecond, time.Second, (2600*time.Millisecond + 2*290*time.Millisecond) * SweepShare},
		{"suspects", 0, 300 * time.Millisecond * 2 * PollShare, 2600 * time.Millisecond * SweepShare},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTiers(time.Second, 0)
			start := time.Unix(1e9, 0)
			tr.swept(start, 2600*time.Millisecond, true, 0)
			tr.swept(start, 2600*time.Millisecond, true, 0)
			var wait time.Duration
			for range 2 {
				wait = tr.refreshed(300*time.Millisecond, false, tc.screen)
			}
			if wait != tc.wantTick {
				t.Errorf("tick after two refreshes: %v, want %v", wait, tc.wantTick)
			}
			tr.swept(start.Add(time.Minute), 2600*time.Millisecond, true, 0)
			if tr.sweepEvery != max(tc.wantEvery, tr.tick()) {
				t.Errorf("sweep every %v, want %v", tr.sweepEvery, tc.wantEvery)
			}
		})
	}
}

// TestTiersEarlySweep: firings no suspect explains make the next poll a
// sweep, at most once per sweep period; a host where every poll asks gets
// two sweeps per period, not one per tick.
func TestTiersEarlySweep(t *testing.T) {
	const interval = time.Second
	tr := newTiers(interval, 0)
	start := time.Unix(1e9, 0)
	// Sweeps of 2.6 s at 10^6: spaced, refreshes in between.
	tr.swept(start, 2600*time.Millisecond, true, 0)
	tr.swept(start, 2600*time.Millisecond, true, 0)
	every := tr.sweepEvery
	if every < 10*interval {
		t.Fatalf("sweep every %v: the premise wants sweeps spaced", every)
	}
	sweeps, early := 0, 0
	now := start
	want := func(ask bool) {
		t.Helper()
		now = now.Add(interval)
		if tr.refreshDue(now, true, 0) {
			tr.refreshed(30*time.Millisecond, false, 0)
			if ask {
				tr.early(now)
			}
			return
		}
		sweeps++
		if now.Sub(tr.lastSweep) < tr.sweepEvery {
			early++
		}
		tr.swept(now, 2600*time.Millisecond, true, 0)
	}
	// Quiet: no sweep before its time.
	for range 5 {
		want(false)
	}
	if sweeps != 0 {
		t.Fatalf("%d sweeps in 5 quiet ticks", sweeps)
	}
	// One unexplained firing: the next tick sweeps.
	want(true)
	want(false)
	if sweeps != 1 || early != 1 {
		t.Fatalf("after an unexplained firing: %d sweeps (%d early), want 1 early", sweeps, early)
	}
	// Asked at every tick for three periods: one early sweep a period
	// beside the regular one.
	sweeps, early = 0, 0
	every = tr.sweepEvery // with the refreshes' cost counted now
	ticks := int(3 * every / interval)
	for range ticks {
		want(true)
	}
	if periods := 3; sweeps > 2*periods+1 || sweeps < periods || early < periods-1 {
		t.Errorf("asked every tick for %d ticks (sweep every %v): %d sweeps (%d early)", ticks, every, sweeps, early)
	}
}
