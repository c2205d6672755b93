package model

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// fuzzReader hands out the fuzzer's bytes; past the end it returns zeros.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) u8() uint8 {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *fuzzReader) u16() uint16 { return uint16(r.u8()) | uint16(r.u8())<<8 }

func (r *fuzzReader) u32() uint32 { return uint32(r.u16()) | uint32(r.u16())<<16 }

// ms is a duration in milliseconds as the kernel reports them (u32).
func (r *fuzzReader) ms() time.Duration { return time.Duration(r.u32()) * time.Millisecond }

// small is a duration of at most ~65 s, the usual range of timers.
func (r *fuzzReader) small() time.Duration { return time.Duration(r.u16()) * time.Millisecond }

func (r *fuzzReader) pick(n int) int { return int(r.u8()) % n }

var fuzzInfoLens = []int{0, inetdiag.TCPInfoLen2_6, inetdiag.TCPInfoLen5_4, inetdiag.TCPInfoLen6_7, inetdiag.TCPInfoLen6_18}

// fuzzSocket decodes one socket. Cookies come from a small set so that
// connections persist, change and vanish across polls.
func fuzzSocket(r *fuzzReader) inetdiag.Socket {
	s := conn(uint64(1+r.pick(6)), inetdiag.State(1+r.pick(12)))
	s.Timer = inetdiag.Timer(r.pick(6))
	s.Retrans = r.u8()
	if r.u8()&1 == 0 {
		s.Expires = r.small()
	} else {
		s.Expires = r.ms()
	}
	if r.u8()&3 == 0 {
		s.Inode = 0
	}
	s.SendQ = uint32(r.u16())
	in := &s.Info
	in.Len = int32(fuzzInfoLens[r.pick(len(fuzzInfoLens))])
	in.State = uint8(s.State)
	in.CAState = uint8(r.pick(5))
	in.Retransmits, in.Probes, in.Backoff = r.u8(), r.u8(), r.u8()
	in.RTO = inetdiag.MicrosOf(time.Duration(r.u32()%200_000_000) * time.Microsecond)
	in.RTT = inetdiag.MicrosOf(time.Duration(r.u32()%10_000_000) * time.Microsecond)
	in.Unacked = uint32(r.u8())
	in.LastDataSent, in.LastDataRecv, in.LastAckRecv = inetdiag.MillisOf(r.small()), inetdiag.MillisOf(r.ms()), inetdiag.MillisOf(r.small())
	in.SndWnd = uint32(r.u16())
	in.TotalRTO, in.TotalRTORecoveries, in.TotalRTOTime = r.u16(), uint16(r.u8()), inetdiag.MillisOf(r.ms())
	// What the kernel did not send is zero, as the decoder leaves it.
	if in.Len < inetdiag.TCPInfoLen6_7 {
		in.TotalRTO, in.TotalRTORecoveries, in.TotalRTOTime = 0, 0, 0
	}
	if in.Len < inetdiag.TCPInfoLen5_4 {
		in.SndWnd = 0
	}
	if in.Len == 0 {
		*in = inetdiag.TCPCore{}
	}
	return s
}

// fuzzDump describes a connection for a failure message.
func fuzzDump(c *Conn, p Params) string {
	s, in := c.Sock, &c.Sock.Info
	return fmt.Sprintf("params %+v\nopts %+v\nsock timer %v retrans %d expires %v inode %d sendq %d\ninfo len %d ca %d retransmits %d probes %d backoff %d rto %v unacked %d last sent %v recv %v ack %v sndwnd %d rto stats %d/%d/%v",
		p, c.Opts(), s.Timer, s.Retrans, s.Expires, s.Inode, s.SendQ, in.Len, in.CAState, in.Retransmits, in.Probes, in.Backoff, in.RTO, in.Unacked, in.LastDataSent, in.LastDataRecv, in.LastAckRecv, in.SndWnd, in.TotalRTO, in.TotalRTORecoveries, in.TotalRTOTime)
}

// fuzzOpts decodes an option source: none, one that always fails, or one
// that knows some options.
func fuzzOpts(r *fuzzReader) OptionSource {
	switch r.pick(3) {
	case 0:
		return nil
	case 1:
		return func(*inetdiag.Socket) (SockOpts, bool) { return SockOpts{}, false }
	}
	o := SockOpts{
		KeepAlive: r.u8()&1 == 1,
		KeepIdle:  time.Duration(r.u16()%7300) * time.Second, KeepIntvl: time.Duration(r.u8()) * time.Second,
		KeepCnt: r.pick(20), UserTimeout: r.small(), SynCnt: r.pick(10),
	}
	if r.u8()&1 == 1 {
		o.RTOMax = time.Duration(1000+int(r.u16())%119001) * time.Millisecond
	}
	return optsOf(o)
}

