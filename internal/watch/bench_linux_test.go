package watch_test

// The cost of one poll of a busy namespace, for profiling: a loopback
// fixture of -poll.conns connections (2 sockets each), idle long enough
// that the model calls them unguarded, polled with each owner policy.
// Needs root:
//
//	go test -run '^$' -bench . -benchmem -count 5 ./internal/watch -poll.conns=50000
//	go test -run '^$' -bench 'Poll/flagged$' -cpuprofile cpu.out ./internal/watch -poll.conns=50000

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/loadgen"
	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

var pollConns = flag.Int("poll.conns", 5000, "BenchmarkPoll: connections in the fixture")

func TestMain(m *testing.M) {
	// Fixture workers are this test binary started again.
	loadgen.WorkerMain()
	os.Exit(m.Run())
}

var nsSeq atomic.Uint64

func nsName() string { return fmt.Sprintf("tw-watch-test-%d-%d", os.Getpid(), nsSeq.Add(1)) }

// idleFixture starts a fixture of -poll.conns connections and waits until
// the model calls them idle (model.Config.IdleAfter): steady state.
func idleFixture(b *testing.B) *loadgen.Fixture {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root: creates a network namespace holding the connections")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	f, err := loadgen.Start(ctx, loadgen.Config{Conns: *pollConns, NetNS: nsName()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	// Start returns when the last connection is established.
	time.Sleep(6 * time.Second)
	return f
}

// BenchmarkUpdate feeds the tracker two real dumps in turn, one second
// apart, as the watcher does.
func BenchmarkUpdate(b *testing.B) {
	f := idleFixture(b)
	c, err := inetdiag.Dial(&inetdiag.Config{NetNS: f.NetNSPath()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var bufs [2][]inetdiag.Socket
	for i := range bufs {
		if bufs[i], err = c.Dump(inetdiag.Request{States: inetdiag.AllStates}, nil); err != nil {
			b.Fatal(err)
		}
	}
	tr := model.NewTracker(model.Config{})
	t0 := time.Now()
	for i := range 3 {
		tr.Update(model.PollInput{Time: t0.Add(time.Duration(i) * time.Second), Socks: bufs[i%2]})
	}
	b.ReportAllocs()
	i := 3
	for b.Loop() {
		p := tr.Update(model.PollInput{Time: t0.Add(time.Duration(i) * time.Second), Socks: bufs[i%2]})
		if len(p.Conns) != len(bufs[i%2]) {
			b.Fatalf("%d connections, want %d", len(p.Conns), len(bufs[i%2]))
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bufs[0])), "ns/socket")
}

func BenchmarkPoll(b *testing.B) {
	f := idleFixture(b)
	// The fixture's workers are this test binary: a filter on its name
	// keeps every connection, and resolves the owner of each.
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		b.Fatal(err)
	}
	byName, err := query.Parse("comm " + strings.TrimSpace(string(comm)))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		owners watch.OwnerPolicy
		query  query.Query
	}{
		{name: "flagged", owners: watch.OwnersFlagged},
		{name: "all", owners: watch.OwnersAll},
		{name: "flagged-comm", owners: watch.OwnersFlagged, query: byName},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w, err := watch.New(watch.Config{NetNS: f.NetNSPath(), Owners: bc.owners, Query: bc.query})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			// The first polls fill the tracker and the owner index (for
			// the filter on names, a bounded scan a poll: until every
			// connection has its name).
			for i := 0; i < 3 || (bc.query.NeedsOwners() && i < 200); i++ {
				snap, err := w.Poll()
				if err != nil {
					b.Fatal(err)
				}
				rows := len(snap.Rows)
				snap.Release()
				if bc.query.NeedsOwners() {
					b.Logf("poll %d: %d rows", i+1, rows)
				}
				if i >= 2 && rows >= 2**pollConns {
					break
				}
			}
			b.ReportAllocs()
			rows := 0
			for b.Loop() {
				snap, err := w.Poll()
				if err != nil {
					b.Fatal(err)
				}
				rows = len(snap.Rows)
				snap.Release()
			}
			if rows < 2**pollConns {
				b.Fatalf("%d rows, want at least %d", rows, 2**pollConns)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	}
}
