package model

// The timer wheel (kernel/time/timer.c: calc_wheel_index, calc_index)
// that every TCP timer runs on, as a timeline of future expiries with the
// earliest, expected and latest trajectories, and the count- and
// time-based abort windows on it. The README's "How predictions work"
// gives the measurements; params_test.go (TestLatenessMeasured,
// TestLatenessBruteForce) checks the lateness model. Rules whose decisions
// change the next interval use simulate.go instead.

import "time"

// A timeline is the sequence of future expiries of a connection's timer,
// from the pending one on. The intervals are known in advance (the kernel
// doubles the RTO, or probes at a fixed or backed-off interval); what must
// be modelled is how late each expiry fires.
//
// TCP timers live on the kernel's timer wheel (kernel/time/timer.c). A
// timer armed d jiffies ahead goes to the wheel level whose granularity g
// is 1, 8, 64, 512… jiffies (d < 63, < 504, < 4032, < 32256…), and its
// expiry is rounded up to the next multiple of g (calc_index: "round up
// with level granularity to prevent [early expiry]"): it fires 1..g
// jiffies late. Because TCP re-arms its timer from the firing itself, a
// firing always happens on a multiple of its own granularity, and the
// lateness of the next one follows: if the next level is not coarser,
// the lateness is exactly g − (d mod g) (g when d is a multiple of g);
// if it is coarser, the previous alignment a still leaves it among a
// known set of values. Measured here (HZ=250): a 1.632 s RTO after an
// 816 ms one fires 32 ms late every time, 6.528 s after 3.264 s 128 ms,
// and a 120 s rto_max interval 832 ms. The timeline keeps the earliest,
// latest and expected trajectories.
type timeline struct {
	p        Params
	min, max []time.Time
	mean     []time.Time
	interval []time.Duration // interval[j] is what firing j was armed with
	hiLate   []time.Duration // the latest lateness of firing j
	align    int64           // jiffies: the last firing is a multiple of it (0 = unknown)
}

// maxFirings bounds every simulation (tcp_retries2 is at most 255).
const maxFirings = 300

// lateness is how late a timer armed d ahead fires when the arming
// instant is a multiple of align jiffies (0: unknown). It returns the
// earliest, expected and latest lateness and the alignment of the firing.
func (p Params) lateness(d time.Duration, align int64) (lo, mean, hi time.Duration, next int64) {
	j := p.Jiffy()
	dj := int64((d + j/2) / j)
	g := int64(p.WheelGranularity(d) / j)
	var loJ, hiJ int64
	switch {
	case align > 1 && align%g == 0:
		// The arming instant is a multiple of g: deterministic.
		loJ = g - dj%g
		hiJ = loJ
	case align > 1 && g%align == 0:
		r := dj % align
		loJ, hiJ = align-r, g-r
		if r == 0 {
			loJ, hiJ = align, g
		}
	default:
		loJ, hiJ = 1, g
	}
	// One more jiffy of slack for the softirq running after the tick, and
	// for the jiffy-rounded expiry inet_diag reports.
	lo = time.Duration(loJ) * j
	hi = time.Duration(hiJ)*j + j
	mean = time.Duration(loJ+hiJ)*j/2 + j/2
	return lo, mean, hi, g
}

// newTimeline starts a timeline at a pending expiry. pending is the
// programmed expiry, armed the interval the timer was armed with (it
// decides the lateness), align what the arming instant is a multiple of
// (in jiffies; 0 if unknown), and t the sample time: the firing cannot
// precede it.
func newTimeline(p Params, pending time.Time, armed time.Duration, align int64, t time.Time) *timeline {
	tl := &timeline{p: p}
	l, m, h, next := p.lateness(armed, align)
	tl.align = next
	lo := pending.Add(l - p.Jiffy())
	hi := pending.Add(h)
	mean := pending.Add(m)
	if !pending.After(t) {
		// Reported overdue (expiry 0): the expiry passed by up to the
		// lateness, so the firing may come at any moment.
		lo = t
	}
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
	tl.hiLate = append(tl.hiLate, h)
	return tl
}

// add appends the next firing, d after the previous one.
func (tl *timeline) add(d time.Duration) {
	j := len(tl.min) - 1
	l, m, h, next := tl.p.lateness(d, tl.align)
	tl.align = next
	tl.min = append(tl.min, tl.min[j].Add(d+l))
	tl.max = append(tl.max, tl.max[j].Add(d+h))
	tl.mean = append(tl.mean, tl.mean[j].Add(d+m))
	tl.interval = append(tl.interval, d)
	tl.hiLate = append(tl.hiLate, h)
}

// addAt appends a firing armed for an absolute expiry (a keepalive timer
// re-anchored to the last received segment).
func (tl *timeline) addAt(expiry time.Time) {
	j := len(tl.min) - 1
	d := expiry.Sub(tl.mean[j])
	if d < tl.p.Jiffy() {
		d = tl.p.Jiffy()
	}
	l, m, h, next := tl.p.lateness(d, 0)
	tl.align = next
	at := func(prev time.Time, late time.Duration) time.Time {
		e := expiry
		if min := prev.Add(tl.p.Jiffy()); e.Before(min) {
			e = min
		}
		return e.Add(late)
	}
	tl.min = append(tl.min, at(tl.min[j], l))
	tl.max = append(tl.max, at(tl.max[j], h))
	tl.mean = append(tl.mean, at(tl.mean[j], m))
	tl.interval = append(tl.interval, d)
	tl.hiLate = append(tl.hiLate, h)
}

func (tl *timeline) len() int { return len(tl.min) }

// chain sums the lateness of consecutive timers armed with the given
// intervals, the first armed at a multiple of align jiffies.
func (p Params) chain(intervals []time.Duration, align int64) (lo, mean, hi time.Duration) {
	for _, d := range intervals {
		l, m, h, next := p.lateness(d, align)
		lo, mean, hi, align = lo+l, mean+m, hi+h, next
	}
	return lo, mean, hi
}

// alignAfter is the alignment of a firing armed with interval d: a
// multiple of its wheel granularity, in jiffies.
func (p Params) alignAfter(d time.Duration) int64 { return int64(p.WheelGranularity(d) / p.Jiffy()) }

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
		if alt := prev.Add(d + tl.hiLate[jLate]); alt.Before(w.latest) {
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

// futureFirings turns the timeline up to the best abort into a schedule.
// base numbers the firings: firing j is retransmission (or probe)
// base+j+1; the abort firing carries the number of the last one sent.
func futureFirings(tl *timeline, w window, base int, kind FiringKind) []Firing {
	out := make([]Firing, 0, w.bestIdx+1)
	for j := 0; j <= w.bestIdx; j++ {
		f := Firing{N: base + j + 1, Kind: kind, At: tl.mean[j], Earliest: tl.min[j], Latest: tl.max[j], Interval: tl.interval[j]}
		if j == w.bestIdx {
			f.Kind, f.N = FireAbort, base+j
			f.At, f.Earliest, f.Latest = w.best, w.earliest, w.latest
		}
		out = append(out, f)
	}
	return out
}
