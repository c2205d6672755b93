package model

import "time"

// A timeline is the sequence of future expiries of a connection's timer,
// from the pending one on. The intervals are known in advance (the kernel
// doubles the RTO, or probes at a fixed or backed-off interval); what is
// not known is how late each expiry fires: a timer-wheel timer fires up to
// one wheel granularity after its expiry, and the lateness accumulates
// because the kernel re-arms from the real firing time. The timeline keeps
// three trajectories: every firing as early as possible (one jiffy late),
// as late as possible (a whole granularity late), and the expected one.
type timeline struct {
	p        Params
	min, max []time.Time
	mean     []time.Time
	interval []time.Duration // interval[j] is what firing j was armed with
}

// maxFirings bounds every simulation (tcp_retries2 is at most 255).
const maxFirings = 300

func (p Params) lateMin(time.Duration) time.Duration { return p.Jiffy() }
func (p Params) lateMax(d time.Duration) time.Duration {
	return p.WheelGranularity(d)
}
func (p Params) lateMean(d time.Duration) time.Duration {
	return (p.WheelGranularity(d) + p.Jiffy()) / 2
}

// newTimeline starts a timeline at a pending expiry. pending is the
// programmed expiry, armed the interval the timer was armed with (it
// decides the lateness), and overdue, when the expiry has already passed
// at sample time t, moves the earliest firing to t.
func newTimeline(p Params, pending time.Time, armed time.Duration, t time.Time) *timeline {
	tl := &timeline{p: p}
	lo := pending.Add(p.lateMin(armed))
	hi := pending.Add(p.lateMax(armed))
	mean := pending.Add(p.lateMean(armed))
	// The sample was taken before the firing: it cannot have happened
	// before t.
	if lo.Before(t) {
		lo = t
	}
	if hi.Before(lo) {
		hi = lo
	}
	if mean.Before(lo) {
		mean = lo
	}
	if mean.After(hi) {
		mean = hi
	}
	tl.min = append(tl.min, lo)
	tl.max = append(tl.max, hi)
	tl.mean = append(tl.mean, mean)
	tl.interval = append(tl.interval, armed)
	return tl
}

// add appends the next firing, d after the previous one.
func (tl *timeline) add(d time.Duration) {
	j := len(tl.min) - 1
	tl.min = append(tl.min, tl.min[j].Add(d+tl.p.lateMin(d)))
	tl.max = append(tl.max, tl.max[j].Add(d+tl.p.lateMax(d)))
	tl.mean = append(tl.mean, tl.mean[j].Add(d+tl.p.lateMean(d)))
	tl.interval = append(tl.interval, d)
}

// addAt appends a firing armed for an absolute expiry (a keepalive timer
// re-anchored to the last received segment).
func (tl *timeline) addAt(expiry time.Time) {
	j := len(tl.min) - 1
	d := expiry.Sub(tl.mean[j])
	if d < tl.p.Jiffy() {
		d = tl.p.Jiffy()
	}
	at := func(prev time.Time, late time.Duration) time.Time {
		e := expiry
		if min := prev.Add(tl.p.Jiffy()); e.Before(min) {
			e = min
		}
		return e.Add(late)
	}
	tl.min = append(tl.min, at(tl.min[j], tl.p.lateMin(d)))
	tl.max = append(tl.max, at(tl.max[j], tl.p.lateMax(d)))
	tl.mean = append(tl.mean, at(tl.mean[j], tl.p.lateMean(d)))
	tl.interval = append(tl.interval, d)
}

func (tl *timeline) len() int { return len(tl.min) }

// window is the outcome of a prediction on a timeline.
type window struct {
	best, earliest, latest time.Time
	bestIdx                int // index of the firing that aborts (best estimate)
	slip                   bool
}

// countWindow: the kernel aborts at firing k whatever the timing (a
// count-based rule: keepalive probes, zero-window probes, SYN retries).
func (tl *timeline) countWindow(k int) window {
	return window{best: tl.mean[k], earliest: tl.min[k], latest: tl.max[k], bestIdx: k}
}

// timeWindow: the kernel aborts at the first firing j (with checks[j]
// true) whose time since the clock start S reaches budget(j). S lies in
// [sLo, sHi] with best estimate sMid. The bounds are analytic, not sampled:
// the earliest abort is at the first firing that could reach the budget
// when everything is as late and S as early as possible, and no earlier
// than S+budget; the latest at the first firing that must reach it when
// everything is as early and S as late as possible, bounded by how late it
// can be given that the previous firing missed. ok is false if no abort
// was found within the timeline.
func (tl *timeline) timeWindow(sLo, sMid, sHi time.Time, budget func(j int) time.Duration, checks func(j int) bool) (w window, ok bool) {
	jEarly, jLate, jBest := -1, -1, -1
	for j := 0; j < tl.len(); j++ {
		if !checks(j) {
			continue
		}
		T := budget(j)
		if jEarly < 0 && tl.max[j].Sub(sLo) >= T {
			jEarly = j
		}
		if jBest < 0 && tl.mean[j].Sub(sMid) >= T {
			jBest = j
		}
		if jLate < 0 && tl.min[j].Sub(sHi) >= T {
			jLate = j
		}
		if jEarly >= 0 && jBest >= 0 && jLate >= 0 {
			break
		}
	}
	if jEarly < 0 || jLate < 0 || jBest < 0 {
		return w, false
	}
	w.earliest = tl.min[jEarly]
	if b := sLo.Add(budget(jEarly)); b.After(w.earliest) {
		w.earliest = b
	}
	w.latest = tl.max[jLate]
	if jLate > 0 && checks(jLate-1) {
		// Firing jLate-1 missed, so it came before sHi+budget.
		prev := tl.max[jLate-1]
		if lim := sHi.Add(budget(jLate - 1)); lim.Before(prev) {
			prev = lim
		}
		d := tl.interval[jLate]
		if alt := prev.Add(d + tl.p.lateMax(d)); alt.Before(w.latest) {
			w.latest = alt
		}
	}
	if w.latest.Before(w.earliest) {
		w.latest = w.earliest
	}
	w.best, w.bestIdx = tl.mean[jBest], jBest
	if w.best.Before(w.earliest) {
		w.best = w.earliest
	}
	if w.best.After(w.latest) {
		w.best = w.latest
	}
	w.slip = jEarly != jLate
	return w, true
}
