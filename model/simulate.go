package model

// Three-run simulation of a timer on the kernel's timer wheel
// (kernel/time/timer.c), for the rules whose abort depends on when each
// firing actually happens and not only on how many there were: the
// TCP_USER_TIMEOUT clamp of tcp_clamp_rto_to_user_timeout() (rto.go) and
// the two limits of tcp_rtx_probe0_timed_out() (zerowindow.go). A
// timeline (timeline.go) cannot carry these: the decision at one firing
// changes the interval of the next, differently in each run. The lateness
// model is the timeline's (see lateness); the README's "How predictions
// work" gives the measurements behind it.

import "time"

// trajectory is one of the three runs: every firing as early as the wheel
// allows, as expected, or as late as it allows.
type trajectory int

const (
	runEarly trajectory = iota
	runExpected
	runLate
)

// lateOn is how late a timer armed d ahead fires on trajectory tr when the
// arming instant is a multiple of align jiffies (0: unknown), and the
// alignment of the firing. The early run takes one jiffy less than
// lateness's earliest, for the jiffy-rounded expiry inet_diag reports.
func (p Params) lateOn(tr trajectory, d time.Duration, align int64) (time.Duration, int64) {
	lo, mean, hi, next := p.lateness(d, align)
	return [...]time.Duration{lo - p.Jiffy(), mean, hi}[tr], next
}

// timerSim is a timer for simulateRuns to play out from its pending expiry.
type timerSim struct {
	pending time.Time     // programmed expiry of the pending timer
	armed   time.Duration // the interval it was armed with
	align   int64         // its arming instant is a multiple of this many jiffies (0: unknown)
	t       time.Time     // the sample time: no firing precedes it
	// rearm[i] is the interval the timer is re-armed with after firing i
	// (the backed-off RTO), before clamp shortens it.
	rearm []time.Duration
	// clamp, if set, is the interval a run re-arms with after a firing at
	// fired when its clock started at S and the schedule says d; unaligned
	// is true when the clamped expiry falls on the wheel by S, whose phase
	// is not known to the jiffy.
	clamp func(d time.Duration, fired, S time.Time) (next time.Duration, unaligned bool)
	// aborts tells whether the kernel gives up at firing i, programmed for
	// due and run at fired, in a run whose clock started at S.
	aborts func(i int, due, fired, S time.Time) bool
}

// simRun is the outcome of one run: when each firing happened, the
// interval it had been armed with, and the index of the one at which the
// kernel gave up (-1: none within maxFirings).
type simRun struct {
	fires     []time.Time
	intervals []time.Duration
	abort     int
}

// simulateRuns plays the timer out three times: the early run with every
// firing as early as the wheel allows and the clock started at sLo, the
// expected one from sMid, and the late one from sHi. The decisions of a
// run depend on its own firings, so the runs may give up at different
// firings: callers bound the outcome with span.
func (p Params) simulateRuns(ts *timerSim, sLo, sMid, sHi time.Time) [3]simRun {
	return [3]simRun{
		p.simulate(ts, runEarly, sLo),
		p.simulate(ts, runExpected, sMid),
		p.simulate(ts, runLate, sHi),
	}
}

// simulate is one run on trajectory tr with the clock started at S.
func (p Params) simulate(ts *timerSim, tr trajectory, S time.Time) simRun {
	var r simRun
	due, d := ts.pending, ts.armed
	lateness, align := p.lateOn(tr, d, ts.align)
	fired := due.Add(lateness)
	for i := 0; i < maxFirings; i++ {
		if fired.Before(ts.t) {
			// Reported overdue, or expected before the sample: it fires
			// at the earliest now.
			fired = ts.t
		}
		r.fires = append(r.fires, fired)
		r.intervals = append(r.intervals, d)
		if ts.aborts(i, due, fired, S) {
			r.abort = i
			return r
		}
		d = ts.rearm[i]
		if ts.clamp != nil {
			var unaligned bool
			if d, unaligned = ts.clamp(d, fired, S); unaligned {
				align = 0
			}
		}
		due = fired.Add(d)
		lateness, align = p.lateOn(tr, d, align)
		fired = due.Add(lateness)
	}
	r.abort = -1
	return r
}

// span bounds the outcomes of several simulated runs.
func span(t ...time.Time) (earliest, latest time.Time) {
	earliest, latest = t[0], t[0]
	for _, x := range t[1:] {
		if x.Before(earliest) {
			earliest = x
		}
		if x.After(latest) {
			latest = x
		}
	}
	return earliest, latest
}
