package watch

import (
	"time"

	"github.com/tcpwatch/tcpwatch/model"
)

// tiers decides, poll after poll, between a sweep (a full dump) and a
// refresh (look-ups of the suspects, see refresh_linux.go), and how long
// to wait after each. While sweeps fit the poll budget (1/PollShare of
// the interval) every poll sweeps, as on any ordinary host. When two
// sweeps in a row cost more, the budget is split: the sweeps are spaced
// to keep to a third of it (1/SweepShare), and the polls in between
// refresh, within half of it. The interval itself is kept, so the dying
// connections' countdowns go on ticking every interval. Refreshes that
// are themselves too costly (more than their half, e.g. tens of thousands
// of dying connections) stretch the interval as slow polls did before.
// Without look-ups (a recording is being made, or a fake dump) the
// single-tier pacer rules alone.
type tiers struct {
	interval time.Duration
	// fixed is Config.SweepEvery: sweep that often whatever sweeps cost.
	fixed time.Duration
	one   pacer // the rule when every poll sweeps

	prevSweep   time.Duration // what the last sweep cost
	refreshCost time.Duration // what the last refresh cost
	prevRefresh time.Duration // and the one before
	// setup is what the refreshes since the last sweep spent on the whole
	// host rather than on their suspects (making or copying every row:
	// 0.4 s at 10^6): a price of the sweep, charged to the next one's
	// spacing, not to the tick.
	setup      time.Duration
	sweepEvery time.Duration // 0: every poll sweeps
	lastSweep  time.Time     // when the last successful sweep began
	gen        uint64        // the filter's generation at that sweep
	// earlyDue makes the next poll a sweep before its time; lastEarly
	// is when the last such sweep began.
	earlyDue  bool
	lastEarly time.Time
}

func newTiers(interval, fixed time.Duration) tiers {
	return tiers{interval: interval, fixed: fixed, one: pacer{interval: interval}}
}

// refreshDue reports whether the poll that begins now is a refresh: the
// tiers are split, look-ups are possible, the filter has not changed
// since the last sweep (a new filter needs a new dump), and the next
// sweep is not due. A sweep comes at the first poll at least sweepEvery
// after the last, never earlier: the budget holds.
func (t *tiers) refreshDue(now time.Time, canRefresh bool, gen uint64) bool {
	if !canRefresh || t.sweepEvery == 0 || gen != t.gen || t.lastSweep.IsZero() || t.earlyDue {
		return false
	}
	return now.Sub(t.lastSweep) < t.sweepEvery
}

// early asks for a sweep at the next poll, at a refresh that began at
// now and found RTO firings no suspect explains (model.RTOLedger): a
// connection the last sweep saw healthy has begun to retransmit, and
// only a dump finds which. At 10^6 sockets sweeps come tens of seconds
// apart; this one comes a tick later, so that a connection is seen
// dying within seconds of its first RTO. There is at most one such
// sweep per sweepEvery, so that a host where something always times out
// (SYN-ACKs to scanners count too, unless the kernel says so) spends at
// most twice the sweeps' share of the budget; the firings of the rest of
// that span wait for the next sweep, as before.
func (t *tiers) early(now time.Time) {
	if t.sweepEvery > 0 && (t.lastEarly.IsZero() || now.Sub(t.lastEarly) >= t.sweepEvery) {
		t.earlyDue = true
	}
}

// swept notes a successful sweep that began at start under filter
// generation gen, and returns how long to wait before the next poll.
// canRefresh says whether the next polls could refresh.
func (t *tiers) swept(start time.Time, cost time.Duration, canRefresh bool, gen uint64) time.Duration {
	steady := min(cost, t.prevSweep) // a single slow sweep is forgiven, as by pacer
	t.prevSweep, t.lastSweep, t.gen = cost, start, gen
	if t.earlyDue {
		t.earlyDue, t.lastEarly = false, start
	}
	steady += t.setup
	t.setup = 0
	switch {
	case !canRefresh:
		t.sweepEvery = 0
		return t.one.next(cost)
	case t.fixed > 0:
		t.sweepEvery = max(t.fixed, t.interval)
		return t.tick()
	case steady*PollShare <= t.interval:
		t.sweepEvery = 0
		t.one.prevCost = cost
		return t.interval
	}
	// The budget split: the sweeps (and their setup) keep to their
	// share, the refreshes to half the budget (see tick). A sweep every S costs
	// steady/S, so S is steady*SweepShare.
	t.sweepEvery = max(steady*SweepShare, t.tick())
	return t.tick()
}

// refreshed notes a refresh that cost cost and returns the wait. setup
// says the refresh worked on every row of the sweep (see
// Watcher.refreshSetup): its cost is the sweep's. screen is the part of
// cost spent naming the processes of rows that came on screen (see
// Watcher.refreshScreen): work for the screen, not for the suspects,
// the sweep's too, so that the tick is not stretched while a screenful
// is named (at 10^6 a worker's 20,000 descriptor links take ~0.15 s).
func (t *tiers) refreshed(cost time.Duration, setup bool, screen time.Duration) time.Duration {
	if setup {
		t.setup += cost
	} else {
		screen = min(screen, cost)
		t.setup += screen
		t.prevRefresh, t.refreshCost = t.refreshCost, cost-screen
	}
	return t.tick()
}

// costly reports whether the next poll is worth recalling the last
// snapshot for (see Watcher.SetRecall): the tiers are split, or the last
// sweep alone exceeded the poll budget. An ordinary host's polls, a few
// milliseconds and a few hundred kilobytes, are not worth the interface
// holding back its keys for.
func (t *tiers) costly() bool {
	return t.sweepEvery > 0 || t.prevSweep*PollShare > t.interval
}

// steadyRefresh is what refreshes cost: the cheaper of the last two, so
// that a single slow one (a collection of a large heap running beside
// it) is forgiven, as a single slow sweep is.
func (t *tiers) steadyRefresh() time.Duration { return min(t.refreshCost, t.prevRefresh) }

// failed makes the next poll a sweep (after a failed refresh, or one
// that found the look-ups impossible).
func (t *tiers) failed() { t.lastSweep = time.Time{} }

// tick is the interval between polls while the tiers are split: the one
// asked for, unless refreshes take more than half the budget.
func (t *tiers) tick() time.Duration {
	if r := t.steadyRefresh(); r*2*PollShare > t.interval {
		return r * 2 * PollShare
	}
	return t.interval
}

// stamp writes the pacing into a poll's snapshot.
func (t *tiers) stamp(s *model.Snapshot, wait time.Duration) {
	s.Interval, s.Slowed = wait, wait > t.interval
	s.SweepEvery = t.sweepEvery
	s.SweepCost = t.prevSweep
}
