//go:build linux

package loadgen_test

// The two tiers as a watcher runs them: watch.Loop over the load fixture,
// with 1 % of the connections in CLOSE-WAIT (suspects), its snapshots
// released at once as the exporter does. By default a small, fast
// version whose dumps cannot keep a 25 ms interval; the measured run at
// 10^6 (root):
//
//	go test -v -run '^TestTwoTiersLoop$' -timeout 60m ./internal/loadgen -tiers.conns=500000 -tiers.interval=1s -tiers.duration=5m

import (
	"context"
	"flag"
	"os"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
)

var (
	tiersConns    = flag.Int("tiers.conns", 5000, "TestTwoTiersLoop: fixture size in connections")
	tiersInterval = flag.Duration("tiers.interval", 25*time.Millisecond, "TestTwoTiersLoop: the interval asked for")
	tiersDuration = flag.Duration("tiers.duration", 3*time.Second, "TestTwoTiersLoop: how long the loop runs")
	tiersSuspects = flag.Int("tiers.suspects", 0, "TestTwoTiersLoop: connections left in CLOSE-WAIT (0: 1 % of tiers.conns)")
	tiersLog      = flag.Bool("tiers.log", false, "TestTwoTiersLoop: log every sweep, and every refresh that takes over half the budget")
	tiersDieAt    = flag.Duration("tiers.dieat", 0, "TestTwoTiersLoop: when a healthy connection's packets start to be dropped, under data (0: a third of tiers.duration; needs nft)")
)

