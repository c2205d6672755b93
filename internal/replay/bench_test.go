package replay

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/record"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// hostSocks is a host of n mostly idle connections at poll i (1 Hz): a
// hundredth carry data every poll, and one in 500 retransmits into a dead
// peer for 8 polls of every 40 (predictions, then an abort and a new
// connection in its place).
func hostSocks(dst []inetdiag.Socket, n, i int) []inetdiag.Socket {
	dst = dst[:0]
	for k := range n {
		c := uint64(k + 1)
		idle := time.Duration(i) * time.Second
		s := inetdiag.Socket{
			Family: inetdiag.FamilyInet, State: inetdiag.StateEstablished,
			ID: inetdiag.SockID{
				Src:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(k >> 8), byte(k)}), uint16(20000+k%40000)),
				Dst:    netip.MustParseAddrPort("10.1.0.1:5432"),
				Cookie: c,
			},
			Inode: uint32(100000 + k),
			Info: inetdiag.TCPCore{
				Len: inetdiag.TCPInfoLen6_18, State: uint8(inetdiag.StateEstablished),
				RTO: inetdiag.MicrosOf(204 * time.Millisecond), RTT: inetdiag.MicrosOf(time.Millisecond), SndWnd: 65536,
				LastDataSent: inetdiag.MillisOf(idle), LastDataRecv: inetdiag.MillisOf(idle), LastAckRecv: inetdiag.MillisOf(idle),
			},
		}
		if k%100 == 0 {
			s.Info.LastDataSent, s.Info.LastDataRecv, s.Info.LastAckRecv = inetdiag.MillisOf(20*time.Millisecond), inetdiag.MillisOf(20*time.Millisecond), inetdiag.MillisOf(20*time.Millisecond)
			f := &inetdiag.Full{Info: s.Info.AsInfo()} // kept whole, as a recorded dump's
			f.Info.BytesAcked, f.Info.BytesReceived, f.Info.SegsOut, f.Info.SegsIn = uint64(i)*1000, uint64(i)*900, uint32(i)*3, uint32(i)*3
			s.Full = f
		}
		if k%500 == 250 {
			if ep := (i + k) % 40; ep < 8 {
				s.ID.Cookie = c + uint64((i+k)/40)<<32 // a new connection each episode
				n := uint8(ep + 1)
				s.Timer, s.Retrans, s.SendQ, s.Expires = inetdiag.TimerRetransmit, n, 100, 200*time.Millisecond
				s.Info.Retransmits, s.Info.Backoff, s.Info.Unacked = n, n, 1
				s.Info.RTO = inetdiag.MicrosOf(min(200*time.Millisecond<<n, 120*time.Second))
			}
		}
		dst = append(dst, s)
	}
	return dst
}

// BenchmarkSeekHour records an hour of a host of 10^4 connections at 1 Hz
// as tcpwatch --record does (a tracker fed every poll, its state at each
// keyframe, 60-second segments), then opens the recording afresh and
// seeks to the last poll of every minute, the worst instant (the most
// polls to step from the keyframe), as the interface's "go to" does:
// restore the tracker, replay the polls, build the snapshot. It reports
// the worst and mean seek and the recording's size. Run it alone, under
// the heavy-test lock:
//
//	go test -run XXX -bench SeekHour -benchtime 1x -v ./internal/replay
func BenchmarkSeekHour(b *testing.B) {
	const n, polls = 10_000, 3600
	dir := filepath.Join(b.TempDir(), "rec")
	w, err := record.Create(dir, record.Options{Host: "db1", MaxBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	tr := model.NewTracker(model.Config{Params: model.DefaultParams()})
	t0 := time.Date(2026, 3, 4, 3, 0, 0, 0, time.UTC)
	var bufs [2][]inetdiag.Socket
	for i := range polls {
		now := t0.Add(time.Duration(i) * time.Second)
		socks := hostSocks(bufs[i%2], n, i)
		bufs[i%2] = socks
		p := &record.Poll{Time: now, Interval: time.Second, Parts: []record.Part{{Socks: socks, Params: tr.Params()}}}
		tr.Update(model.PollInput{Time: now, Socks: socks, Options: p.Parts[0].RecordOptions(nil)})
		if w.KeyframeDue(now) {
			p.State = record.JoinState(tr.MarshalState(now))
		}
		if err := w.Append(p); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	var size int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			size += fi.Size()
		}
	}
	for b.Loop() {
		var worst, total time.Duration
		for m := range 60 {
			target := t0.Add(time.Duration(m+1)*time.Minute - time.Second)
			start := time.Now()
			rp, err := Open(dir, model.Config{}, query.Query{})
			if err != nil {
				b.Fatal(err)
			}
			st, err := rp.SeekTime(target)
			if err != nil {
				b.Fatal(err)
			}
			snap := rp.Snapshot(st)
			el := time.Since(start)
			rp.Close()
			if !snap.Time.Equal(target) || len(snap.Rows) != n {
				b.Fatalf("seek to %v: poll at %v with %d rows", target, snap.Time, len(snap.Rows))
			}
			worst, total = max(worst, el), total+el
		}
		b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
		b.ReportMetric(float64(total.Milliseconds())/60, "mean-ms")
		b.Logf("an hour of %d connections at 1 Hz: %.1f MB in %d segments; a seek to the end of any minute (open, restore, step, snapshot): worst %v, mean %v",
			n, float64(size)/1e6, len(ents), worst.Round(time.Millisecond), (total / 60).Round(time.Millisecond))
	}
}
