//go:build linux

package loadgen_test

// Scale report: what one poll of a busy host costs, step by step, and what
// the tcpwatch binary costs over a minute of polling, measured on one
// fixture of N idle loopback connections (2N sockets). It needs root and
// is off unless -scale gives the fixture's size. Run one size per process
// (the kernel's established-socket hash table is shared by every
// namespace, so a second fixture would slow the first one's dumps):
//
//	go test -v -run '^TestScaleReport$' -timeout 60m ./internal/loadgen -scale=5000
//	go test -v -run '^TestScaleReport$' -timeout 60m ./internal/loadgen -scale=50000
//
// The package comes before these flags: go test hands the first flag it
// does not know, and everything after it, to the test binary.
// -scale.out FILE appends the report (a markdown table) to FILE. The
// figures are medians over -scale.runs repetitions, [min–max] beside
// them; the only assertions are about correctness (every dump sees the
// fixture, a slow poll stretches the interval, the binary survives).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/loadgen"
	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
)

var (
	scaleConns  = flag.Int("scale", 0, "TestScaleReport: fixture size in connections (5000, 50000...; root); 0 runs a small smoke version")
	scaleRuns   = flag.Int("scale.runs", 9, "TestScaleReport: repetitions of each timed step (the report gives medians)")
	scaleBinary = flag.Duration("scale.binary", 60*time.Second, "TestScaleReport: how long the binary polls in each mode (0 skips it)")
	scaleStart  = flag.Duration("scale.warm", 5*time.Second, "TestScaleReport: how long the binary runs before its CPU and memory are measured (the first minute at 10^6 names the screen; 60s measures past it)")
	scaleOut    = flag.String("scale.out", "", "TestScaleReport: append the markdown report to this file")
	scaleModes  = flag.String("scale.modes", "metrics,json,tui", "TestScaleReport: the binary's modes to run")
	scaleInProc = flag.Bool("scale.inproc", true, "TestScaleReport: measure the dumps, the tracker, the poll and the loop in this process")
	scaleEnv    = flag.String("scale.env", "", "TestScaleReport: space-separated VAR=VALUE settings for the binary (e.g. GOGC=50)")
	scaleBin    = flag.String("scale.bin", "", "TestScaleReport: run this tcpwatch binary instead of building one (to compare versions)")
)

// binaryEnv returns -scale.env as a list.
func binaryEnv() []string { return strings.Fields(*scaleEnv) }

// envNote says how the binary was run, for the report.
func envNote() string {
	var note string
	if *scaleStart != 5*time.Second {
		note = fmt.Sprintf(" from %v", *scaleStart)
	}
	if *scaleEnv != "" {
		note += " with " + *scaleEnv
	}
	return note
}

// scaleWarm is how many updates fill a connection's history (the model's
// default HistoryLen, 120, plus one): before that, every poll of an idle
// unguarded connection grows it and the cost is not yet steady.
const scaleWarm = 121

// scaleReport collects the rows of the markdown table.
type scaleReport struct {
	rows [][3]string
}

func (r *scaleReport) add(what, value, note string) {
	r.rows = append(r.rows, [3]string{what, value, note})
}

func (r *scaleReport) markdown() string {
	var b strings.Builder
	b.WriteString("| measure | median [min–max] | note |\n|---|---|---|\n")
	for _, row := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", row[0], row[1], row[2])
	}
	return b.String()
}

