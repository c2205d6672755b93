package watch_test

// The cost of a poll of every namespace (--all-netns) against one
// namespace holding the same connections: -allns.count namespaces of
// -allns.conns connections each (2 sockets a connection), idle. Needs
// root:
//
//	go test -run '^$' -bench AllNetNS -benchtime 40x ./internal/watch -allns.count=50 -allns.conns=100

import (
	"context"
	"flag"
	"os"
	"runtime"
	"sync"
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
	many := fixtures(b, n, conns)
	one := fixtures(b, 1, n*conns)[0]
	time.Sleep(6 * time.Second) // idle: steady state

	start := time.Now()
	found, err := netns.Discover(netns.DefaultRoots)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("discovery: %d namespaces in %v (%d fixtures)", len(found.Namespaces), time.Since(start), len(many))

	for _, bc := range []struct {
		name string
		cfg  watch.Config
		rows int
	}{
		{name: "one-namespace", cfg: watch.Config{NetNS: one.NetNSPath()}, rows: 2 * n * conns},
		{name: "all-netns", cfg: watch.Config{AllNetNS: true}, rows: 2 * n * conns},
	} {
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
			for b.Loop() {
				snap, err := w.Poll()
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
			b.ReportMetric(float64(rows), "rows")
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "MB-live")
		})
	}
}
