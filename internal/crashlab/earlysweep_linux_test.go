package crashlab

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
)

// TestLabEarlySweep runs the poller in two tiers with sweeps a minute
// apart, as on a host of 10^6 sockets, over two idle healthy connections:
// between sweeps nothing is looked up. Then the peer host dies under one
// of them with data in flight. Its first RTO counts in the namespace's
// TCPTimeouts, which no suspect explains, so the next poll sweeps and the
// connection is seen retransmitting within seconds, not a minute later;
// while the namespace is quiet, no poll sweeps early.
func TestLabEarlySweep(t *testing.T) {
	needRoot(t)
	t.Parallel()
	l := newLab(t)
	sysctl(t, l, "net.ipv4.tcp_retries2", "8")
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

	const interval, sweepEvery = 250 * time.Millisecond, time.Minute
	w, err := watch.New(watch.Config{NetNS: l.CliPath(), Owners: watch.OwnersNone, SweepEvery: sweepEvery})
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		at      time.Time
		refresh bool
		health  string // the dying connection's
	}
	key := tupleOf(dying.Client)
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
				if r := &s.Rows[i]; [2]netip.AddrPort{r.Sock.ID.Src, r.Sock.ID.Dst} == key {
					v.health = r.Health.String()
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
	sweeps := func(from, to time.Time) (n int) {
		for _, v := range log {
			if !v.refresh && !v.at.Before(from) && v.at.Before(to) {
				n++
			}
		}
		return n
	}

	// Quiet for 3 s: the first sweep, then refreshes only.
	began := time.Now()
	time.Sleep(3 * time.Second)
	if err := l.Crash(); err != nil {
		t.Fatal(err)
	}
	wrote := time.Now()
	if _, err := dying.Client.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	var detected time.Time
	waitFor(15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range log {
			if v.at.After(wrote) && v.health == "retransmitting" {
				detected = v.at
				return true
			}
		}
		return false
	})
	stop()

	mu.Lock()
	defer mu.Unlock()
	if n := sweeps(began, wrote); n != 1 {
		t.Errorf("%d sweeps while the namespace was quiet, want the first only", n)
	}
	if len(log) < 8 {
		t.Fatalf("only %d snapshots in %v", len(log), time.Since(began))
	}
	if detected.IsZero() {
		t.Fatalf("the dying connection was not seen retransmitting within 15 s of its write (sweeps every %v; %d sweeps after the write)", sweepEvery, sweeps(wrote, time.Now()))
	}
	// The first RTO comes 0.2–0.6 s after the write, the next refresh
	// finds it unexplained, the poll after it sweeps: about a second on
	// an idle machine; 5 s is the budget (a loaded guest polls late).
	if d := detected.Sub(wrote); d > 5*time.Second {
		t.Errorf("seen retransmitting %v after the write, want within 5 s", d)
	}
	if n := sweeps(wrote, detected.Add(time.Millisecond)); n != 1 {
		t.Errorf("%d sweeps between the write and the detection, want the early one", n)
	}
	t.Logf("seen retransmitting %v after the write, sweeps a minute apart", detected.Sub(wrote).Round(time.Millisecond))
}