func TestScaleReport(t *testing.T) {
	needRoot(t)
	// Without -scale, a small version checks that the report still works
	// (every step, but 500 connections, one run, the binary for 3 s).
	n, runs, binFor := *scaleConns, max(*scaleRuns, 1), *scaleBinary
	if n == 0 {
		n, runs, binFor = 500, 1, min(binFor, 3*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	f, err := loadgen.Start(ctx, loadgen.Config{Conns: n, NetNS: nsName()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	ready := time.Now() // every connection is established
	rep := &scaleReport{}
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("fixture: %d connections in %d workers, started in %v; load %s", n, f.Workers(), time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(load)))

	if *scaleInProc {
		dumpMed := scaleDumps(t, f, runs, rep)
		// The model calls an established connection idle after 5 s
		// without data (model.Config.IdleAfter): from then on the
		// fixture's connections are what most of a real host's are, idle
		// and unguarded.
		if idle := 6*time.Second - time.Since(ready); idle > 0 {
			time.Sleep(idle)
		}
		scaleUpdate(t, f, runs, dumpMed, rep)
		scalePoll(t, f, runs, rep)
		scaleSlowdown(t, f, rep)
	}
	if binFor > 0 {
		bin := *scaleBin
		if bin == "" {
			bin = buildBinary(t)
		}
		for _, mode := range strings.Split(*scaleModes, ",") {
			switch mode {
			case "metrics":
				scaleBinaryMetrics(t, f, bin, binFor, rep)
			case "json":
				scaleBinaryJSON(t, f, bin, binFor, rep)
			case "tui":
				scaleBinaryTUI(t, f, bin, binFor, rep)
			default:
				t.Errorf("-scale.modes: unknown mode %q (metrics, json, tui)", mode)
			}
		}
	}
	if err := f.Err(); err != nil {
		t.Errorf("fixture: %v", err)
	}

	load, _ = os.ReadFile("/proc/loadavg")
	head := fmt.Sprintf("### N = %d connections, %s\n\n%s, %d CPUs, load average at the end: %s\n\n",
		n, time.Now().Format("2006-01-02 15:04"), runtime.Version(), runtime.NumCPU(), strings.TrimSpace(string(load)))
	md := head + rep.markdown()
	t.Log("\n" + md)
	if *scaleOut != "" {
		fh, err := os.OpenFile(*scaleOut, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		if _, err := io.WriteString(fh, md+"\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// cpuNow returns the user and system CPU time of this process (children
// false) or of its waited-for children.
func cpuNow(t testing.TB, children bool) (usr, sys time.Duration) {
	t.Helper()
	who := unix.RUSAGE_SELF
	if children {
		who = unix.RUSAGE_CHILDREN
	}
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// scaleDumps times inetdiag's Dump, the bare dump and ss, in turn within
// each round so that all three see the same machine load, and returns
// Dump's median.
func scaleDumps(t *testing.T, f *loadgen.Fixture, runs int, rep *scaleReport) time.Duration {
	c, err := inetdiag.Dial(&inetdiag.Config{NetNS: f.NetNSPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bare := openBare(t, f.NetNSPath())
	buf, err := c.Dump(benchReq, nil)
	if err != nil {
		t.Fatal(err)
	}
	sockets := len(buf)
	if sockets < 2*f.Conns() {
		t.Fatalf("dump found %d sockets, want at least %d", sockets, 2*f.Conns())
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()

	var infoBuf []inetdiag.Socket
	type step struct {
		name     string
		children bool
		run      func() error
		wall     []time.Duration
		usr, sys time.Duration
	}
	steps := []*step{
		{name: "inetdiag Dump", run: func() error {
			var err error
			buf, err = c.Dump(benchReq, buf[:0])
			if err == nil && len(buf) < 2*f.Conns() {
				err = fmt.Errorf("Dump found %d sockets, want at least %d", len(buf), 2*f.Conns())
			}
			return err
		}},
		{name: "inetdiag Dump, tcp_info only", run: func() error {
			// What the model and every view but the detail pane use: no
			// memory attributes, no congestion-control name.
			var err error
			req := benchReq
			req.Ext = inetdiag.ExtInfo | inetdiag.ExtShutdown
			infoBuf, err = c.Dump(req, infoBuf[:0])
			if err == nil && len(infoBuf) < 2*f.Conns() {
				err = fmt.Errorf("Dump found %d sockets, want at least %d", len(infoBuf), 2*f.Conns())
			}
			return err
		}},
		{name: "bare dump", run: func() error {
			n, err := bare.dump()
			if err == nil && n < 2*f.Conns() {
				err = fmt.Errorf("bare dump found %d sockets, want at least %d", n, 2*f.Conns())
			}
			return err
		}},
		{name: "`ss -tinoHn`", children: true, run: func() error {
			cmd := exec.Command("ip", "netns", "exec", f.NetNS(), "ss", "-tinoHn")
			cmd.Stdout = devnull
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%v: %v: %s", cmd.Args, err, stderr.Bytes())
			}
			return nil
		}},
	}
	for r := range runs {
		for k := range steps {
			s := steps[(r+k)%len(steps)]
			u0, s0 := cpuNow(t, s.children)
			t0 := time.Now()
			if err := s.run(); err != nil {
				t.Fatal(err)
			}
			s.wall = append(s.wall, time.Since(t0))
			u1, s1 := cpuNow(t, s.children)
			s.usr += u1 - u0
			s.sys += s1 - s0
		}
	}
	dump := statsOf(steps[0].wall)
	for _, s := range steps {
		st := statsOf(s.wall)
		per := time.Duration(runs)
		rep.add(s.name, st.String(), fmt.Sprintf("%d sockets; CPU per dump: user %s, system %s; %.2f× Dump",
			sockets, ms(s.usr/per), ms(s.sys/per), float64(st.med)/float64(dump.med)))
	}
	return dump.med
}

// scaleUpdate feeds the tracker two real dumps of the fixture in turn, one
// second apart, until every connection's history is full, and times the
// updates after that, and building the rows.
func scaleUpdate(t *testing.T, f *loadgen.Fixture, runs int, dump time.Duration, rep *scaleReport) {
	c, err := inetdiag.Dial(&inetdiag.Config{NetNS: f.NetNSPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var bufs [2][]inetdiag.Socket
	for i := range bufs {
		if bufs[i], err = c.Dump(benchReq, nil); err != nil {
			t.Fatal(err)
		}
	}
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	tr := model.NewTracker(model.Config{})
	t0 := time.Now()
	var first time.Duration
	var upd, rows []time.Duration
	var mallocs, allocBytes uint64
	for i := range scaleWarm + runs {
		in := model.PollInput{Time: t0.Add(time.Duration(i) * time.Second), Socks: bufs[i%2]}
		var a0, a1 runtime.MemStats
		measured := i >= scaleWarm
		if measured {
			runtime.ReadMemStats(&a0)
		}
		st := time.Now()
		p := tr.Update(in)
		d := time.Since(st)
		if i == 0 {
			first = d
		}
		if got, want := len(p.Conns), len(bufs[i%2]); got != want {
			t.Fatalf("update %d: %d connections, want %d", i, got, want)
		}
		if !measured {
			continue
		}
		st = time.Now()
		r := p.Rows(nil)
		rows = append(rows, time.Since(st))
		runtime.ReadMemStats(&a1)
		upd = append(upd, d)
		mallocs += a1.Mallocs - a0.Mallocs
		allocBytes += a1.TotalAlloc - a0.TotalAlloc
		if len(r) != len(p.Conns) {
			t.Fatalf("%d rows for %d connections", len(r), len(p.Conns))
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	runtime.KeepAlive(bufs)
	var unguarded int
	p := tr.Update(model.PollInput{Time: t0.Add((scaleWarm + time.Duration(runs)) * time.Second), Socks: bufs[runs%2]})
	for _, c := range p.Conns {
		if c.Health == model.HealthUnguarded {
			unguarded++
		}
	}
	sockets := len(bufs[0])
	u := statsOf(upd)
	rep.add("model `Tracker.Update`", u.String(), fmt.Sprintf("%.0f %% of the Dump median (target ≤ 25 %%); %.0f ns/socket; first update (empty tracker) %s; %d connections unguarded",
		100*float64(u.med)/float64(dump), float64(u.med)/float64(sockets), ms(first), unguarded))
	rep.add("model `Poll.Rows`", statsOf(rows).String(), fmt.Sprintf("Update + Rows allocate %.1f objects, %.0f B per socket per poll",
		float64(mallocs)/float64(runs*sockets), float64(allocBytes)/float64(runs*sockets)))
	heap := int64(ms1.HeapAlloc) - int64(ms0.HeapAlloc)
	rep.add("tracker heap after warm-up", mib(heap), fmt.Sprintf("%.0f B per socket, after %d updates (the dumps not counted)", float64(heap)/float64(sockets), scaleWarm+runs))
}

// scalePoll times the watcher's whole poll with the interface's owner
// policy.
func scalePoll(t *testing.T, f *loadgen.Fixture, runs int, rep *scaleReport) {
	w, err := watch.New(watch.Config{NetNS: f.NetNSPath(), NetNSName: f.NetNS(), Owners: watch.OwnersFlagged})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var cost, wall []time.Duration
	var rows, owned int
	var mallocs uint64
	u0, s0 := time.Duration(0), time.Duration(0)
	for i := range scaleWarm + runs {
		var a0, a1 runtime.MemStats
		if i == scaleWarm {
			u0, s0 = cpuNow(t, false)
		}
		if i >= scaleWarm {
			runtime.ReadMemStats(&a0)
		}
		st := time.Now()
		snap, err := w.Poll()
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(st)
		if len(snap.Rows) < 2*f.Conns() {
			t.Fatalf("poll %d: %d rows, want at least %d", i, len(snap.Rows), 2*f.Conns())
		}
		if i >= scaleWarm {
			cost = append(cost, snap.PollCost)
			wall = append(wall, d)
			rows, owned = len(snap.Rows), 0
			for j := range snap.Rows {
				if snap.Rows[j].PID != 0 {
					owned++
				}
			}
		}
		snap.Release()
		if i >= scaleWarm {
			runtime.ReadMemStats(&a1)
			mallocs += a1.Mallocs - a0.Mallocs
		}
	}
	u1, s1 := cpuNow(t, false)
	per := time.Duration(runs)
	rep.add("`watch.Watcher.Poll` (OwnersFlagged), PollCost", statsOf(cost).String(),
		fmt.Sprintf("%d rows, %d with an owner; wall time of Poll: %s; CPU per poll: user %s, system %s; %.1f allocations per row",
			rows, owned, statsOf(wall), ms((u1-u0)/per), ms((s1-s0)/per), float64(mallocs)/float64(runs*rows)))
}

// scaleSlowdown runs the watcher's loop with an interval its polls cannot
// keep, every poll a full dump (--sweep always; the two tiers have their
// own tests): once two polls in a row took more than 1/watch.PollShare of
// the interval, the snapshot must say Slowed and carry PollShare times
// the cheaper one's cost as its interval, and the next poll must not
// start before it. The interval is three times the cheapest of three
// polls measured first (at most 100 ms), so that the loop is slowed at
// any fixture size on any machine.
func scaleSlowdown(t *testing.T, f *loadgen.Fixture, rep *scaleReport) {
	w, err := watch.New(watch.Config{NetNS: f.NetNSPath(), NetNSName: f.NetNS(), Owners: watch.OwnersFlagged, SweepEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	interval := 100 * time.Millisecond
	for range 3 {
		s, err := w.Poll()
		if err != nil {
			t.Fatal(err)
		}
		interval = min(interval, 3*s.PollCost)
		s.Release()
	}
	interval = max(interval.Round(time.Millisecond), time.Millisecond)
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan *model.Snapshot)
	errs := make(chan error, 1)
	go w.Loop(ctx, interval, out, errs)
	var snaps []*model.Snapshot
	for len(snaps) < 6 {
		select {
		case s := <-out:
			snaps = append(snaps, s)
		case err := <-errs:
			t.Fatal(err)
		}
	}
	cancel()
	for s := range out {
		s.Release()
	}
	slowed := 0
	var effective []time.Duration
	var prevCost time.Duration
	for i, s := range snaps {
		// Two slow polls in a row stretch the interval to four times the
		// cheaper one.
		want := interval
		if steady := min(s.PollCost, prevCost); steady*watch.PollShare > interval {
			want = watch.PollShare * steady
		}
		prevCost = s.PollCost
		if s.Slowed != (want > interval) || s.Interval != want {
			t.Errorf("snapshot %d: poll cost %v, interval %v: got Slowed=%v Interval=%v, want Slowed=%v Interval=%v",
				i, s.PollCost, interval, s.Slowed, s.Interval, want > interval, want)
		}
		if s.Slowed {
			slowed++
		}
		effective = append(effective, s.Interval)
		if i > 0 {
			if gap := s.Time.Sub(snaps[i-1].Time); gap < snaps[i-1].Interval {
				t.Errorf("snapshot %d came %v after the previous one, whose interval was %v", i, gap, snaps[i-1].Interval)
			}
		}
	}
	for _, s := range snaps {
		s.Release()
	}
	if slowed == 0 {
		t.Errorf("no snapshot was slowed at %d sockets with a %v interval (poll costs: %v)", len(snaps[0].Rows), interval, effective)
	}
	rep.add(fmt.Sprintf("`watch.Loop` at -i %v", interval), statsOf(effective).String(), fmt.Sprintf("effective interval; %d of %d snapshots say Slowed", slowed, len(snaps)))
}

// binaryRun is one run of the tcpwatch binary under observation.
type binaryRun struct {
	pid      int
	cpu      time.Duration // used between the two samples
	wall     time.Duration
	hwm      int64
	rss      []int64
	fds      []int
	exited   error // non-nil if it died during the run
	exitedAt time.Duration
}

// observe samples process pid once a second for d after a warm-up of
// warm: CPU time at both ends, VmRSS and the descriptor count every
// second, VmHWM at the end. atStart, if not nil, is called when the
// sampling starts.
func observe(t testing.TB, pid int, warm, d time.Duration, done <-chan error, atStart func()) *binaryRun {
	t.Helper()
	p := strconv.Itoa(pid)
	r := &binaryRun{pid: pid}
	start := time.Now()
	wait := func(dd time.Duration) bool {
		select {
		case err := <-done:
			r.exited, r.exitedAt = fmt.Errorf("exited: %v", err), time.Since(start)
			return false
		case <-time.After(dd):
			return true
		}
	}
	if !wait(warm) {
		return r
	}
	c0, err := procCPU(p)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if atStart != nil {
		atStart()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Since(t0) < d {
		if rss, err := procStatus(p, "VmRSS"); err == nil {
			r.rss = append(r.rss, rss)
		}
		if n, err := fdCount(p); err == nil {
			r.fds = append(r.fds, n)
		}
		select {
		case err := <-done:
			r.exited, r.exitedAt = fmt.Errorf("exited: %v", err), time.Since(start)
			return r
		case <-tick.C:
		}
	}
	c1, err := procCPU(p)
	if err != nil {
		t.Fatal(err)
	}
	r.cpu, r.wall = c1-c0, time.Since(t0)
	if r.hwm, err = procStatus(p, "VmHWM"); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *binaryRun) cpuPercent() float64 { return 100 * r.cpu.Seconds() / r.wall.Seconds() }

func (r *binaryRun) maxRSS() int64 {
	var m int64
	for _, v := range r.rss {
		m = max(m, v)
	}
	return m
}

func (r *binaryRun) maxFDs() int {
	m := 0
	for _, v := range r.fds {
		m = max(m, v)
	}
	return m
}

// lineCounter counts NDJSON lines and polls (runs of lines with the same
// "time") of the binary's output.
type lineCounter struct {
	lines, polls, events atomic.Int64
}

func (lc *lineCounter) consume(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var last []byte
	prefix := []byte(`{"time":"`)
	for sc.Scan() {
		line := sc.Bytes()
		lc.lines.Add(1)
		if bytes.Contains(line, []byte(`"event":`)) {
			lc.events.Add(1)
		}
		rest, ok := bytes.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		ts, _, _ := bytes.Cut(rest, []byte{'"'})
		if !bytes.Equal(ts, last) {
			lc.polls.Add(1)
			last = append(last[:0], ts...)
		}
	}
	return sc.Err()
}

// scaleBinaryJSON runs the binary headless, its NDJSON stream counted and
// dropped, for d after a warm-up (-scale.warm).
func scaleBinaryJSON(t *testing.T, f *loadgen.Fixture, bin string, d time.Duration, rep *scaleReport) {
	cmd := exec.Command(bin, "--json", "--netns", f.NetNS())
	cmd.Env = append(os.Environ(), binaryEnv()...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lc := &lineCounter{}
	consumed := make(chan error, 1)
	go func() { consumed <- lc.consume(stdout) }()
	done := make(chan error, 1)
	var once sync.Once
	go func() { err := <-consumed; done <- errors.Join(err, cmd.Wait()) }()
	stop := func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGINT)
		})
	}
	defer stop()
	var polls0 int64
	r := observe(t, cmd.Process.Pid, *scaleStart, d, done, func() { polls0 = lc.polls.Load() })
	if r.exited != nil {
		t.Fatalf("tcpwatch --json %v after %v: %s", r.exited, r.exitedAt, stderr.Bytes())
	}
	polls := lc.polls.Load() - polls0
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("tcpwatch --json: %v: %s", err, stderr.Bytes())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Errorf("tcpwatch --json did not exit within 30 s of SIGINT")
	}
	if polls == 0 || lc.lines.Load() < int64(2*f.Conns()) {
		t.Errorf("tcpwatch --json wrote %d lines in %d polls, want at least %d lines", lc.lines.Load(), lc.polls.Load(), 2*f.Conns())
	}
	rep.add(fmt.Sprintf("binary `--json`%s for %v: CPU", envNote(), r.wall.Round(time.Second)), fmt.Sprintf("%.1f %% of a core", r.cpuPercent()),
		fmt.Sprintf("target ≤ 10 %%; %d polls (%.2f/s), JSON encoding of every row included; %d lines in all", polls, float64(polls)/r.wall.Seconds(), lc.lines.Load()))
	rep.add("binary `--json`: memory", fmt.Sprintf("VmHWM %s", mib(r.hwm)), fmt.Sprintf("target ≤ 200 MB; VmRSS max %s; descriptors max %d", mib(r.maxRSS()), r.maxFDs()))
}

// scaleBinaryTUI runs the interactive interface in a detached tmux server
// of its own, 120x40, for d after a warm-up (-scale.warm).
func scaleBinaryTUI(t *testing.T, f *loadgen.Fixture, bin string, d time.Duration, rep *scaleReport) {
	// A server of our own, its socket in a directory removed at the end.
	sock := filepath.Join(t.TempDir(), "tmux")
	tmux := func(args ...string) ([]byte, error) {
		return exec.Command("tmux", append([]string{"-S", sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
	}
	// exec env … execs the binary in the pane's shell process: the pane's
	// PID is the binary's.
	if b, err := tmux("new-session", "-d", "-x", "120", "-y", "40", "exec env "+*scaleEnv+" "+bin+" --netns "+f.NetNS()); err != nil {
		t.Fatalf("tmux: %v: %s", err, b)
	}
	t.Cleanup(func() { tmux("kill-server") })
	b, err := tmux("list-panes", "-F", "#{pane_pid}")
	if err != nil {
		t.Fatalf("tmux list-panes: %v: %s", err, b)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("tmux list-panes: %q: %v", b, err)
	}
	done := make(chan error, 1)
	go func() {
		// Not our child: watch for its exit through /proc.
		for {
			time.Sleep(200 * time.Millisecond)
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
				done <- errors.New("process gone")
				return
			}
		}
	}()
	r := observe(t, pid, *scaleStart, d, done, nil)
	screen, _ := tmux("capture-pane", "-p")
	if r.exited != nil {
		t.Fatalf("tcpwatch in tmux %v after %v; screen:\n%s", r.exited, r.exitedAt, screen)
	}
	if !bytes.Contains(screen, []byte(" sockets")) {
		t.Errorf("the interface shows no socket count:\n%s", screen)
	}
	t.Logf("screen at the end:\n%s", screen)
	tmux("send-keys", "q")
	rep.add(fmt.Sprintf("binary, interface in tmux 120x40%s, for %v: CPU", envNote(), r.wall.Round(time.Second)), fmt.Sprintf("%.1f %% of a core", r.cpuPercent()), "target ≤ 5 % at 10^5; the view changes every second, drawn at most 10 times a second")
	rep.add("binary, interface: memory", fmt.Sprintf("VmHWM %s", mib(r.hwm)), fmt.Sprintf("target ≤ 100 MiB at 10^5; VmRSS max %s; descriptors max %d", mib(r.maxRSS()), r.maxFDs()))
}

// metricsAddr is where the exporter listens, inside the fixture's
// namespace (nothing outside it is touched).
const metricsAddr = "127.0.0.1:9469"

// scaleBinaryMetrics runs the binary headless as a Prometheus exporter
// inside the fixture's namespace for d after a warm-up (-scale.warm), scraped every
// 15 s as a Prometheus server would.
func scaleBinaryMetrics(t *testing.T, f *loadgen.Fixture, bin string, d time.Duration, rep *scaleReport) {
	// ip netns exec enters the namespace and execs the binary: same PID.
	cmd := exec.Command("ip", "netns", "exec", f.NetNS(), bin, "--metrics", metricsAddr)
	cmd.Env = append(os.Environ(), binaryEnv()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	exited := false
	defer func() {
		if !exited {
			cmd.Process.Kill()
			<-done
		}
	}()
	stopScrapes := make(chan struct{})
	scraped := make(chan []byte, 1)
	go func() {
		var last []byte
		defer func() { scraped <- last }()
		tick := time.NewTicker(15 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopScrapes:
				return
			case <-tick.C:
				if b, err := scrape(f.NetNSPath()); err == nil {
					last = b
				}
			}
		}
	}()
	r := observe(t, cmd.Process.Pid, *scaleStart, d, done, nil)
	close(stopScrapes)
	if r.exited != nil {
		exited = true
		t.Fatalf("tcpwatch --metrics %v after %v: %s", r.exited, r.exitedAt, stderr.Bytes())
	}
	last := <-scraped
	if b, err := scrape(f.NetNSPath()); err != nil {
		t.Errorf("scrape: %v", err)
	} else {
		last = b
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		exited = true
		if err != nil {
			t.Errorf("tcpwatch --metrics: %v: %s", err, stderr.Bytes())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("tcpwatch --metrics did not exit within 30 s of SIGINT")
	}
	metric := func(name string) string {
		for _, line := range strings.Split(string(last), "\n") {
			if rest, ok := strings.CutPrefix(line, name+" "); ok {
				return rest
			}
		}
		return "?"
	}
	// The fixture's connections, and perhaps a scrape's.
	estab := metric(`tcpwatch_connections{state="ESTABLISHED"}`)
	if n, err := strconv.ParseFloat(estab, 64); err != nil || n < float64(2*f.Conns()) {
		t.Errorf("the exporter counts %s established sockets, want at least %d", estab, 2*f.Conns())
	}
	rep.add(fmt.Sprintf("binary `--metrics` (headless)%s for %v: CPU", envNote(), r.wall.Round(time.Second)), fmt.Sprintf("%.1f %% of a core", r.cpuPercent()),
		fmt.Sprintf("target ≤ 10 %%; scraped every 15 s; its own figures: poll duration %s s, interval %s s, slowed %s",
			metric("tcpwatch_poll_duration_seconds"), metric("tcpwatch_poll_interval_seconds"), metric("tcpwatch_poll_slowed")))
	rep.add("binary `--metrics`: memory", fmt.Sprintf("VmHWM %s", mib(r.hwm)), fmt.Sprintf("target ≤ 80 MiB at 10^5; VmRSS max %s; descriptors max %d", mib(r.maxRSS()), r.maxFDs()))
}

// scrape fetches /metrics from the exporter inside the namespace at path.
func scrape(path string) ([]byte, error) {
	var conn net.Conn
	err := loadgen.RunInNetNS(path, func() error {
		var err error
		conn, err = net.DialTimeout("tcp", metricsAddr, 5*time.Second)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, "GET /metrics HTTP/1.0\r\nHost: tcpwatch\r\n\r\n"); err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape: %s: %s", resp.Status, b)
	}
	return b, nil
}
