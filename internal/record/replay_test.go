package record

import (
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// shown is what a poll shows: the rows (with their predictions and
// owners) and the events.
type shown struct {
	Rows   []model.Row
	Events []model.Event
}

func showPoll(tr *model.Tracker, in model.PollInput, owners map[uint32]Owner) shown {
	poll := tr.Update(in)
	rows := poll.Rows(func(s *inetdiag.Socket) (int, string) {
		o := owners[s.Inode]
		return o.PID, o.Comm
	})
	for i := range rows {
		s := *rows[i].Sock // the buffer is reused by the dump after next
		rows[i].Sock = &s
	}
	ev := append([]model.Event(nil), poll.Events...)
	// The tracker emits the events of vanished connections in the order
	// of its map, which Go randomises: only the set is deterministic.
	slices.SortStableFunc(ev, func(a, b model.Event) int { return cmpUint(a.ID.Cookie, b.ID.Cookie) })
	return shown{Rows: rows, Events: ev}
}

// troubled makes some connections of the simulated host retransmit into
// a dead peer, and probe with keepalive, so that the tracker predicts
// aborts and emits events.
func troubled(i int, socks []inetdiag.Socket) {
	for k := 0; k < len(socks); k += 97 {
		if socks[k].State != inetdiag.StateEstablished || socks[k].Info.Len == 0 {
			continue
		}
		// Changed in the flat form, so that the whole and its core agree.
		r := flat(&socks[k])
		n := uint8(i%12) + 1
		r.s.Timer, r.s.Retrans = inetdiag.TimerRetransmit, n
		r.f.Info.Retransmits, r.f.Info.Backoff, r.f.Info.Unacked = n, n, 1
		r.f.Info.RTO = min(200*time.Millisecond<<n, 120*time.Second)
		r.s.Expires = r.f.Info.RTO / 2
		r.s.SendQ = 1000
		socks[k] = r.socket()
	}
}

// TestReplayIsExact records a live tracker's polls, replays the
// recording through a new tracker, and compares what each poll shows:
// the same rows, predictions and events.
func TestReplayIsExact(t *testing.T) {
	h := newSimHost(t, 2000, 0.03, 0.01, 11)
	cfg := model.Config{Params: model.DefaultParams()}
	live := model.NewTracker(cfg)
	liveOpts := func(s *inetdiag.Socket) (model.SockOpts, bool) {
		if s.ID.Cookie%3 == 0 {
			return model.SockOpts{}, false
		}
		return model.SockOpts{Known: true, KeepAlive: true, KeepIdle: 60 * time.Second, KeepIntvl: 10 * time.Second, KeepCnt: 5, UserTimeout: time.Duration(s.ID.Cookie%4) * 10 * time.Second}, true
	}
	dir := filepath.Join(t.TempDir(), "rec")
	w, err := Create(dir, Options{SegmentDuration: 40 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var want []shown
	var bufs [2][]inetdiag.Socket
	ctr := model.Counters{}
	for i := range 100 {
		now, unc, socks := h.poll(t, time.Second, bufs[i%2][:0])
		bufs[i%2] = socks // the next dump but one reuses this buffer, as the watcher's do
		troubled(i, socks)
		ctr.EstabResets += uint64(i % 3)
		before, after := ctr, ctr
		after.EstabResets += uint64(i % 2)
		p := &Poll{Time: now, Uncertainty: unc, Interval: time.Second,
			Parts: []Part{{NS: 1, Socks: socks, Params: live.Params(), Counters: &before, CountersAfter: &after}}}
		in := model.PollInput{Time: now, Uncertainty: unc, Socks: socks, Counters: &before, CountersAfter: &after}
		in.Options = p.Parts[0].RecordOptions(liveOpts)
		owners := map[uint32]Owner{}
		for k := range socks {
			if socks[k].Inode%5 == 0 {
				owners[socks[k].Inode] = Owner{PID: int(socks[k].Inode % 1000), Comm: "app"}
			}
		}
		want = append(want, showPoll(live, in, owners))
		p.Parts[0].Owners = owners
		if err := w.Append(p); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()

	events, predictions := 0, 0
	for _, s := range want {
		events += len(s.Events)
		for _, r := range s.Rows {
			if r.Prediction != nil {
				predictions++
			}
		}
	}
	if events == 0 || predictions == 0 {
		t.Fatalf("the live run had %d events and %d predictions: nothing to compare", events, predictions)
	}

	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Segments()) < 3 {
		t.Fatalf("%d segments: replay does not cross segments", len(r.Segments()))
	}
	c, err := r.SeekSegment(0)
	if err != nil {
		t.Fatal(err)
	}
	replay := model.NewTracker(cfg)
	opts := cmp.Options{
		cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
		cmp.Comparer(func(a, b inetdiag.Socket) bool { return flat(&a) == flat(&b) && a.Info == b.Info }),
		cmpopts.EquateComparable(netip.AddrPort{}),
	}
	for i := 0; ; i++ {
		p, err := c.Next()
		if errors.Is(err, io.EOF) {
			if i != len(want) {
				t.Fatalf("replayed %d polls, recorded %d", i, len(want))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt := &p.Parts[0]
		replay.SetParams(pt.Params)
		got := showPoll(replay, pt.Input(p), pt.Owners)
		if reflect.DeepEqual(want[i], got) {
			continue // cmp below is thorough but slow: 2000 rows a poll
		}
		if d := cmp.Diff(want[i], got, opts); d != "" {
			t.Fatalf("poll %d shows differently in replay (-live +replay):\n%s", i, d)
		}
	}
	t.Logf("100 polls of 2000 sockets replayed exactly: %d events, %d predictions", events, predictions)
}
