package watch

import (
	"context"
	"time"

	"github.com/tcpwatch/tcpwatch/model"
)

// PollShare is the largest share of the time polls may take (1/PollShare):
// tcpwatch runs on hosts in trouble and must stay under a tenth of a core.
// A poll's wall time is most of its CPU but not all of it (the garbage
// collector, the exporter's scrapes, the interface's frames come on top:
// at 10^5 sockets a tenth for the polls measured 10.5 % in all), hence a
// twelfth. A host whose full dumps cost more than that (10^5 sockets:
// the kernel alone spends about 0.18 s per dump) is polled in two tiers,
// within a smaller share still (see SweepShare).
const PollShare = 12

// SweepShare is the share of the time (1/SweepShare) the full dumps of a
// host polled in two tiers may take; the refreshes between them may take
// half of PollShare's (see tiers.tick). The sweeps of such a host are
// what its CPU is spent on, and what they refresh is the healthy rows (a
// dying connection's are looked up every interval, and one that starts
// dying calls a sweep early, see tiers.early). At a twelfth, the
// interface at 10^5 sockets spent 11-12 % of a core, four tenths of it
// in the kernel's dumps; at a twenty-fourth, 5.3-6.5 %: the interface's
// own work (its frames, taking in snapshots, the collector) takes 1.5-2
// points of a core besides the sweeps, so sweeps at 4.2 % left nothing
// of the 5 % an interface may take. At a thirty-sixth (2.8 %) a host of
// 10^5 sockets is swept every ~9 s and one of 10^6 every 1.5-3 min.
const SweepShare = 3 * PollShare

// Loop polls every interval until ctx is done and sends each snapshot on
// out (closing it at the end). When polls take more than 1/PollShare of
// the interval, the interval is stretched to PollShare times their cost,
// and the snapshots say so, rather than falling behind or eating the host. It takes two slow polls in
// a row: the first one, which fills the process index, or a one-off stall
// must not stop the countdowns for seconds. Poll errors are sent to errs
// (if not nil) and the loop goes on.
//
// On a host whose dumps cost more than that, the polls between two dumps
// only look up the connections that are or may be dying (see tiers), so
// that their countdowns keep the interval.
func (w *Watcher) Loop(ctx context.Context, interval time.Duration, out chan<- *model.Snapshot, errs chan<- error) {
	defer close(out)
	t := newTiers(interval, w.cfg.SweepEvery)
	effective := interval
	for {
		start := w.cfg.Clock()
		can, gen := w.canRefresh(), w.queryGen()
		refresh := t.refreshDue(start, can, gen)
		var snap *model.Snapshot
		var err error
		if w.recall != nil && t.costly() {
			w.recall(ctx)
		}
		if refresh {
			snap, err = w.Refresh()
		} else {
			snap, err = w.Poll()
		}
		if err != nil {
			if refresh {
				t.failed()
			}
			if errs != nil {
				select {
				case errs <- err:
				default:
				}
			}
		} else {
			// After a failed poll the interval in force stays.
			if refresh {
				effective = t.refreshed(snap.PollCost, w.refreshSetup, w.refreshScreen)
				if w.sweepWanted() {
					t.early(start)
				}
			} else {
				effective = t.swept(start, snap.PollCost, w.canRefresh(), gen)
			}
			t.stamp(snap, effective)
			w.rec.paced(snap.Interval, snap.Slowed)
			select {
			case out <- snap:
			case <-ctx.Done():
				snap.Release()
				return
			}
		}
		if !w.wait(ctx, effective) {
			return
		}
	}
}

// pacer stretches the polling interval after slow polls (see Loop).
type pacer struct {
	interval time.Duration
	prevCost time.Duration // of the last successful poll
}

// next returns the interval to wait after a poll that cost cost:
// PollShare times the cheaper of it and the poll before when that exceeds
// the interval asked for, else the interval.
func (p *pacer) next(cost time.Duration) time.Duration {
	effective := p.interval
	if steady := min(cost, p.prevCost); steady*PollShare > p.interval {
		effective = steady * PollShare
	}
	p.prevCost = cost
	return effective
}

// sleep waits d, or until ctx is done (then it reports false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
		t.Stop()
		return false
	case <-t.C:
		return true
	}
}
