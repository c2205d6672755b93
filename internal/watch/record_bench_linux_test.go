package watch_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/record"
	"github.com/tcpwatch/tcpwatch/internal/watch"
)

var recSpan = flag.Duration("rec.span", 3*time.Minute, "BenchmarkRecording: how long to record at 1 Hz")

// BenchmarkRecording measures what --record costs on a real namespace of
// -poll.conns idle loopback connections (2 sockets each): two watchers
// of it, one recording and one not, polled in turn (the order swapped
// every second) at 1 Hz for -rec.span, each poll's CPU time taken around
// it. It reports the CPU of a poll with and without recording, the
// overhead, and the recording's bytes per hour (keyframes included: 60 s
// segments, a keyframe and the tracker's state each). Needs root; run it
// alone, under the heavy-test lock:
//
//	go test -run XXX -bench Recording -benchtime 1x -v ./internal/watch -poll.conns=5000
func BenchmarkRecording(b *testing.B) {
	f := idleFixture(b)
	for b.Loop() {
		dir := filepath.Join(b.TempDir(), "rec")
		rw, err := record.Create(dir, record.Options{MaxBytes: 1 << 40})
		if err != nil {
			b.Fatal(err)
		}
		plain, err := watch.New(watch.Config{NetNS: f.NetNSPath()})
		if err != nil {
			b.Fatal(err)
		}
		rec, err := watch.New(watch.Config{NetNS: f.NetNSPath(), Record: rw})
		if err != nil {
			b.Fatal(err)
		}
		var cpu [2]time.Duration
		polls, rows := 0, 0
		ws := []*watch.Watcher{plain, rec}
		start := time.Now()
		for time.Since(start) < *recSpan {
			next := time.Now().Add(time.Second)
			for k := range 2 {
				i := (k + polls) % 2
				c0 := cpuTime()
				snap, err := ws[i].Poll()
				if err != nil {
					b.Fatal(err)
				}
				if polls > 2 { // the first polls fill the tracker and the owner index
					cpu[i] += cpuTime() - c0
				}
				rows = len(snap.Rows)
				snap.Release()
			}
			polls++
			time.Sleep(time.Until(next))
		}
		span := time.Since(start)
		plain.Close()
		rec.Close()
		if err := rw.Close(); err != nil {
			b.Fatal(err)
		}
		var size int64
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if fi, err := e.Info(); err == nil {
				size += fi.Size()
			}
		}
		n := time.Duration(polls - 3)
		p, r := cpu[0]/n, cpu[1]/n
		perHour := float64(size) * float64(time.Hour) / float64(span) / 1e6
		over := 100 * float64(r-p) / float64(p)
		b.ReportMetric(float64(p.Microseconds()), "plain-µs/poll")
		b.ReportMetric(float64(r.Microseconds()), "rec-µs/poll")
		b.ReportMetric(over, "overhead-%")
		b.ReportMetric(perHour, "MB/h")
		b.Logf("%d sockets, %d polls over %v: CPU per poll %v plain, %v recording (%+.1f %%); %.1f MB recorded (%d segments): %.1f MB per hour",
			rows, polls, span.Round(time.Second), p.Round(10*time.Microsecond), r.Round(10*time.Microsecond), over, float64(size)/1e6, len(ents), perHour)
	}
}