// fuzzSeed is the retries2=5 episode of the kernel notes, sampled at four
// polls.
func fuzzSeed() []byte {
	k := kern{hz: 250}
	r := k.simulateRTO(1<<20, rtoSpec{r0: 51, rtoMax: k.j(120000), budgetMs: func(int64) int64 { return 12600 }})
	var seed []byte
	le := binary.LittleEndian
	// retries2 5, orphan retries 0, syn retries 6, linear 4, rto_max 120 s,
	// HZ 250, keepalive 2 s/1 s/3; history 8, 16 events; 4 polls.
	seed = append(seed, 5, 0, 5, 4, 3, 0, 1, 0, 3, 7, 15, 3)
	for i := 0; i < 4; i++ {
		tj := r.fires[0] + 1 + int64(i)*300
		n, rto, lds, exp, trt := r.sampleAt(tj, true)
		seed = le.AppendUint16(seed, 1200) // ms since the previous poll
		seed = append(seed, 0, 0)          // uncertainty, counters
		seed = append(seed, 0)             // no options
		seed = append(seed, 1)             // one socket
		seed = append(seed, 0, 0, 1, byte(n), 1)
		seed = le.AppendUint32(seed, uint32(exp.Milliseconds()))
		seed = append(seed, 1)
		seed = le.AppendUint16(seed, 100)
		seed = append(seed, 4, 4, byte(n), 0, byte(n))
		seed = le.AppendUint32(seed, uint32(rto.Microseconds()))
		seed = le.AppendUint32(seed, 1000)
		seed = append(seed, 1)
		seed = le.AppendUint16(seed, uint16(lds.Milliseconds()))
		seed = le.AppendUint32(seed, uint32(trt.Milliseconds())+500)
		seed = le.AppendUint16(seed, uint16(trt.Milliseconds())+500)
		seed = le.AppendUint16(seed, 65535)
		seed = le.AppendUint16(seed, uint16(n))
		seed = append(seed, 1)
		seed = le.AppendUint32(seed, uint32(trt.Milliseconds()))
	}
	return seed
}

// TestFuzzSeed makes sure the seed decodes into what it means: a
// connection in RTO backoff, predicted at every poll.
func TestFuzzSeed(t *testing.T) {
	if n := fuzzRun(t, fuzzSeed()); n != 4 {
		t.Errorf("%d predictions from the seed, want 4", n)
	}
}

func FuzzTrackerUpdate(f *testing.F) {
	f.Add(fuzzSeed())
	f.Add([]byte{})
	f.Add([]byte{15, 0, 6, 4, 1, 2, 3, 4, 5, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})

	f.Fuzz(func(t *testing.T, data []byte) { fuzzRun(t, data) })
}

