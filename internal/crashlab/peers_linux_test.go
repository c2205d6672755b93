package crashlab

// Remote hosts judged for real: a host that dies among several
// connections of different kinds, a host that stays alive with a
// zero-window connection, a host with one stalled connection among live
// ones, an IPv4-mapped dual-stack connection, and the host coming back.
// Hosts are extra addresses of the server namespace, each killed by a
// policy rule that black-holes what it sends from its own address (a
// host that lost power, while its neighbours on the same segment live).

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwatch/tcpwatch/internal/netns"
	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
)

// addHost gives the server namespace another address, a host of its own
// as the client sees it (its neighbour entry pinned, as for the first).
func addHost(t *testing.T, l *Lab, a netip.Addr) {
	t.Helper()
	mac, err := l.mac(l.Srv, l.srvDev)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range [][]string{
		{"-n", l.Srv, "addr", "add", a.String() + "/24", "dev", l.srvDev},
		{"-n", l.Cli, "neigh", "replace", a.String(), "lladdr", mac, "dev", l.cliDev, "nud", "permanent"},
	} {
		if err := ip(s...); err != nil {
			t.Fatal(err)
		}
	}
}

// dropTable is the routing table whose only route black-holes the client.
const dropTable = "77"

// blackhole sends what the server namespace sends and a rule selects to a
// table that drops it; it returns the function that removes the rule.
func blackhole(t *testing.T, l *Lab, selector ...string) func() {
	t.Helper()
	if err := ip("-n", l.Srv, "route", "replace", "blackhole", l.CliAddr4.String()+"/32", "table", dropTable); err != nil {
		t.Fatal(err)
	}
	rule := append(append([]string{"-n", l.Srv, "rule", "add"}, selector...), "table", dropTable)
	if err := ip(rule...); err != nil {
		t.Fatal(err)
	}
	return func() {
		del := append(append([]string{"-n", l.Srv, "rule", "del"}, selector...), "table", dropTable)
		if err := ip(del...); err != nil {
			t.Error(err)
		}
	}
}

// killHost kills host a: nothing it sends reaches the client any more.
func killHost(t *testing.T, l *Lab, a netip.Addr) (revive func()) {
	return blackhole(t, l, "from", a.String()+"/32")
}

