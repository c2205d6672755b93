package crashlab

// One watcher of every network namespace of the host (--all-netns),
// running in the root namespace, and several client hosts with their own
// kernel rules whose peers die at once: each connection's prediction must
// follow its own namespace's sysctls and match its own kernel's abort.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
)

// allWatcher is an in-process watcher of every namespace; it keeps the
// samples and events of each connection by namespace label and
// four-tuple.
type allWatcher struct {
	mu      sync.Mutex
	samples map[string][]sample
	events  []model.Event
	inodes  map[string]map[uint64]bool // namespaces' inodes by label
	// refreshes counts the polls that looked up suspects rather than
	// dump (two tiers).
	refreshes int
	// notices are the last snapshot's: a connection that never shows is
	// explained by them (a namespace that could not be opened or dumped).
	notices []string
	polls   int
	lastErr error // the last failed poll's
	cancel  context.CancelFunc
	done    chan struct{}
}

func startAllWatcher(t *testing.T, sweepEvery time.Duration) *allWatcher {
	t.Helper()
	w, err := watch.New(watch.Config{AllNetNS: true, Owners: watch.OwnersAll, Tracker: model.Config{CloseWaitAfter: time.Second}, SweepEvery: sweepEvery})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	aw := &allWatcher{samples: map[string][]sample{}, inodes: map[string]map[uint64]bool{}, cancel: cancel, done: make(chan struct{})}
	snaps := make(chan *model.Snapshot, 1)
	errs := make(chan error, 1)
	go w.Loop(ctx, 250*time.Millisecond, snaps, errs)
	go func() {
		for {
			select {
			case err := <-errs:
				aw.mu.Lock()
				aw.lastErr = err
				aw.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		defer close(aw.done)
		defer w.Close()
		for snap := range snaps {
			aw.mu.Lock()
			if snap.Refresh {
				aw.refreshes++
			}
			aw.polls++
			aw.notices = snap.Notices
			for i := range snap.Rows {
				r := &snap.Rows[i]
				if r.NetNS == nil {
					continue
				}
				s := sample{src: "all-netns", t: snap.Time, health: r.Health.String(), cost: snap.PollCost}
				if p := r.Prediction; p != nil {
					s.has = true
					s.reason, s.confidence = p.Reason.String(), p.Confidence.String()
					s.best, s.earliest, s.latest, s.slip = p.At, p.Earliest, p.Latest, p.MaySlip
				}
				k := r.NetNS.Name + " " + r.Sock.ID.Src.String() + " " + r.Sock.ID.Dst.String()
				aw.samples[k] = append(aw.samples[k], s)
				if aw.inodes[r.NetNS.Name] == nil {
					aw.inodes[r.NetNS.Name] = map[uint64]bool{}
				}
				aw.inodes[r.NetNS.Name][r.NetNS.Inode] = true
			}
			aw.events = append(aw.events, snap.Events...)
			aw.mu.Unlock()
			snap.Release()
		}
	}()
	t.Cleanup(aw.stop)
	return aw
}

// said describes what the watcher did so far, for a failure's message.
func (aw *allWatcher) said() string {
	aw.mu.Lock()
	defer aw.mu.Unlock()
	names := make([]string, 0, len(aw.inodes))
	for n := range aw.inodes {
		names = append(names, n)
	}
	slices.Sort(names)
	return fmt.Sprintf("%d snapshots; namespaces with rows: %v; notices: %q; last failed poll: %v", aw.polls, names, aw.notices, aw.lastErr)
}

func (aw *allWatcher) stop() {
	aw.cancel()
	<-aw.done
}

// of returns the samples of connection c in namespace ns (its label).
func (aw *allWatcher) of(ns string, c *net.TCPConn) []sample {
	aw.mu.Lock()
	defer aw.mu.Unlock()
	return append([]sample(nil), aw.samples[ns+" "+tupleKey(c)]...)
}

// eventsOf returns the events of connection c in namespace ns.
func (aw *allWatcher) eventsOf(ns string, c *net.TCPConn) []model.Event {
	aw.mu.Lock()
	defer aw.mu.Unlock()
	ap := netip.MustParseAddrPort(c.LocalAddr().String())
	rp := netip.MustParseAddrPort(c.RemoteAddr().String())
	var out []model.Event
	for _, e := range aw.events {
		if e.NetNS != nil && e.NetNS.Name == ns && e.ID.Local == ap && e.ID.Remote == rp {
			out = append(out, e)
		}
	}
	return out
}

// waitFor waits (at most limit) until cond holds.
func waitFor(limit time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestLabAllNetNS: three client hosts, each in its own namespace with its
// own rules (tcp_retries2=5, tcp_retries2=3, keepalive sysctls 2/1/3), all
// with the same addresses, watched by one all-namespaces watcher in the
// root namespace. Their peers die at once; each prediction matches its
// own kernel's abort, and each row carries its namespace's name.
func TestLabAllNetNS(t *testing.T) {
	needRoot(t)
	// Once as a small host polls (every poll dumps every namespace), once
	// in two tiers: every namespace dumped every 2 s, and in between each
	// one's suspects looked up in its own socket.
	for _, tier := range []struct {
		name       string
		sweepEvery time.Duration
	}{{"every poll dumps", -1}, {"two tiers", 2 * time.Second}} {
		t.Run(tier.name, func(t *testing.T) {
			t.Parallel()
			labAllNetNS(t, tier.name, tier.sweepEvery)
		})
	}
}

func labAllNetNS(t *testing.T, tierName string, sweepEvery time.Duration) {
	type host struct {
		name      string
		sysctls   []string
		keepalive bool
		reason    string
		health    string
		lab       *Lab
		p         *Pair
		done      <-chan Outcome
		o         Outcome
	}
	hosts := []*host{
		{name: "retries2=5", sysctls: []string{"net.ipv4.tcp_retries2", "5"}, reason: "tcp_retries2", health: "retransmitting"},
		{name: "retries2=3", sysctls: []string{"net.ipv4.tcp_retries2", "3"}, reason: "tcp_retries2", health: "retransmitting"},
		{name: "keepalive sysctls 2/1/3", sysctls: []string{"net.ipv4.tcp_keepalive_time", "2", "net.ipv4.tcp_keepalive_intvl", "1", "net.ipv4.tcp_keepalive_probes", "3"},
			keepalive: true, reason: "keepalive", health: "keepalive-probing"},
	}
	for _, h := range hosts {
		h.lab = newLab(t)
		sysctl(t, h.lab, h.sysctls...)
		p, err := h.lab.Connect(false, net.Dialer{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		if h.keepalive {
			setOpt(t, p.Client, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
		}
		exchange(t, p)
		h.p = p
	}
	aw := startAllWatcher(t, sweepEvery)
	for _, h := range hosts {
		if !waitFor(10*time.Second, func() bool { return len(aw.of(h.lab.Cli, h.p.Client)) > 0 }) {
			t.Fatalf("%s: the watcher never showed the connection in namespace %s (%s)", h.name, h.lab.Cli, aw.said())
		}
	}
	time.Sleep(300 * time.Millisecond)
	for _, h := range hosts {
		if err := h.lab.Crash(); err != nil {
			t.Fatal(err)
		}
	}
	trigger := time.Now()
	for _, h := range hosts {
		h.done = awaitError(h.p.Client)
		if !h.keepalive {
			if _, err := h.p.Client.Write(make([]byte, 100)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, h := range hosts {
		h.o = waitOutcome(t, h.done, 30*time.Second)
	}
	for _, h := range hosts {
		waitFor(10*time.Second, func() bool { return len(aw.eventsOf(h.lab.Cli, h.p.Client)) > 0 })
	}
	aw.stop()

	var firstBest []time.Duration
	for _, h := range hosts {
		if !errors.Is(h.o.Err, unix.ETIMEDOUT) {
			t.Errorf("%s: client error %v, want ETIMEDOUT", h.name, h.o.Err)
		}
		first, maxErr := checkAbort(t, "all-netns "+h.name, aw.of(h.lab.Cli, h.p.Client), h.o.At, h.reason, h.health, 2)
		if first.has {
			note := unixErrName(h.o.Err)
			if h.keepalive {
				note += " (times from the crash)"
			}
			results.add("all-netns ("+tierName+"), three namespaces at once: "+h.name, first.best.Sub(trigger), h.o.At.Sub(trigger), maxErr, note)
			if first.confidence != "exact" {
				t.Errorf("%s: confidence %q, want exact", h.name, first.confidence)
			}
		}
		firstBest = append(firstBest, first.best.Sub(trigger))
		aborted := false
		for _, e := range aw.eventsOf(h.lab.Cli, h.p.Client) {
			aborted = aborted || e.Kind == model.EventAborted
		}
		if !aborted {
			t.Errorf("%s: no aborted event in namespace %s: %+v", h.name, h.lab.Cli, aw.eventsOf(h.lab.Cli, h.p.Client))
		}
		aw.mu.Lock()
		if n := len(aw.inodes[h.lab.Cli]); n != 1 {
			t.Errorf("%s: label %s names %d namespaces, want 1", h.name, h.lab.Cli, n)
		}
		aw.mu.Unlock()
	}
	aw.mu.Lock()
	if refreshes := aw.refreshes; sweepEvery > 0 && refreshes < 20 || sweepEvery < 0 && refreshes > 0 {
		t.Errorf("%d polls were refreshes (sweep every %v)", refreshes, sweepEvery)
	}
	aw.mu.Unlock()
	// The same poller, the same addresses: only the namespaces' rules
	// tell tcp_retries2=3 (6.9 s) from 5 (13.3 s).
	if len(firstBest) == 3 && firstBest[1] >= firstBest[0] {
		t.Errorf("retries2=3 predicted at %v, not before retries2=5 at %v", firstBest[1], firstBest[0])
	}
}

// TestLabAllNetNSGone: a namespace deleted while the watcher runs ends
// its connections with netns_gone, within a few seconds and without an
// abort or a reset, even for a connection that was dying; the watcher
// lets go of the namespace.
func TestLabAllNetNSGone(t *testing.T) {
	needRoot(t)
	l := newLab(t)
	sysctl(t, l, "net.ipv4.tcp_retries2", "8")
	p, err := l.Connect(false, net.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	exchange(t, p)
	aw := startAllWatcher(t, 0)
	if !waitFor(10*time.Second, func() bool { return len(aw.of(l.Cli, p.Client)) > 0 }) {
		t.Fatalf("the watcher never showed the connection in namespace %s (%s)", l.Cli, aw.said())
	}
	if err := l.Crash(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Client.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool {
		s := aw.of(l.Cli, p.Client)
		return len(s) > 0 && s[len(s)-1].has
	}) {
		t.Fatalf("the connection never got a prediction")
	}
	// The client's socket keeps the namespace alive in the kernel; only
	// its name goes, which is what a pod's deletion looks like from here
	// before its last socket is closed.
	deleted := time.Now()
	if out, err := exec.Command("ip", "netns", "del", l.Cli).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del %s: %v: %s", l.Cli, err, out)
	}
	var gone model.Event
	if !waitFor(10*time.Second, func() bool {
		for _, e := range aw.eventsOf(l.Cli, p.Client) {
			if e.Kind == model.EventNetNSGone {
				gone = e
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no netns_gone event within 10 s; events: %+v", aw.eventsOf(l.Cli, p.Client))
	}
	if d := gone.Time.Sub(deleted); d > 3*time.Second {
		t.Errorf("netns_gone %v after the deletion, want within the 2 s of rediscovery plus a poll", d)
	}
	if gone.Predicted == nil || gone.Health != model.HealthRetransmitting {
		t.Errorf("netns_gone event lost the connection's last state: health %v prediction %v", gone.Health, gone.Predicted)
	}
	time.Sleep(time.Second)
	aw.stop()
	var kinds []string
	for _, e := range aw.eventsOf(l.Cli, p.Client) {
		kinds = append(kinds, e.Kind.String())
	}
	if strings.Join(kinds, ",") != "netns_gone" {
		t.Errorf("events of the connection %v, want only netns_gone", kinds)
	}
	s := aw.of(l.Cli, p.Client)
	if last := s[len(s)-1]; last.t.After(gone.Time) {
		t.Errorf("the connection was still shown at %s, after its namespace went at %s", last.t.Format("15:04:05.000"), gone.Time.Format("15:04:05.000"))
	}
	results.addOutcome("all-netns: client namespace deleted while dying", fmt.Sprintf("netns_gone %.1f s after ip netns del", gone.Time.Sub(deleted).Seconds()))
}
