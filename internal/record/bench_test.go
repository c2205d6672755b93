package record

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// cpuTime is the process's CPU time (user and system): unlike the wall
// clock it does not count the time other processes of a busy machine
// take.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hourStats is what recording a simulated host for some minutes cost.
type hourStats struct {
	polls, keys       int
	bytes             int64
	deltaCPU, keyCPU  time.Duration
	perHour           float64 // bytes per hour of recording
	deltaAvg, keyAvg  time.Duration
	amortised         time.Duration // per poll, keyframes included
	dir               string
	first, last, mid  time.Time
	segments          int
	recordedSpan      time.Duration
	simulatedSockets  int
	activeShare       float64
	segmentDuration   time.Duration
	maxSeek, meanSeek time.Duration
}

// recordSim records a simulated host of n sockets polled at 1 Hz for d,
// with the default options, and measures the CPU of every Append.
func recordSim(tb testing.TB, n int, active float64, d, segment time.Duration) hourStats {
	h := newSimHost(tb, n, active, active/10, 21)
	dir := filepath.Join(tb.TempDir(), "rec")
	w, err := Create(dir, Options{MaxBytes: 1 << 40, SegmentDuration: segment})
	if err != nil {
		tb.Fatal(err)
	}
	st := hourStats{dir: dir, simulatedSockets: n, activeShare: active, segmentDuration: segment}
	var bufs [2][]inetdiag.Socket
	polls := int(d / time.Second)
	for i := range polls {
		now, unc, socks := h.poll(tb, time.Second, bufs[i%2][:0])
		bufs[i%2] = socks
		p := &Poll{Time: now, Uncertainty: unc, Interval: time.Second, Parts: []Part{{NS: 1, Socks: socks, Params: model.DefaultParams()}}}
		key := w.KeyframeDue(now)
		c0 := cpuTime()
		if err := w.Append(p); err != nil {
			tb.Fatal(err)
		}
		c := cpuTime() - c0
		if key {
			st.keys++
			st.keyCPU += c
		} else {
			st.deltaCPU += c
		}
		if i == 0 {
			st.first = now
		}
		if i == polls/2 {
			st.mid = now
		}
		st.last = now
	}
	w.Close()
	st.polls = polls
	st.bytes = dirSize(tb, dir)
	st.recordedSpan = st.last.Sub(st.first) + time.Second
	st.perHour = float64(st.bytes) * float64(time.Hour) / float64(st.recordedSpan)
	st.deltaAvg = st.deltaCPU / time.Duration(max(1, polls-st.keys))
	st.keyAvg = st.keyCPU / time.Duration(max(1, st.keys))
	st.amortised = (st.deltaCPU + st.keyCPU) / time.Duration(polls)
	segs, _ := listSegments(dir)
	st.segments = len(segs)
	return st
}

// seekTimes opens the recording afresh for each minute and replays from
// the keyframe to the last poll before the next minute (the worst instant
// of it), with and without a tracker fed on the way.
func seekTimes(tb testing.TB, st *hourStats, withTracker bool) (worst, mean time.Duration) {
	var total time.Duration
	minutes := int(st.recordedSpan / time.Minute)
	for m := range minutes {
		target := st.first.Add(time.Duration(m+1)*time.Minute - time.Second)
		t0 := time.Now()
		r, err := Open(st.dir)
		if err != nil {
			tb.Fatal(err)
		}
		c, err := r.Seek(target)
		if err != nil {
			tb.Fatal(err)
		}
		tr := model.NewTracker(model.Config{})
		for {
			p, err := c.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				tb.Fatal(err)
			}
			if withTracker {
				tr.Update(p.Parts[0].Input(p))
			}
			if !p.Time.Before(target) {
				break
			}
		}
		c.Close()
		el := time.Since(t0)
		total += el
		worst = max(worst, el)
	}
	return worst, total / time.Duration(max(1, minutes))
}

// BenchmarkFigures measures the recorder on simulated hosts: bytes per
// hour, CPU per Append (between keyframes, at keyframes, and amortised),
// and the time to open a recording and reach the end of any minute, with
// and without a tracker fed on the way. Run it alone, under the heavy-test
// lock: go test -run XXX -bench Figures -benchtime 1x -v ./internal/record
func BenchmarkFigures(b *testing.B) {
	for b.Loop() {
		figuresOnce(b)
	}
}

