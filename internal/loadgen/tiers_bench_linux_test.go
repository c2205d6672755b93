//go:build linux

package loadgen_test

// The two tiers of the poller on a large host, side by side in one run:
// a sweep (watch.Poll, the full dump with tcp_info and everything after
// it), a refresh (watch.Refresh: look-ups of the suspects, their rows,
// owners and hosts, the other rows kept), and the first refresh after a
// sweep, which makes every row and gathers the hosts' verdicts, with 1 %
// of the connections in CLOSE-WAIT so that there are suspects to look up.
// Needs root:
//
//	go test -run '^$' -bench 'TwoTiers/conns=50000$' -count 3 -timeout 60m ./internal/loadgen

import (
	"fmt"
	"net"
	"testing"

	"github.com/tcpwatch/tcpwatch/internal/netns"
	"github.com/tcpwatch/tcpwatch/internal/watch"
)

func BenchmarkTwoTiers(b *testing.B) {
	for _, n := range sweepSizes {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			f := benchFixture(b, n)
			suspects := closeWaits(b, f.NetNSPath(), n/100)
			w, err := watch.New(watch.Config{NetNS: f.NetNSPath(), Owners: watch.OwnersFlagged})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			snap, err := w.Poll() // fills the process index
			if err != nil {
				b.Fatal(err)
			}
			sockets := len(snap.Rows)
			snap.Release()
			b.Run("sweep", func(b *testing.B) {
				before := takeUsage(b, false)
				for b.Loop() {
					s, err := w.Poll()
					if err != nil {
						b.Fatal(err)
					}
					s.Release()
				}
				reportPerSocket(b, sockets, before)
			})
			b.Run("refresh", func(b *testing.B) {
				// The first refresh after a sweep makes every row (see
				// first-refresh) and the second copies them into the
				// other buffer of the two that refreshes take turns
				// with; the steady ones that follow write the suspects'.
				s, err := w.Poll()
				if err != nil {
					b.Fatal(err)
				}
				s.Release()
				for range 2 {
					if s, err = w.Refresh(); err != nil {
						b.Fatal(err)
					}
					s.Release()
				}
				before := takeUsage(b, false)
				for b.Loop() {
					s, err := w.Refresh()
					if err != nil {
						b.Fatal(err)
					}
					s.Release()
				}
				reportPerSocket(b, sockets, before)
				b.ReportMetric(float64(suspects), "suspects")
			})
			b.Run("first-refresh", func(b *testing.B) {
				// Wall time only: the CPU figures would hold the sweeps.
				for b.Loop() {
					b.StopTimer()
					s, err := w.Poll()
					if err != nil {
						b.Fatal(err)
					}
					s.Release()
					b.StartTimer()
					if s, err = w.Refresh(); err != nil {
						b.Fatal(err)
					}
					s.Release()
				}
				b.ReportMetric(float64(sockets), "sockets")
				b.ReportMetric(float64(suspects), "suspects")
			})
		})
	}
}

// closeWaits opens n loopback connections in the namespace at path and
// closes their accepting ends, leaving the dialling ends in CLOSE-WAIT
// (suspects of the refresh) for the rest of the benchmark, however long.
func closeWaits(b testing.TB, path string, n int) int {
	b.Helper()
	var ln net.Listener
	if err := netns.Do(path, func() error {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	for range n {
		var c net.Conn
		if err := netns.Do(path, func() error {
			var err error
			// No keepalive (Go's dialer sends probes after 15 s): once
			// the peer's orphan in FIN-WAIT-2 is gone (tcp_fin_timeout,
			// 60 s) a probe would be answered with a reset.
			d := net.Dialer{KeepAlive: -1}
			c, err = d.Dial("tcp", ln.Addr().String())
			return err
		}); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	return n
}
