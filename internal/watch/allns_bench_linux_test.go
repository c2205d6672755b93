package watch_test

// The cost of a poll of every namespace (--all-netns) against one
// namespace holding the same connections: -allns.count namespaces of
// -allns.conns connections each (2 sockets a connection), idle; and the
// cost of the polls between two sweeps when the sweeps are spaced out
// (all-netns-refresh: no suspect among idle connections, so the rows,
// owners and peers of every connection, and no look-up). Needs root:
//
//	go test -run '^$' -bench AllNetNS -benchtime 40x ./internal/watch -allns.count=50 -allns.conns=100

import (
	"context"
	"flag"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/loadgen"
	"github.com/tcpwatch/tcpwatch/internal/netns"
	"github.com/tcpwatch/tcpwatch/internal/watch"
)

var (
	allnsCount = flag.Int("allns.count", 50, "BenchmarkPollAllNetNS: namespaces")
	allnsConns = flag.Int("allns.conns", 100, "BenchmarkPollAllNetNS: connections per namespace")
)

// fixtures starts n fixtures of conns connections each, a few at once.
func fixtures(b *testing.B, n, conns int) []*loadgen.Fixture {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out := make([]*loadgen.Fixture, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i], errs[i] = loadgen.Start(ctx, loadgen.Config{Conns: conns, NetNS: nsName()})
		}()
	}
	wg.Wait()
	b.Cleanup(func() {
		for _, f := range out {
			if f != nil {
				f.Close()
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	return out
}

func BenchmarkPollAllNetNS(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: creates network namespaces holding the connections")
	}
	n, conns := *allnsCount, *allnsConns
	// One set of fixtures at a time, so that each watcher sees the same
	// connections: the all-namespaces one first, over n namespaces, then
	// one namespace holding them all.
	var many []*loadgen.Fixture
	var one *loadgen.Fixture
	setup := map[string]func(){
		"all-netns": func() {
			many = fixtures(b, n, conns)
			time.Sleep(6 * time.Second) // idle: steady state
			start := time.Now()
			found, err := netns.Discover(netns.DefaultRoots)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("discovery: %d namespaces in %v (%d fixtures)", len(found.Namespaces), time.Since(start), len(many))
		},
		"all-netns-refresh": func() {},
		"one-namespace": func() {
			for _, f := range many {
				f.Close()
			}
			one = fixtures(b, 1, n*conns)[0]
			time.Sleep(6 * time.Second)
		},
	}
	for _, bc := range []struct {
		name    string
		cfg     watch.Config
		rows    int
		refresh bool // time Refresh (the polls between two sweeps), not Poll
	}{
		{name: "all-netns", cfg: watch.Config{AllNetNS: true}, rows: 2 * n * conns},
		{name: "all-netns-refresh", cfg: watch.Config{AllNetNS: true}, rows: 2 * n * conns, refresh: true},
		{name: "one-namespace", rows: 2 * n * conns},
	} {
		setup[bc.name]()
		if bc.name == "one-namespace" {
			bc.cfg.NetNS = one.NetNSPath()
		}
		b.Run(bc.name, func(b *testing.B) {
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			w, err := watch.New(bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			for range 3 {
				snap, err := w.Poll()
				if err != nil {
					b.Fatal(err)
				}
				snap.Release()
			}
			rows := 0
			cpu0 := cpuTime()
			poll := w.Poll
			if bc.refresh {
				poll = w.Refresh
			}
			for b.Loop() {
				snap, err := poll()
				if err != nil {
					b.Fatal(err)
				}
				rows = len(snap.Rows)
				snap.Release()
			}
			if rows < bc.rows {
				b.Fatalf("%d rows, want at least %d", rows, bc.rows)
			}
			var after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(rows), "rows")
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "MB-live")
		})
	}
}

// cpuTime is the CPU time (user and system) this process used so far: with
// namespaces dumped in parallel, a poll's wall time is less than its cost.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
