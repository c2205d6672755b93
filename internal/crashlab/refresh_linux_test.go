package crashlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
)

// TestLabRefreshBetweenSweeps runs the poller in two tiers on a real
// kernel — a full dump every 2 s, and every 250 ms in between exact
// look-ups of the suspects — while a peer host dies under a connection
// with data in flight (tcp_retries2=5) beside an idle one to the same
// host. The dying connection must be seen by the first sweep after its
// first retransmission; from then on its row must be fresh at every poll
// (sampled then, its retransmission count moving between sweeps), its
// predictions must hold against the real abort, and its abort must be
// reported by the look-up that found it gone, long before the next
// sweep; the idle one's row stays the last sweep's.
func TestLabRefreshBetweenSweeps(t *testing.T) {
	needRoot(t)
	t.Parallel()
	l := newLab(t)
	sysctl(t, l, "net.ipv4.tcp_retries2", "5")
	dying, err := l.Connect(false, net.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dying.Close)
	idle, err := l.Connect(false, net.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idle.Close)
	exchange(t, dying)
	exchange(t, idle)

	const interval, sweepEvery = 250 * time.Millisecond, 2 * time.Second
	w, err := watch.New(watch.Config{NetNS: l.CliPath(), Owners: watch.OwnersNone, SweepEvery: sweepEvery})
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		at, sampled           time.Time
		refresh               bool
		retransmits           int
		pred                  *model.Prediction
		health                string
		idleSampled, idleSnap time.Time
		events                []model.Event
	}
	dyingKey, idleKey := tupleOf(dying.Client), tupleOf(idle.Client)
	var mu sync.Mutex
	var log []seen
	ctx, cancel := context.WithCancel(context.Background())
	snaps := make(chan *model.Snapshot, 1)
	go w.Loop(ctx, interval, snaps, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer w.Close()
		for s := range snaps {
			v := seen{at: s.Time, refresh: s.Refresh}
			for i := range s.Rows {
				r := &s.Rows[i]
				switch [2]netip.AddrPort{r.Sock.ID.Src, r.Sock.ID.Dst} {
				case dyingKey:
					v.sampled, v.retransmits, v.pred, v.health = r.SampledAt(s.Time), r.Retransmits(), r.Prediction, r.Health.String()
				case idleKey:
					v.idleSampled, v.idleSnap = r.SampledAt(s.Time), s.Time
				}
			}
			for _, e := range s.Events {
				if e.ID.Local == dyingKey[0] && e.ID.Remote == dyingKey[1] {
					v.events = append(v.events, e)
				}
			}
			mu.Lock()
			log = append(log, v)
			mu.Unlock()
			s.Release()
		}
	}()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)

	// Half-way between two sweeps, so that the abort (12 s later, a
	// multiple of the sweep interval) falls between two as well and is
	// usually found by a look-up.
	time.Sleep(1600 * time.Millisecond)
	if err := l.Crash(); err != nil {
		t.Fatal(err)
	}
	out := awaitError(dying.Client)
	wrote := time.Now()
	if _, err := dying.Client.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	o := waitOutcome(t, out, 40*time.Second)
	if !errors.Is(o.Err, unix.ETIMEDOUT) {
		t.Fatalf("the client got %v, want ETIMEDOUT", o.Err)
	}
	time.Sleep(time.Second)
	stop()

	mu.Lock()
	defer mu.Unlock()
	var samples []sample
	var lastSweep time.Time
	refreshes, moved, prevRetrans := 0, 0, -1
	var abortSeen, detected *seen
	for i := range log {
		v := &log[i]
		if !v.refresh {
			lastSweep = v.at
		}
		if len(v.events) > 0 && abortSeen == nil {
			abortSeen = v
		}
		if v.sampled.IsZero() {
			continue
		}
		if detected == nil {
			if v.health != "retransmitting" {
				continue // healthy at the last sweep: not a suspect yet
			}
			detected = v
		}
		if !v.sampled.Equal(v.at) {
			t.Errorf("poll at %s (refresh %v): the dying row was sampled at %s, not fresh", v.at.Format("15:04:05.000"), v.refresh, v.sampled.Format("15:04:05.000"))
		}
		if v.refresh {
			refreshes++
			if !v.idleSnap.IsZero() && !v.idleSampled.Equal(lastSweep) {
				t.Errorf("refresh at %s: the idle row was sampled at %s, want the sweep's %s", v.at.Format("15:04:05.000"), v.idleSampled.Format("15:04:05.000"), lastSweep.Format("15:04:05.000"))
			}
			if prevRetrans >= 0 && v.retransmits != prevRetrans {
				moved++
			}
		}
		prevRetrans = v.retransmits
		s := sample{src: "watch", t: v.at, health: v.health}
		if p := v.pred; p != nil {
			s.has, s.reason, s.confidence = true, p.Reason.String(), p.Confidence.String()
			s.best, s.earliest, s.latest, s.slip = p.At, p.Earliest, p.Latest, p.MaySlip
		}
		samples = append(samples, s)
	}
	var trail []string // the polls, for the messages
	for _, v := range log {
		trail = append(trail, fmt.Sprintf("%s refresh=%v retrans=%d health=%s events=%d", v.at.Format("15:04:05.000"), v.refresh, v.retransmits, v.health, len(v.events)))
	}
	if detected == nil {
		t.Fatalf("the dying connection was never seen retransmitting:\n%v", trail)
	}
	// The first retransmission comes an RTO (about 0.2 s here) after
	// the write; the next sweep at most sweepEvery and a poll later.
	if late := detected.at.Sub(wrote); late > sweepEvery+interval+500*time.Millisecond || detected.refresh {
		t.Errorf("first seen retransmitting %v after the write, by a refresh %v; want a sweep within %v", late, detected.refresh, sweepEvery+interval+500*time.Millisecond)
	}
	if refreshes < 15 || moved < 2 {
		t.Errorf("%d refreshes carried the dying row, %d of them with a new retransmission count; want at least 15 and 2:\n%v", refreshes, moved, trail)
	}
	first, maxErr := checkAbort(t, "refresh between sweeps", samples, o.At, "tcp_retries2", "retransmitting", 15)
	if abortSeen == nil {
		t.Fatalf("no event for the dying connection:\n%v", trail)
	}
	if testing.Verbose() {
		t.Logf("abort at %s; the polls around it:\n%s", o.At.Format("15:04:05.000"), strings.Join(trail[max(0, len(trail)-8):], "\n"))
	}
	e := abortSeen.events[0]
	// Found gone by a look-up or, one time in eight, by a sweep that
	// happened to come next: either way within a poll or so.
	if e.Kind != model.EventAborted {
		t.Errorf("event %v, want aborted", e.Kind)
	}
	if late := abortSeen.at.Sub(o.At); late > 3*interval {
		t.Errorf("abort reported %v after it happened (interval %v, sweeps every %v)", late, interval, sweepEvery)
	}
	results.add("two tiers: sweep every 2 s, look-ups every 0.25 s (retries2=5)", first.best.Sub(first.t), o.At.Sub(first.t), maxErr,
		fmt.Sprintf("ETIMEDOUT; aborted event %v after (refresh %v)", abortSeen.at.Sub(o.At).Round(time.Millisecond), abortSeen.refresh))
}

func tupleOf(c *net.TCPConn) [2]netip.AddrPort {
	return [2]netip.AddrPort{netip.MustParseAddrPort(c.LocalAddr().String()), netip.MustParseAddrPort(c.RemoteAddr().String())}
}