// connectTo opens a connection from the client to a fresh listener on
// host a.
func connectTo(t *testing.T, l *Lab, a netip.Addr, d net.Dialer) *Pair {
	t.Helper()
	ln, err := l.Listen(netip.AddrPortFrom(a, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan *net.TCPConn, 1)
	go func() {
		ln.SetDeadline(time.Now().Add(5 * time.Second))
		c, _ := ln.AcceptTCP()
		ch <- c
	}()
	c, err := l.Dial(d, ln.Addr().(*net.TCPAddr).AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	s := <-ch
	if s == nil {
		t.Fatal("accept failed")
	}
	p := &Pair{Client: c, Server: s}
	t.Cleanup(p.Close)
	return p
}

// inboundDualStack is a connection that host a opened to a dual-stack
// listener of the client ([::], as Java servers listen): the client's
// socket is AF_INET6 and names the host ::ffff:a.
func inboundDualStack(t *testing.T, l *Lab, a netip.Addr) *Pair {
	t.Helper()
	var ln net.Listener
	if err := l.InClient(func() error {
		var err error
		ln, err = (&net.ListenConfig{KeepAlive: -1}).Listen(context.Background(), "tcp", "[::]:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	ch := make(chan net.Conn, 1)
	go func() {
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
		c, _ := ln.Accept()
		ch <- c
	}()
	var out net.Conn
	if err := netns.Do(l.SrvPath(), func() error {
		d := net.Dialer{KeepAlive: -1, LocalAddr: &net.TCPAddr{IP: a.AsSlice()}, Timeout: 5 * time.Second}
		var err error
		out, err = d.Dial("tcp", netip.AddrPortFrom(l.CliAddr4, uint16(port)).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	in := <-ch
	if in == nil {
		t.Fatal("accept failed")
	}
	p := &Pair{Client: in.(*net.TCPConn), Server: out.(*net.TCPConn)}
	t.Cleanup(p.Close)
	return p
}

// peerWatcher is an in-process watcher of the client namespace; poll
// returns the next snapshot's copy of the hosts and events.
type peerWatcher struct {
	t *testing.T
	w *watch.Watcher
}

func newPeerWatcher(t *testing.T, l *Lab) *peerWatcher {
	t.Helper()
	w, err := watch.New(watch.Config{NetNS: l.CliPath(), Owners: watch.OwnersAll})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return &peerWatcher{t: t, w: w}
}

type peerPoll struct {
	at     time.Time
	peers  []model.Peer
	events []model.Event
	rows   []model.Row
}

func (pw *peerWatcher) poll() peerPoll {
	pw.t.Helper()
	snap, err := pw.w.Poll()
	if err != nil {
		pw.t.Fatal(err)
	}
	defer snap.Release()
	p := peerPoll{at: snap.Time, peers: snap.Peers, events: append([]model.Event(nil), snap.Events...)}
	for _, r := range snap.Rows {
		s := *r.Sock
		r.Sock = &s
		p.rows = append(p.rows, r)
	}
	return p
}

// until polls every 250 ms until ok says so, checking each poll, and
// fails after d.
func (pw *peerWatcher) until(d time.Duration, what string, each func(peerPoll), ok func(peerPoll) bool) peerPoll {
	pw.t.Helper()
	deadline := time.Now().Add(d)
	for {
		p := pw.poll()
		if each != nil {
			each(p)
		}
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			pw.t.Fatalf("%s: not within %v; last hosts: %+v", what, d, p.peers)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func peerOf(p peerPoll, a netip.Addr) *model.Peer { return model.FindPeer(p.peers, a) }

func keepalive(t *testing.T, c *net.TCPConn, idle, intvl, cnt int) {
	t.Helper()
	setOpt(t, c, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
	setOpt(t, c, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, idle)
	setOpt(t, c, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, intvl)
	setOpt(t, c, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, cnt)
}

// chatter exchanges a ping every 200 ms over p until the test ends.
func chatter(t *testing.T, p *Pair) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		buf := make([]byte, 16)
		for {
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
			p.Client.SetDeadline(time.Now().Add(2 * time.Second))
			p.Server.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := p.Client.Write([]byte("ping")); err != nil {
				return
			}
			if _, err := p.Server.Read(buf); err != nil {
				return
			}
			if _, err := p.Server.Write([]byte("pong")); err != nil {
				return
			}
			if _, err := p.Client.Read(buf); err != nil {
				return
			}
		}
	}()
}

// fillWindow makes p's server stop reading while the client writes until
// the server's window is zero.
func fillWindow(t *testing.T, p *Pair) {
	t.Helper()
	setOpt(t, p.Server, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
	chunk := make([]byte, 64<<10)
	p.Client.SetWriteDeadline(time.Now().Add(2 * time.Second))
	for {
		if _, err := p.Client.Write(chunk); err != nil {
			break // the deadline: the send buffer is full
		}
	}
	p.Client.SetWriteDeadline(time.Time{})
}

// TestLabPeerDies: host .2 dies with four connections (one sending, one
// with keepalive, two idle without it, one of them a dual-stack socket)
// while host .3 lives with a zero-window connection and a busy one.
// Exactly .2 becomes unresponsive, within a few polls; its silence lies
// between its last exchange and the black hole; its blast radius is
// exact; .3 is never flagged; when .2 comes back, it is alive again with
// an event.
func TestLabPeerDies(t *testing.T) {
	l := newLab(t)
	dead, alive := l.SrvAddr4, netip.MustParseAddr("192.168.77.3")
	addHost(t, l, alive)

	sending := connectTo(t, l, dead, net.Dialer{})
	guarded := connectTo(t, l, dead, net.Dialer{})
	keepalive(t, guarded.Client, 1, 1, 30)
	idle := connectTo(t, l, dead, net.Dialer{})
	mapped := inboundDualStack(t, l, dead)

	zw := connectTo(t, l, alive, net.Dialer{})
	fillWindow(t, zw)
	busy := connectTo(t, l, alive, net.Dialer{})
	chatter(t, busy)

	pw := newPeerWatcher(t, l)
	first := pw.poll()
	if p := peerOf(first, dead); p == nil || p.Status != model.PeerAlive || p.Conns != 4 {
		t.Fatalf("before the crash: %+v, want 4 connections to an alive host", p)
	}
	foundMapped := false
	for _, r := range first.rows {
		if r.Sock.Family.String() == "inet6" && r.Sock.ID.Dst.Addr() == netip.AddrFrom16(dead.As16()) {
			foundMapped = true
		}
	}
	if !foundMapped {
		t.Fatalf("no IPv4-mapped connection to %s in the dump: the dual-stack case is not exercised", dead)
	}

	exchStart := time.Now()
	for _, p := range []*Pair{sending, guarded, idle, mapped} {
		exchange(t, p)
	}
	revive := killHost(t, l, dead)
	crashed := time.Now()
	if _, err := sending.Client.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}

	neverAlive := func(p peerPoll) {
		if a := peerOf(p, alive); a == nil || a.Status != model.PeerAlive {
			t.Errorf("at %v the live host is %+v, want alive", p.at.Format("15:04:05.000"), a)
		}
	}
	var unresponsiveEvents int
	countEvents := func(p peerPoll) {
		neverAlive(p)
		for _, e := range p.events {
			if e.Kind == model.EventPeerUnresponsive && e.Peer == dead {
				unresponsiveEvents++
			}
		}
	}
	got := pw.until(5*time.Second, "the dead host unresponsive", countEvents, func(p peerPoll) bool {
		d := peerOf(p, dead)
		return d != nil && d.Status == model.PeerUnresponsive
	})
	t.Logf("unresponsive %v after the black hole", got.at.Sub(crashed))
	// Wait for the keepalive probes, and for the idle connections to be
	// idle for longer than the tracker's IdleAfter (5 s: one that carried
	// data more lately is taken to send again soon, and then to notice):
	// then every count is final.
	got = pw.until(15*time.Second, "two dying connections, two idle ones", countEvents, func(p peerPoll) bool {
		d := peerOf(p, dead)
		return d != nil && d.Status == model.PeerUnresponsive && d.Dying == 2 && d.NeverNotice == 2
	})
	if d := peerOf(got, dead); d.Status != model.PeerUnresponsive {
		t.Fatalf("%+v", d)
	}
	d := peerOf(got, dead)
	if d.Conns != 4 || d.NeverNotice != 2 || len(d.NeverNoticeConns) != 2 {
		t.Errorf("blast radius: %d connections, %d never notice (%d listed); want 4, 2", d.Conns, d.NeverNotice, len(d.NeverNoticeConns))
	}
	if d.Health(model.HealthRetransmitting) != 1 || d.Health(model.HealthKeepaliveProbing) != 1 || d.Health(model.HealthUnguarded) != 2 {
		t.Errorf("by health: %v", d.ByHealth)
	}
	lo, hi := exchStart.Add(-d.SilentUncertainty), crashed.Add(d.SilentUncertainty)
	if d.SilentSince.Before(lo) || d.SilentSince.After(hi) {
		t.Errorf("silent since %v, want within [%v, %v] (the last exchange, the black hole)", d.SilentSince.Format("15:04:05.000"), lo.Format("15:04:05.000"), hi.Format("15:04:05.000"))
	}
	if d.StalledSince.Before(d.SilentSince) || d.StalledSince.Before(crashed.Add(-50*time.Millisecond)) {
		t.Errorf("stalled since %v: before the silence (%v) or the black hole (%v)", d.StalledSince, d.SilentSince, crashed)
	}
	if d.FirstAbort.IsZero() || d.LastAbort.Before(d.FirstAbort) {
		t.Errorf("aborts %v .. %v", d.FirstAbort, d.LastAbort)
	}
	cookies := map[uint64]bool{}
	for _, c := range d.NeverNoticeConns {
		cookies[c.ID.Cookie] = true
	}
	for _, r := range got.rows {
		want := r.Sock.ID.Dst.Addr().Unmap() == dead && r.Health == model.HealthUnguarded
		if cookies[r.Sock.ID.Cookie] != want {
			t.Errorf("%s → %s (%v): among those that never notice %v, want %v", r.Local(), r.Remote(), r.Health, cookies[r.Sock.ID.Cookie], want)
		}
	}
	if unresponsiveEvents != 1 {
		t.Errorf("%d peer_unresponsive events, want 1", unresponsiveEvents)
	}
	checkOneShotPeer(t, l, dead, 4, 2, 2)

	revive()
	answered := 0
	pw.until(20*time.Second, "the host alive again", func(p peerPoll) {
		neverAlive(p)
		for _, e := range p.events {
			if e.Kind == model.EventPeerAnswering && e.Peer == dead {
				answered++
			}
		}
	}, func(p peerPoll) bool {
		d := peerOf(p, dead)
		return d != nil && d.Status == model.PeerAlive
	})
	if answered != 1 {
		t.Errorf("%d peer_answering events, want 1", answered)
	}
}

// TestLabPeerPartial: one of two connections to a live host stalls (its
// port alone is black-holed): the host is partial, never unresponsive.
func TestLabPeerPartial(t *testing.T) {
	l := newLab(t)
	host := l.SrvAddr4
	stalled := connectTo(t, l, host, net.Dialer{})
	busy := connectTo(t, l, host, net.Dialer{})
	exchange(t, stalled)
	chatter(t, busy)
	port := strconv.Itoa(stalled.Server.LocalAddr().(*net.TCPAddr).Port)
	defer blackhole(t, l, "ipproto", "tcp", "sport", port)()
	if _, err := stalled.Client.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	pw := newPeerWatcher(t, l)
	notDead := func(p peerPoll) {
		if h := peerOf(p, host); h != nil && h.Status == model.PeerUnresponsive {
			t.Errorf("at %v the live host is unresponsive: %v", p.at.Format("15:04:05.000"), h.Reasons)
		}
	}
	got := pw.until(5*time.Second, "the host partial", notDead, func(p peerPoll) bool {
		h := peerOf(p, host)
		return h != nil && h.Status == model.PeerPartial
	})
	t.Logf("partial: %v", peerOf(got, host).Reasons)
	// It stays so while the stall goes on.
	for i := 0; i < 12; i++ {
		time.Sleep(250 * time.Millisecond)
		p := pw.poll()
		notDead(p)
		if h := peerOf(p, host); h == nil || h.Status != model.PeerPartial {
			t.Errorf("poll %d: %+v, want partial", i, h)
		}
	}
}

// TestLabPeerKill: destroying a dead host's never-noticing connections,
// as K in the hosts view does through the watcher's socket, gives their
// owners an error at once and touches nothing else.
func TestLabPeerKill(t *testing.T) {
	l := newLab(t)
	dead, alive := l.SrvAddr4, netip.MustParseAddr("192.168.77.3")
	addHost(t, l, alive)
	sending := connectTo(t, l, dead, net.Dialer{})
	idle := []*Pair{connectTo(t, l, dead, net.Dialer{}), inboundDualStack(t, l, dead)}
	other := connectTo(t, l, alive, net.Dialer{})
	for _, p := range append([]*Pair{sending, other}, idle...) {
		exchange(t, p)
	}
	defer killHost(t, l, dead)()
	if _, err := sending.Client.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	pw := newPeerWatcher(t, l)
	got := pw.until(15*time.Second, "two never-noticing connections", nil, func(p peerPoll) bool {
		d := peerOf(p, dead)
		return d != nil && d.Status == model.PeerUnresponsive && len(d.NeverNoticeConns) == 2
	})
	// The owners are blocked reading, as an application waiting for an
	// answer that will never come.
	errs := make(chan error, len(idle))
	for _, p := range idle {
		go func() {
			p.Client.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := p.Client.Read(make([]byte, 16))
			errs <- err
		}()
	}
	start := time.Now()
	for _, c := range peerOf(got, dead).NeverNoticeConns {
		if err := pw.w.Conn().Destroy(c.Family, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	for range idle {
		err := <-errs
		if !errors.Is(err, syscall.ECONNABORTED) {
			t.Errorf("owner got %v, want ECONNABORTED", err)
		}
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("the owners got their errors after %v, want at once", el)
	}
	after := pw.poll()
	d := peerOf(after, dead)
	if d == nil || d.Conns != 1 || d.Health(model.HealthRetransmitting) != 1 {
		t.Errorf("after the kill the dead host has %+v, want its retransmitting connection alone", d)
	}
	if a := peerOf(after, alive); a == nil || a.Conns != 1 {
		t.Errorf("the live host's connection was touched: %+v", a)
	}
}
