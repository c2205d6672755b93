package replay

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/record"
	"github.com/tcpwatch/tcpwatch/internal/report"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// sock is connection c at poll i: established, every 7th retransmitting
// into a dead peer from poll c%40 on (so aborts are predicted, and the
// connections vanish when the kernel would abort them), idle otherwise.
func sock(c uint64, i int) (inetdiag.Socket, bool) {
	s := inetdiag.Socket{
		Family: inetdiag.FamilyInet, State: inetdiag.StateEstablished,
		ID: inetdiag.SockID{
			Src:    netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(30000+c)),
			Dst:    netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(5432+c%3)),
			Cookie: c,
		},
		Inode: uint32(1000 + c),
		Info: inetdiag.TCPCore{
			Len: inetdiag.TCPInfoLen6_18, State: uint8(inetdiag.StateEstablished),
			RTO: inetdiag.MicrosOf(204 * time.Millisecond), RTT: inetdiag.MicrosOf(time.Millisecond),
			LastDataSent: inetdiag.MillisOf(time.Duration(i) * time.Second), LastDataRecv: inetdiag.MillisOf(time.Duration(i) * time.Second),
			LastAckRecv: inetdiag.MillisOf(time.Duration(i) * time.Second), SndWnd: 65536,
		},
	}
	if start := int(c % 40); c%7 == 0 && i >= start {
		n := i - start + 1
		if n > 8 {
			return s, false // aborted
		}
		s.Timer, s.Retrans, s.SendQ = inetdiag.TimerRetransmit, uint8(n), 100
		s.Info.Retransmits, s.Info.Backoff, s.Info.Unacked = uint8(n), uint8(n), 1
		s.Info.RTO = inetdiag.MicrosOf(min(200*time.Millisecond<<n, 120*time.Second))
		s.Expires = s.Info.RTO.Duration() / 2
	}
	return s, true
}

// recordRun records polls of a tracker over the sockets of sock, with
// 10-second segments, and returns the directory and the JSON of every
// poll by its time.
func recordRun(t *testing.T, polls int) (string, map[int64]string, []time.Time) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rec")
	w, err := record.Create(dir, record.Options{Host: "db1", SegmentDuration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tr := model.NewTracker(model.Config{Params: model.DefaultParams()})
	// The live poller judges hosts over every row, with the owners.
	peers := model.NewPeerTracker(model.PeerConfig{})
	rp := &Replayer{peers: peers}
	live := map[int64]string{}
	var times []time.Time
	t0 := time.Date(2026, 3, 4, 3, 10, 0, 0, time.UTC)
	for i := range polls {
		now := t0.Add(time.Duration(i)*time.Second + time.Duration(i%3)*time.Millisecond)
		var socks []inetdiag.Socket
		for c := uint64(1); c <= 200; c++ {
			if s, ok := sock(c+uint64(i/20)*10, i); ok {
				socks = append(socks, s)
			}
		}
		p := &record.Poll{Time: now, Uncertainty: time.Millisecond, Interval: time.Second,
			Parts: []record.Part{{Socks: socks, Params: tr.Params(), Owners: map[uint32]record.Owner{1007: {PID: 42, Comm: "app"}}}}}
		in := model.PollInput{Time: now, Uncertainty: time.Millisecond, Socks: socks}
		in.Options = p.Parts[0].RecordOptions(nil)
		res := tr.Update(in)
		if w.KeyframeDue(now) {
			// As the poller: the tracker after this poll, the peers
			// before it (they are judged after recording).
			p.State = record.JoinState(tr.MarshalState(now), peers.MarshalState(now))
		}
		if err := w.Append(p); err != nil {
			t.Fatal(err)
		}
		rp.tr = tr
		owners := p.Parts[0].Owners
		rows := res.Rows(func(s *inetdiag.Socket) (int, string) { o := owners[s.Inode]; return o.PID, o.Comm })
		st := Step{Poll: p, Result: res}
		st.Peers, st.PeerEvents = peers.Update(now, p.Uncertainty, tr.Params().Jiffy(), rows)
		live[now.UnixNano()] = jsonOf(t, rp.Snapshot(st))
		times = append(times, now)
	}
	return dir, live, times
}

func jsonOf(t *testing.T, snap *model.Snapshot) string {
	t.Helper()
	var b bytes.Buffer
	if err := report.WriteJSON(&b, snap); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestSeekIsExact: a seek to any instant (a poll's time, between two
// polls, before the first, after the last) gives the snapshot the live
// run showed at the last poll at or before it, through the keyframe of
// its segment; replaying from the start gives every poll's.
func TestSeekIsExact(t *testing.T) {
	dir, live, times := recordRun(t, 95)
	rp, err := Open(dir, model.Config{}, query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	if n := len(rp.Reader().Segments()); n < 5 {
		t.Fatalf("%d segments: seeks do not start at later keyframes", n)
	}
	events, predictions := 0, 0
	for n := 0; ; n++ {
		st, err := rp.Next()
		if errors.Is(err, io.EOF) {
			if n != len(times) {
				t.Fatalf("replayed %d polls of %d", n, len(times))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		snap := rp.Snapshot(st)
		if got := jsonOf(t, snap); got != live[st.Poll.Time.UnixNano()] {
			t.Fatalf("poll %d differs:\n%s\nlive:\n%s", n, got, live[st.Poll.Time.UnixNano()])
		}
		events += len(snap.Events)
		if snap.Summarize().SoonestAbort(snap) != nil {
			predictions++
		}
		if snap.Host != "db1" {
			t.Fatalf("host %q", snap.Host)
		}
	}
	if events == 0 || predictions == 0 {
		t.Fatalf("%d events, %d polls with predictions: nothing to compare", events, predictions)
	}
	type seek struct {
		at   time.Time
		want int // the poll shown
	}
	seeks := []seek{{times[0].Add(-time.Hour), 0}, {times[len(times)-1].Add(time.Hour), len(times) - 1}}
	for i, tm := range times {
		seeks = append(seeks, seek{tm, i}, seek{tm.Add(500 * time.Millisecond), i})
	}
	for _, s := range seeks {
		st, err := rp.SeekTime(s.at)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Poll.Time.Equal(times[s.want]) {
			t.Fatalf("seek to %v: poll at %v, want %v", s.at, st.Poll.Time, times[s.want])
		}
		if got := jsonOf(t, rp.Snapshot(st)); got != live[times[s.want].UnixNano()] {
			t.Fatalf("seek to %v (poll %d) differs:\n%s\nlive:\n%s", s.at, s.want, got, live[times[s.want].UnixNano()])
		}
	}
}