func figuresOnce(t testing.TB) {
	type run struct {
		n       int
		active  float64
		d       time.Duration
		segment time.Duration
		seek    bool
	}
	runs := []run{
		{10_000, 0.00, 10 * time.Minute, time.Minute, false},
		{10_000, 0.01, time.Hour, time.Minute, true},
		{10_000, 0.01, time.Hour, 5 * time.Minute, true},
		{10_000, 0.02, 20 * time.Minute, time.Minute, false},
		{10_000, 0.05, 10 * time.Minute, time.Minute, false},
		{100_000, 0.01, 5 * time.Minute, time.Minute, false},
		{100_000, 0.02, 5 * time.Minute, time.Minute, false},
	}
	t.Logf("%-8s %-7s %-8s %-8s %-9s %-10s %-11s %-11s %-12s", "sockets", "active", "span", "segment", "segments", "MB/hour", "delta CPU", "keyframe", "per poll")
	for _, r := range runs {
		st := recordSim(t, r.n, r.active, r.d, r.segment)
		t.Logf("%-8d %-7.2f %-8v %-8v %-9d %-10.1f %-11v %-11v %-12v", r.n, r.active, r.d, r.segment, st.segments, st.perHour/1e6,
			st.deltaAvg.Round(10*time.Microsecond), st.keyAvg.Round(100*time.Microsecond), st.amortised.Round(10*time.Microsecond))
		if r.seek {
			w, m := seekTimes(t, &st, false)
			wt, mt := seekTimes(t, &st, true)
			t.Logf("  open + seek to the end of each minute of %v: worst %v, mean %v; with a tracker fed: worst %v, mean %v",
				r.d, w.Round(time.Millisecond), m.Round(time.Millisecond), wt.Round(time.Millisecond), mt.Round(time.Millisecond))
		}
	}
}

func simPollsFor(b *testing.B, n int, count int) []*Poll {
	return simPolls(b, newSimHost(b, n, 0.02, 0.002, 1), count)
}

// BenchmarkEncodeDelta is the recorder's cost per poll between
// keyframes, 2 % of the connections active.
func BenchmarkEncodeDelta(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			polls := simPollsFor(b, n, 21)
			enc := newEncoder()
			var buf []byte
			i := 0
			for b.Loop() {
				if i%20 == 0 {
					b.StopTimer()
					enc.encode(polls[0], true)
					enc.commit(polls[0], true)
					b.StartTimer()
				}
				p := polls[1+i%20]
				i++
				buf = appendFrame(buf[:0], kindDelta, 0, enc.encode(p, false), true)
				enc.commit(p, false)
			}
			b.ReportMetric(float64(len(buf)), "B/record")
		})
	}
}

// BenchmarkEncodeKeyframe is the cost of a keyframe (every socket whole).
func BenchmarkEncodeKeyframe(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			polls := simPollsFor(b, n, 1)
			enc := newEncoder()
			var buf []byte
			for b.Loop() {
				buf = appendFrame(buf[:0], kindKey, 0, enc.encode(polls[0], true), true)
				enc.commit(polls[0], true)
			}
			b.ReportMetric(float64(len(buf)), "B/record")
		})
	}
}

// BenchmarkDecodeDelta is replay's cost per poll.
func BenchmarkDecodeDelta(b *testing.B) {
	polls := simPollsFor(b, 10_000, 21)
	enc := newEncoder()
	raws := make([][]byte, len(polls))
	for i, p := range polls {
		raws[i] = append([]byte(nil), enc.encode(p, i == 0)...)
		enc.commit(p, i == 0)
	}
	var st codecState
	i := 0
	for b.Loop() {
		if i%20 == 0 {
			b.StopTimer()
			st.reset()
			decodePoll(raws[0], polls[0].Time, true, &st)
			b.StartTimer()
		}
		k := 1 + i%20
		i++
		if _, err := decodePoll(raws[k], polls[k].Time, false, &st); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFrameVersusStream compares one zstd frame per record (what
// the format does) with one stream flushed after every record, at 10^4
// sockets: the stream lets a record refer to the ones before it.
func BenchmarkFrameVersusStream(b *testing.B) {
	for _, active := range []float64{0, 0.01, 0.02} {
		b.Run(fmt.Sprint(active), func(b *testing.B) {
			polls := simPolls(b, newSimHost(b, 10_000, active, active/10, 1), 31)
			enc := newEncoder()
			raws := make([][]byte, len(polls))
			for i, p := range polls {
				raws[i] = append([]byte(nil), enc.encode(p, i == 0)...)
				enc.commit(p, i == 0)
			}
			var frames, stream int
			for b.Loop() {
				frames, stream = 0, 0
				var sb countingWriter
				zw, _ := zstd.NewWriter(&sb, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(8<<20))
				for _, raw := range raws[1:] {
					frames += len(zstdFast().EncodeAll(raw, nil))
					zw.Write(raw)
					zw.Flush()
				}
				stream = sb.n
			}
			b.ReportMetric(float64(frames)/30, "B/record-frames")
			b.ReportMetric(float64(stream)/30, "B/record-stream")
		})
	}
}

type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