// fuzzRun feeds the polls data decodes into and checks the invariants
// after each; it returns how many predictions it checked.
func fuzzRun(t *testing.T, data []byte) (predictions int) {
	t.Helper()
	r := &fuzzReader{b: data}
	p := DefaultParams()
	p.Retries2 = r.pick(21)
	p.OrphanRetries = r.pick(10)
	p.SynRetries = 1 + r.pick(8)
	p.SynLinearTimeouts = r.pick(5)
	p.RTOMax = [...]time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 120 * time.Second}[r.pick(4)]
	p.HZ = [...]int{250, 1000, 100, 0}[r.pick(4)]
	p.KeepaliveTime = time.Duration(1+r.pick(100)) * time.Second
	p.KeepaliveIntvl = time.Duration(1+r.pick(10)) * time.Second
	p.KeepaliveProbes = r.pick(10)
	cfg := Config{Params: p, HistoryLen: 1 + r.pick(8), EventLimit: 1 + r.pick(16)}
	tr := NewTracker(cfg)
	// twin is fed the same polls through one buffer, overwritten before
	// each Update: what the tracker keeps must not depend on the sample
	// after its Update (the poller dumps into the same memory again).
	twin := NewTracker(cfg)
	var buf []inetdiag.Socket
	// restored starts from the state tr had after the first poll, and is
	// fed the same polls since: a replay that starts at a keyframe must
	// go on exactly as the live run did.
	var restored *Tracker
	now := base
	polls := 1 + r.pick(6)
	var resets uint64
	for i := 0; i < polls; i++ {
		now = now.Add(r.small())
		in := PollInput{Time: now, Uncertainty: time.Duration(r.pick(50)) * time.Millisecond}
		if c := r.u8(); c&1 == 1 {
			resets += uint64(c >> 1 & 1)
			in.Counters = &Counters{EstabResets: resets}
		}
		in.Options = fuzzOpts(r)
		n := r.pick(6)
		cookies := map[uint64]bool{}
		for j := 0; j < n; j++ {
			s := fuzzSocket(r)
			in.Socks = append(in.Socks, s)
			cookies[s.ID.Cookie] = true
		}
		poll := tr.Update(in)
		fuzzPeersAgree(t, i, now, poll.Rows(nil))
		fuzzSummaryAgrees(t, i, poll.Rows(nil))
		scribble := buf[:cap(buf)]
		for k := range scribble {
			scribble[k] = inetdiag.Socket{State: inetdiag.StateListen, Timer: inetdiag.TimerKeepalive, Retrans: 0xff, Inode: 0xdead}
		}
		twinIn := in
		buf = append(buf[:0], in.Socks...)
		twinIn.Socks = buf
		fuzzSameOutcome(t, i, poll, twin.Update(twinIn))
		st := tr.MarshalState(now)
		rt, rpoll, err := RestoreTracker(st, in.Socks)
		if err != nil {
			t.Fatalf("poll %d: restore: %v", i, err)
		}
		if again := rt.MarshalState(now); !bytes.Equal(again, st) {
			t.Fatalf("poll %d: a restored tracker's state differs from the one it was restored from", i)
		}
		withoutEvents := poll
		withoutEvents.Events = nil // RestoreTracker's poll has none
		fuzzSameOutcome(t, i, withoutEvents, rpoll)
		if restored == nil {
			restored = rt
		} else {
			fuzzSameOutcome(t, i, poll, restored.Update(in))
			if got := restored.MarshalState(now); !bytes.Equal(got, st) {
				t.Fatalf("poll %d: the tracker restored after the first poll has drifted from the live one", i)
			}
		}
		if tr.Len() != len(cookies) || len(poll.Conns) != len(cookies) {
			t.Fatalf("poll %d: %d tracked, %d in the poll, %d distinct cookies", i, tr.Len(), len(poll.Conns), len(cookies))
		}
		if len(tr.Events()) > cfg.EventLimit {
			t.Fatalf("%d events kept, limit %d", len(tr.Events()), cfg.EventLimit)
		}
		for _, c := range poll.Conns {
			if len(c.History) > cfg.HistoryLen {
				t.Fatalf("history of %d, limit %d", len(c.History), cfg.HistoryLen)
			}
			pr := c.Prediction
			if pr == nil {
				continue
			}
			predictions++
			if pr.Earliest.After(pr.At) || pr.At.After(pr.Latest) {
				t.Fatalf("%v %v: window not ordered: earliest %v at %v latest %v\n%s", c.Sock.State, c.Health, pr.Earliest.Sub(now), pr.At.Sub(now), pr.Latest.Sub(now), fuzzDump(c, p))
			}
			if len(pr.Schedule) == 0 {
				t.Fatalf("%v %v: empty schedule\n%s", c.Sock.State, c.Health, fuzzDump(c, p))
			}
			last := pr.Schedule[len(pr.Schedule)-1]
			if last.Kind != FireAbort || !last.At.Equal(pr.At) {
				t.Fatalf("%v %v: schedule ends with %v at %v, prediction at %v\n%s", c.Sock.State, c.Health, last.Kind, last.At.Sub(now), pr.At.Sub(now), fuzzDump(c, p))
			}
			for _, fi := range pr.Schedule {
				if fi.Earliest.After(fi.Latest) || (!fi.Past && (fi.At.Before(fi.Earliest) || fi.At.After(fi.Latest))) {
					t.Fatalf("%v %v: firing %d %v window not ordered: earliest %v at %v latest %v\n%s", c.Sock.State, c.Health, fi.N, fi.Kind, fi.Earliest.Sub(now), fi.At.Sub(now), fi.Latest.Sub(now), fuzzDump(c, p))
				}
			}
			for _, dt := range []time.Duration{0, time.Second, time.Hour} {
				if got, want := pr.Remaining(now.Add(dt)), pr.At.Sub(now)-dt; got != want {
					t.Fatalf("Remaining after %v = %v, want %v", dt, got, want)
				}
			}
			if pr.Count < 0 {
				t.Fatalf("negative count %d", pr.Count)
			}
			if !c.Health.Dying() && c.Health != HealthZeroWindow {
				t.Fatalf("prediction for a %v connection", c.Health)
			}
		}
		_ = poll.Rows(nil)
	}
	return predictions
}