// TestTwoTiersLoop: once dumps outgrow the budget the loop sweeps and
// refreshes in turn; in every refresh each suspect's row is that
// refresh's sample (the countdowns tick), every other row is its sweep's;
// no poll fails. It logs what the run cost: the sweeps' spacing and cost,
// the refreshes' cost, the gaps between snapshots, the process's CPU and
// peak RSS.
func TestTwoTiersLoop(t *testing.T) {
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(50)) // as the binary runs
	}
	f := benchFixture(t, *tiersConns)
	n := *tiersSuspects
	if n == 0 {
		n = max(*tiersConns/100, 1)
	}
	suspects := closeWaits(t, f.NetNSPath(), n)
	dieAt := *tiersDieAt
	if dieAt == 0 {
		dieAt = *tiersDuration / 3
	}
	dying := newDyingConn(t, f.NetNSPath())
	w, err := watch.New(watch.Config{NetNS: f.NetNSPath(), Owners: watch.OwnersFlagged})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *tiersDuration)
	defer cancel()
	out := make(chan *model.Snapshot)
	errs := make(chan error, 16)
	var before unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &before); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	go w.Loop(ctx, *tiersInterval, out, errs)
	var wrote, detected time.Time
	var dieTimer *time.Timer
	wroteCh := make(chan time.Time, 1)
	if dying != nil {
		dieTimer = time.AfterFunc(dieAt, func() { wroteCh <- dying.die(t) })
		defer dieTimer.Stop()
	}
	var (
		sweeps, refreshes       int
		sweepCost, refreshCost  []time.Duration
		gaps, sweepGaps, chosen []time.Duration
		prev, prevSweep         time.Time
		sockets                 int
		first, missing          = map[uint64]bool{}, map[uint64]bool{}
		ends                    []gapEnd // what ended each gap
		prevInterval            time.Duration
	)
	for s := range out {
		select {
		case wrote = <-wroteCh:
		default:
		}
		if !wrote.IsZero() && detected.IsZero() && s.Time.After(wrote) {
			if r := dying.rowIn(s); r != nil && r.Health == model.HealthRetransmitting {
				detected = s.Time
			}
		}
		sockets = max(sockets, len(s.Rows))
		if !prev.IsZero() {
			gaps = append(gaps, s.Time.Sub(prev))
			ends = append(ends, gapEnd{sweep: !s.Refresh, cost: s.PollCost, waited: prevInterval})
		}
		prev, prevInterval = s.Time, s.Interval
		chosen = append(chosen, s.Interval)
		if !s.Refresh && *tiersLog {
			t.Logf("sweep at %v cost %v", s.Time.Format("15:04:05.000"), s.PollCost)
		}
		if !s.Refresh {
			for k := range missing {
				if r := rowOf(s, k); r != nil {
					t.Logf("sweep at %v: the missing %d is a row again, in %v", s.Time, k, r.Sock.State)
				} else {
					t.Logf("sweep at %v: the missing %d is not among the sweep's rows either", s.Time, k)
				}
				delete(missing, k)
			}
			if sweeps == 0 {
				for i := range s.Rows {
					if s.Rows[i].Sock.State == inetdiag.StateCloseWait {
						first[s.Rows[i].Sock.ID.Cookie] = true
					}
				}
				if len(first) != suspects {
					t.Logf("the first sweep saw %d connections in CLOSE-WAIT of the %d made", len(first), suspects)
				}
			}
			sweeps++
			sweepCost = append(sweepCost, s.PollCost)
			if !prevSweep.IsZero() {
				sweepGaps = append(sweepGaps, s.Time.Sub(prevSweep))
			}
			prevSweep = s.Time
			s.Release()
			continue
		}
		refreshes++
		refreshCost = append(refreshCost, s.PollCost)
		if *tiersLog && s.PollCost > *tiersInterval/(2*watch.PollShare) {
			t.Logf("refresh at %v cost %v", s.Time.Format("15:04:05.000"), s.PollCost)
		}
		waiting := map[uint64]bool{}
		for i := range s.Rows {
			r := &s.Rows[i]
			if r.Sock.State == inetdiag.StateEstablished && r.Sampled.Time().After(prevSweep) && !dying.is(r) {
				// The fixture's idle connections are never suspects.
				t.Errorf("refresh at %v: the idle connection %v was sampled at %v, after its sweep at %v", s.Time, r.Sock.ID, r.Sampled, prevSweep)
			}
			if r.Sock.State != inetdiag.StateCloseWait {
				continue
			}
			waiting[r.Sock.ID.Cookie] = true
			if !r.Sampled.Time().Equal(s.Time) {
				t.Errorf("refresh at %v: the suspect %v was sampled at %v, not by this refresh", s.Time, r.Sock.ID, r.Sampled)
			}
		}
		for k := range first {
			if waiting[k] {
				continue
			}
			// The kernel may end one: an orphan in FIN-WAIT-2 whose
			// peer's ACK came while it was being closed waits on the
			// keepalive timer and resets the connection when
			// tcp_fin_timeout expires (tcp_keepalive_timer). Then its
			// event must say so; anything else is tcpwatch's loss.
			delete(first, k)
			evs := eventsOf(s, k)
			if len(evs) > 0 && rowOf(s, k) == nil {
				t.Logf("refresh at %v: %d, in CLOSE-WAIT at the first sweep, ended: %v", s.Time, k, evs[0].Kind)
				continue
			}
			missing[k] = true
			t.Errorf("refresh at %v: %d, in CLOSE-WAIT at the first sweep, is not among this refresh's, with events %+v", s.Time, k, evs)
		}
		s.Release()
	}
	wall := time.Since(began)
	var after unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &after); err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Errorf("poll error: %v", err)
	}
	if sweeps < 2 || refreshes < 2 {
		t.Fatalf("%d sweeps and %d refreshes at %d sockets with a %v interval: the tiers never split", sweeps, refreshes, sockets, *tiersInterval)
	}
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	hwm, err := procStatus(strconv.Itoa(os.Getpid()), "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d sockets, %d suspects, interval %v, %v: %d sweeps every %v (cost %v), %d refreshes (cost %v)",
		sockets, suspects, *tiersInterval, wall.Round(time.Second), sweeps, statsOf(sweepGaps), statsOf(sweepCost), refreshes, statsOf(refreshCost))
	// After the first two polls (a cold sweep, then one that splits the
	// tiers): how often a countdown waited longer than half again the
	// interval.
	var long, bySweep, bySlow, byWait int
	for i := min(2, len(gaps)); i < len(gaps); i++ {
		if gaps[i] <= *tiersInterval*3/2 {
			continue
		}
		long++
		switch e := ends[i]; {
		case e.sweep:
			bySweep++
		case e.cost > *tiersInterval/2:
			bySlow++
		case e.waited > *tiersInterval*3/2:
			byWait++
		}
	}
	switch {
	case dying == nil:
	case wrote.IsZero():
		t.Logf("the run ended before the healthy connection was made to die (-tiers.dieat %v)", dieAt)
	case !detected.IsZero():
		t.Logf("a healthy connection whose packets were dropped under data %v into the run: seen retransmitting %v after the write", dieAt, detected.Sub(wrote).Round(time.Millisecond))
	case began.Add(wall).Sub(wrote) >= 5*time.Second:
		t.Errorf("a healthy connection whose packets were dropped under data %v into the run: not seen retransmitting in the %v left", dieAt, began.Add(wall).Sub(wrote).Round(time.Second))
	default:
		t.Logf("a healthy connection whose packets were dropped under data: not seen retransmitting in the %v left (too short to tell)", began.Add(wall).Sub(wrote).Round(time.Millisecond))
	}
	t.Logf("gaps between snapshots %v, %d of %d after the first two longer than %v (%d ended by a sweep, %d by a refresh that took over half the interval, %d after a stretched wait, %d other); intervals chosen %v; CPU %.1f %% of a core; peak RSS %.0f MiB (the test process, fixture workers apart)",
		statsOf(gaps), long, max(len(gaps)-2, 0), *tiersInterval*3/2, bySweep, bySlow, byWait, long-bySweep-bySlow-byWait,
		statsOf(chosen), 100*cpu.Seconds()/wall.Seconds(), float64(hwm)/(1<<20))
}

// gapEnd is what ended a gap between two snapshots: a sweep or a
// refresh, what that poll cost, and the wait chosen before it.
type gapEnd struct {
	sweep        bool
	cost, waited time.Duration
}

func rowOf(s *model.Snapshot, cookie uint64) *model.Row {
	for i := range s.Rows {
		if s.Rows[i].Sock.ID.Cookie == cookie {
			return &s.Rows[i]
		}
	}
	return nil
}

func eventsOf(s *model.Snapshot, cookie uint64) []model.Event {
	var evs []model.Event
	for _, e := range s.Events {
		if e.ID.Cookie == cookie {
			evs = append(evs, e)
		}
	}
	return evs
}
