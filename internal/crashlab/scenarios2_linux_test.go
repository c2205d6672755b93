package crashlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/netns"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

func portQuery(c *net.TCPConn) query.Query {
	q, _ := query.Parse("sport " + strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port))
	return q
}

// keepalive: an idle connection guarded by keepalive, the peer host dies,
// the probes go unanswered and the kernel aborts.
func TestLabKeepalive(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		name      string
		perSocket bool
	}{
		{"keepalive per-socket idle=2 intvl=1 cnt=3", true},
		{"keepalive sysctls time=2 intvl=1 probes=3", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLab(t)
			if !tc.perSocket {
				sysctl(t, l, "net.ipv4.tcp_keepalive_time", "2", "net.ipv4.tcp_keepalive_intvl", "1", "net.ipv4.tcp_keepalive_probes", "3")
			}
			p, err := l.Connect(false, net.Dialer{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			setOpt(t, p.Client, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
			if tc.perSocket {
				setOpt(t, p.Client, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 2)
				setOpt(t, p.Client, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 1)
				setOpt(t, p.Client, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 3)
			}
			exchange(t, p)
			lw := startWatcher(t, l, portQuery(p.Client))
			time.Sleep(500 * time.Millisecond)
			if err := l.Crash(); err != nil {
				t.Fatal(err)
			}
			trigger := time.Now()
			done := awaitError(p.Client)
			js, o := sampleUntilAbort(t, l, p.Client.LocalAddr().String(), p.Client.RemoteAddr().String(), trigger, []time.Duration{2200 * time.Millisecond, 3 * time.Second, 3800 * time.Millisecond}, done, 20*time.Second)
			lw.waitGone(p.Client)
			lw.stop()
			if !errors.Is(o.Err, unix.ETIMEDOUT) {
				t.Errorf("client error %v, want ETIMEDOUT", o.Err)
			}
			first, e1 := checkAbort(t, tc.name+" json", js, o.At, "keepalive", "keepalive-probing", 2)
			_, e2 := checkAbort(t, tc.name+" watch", lw.of(p.Client), o.At, "keepalive", "keepalive-probing", 2)
			if (first.has || !emulated) && first.confidence != "exact" {
				t.Errorf("confidence %q, want exact", first.confidence)
			}
			results.add(tc.name, first.best.Sub(trigger), o.At.Sub(trigger), max(e1, e2), unixErrName(o.Err)+" (times from the crash)")
			checkAbortedEvent(t, lw, p.Client, o.At)
		})
	}
}

// vanishWatcher finds when a socket disappears from the dump (for
// orphans, which no application can report on), polling every 20 ms.
func vanishWatcher(t *testing.T, l *Lab, local netip.AddrPort) <-chan Outcome {
	t.Helper()
	c, err := inetdiag.Dial(&inetdiag.Config{NetNS: l.CliPath()})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan Outcome, 1)
	go func() {
		defer c.Close()
		var buf []inetdiag.Socket
		for {
			buf, err = c.Dump(inetdiag.Request{Filter: inetdiag.SrcPort(local.Port())}, buf[:0])
			if err != nil {
				ch <- Outcome{time.Now(), err}
				return
			}
			found := false
			for i := range buf {
				if buf[i].ID.Src == local && buf[i].State != inetdiag.StateTimeWait {
					found = true
				}
			}
			if !found {
				ch <- Outcome{time.Now(), nil}
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return ch
}

// orphan: the application closes with unacknowledged data after the peer
// died; the socket lives on in FIN-WAIT-1, owned by the kernel, until
// tcp_orphan_retries is spent.
func TestLabOrphan(t *testing.T) {
	needRoot(t)
	t.Parallel()
	l := newLab(t)
	sysctl(t, l, "net.ipv4.tcp_orphan_retries", "3")
	p, err := l.Connect(false, net.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	exchange(t, p)
	lw := startWatcher(t, l, portQuery(p.Client))
	time.Sleep(500 * time.Millisecond)
	if err := l.Crash(); err != nil {
		t.Fatal(err)
	}
	local := netip.MustParseAddrPort(p.Client.LocalAddr().String())
	remote := p.Client.RemoteAddr().String()
	trigger := time.Now()
	if _, err := p.Client.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	p.Client.Close() // orphaned: inode 0, FIN-WAIT-1, data and FIN unacknowledged
	done := vanishWatcher(t, l, local)
	js, o := sampleUntilAbort(t, l, local.String(), remote, trigger, []time.Duration{800 * time.Millisecond, 3 * time.Second, 6 * time.Second}, done, 30*time.Second)
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	lw.waitGone(p.Client)
	lw.stop()
	// The socket vanished between two 20-ms polls.
	o.At = o.At.Add(-10 * time.Millisecond)
	first, e1 := checkAbort(t, "orphan json", js, o.At, "orphan_retries", "orphan-retrying", 2)
	_, e2 := checkAbort(t, "orphan watch", lw.of(p.Client), o.At, "orphan_retries", "orphan-retrying", 2)
	results.add("orphan (tcp_orphan_retries=3)", first.best.Sub(trigger), o.At.Sub(trigger), max(e1, e2), "vanished from the dump (±10 ms)")
	checkAbortedEvent(t, lw, p.Client, o.At)
}

// reboot: the peer host comes back without the connection; the next
// segment is answered with an RST.
func TestLabPeerReboot(t *testing.T) {
	needRoot(t)
	t.Parallel()
	l := newLab(t)
	p, err := l.Connect(false, net.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	exchange(t, p)
	lw := startWatcher(t, l, portQuery(p.Client))
	time.Sleep(600 * time.Millisecond)
	if err := l.Crash(); err != nil {
		t.Fatal(err)
	}
	// The reboot loses the server's socket; its RST is black-holed.
	srvPort := p.Server.LocalAddr().(*net.TCPAddr).Port
	if out, err := exec.Command("ip", "netns", "exec", l.Srv, "ss", "-K", "-tn", "sport", "= :"+strconv.Itoa(srvPort)).CombinedOutput(); err != nil {
		t.Fatalf("ss -K: %v: %s", err, out)
	}
	if err := l.Revive(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	done := awaitError(p.Client)
	if _, err := p.Client.Write([]byte("hello again")); err != nil {
		t.Fatal(err)
	}
	o := waitOutcome(t, done, 10*time.Second)
	if !errors.Is(o.Err, unix.ECONNRESET) {
		t.Errorf("client error %v, want ECONNRESET", o.Err)
	}
	lw.waitGone(p.Client)
	lw.stop()
	evs := lw.eventsOf(p.Client)
	if len(evs) != 1 || evs[0].Kind != model.EventReset {
		t.Errorf("events %v, want exactly one reset", evs)
	}
	for _, s := range lw.of(p.Client) {
		if s.has {
			t.Errorf("sample at %s predicts an abort (%s) for a connection that never retransmitted", s.t.Format("15:04:05.000"), s.reason)
		}
	}
	results.addOutcome("peer rebooted", unixErrName(o.Err)+" at once, one reset event, never a prediction")
}

// close-wait: the peer process exits (its kernel sends FIN), the local
// application never closes.
func TestLabCloseWait(t *testing.T) {
	needRoot(t)
	t.Parallel()
	l := newLab(t)
	p, err := l.Connect(false, net.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	exchange(t, p)
	lw := startWatcher(t, l, portQuery(p.Client))
	p.Server.Close()
	p.Server = nil
	time.Sleep(1500 * time.Millisecond)
	s := jsonSample(t, l, p, "--close-wait-after", "1s")
	if s.health != "close-wait" || s.has {
		t.Errorf("json: health %q prediction %v, want close-wait and none", s.health, s.has)
	}
	// Before the threshold it is not flagged.
	s = jsonSample(t, l, p, "--close-wait-after", "1h")
	if s.health != "ok" {
		t.Errorf("json with --close-wait-after 1h: health %q, want ok", s.health)
	}
	if !lw.waitHealth(p.Client, "close-wait") {
		t.Errorf("watcher: never flagged close-wait; samples %v", lw.of(p.Client))
	}
	lw.stop()
	results.addOutcome("peer process killed (FIN)", "close-wait flagged after the threshold, no abort predicted")
}

// zero window: the peer is alive but does not read; the kernel probes the
// window forever and must not be predicted to abort.
func TestLabZeroWindow(t *testing.T) {
	needRoot(t)
	t.Parallel()
	l := newLab(t)
	ln, err := l.Listen(netip.AddrPortFrom(l.SrvAddr4, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rc, _ := ln.SyscallConn()
	rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
	acc := make(chan *net.TCPConn, 1)
	go func() { c, _ := ln.AcceptTCP(); acc <- c }()
	cli, err := l.Dial(net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, 4096) })
	}}, netip.AddrPortFrom(l.SrvAddr4, uint16(ln.Addr().(*net.TCPAddr).Port)))
	if err != nil {
		t.Fatal(err)
	}
	srv := <-acc
	p := &Pair{Client: cli, Server: srv}
	t.Cleanup(p.Close)
	lw := startWatcher(t, l, portQuery(cli))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cli.SetWriteDeadline(time.Now().Add(9 * time.Second))
		buf := make([]byte, 1024)
		for {
			if _, err := cli.Write(buf); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	var sawPersist bool
	for time.Since(start) < 8*time.Second {
		time.Sleep(time.Second)
		s := jsonSample(t, l, p)
		if s.has {
			t.Errorf("sample at %s predicts an abort (%s) for a live peer that is only not reading", s.t.Format("15:04:05.000"), s.reason)
		}
		if s.health == "zero-window" {
			sawPersist = true
		}
	}
	if !sawPersist {
		t.Errorf("never saw the zero-window health")
	}
	wg.Wait()
	// The peer is alive: reading resumes the flow.
	srv.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := srv.Read(make([]byte, 1024)); err != nil {
		t.Errorf("the peer could not read after the stall: %v", err)
	}
	lw.stop()
	for _, s := range lw.of(cli) {
		if s.has {
			t.Errorf("watcher sample at %s predicts an abort (%s)", s.t.Format("15:04:05.000"), s.reason)
		}
	}
	results.addOutcome("peer alive, not reading (zero window)", "zero-window flagged, no abort predicted in 8 s of probing")
}

// healthy: a busy connection and an idle keepalive connection with a live
// peer raise no alarm.
func TestLabNoFalseAlarm(t *testing.T) {
	needRoot(t)
	t.Parallel()
	l := newLab(t)
	busy, err := l.Connect(false, net.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(busy.Close)
	ka, err := l.Connect(true, net.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ka.Close)
	setOpt(t, ka.Client, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	setOpt(t, ka.Client, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 1)
	setOpt(t, ka.Client, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 1)
	setOpt(t, ka.Client, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 2)
	lw := startWatcher(t, l, query.Query{})
	// Traffic runs until the watcher has taken enough samples (however
	// slowly a loaded machine lets it poll) and the keepalive probes have
	// gone and come back several times.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		buf := make([]byte, 64<<10)
		for ctx.Err() == nil {
			if _, err := busy.Server.Read(buf); err != nil {
				return
			}
		}
	}()
	go func() {
		buf := make([]byte, 32<<10)
		for ctx.Err() == nil {
			if _, err := busy.Client.Write(buf); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for i := 0; i < 4; i++ {
		time.Sleep(time.Second)
		for _, p := range []*Pair{busy, ka} {
			s := jsonSample(t, l, p)
			if s.has || (s.health != "ok" && s.health != "unguarded") {
				t.Errorf("json sample at %s: health %q, prediction %v; want a healthy connection", s.t.Format("15:04:05.000"), s.health, s.has)
			}
		}
	}
	for deadline := time.Now().Add(30 * time.Second); len(lw.of(busy.Client)) < 12 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	lw.stop()
	for _, c := range []*net.TCPConn{busy.Client, ka.Client} {
		ws := lw.of(c)
		if len(ws) < 12 {
			t.Errorf("watcher took only %d samples", len(ws))
		}
		for _, s := range ws {
			if s.has || (s.health != "ok" && s.health != "unguarded") {
				t.Errorf("watcher sample at %s: health %q prediction %v; want healthy", s.t.Format("15:04:05.000"), s.health, s.has)
			}
		}
	}
	results.addOutcome("healthy busy + idle keepalive, live peer", "no alarm in "+fmt.Sprint(len(lw.of(busy.Client)))+" polls and 8 --once runs")
}

// SYN: connecting to a host that is down.
func TestLabSynSent(t *testing.T) {
	needRoot(t)
	t.Parallel()
	l := newLab(t)
	sysctl(t, l, "net.ipv4.tcp_syn_retries", "2")
	ln, err := l.Listen(netip.AddrPortFrom(l.SrvAddr4, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := l.Crash(); err != nil {
		t.Fatal(err)
	}
	local := netip.AddrPortFrom(l.CliAddr4, 41000+uint16(time.Now().UnixNano()%1000))
	remote := netip.AddrPortFrom(l.SrvAddr4, uint16(ln.Addr().(*net.TCPAddr).Port))
	done := make(chan Outcome, 1)
	trigger := time.Now()
	go func() {
		var err error
		netns.Do(l.CliPath(), func() error {
			var d net.Dialer
			d.LocalAddr = net.TCPAddrFromAddrPort(local)
			d.Timeout = time.Minute
			var c net.Conn
			c, err = d.Dial("tcp", remote.String())
			if c != nil {
				c.Close()
			}
			return nil
		})
		done <- Outcome{time.Now(), err}
	}()
	js, o := sampleUntilAbort(t, l, local.String(), remote.String(), trigger, []time.Duration{1500 * time.Millisecond, 3500 * time.Millisecond, 6 * time.Second}, done, 30*time.Second)
	if !errors.Is(o.Err, unix.ETIMEDOUT) {
		t.Errorf("connect error %v, want ETIMEDOUT", o.Err)
	}
	first, e := checkAbort(t, "syn json", js, o.At, "syn_retries", "syn-sent", 2)
	results.add("SYN to a dead host (tcp_syn_retries=2)", first.best.Sub(trigger), o.At.Sub(trigger), e, unixErrName(o.Err))
}

// zeroWindowPair opens a connection whose client will soon face a zero
// window: tiny buffers, and a server that never reads.
func zeroWindowPair(t *testing.T, l *Lab) *Pair {
	t.Helper()
	ln, err := l.Listen(netip.AddrPortFrom(l.SrvAddr4, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rc, _ := ln.SyscallConn()
	rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
	acc := make(chan *net.TCPConn, 1)
	go func() { c, _ := ln.AcceptTCP(); acc <- c }()
	cli, err := l.Dial(net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, 4096) })
	}}, netip.AddrPortFrom(l.SrvAddr4, uint16(ln.Addr().(*net.TCPAddr).Port)))
	if err != nil {
		t.Fatal(err)
	}
	p := &Pair{Client: cli, Server: <-acc}
	t.Cleanup(p.Close)
	return p
}

// zero window, then the peer host dies: the window probes go unanswered
// and the kernel gives up after tcp_retries2 of them.
func TestLabZeroWindowPeerDies(t *testing.T) {
	needRoot(t)
	t.Parallel()
	l := newLab(t)
	sysctl(t, l, "net.ipv4.tcp_retries2", "3")
	p := zeroWindowPair(t, l)
	lw := startWatcher(t, l, portQuery(p.Client))
	// The blocked writer and a reader both wait; the kernel's error goes
	// to whichever asks first (the other then sees EOF).
	writeDone := make(chan Outcome, 1)
	go func() {
		buf := make([]byte, 1024)
		for {
			if _, err := p.Client.Write(buf); err != nil {
				writeDone <- Outcome{time.Now(), err}
				return
			}
		}
	}()
	// Let the persist timer back off to its cap (3 doublings) while the
	// peer still answers.
	time.Sleep(4 * time.Second)
	if s := jsonSample(t, l, p); s.health != "zero-window" || s.has {
		t.Fatalf("before the crash: health %q prediction %v, want zero-window and none", s.health, s.has)
	}
	if err := l.Crash(); err != nil {
		t.Fatal(err)
	}
	trigger := time.Now()
	done := writeDone
	js, o := sampleUntilAbort(t, l, p.Client.LocalAddr().String(), p.Client.RemoteAddr().String(), trigger, []time.Duration{4 * time.Second, 5 * time.Second, 6 * time.Second}, done, 30*time.Second)
	lw.waitGone(p.Client)
	lw.stop()
	if !errors.Is(o.Err, unix.ETIMEDOUT) {
		t.Errorf("client error %v, want ETIMEDOUT", o.Err)
	}
	first, e1 := checkAbort(t, "zero window dies json", js, o.At, "zero_window_probes", "zero-window", 1)
	_, e2 := checkAbort(t, "zero window dies watch", lw.of(p.Client), o.At, "zero_window_probes", "zero-window", 2)
	results.add("zero window, then the peer dies (retries2=3)", first.best.Sub(trigger), o.At.Sub(trigger), max(e1, e2), unixErrName(o.Err)+" (times from the crash)")
	checkAbortedEvent(t, lw, p.Client, o.At)
}

// zero window with TCP_USER_TIMEOUT: the kernel gives up on a peer that is
// alive and answers every window probe once the user timeout has passed
// since the first probe.
func TestLabZeroWindowUserTimeout(t *testing.T) {
	needRoot(t)
	// Open: on 6.1 the kernel gave up 0.3–0.6 s after the model's window
	// in three runs of four (in qemu guests; 6.12 and 6.18 within 0.1 s),
	// although its tcp_probe_timer() applies the same rule (the user
	// timeout counted from icsk_probes_tstamp). Until the difference is
	// found, this scenario is proven from 6.12 on only.
	if major, minor, ok := model.KernelRelease(runningRelease()); ok && (major < 6 || major == 6 && minor < 12) {
		t.Skipf("kernel %s: the zero-window user timeout is proven from 6.12 on (on 6.1 the abort comes 0.3–0.6 s after the model's window)", runningRelease())
	}
	t.Parallel()
	l := newLab(t)
	p := zeroWindowPair(t, l)
	setOpt(t, p.Client, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, 4000)
	lw := startWatcher(t, l, portQuery(p.Client))
	time.Sleep(700 * time.Millisecond) // a calm poll before the stall
	writeDone := make(chan Outcome, 1)
	trigger := time.Now()
	go func() {
		buf := make([]byte, 1024)
		for {
			if _, err := p.Client.Write(buf); err != nil {
				writeDone <- Outcome{time.Now(), err}
				return
			}
		}
	}()
	o := waitOutcome(t, writeDone, 20*time.Second)
	lw.waitGone(p.Client)
	lw.stop()
	if !errors.Is(o.Err, unix.ETIMEDOUT) {
		t.Errorf("client error %v, want ETIMEDOUT", o.Err)
	}
	first, e := checkAbort(t, "zero window user timeout watch", lw.of(p.Client), o.At, "user_timeout", "zero-window", 2)
	results.add("zero window, live peer, TCP_USER_TIMEOUT=4000", first.best.Sub(trigger), o.At.Sub(trigger), e, unixErrName(o.Err)+" (the peer answered every probe)")
}

// runningRelease is uname -r.
func runningRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