// fuzzSameOutcome compares a poll with its twin's: same events, same
// health and predictions.
func fuzzSameOutcome(t *testing.T, poll int, a, b Poll) {
	t.Helper()
	if len(a.Events) != len(b.Events) || len(a.Conns) != len(b.Conns) {
		t.Fatalf("poll %d: %d events and %d connections, through a reused buffer %d and %d", poll, len(a.Events), len(a.Conns), len(b.Events), len(b.Conns))
	}
	at := func(p *Prediction) time.Time {
		if p == nil {
			return time.Time{}
		}
		return p.At
	}
	// Vanished connections are found in map order: compare sorted.
	byCookie := func(ev []Event) []Event {
		ev = slices.Clone(ev)
		slices.SortStableFunc(ev, func(x, y Event) int { return cmp.Compare(x.ID.Cookie, y.ID.Cookie) })
		return ev
	}
	ea, eb := byCookie(a.Events), byCookie(b.Events)
	for i := range ea {
		x, y := ea[i], eb[i]
		if x.Kind != y.Kind || x.ID != y.ID || x.State != y.State || x.Health != y.Health || !x.LastSeen.Equal(y.LastSeen) || !at(x.Predicted).Equal(at(y.Predicted)) {
			t.Fatalf("poll %d: event %+v, through a reused buffer %+v", poll, x, y)
		}
	}
	for i := range a.Conns {
		x, y := a.Conns[i], b.Conns[i]
		if x.Health != y.Health || !at(x.Prediction).Equal(at(y.Prediction)) || !x.StateSince.Time().Equal(y.StateSince.Time()) {
			t.Fatalf("poll %d: connection %d %v %v, through a reused buffer %v %v", poll, i, x.Health, at(x.Prediction), y.Health, at(y.Prediction))
		}
	}
}

// fuzzPeersAgree checks that judging the hosts of a poll's rows from a
// base of some of them and the rest (as between sweeps) gives what
// judging every row at once gives, for two ways of splitting the rows.
func fuzzPeersAgree(t *testing.T, poll int, now time.Time, rows []Row) {
	t.Helper()
	want, _ := NewPeerTracker(PeerConfig{}).Update(now, time.Millisecond, 4*time.Millisecond, rows)
	for split, fixed := range []func(i int) bool{
		func(i int) bool { return rows[i].Sock.ID.Cookie&1 == 0 },
		func(i int) bool { return i%3 != 0 },
	} {
		pt := NewPeerTracker(PeerConfig{})
		b := pt.NewBase(now, rows, fixed)
		var live []Row
		only := map[netip.Addr]bool{}
		for i := range rows {
			if a, ok := pt.host(&rows[i]); ok {
				only[a] = true
			}
			if !fixed(i) {
				live = append(live, rows[i])
			}
		}
		got, _ := pt.UpdateSome(now, time.Millisecond, 4*time.Millisecond, b, live, only, nil)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("poll %d, split %d: hosts judged from a base\n%+v\nfrom every row\n%+v", poll, split, got, want)
		}
	}
}

// fuzzSummaryAgrees checks a Summarizer on a poll's rows as two refreshes
// of one epoch give them: the odd rows fresh, unsampled at the first, the
// poll's at the second. The second summary must be a whole pass's.
func fuzzSummaryAgrees(t *testing.T, poll int, rows []Row) {
	t.Helper()
	var fresh []int
	before := slices.Clone(rows)
	for i := 1; i < len(rows); i += 2 {
		fresh = append(fresh, i)
		before[i] = Row{}
	}
	listening := map[uint16]bool{443: true}
	var z Summarizer
	z.Summarize(&Snapshot{Rows: before, Listening: listening, RowsEpoch: 1, Fresh: fresh})
	got := z.Summarize(&Snapshot{Rows: rows, Listening: listening, RowsEpoch: 1, Fresh: fresh})
	if want := (&Snapshot{Rows: rows, Listening: listening}).Summarize(); !reflect.DeepEqual(got, want) {
		t.Fatalf("poll %d: a refresh's summary %+v, a whole pass's %+v", poll, got, want)
	}
}
