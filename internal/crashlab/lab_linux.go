// Package crashlab builds two hosts on one machine, a client and a server,
// each in its own network namespace joined by a veth pair, and kills the
// server host for real: a black-hole route on the server side drops
// everything it would send, so no ACK, FIN or RST ever reaches the client,
// exactly as when a host loses power. The neighbour entries are pinned on
// both sides, as on a routed network where the next hop stays alive, so
// that the client's own packets still leave it.
//
// It is used by the tests that prove tcpwatch's predictions against real
// aborts, and by `tcpwatch demo`. Everything it creates is removed by Close.
// It needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN), and must never change
// the host's own namespace: its routes, sysctls and sockets stay as they were.
package crashlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/netns"
)

// Lab is a pair of namespaces ("hosts") joined by a veth pair.
type Lab struct {
	// Cli and Srv are the namespace names (under /run/netns).
	Cli, Srv string
	// Addresses of the two hosts.
	CliAddr4, SrvAddr4 netip.Addr
	CliAddr6, SrvAddr6 netip.Addr

	cliDev, srvDev string
	mu             sync.Mutex
	closed         bool
	crashed        bool
}

var seq atomic.Uint32

// New builds a lab. prefix names it (namespaces prefix-c-PID-N and
// prefix-s-PID-N), so parallel runs never collide. The caller must Close it.
func New(prefix string) (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("crashlab: needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("crashlab: the ip command (iproute2) is required: %w", err)
	}
	n := seq.Add(1)
	id := fmt.Sprintf("%d-%d", os.Getpid(), n)
	l := &Lab{
		Cli:      fmt.Sprintf("%s-c-%s", prefix, id),
		Srv:      fmt.Sprintf("%s-s-%s", prefix, id),
		CliAddr4: netip.MustParseAddr("192.168.77.1"),
		SrvAddr4: netip.MustParseAddr("192.168.77.2"),
		CliAddr6: netip.MustParseAddr("fd77::1"),
		SrvAddr6: netip.MustParseAddr("fd77::2"),
		// Device names are local to each namespace, so they need not be
		// unique; they are created in the root namespace first, though.
		cliDev: fmt.Sprintf("twc%d", os.Getpid()%100000*10+int(n%10)),
		srvDev: fmt.Sprintf("tws%d", os.Getpid()%100000*10+int(n%10)),
	}
	if err := l.build(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Lab) build() error {
	steps := [][]string{
		{"netns", "add", l.Cli},
		{"netns", "add", l.Srv},
		{"link", "add", l.cliDev, "netns", l.Cli, "type", "veth", "peer", "name", l.srvDev, "netns", l.Srv},
		{"-n", l.Cli, "link", "set", "lo", "up"},
		{"-n", l.Srv, "link", "set", "lo", "up"},
		{"-n", l.Cli, "addr", "add", l.CliAddr4.String() + "/24", "dev", l.cliDev},
		{"-n", l.Srv, "addr", "add", l.SrvAddr4.String() + "/24", "dev", l.srvDev},
		// nodad: the address is usable at once, no 2-second wait.
		{"-n", l.Cli, "addr", "add", l.CliAddr6.String() + "/64", "dev", l.cliDev, "nodad"},
		{"-n", l.Srv, "addr", "add", l.SrvAddr6.String() + "/64", "dev", l.srvDev, "nodad"},
		{"-n", l.Cli, "link", "set", l.cliDev, "up"},
		{"-n", l.Srv, "link", "set", l.srvDev, "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return err
		}
	}
	cliMAC, err := l.mac(l.Cli, l.cliDev)
	if err != nil {
		return err
	}
	srvMAC, err := l.mac(l.Srv, l.srvDev)
	if err != nil {
		return err
	}
	pin := [][]string{
		{"-n", l.Cli, "neigh", "replace", l.SrvAddr4.String(), "lladdr", srvMAC, "dev", l.cliDev, "nud", "permanent"},
		{"-n", l.Cli, "neigh", "replace", l.SrvAddr6.String(), "lladdr", srvMAC, "dev", l.cliDev, "nud", "permanent"},
		{"-n", l.Srv, "neigh", "replace", l.CliAddr4.String(), "lladdr", cliMAC, "dev", l.srvDev, "nud", "permanent"},
		{"-n", l.Srv, "neigh", "replace", l.CliAddr6.String(), "lladdr", cliMAC, "dev", l.srvDev, "nud", "permanent"},
	}
	for _, s := range pin {
		if err := ip(s...); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) mac(ns, dev string) (string, error) {
	// /sys shows the namespace of whoever mounted it, not the thread's:
	// ask ip.
	out, err := exec.Command("ip", "-n", ns, "-br", "link", "show", "dev", dev).Output()
	if err != nil {
		return "", fmt.Errorf("crashlab: read MAC of %s in %s: %w", dev, ns, err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		return "", fmt.Errorf("crashlab: unexpected ip link output %q", out)
	}
	return f[2], nil
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("crashlab: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// CliPath and SrvPath are the namespace paths, for inetdiag.Config.NetNS.
func (l *Lab) CliPath() string { return netns.Path(l.Cli) }

// SrvPath is the server namespace's path.
func (l *Lab) SrvPath() string { return netns.Path(l.Srv) }

// Sysctl sets a sysctl (dotted name, e.g. "net.ipv4.tcp_retries2") inside
// namespace ns (l.Cli or l.Srv).
func (l *Lab) Sysctl(ns, name, value string) error {
	p := "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
	return netns.Do(netns.Path(ns), func() error {
		if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
			return fmt.Errorf("crashlab: sysctl %s=%s in %s: %w", name, value, ns, err)
		}
		return nil
	})
}

// InClient runs fn on a thread inside the client namespace (sockets it
// creates live there).
func (l *Lab) InClient(fn func() error) error { return netns.Do(l.CliPath(), fn) }

// Listen opens a TCP listener in the server namespace on addr (port 0
// picks one).
func (l *Lab) Listen(addr netip.AddrPort) (*net.TCPListener, error) {
	var ln net.Listener
	err := netns.Do(l.SrvPath(), func() error {
		var err error
		lc := net.ListenConfig{KeepAlive: -1}
		ln, err = lc.Listen(context.Background(), "tcp", addr.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("crashlab: listen %s: %w", addr, err)
	}
	return ln.(*net.TCPListener), nil
}

// Dial connects from the client namespace to addr. Keepalive is off unless
// d sets it: Go turns it on by default, and an unguarded socket is one of
// the cases under test.
func (l *Lab) Dial(d net.Dialer, addr netip.AddrPort) (*net.TCPConn, error) {
	if d.KeepAlive == 0 && d.KeepAliveConfig == (net.KeepAliveConfig{}) {
		d.KeepAlive = -1
	}
	if d.Timeout == 0 {
		d.Timeout = 5 * time.Second
	}
	var c net.Conn
	err := netns.Do(l.CliPath(), func() error {
		var err error
		c, err = d.Dial("tcp", addr.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("crashlab: dial %s: %w", addr, err)
	}
	return c.(*net.TCPConn), nil
}

// Pair is a connection seen from both ends.
type Pair struct {
	Client *net.TCPConn
	Server *net.TCPConn
}

// Close closes both ends.
func (p *Pair) Close() {
	if p.Client != nil {
		p.Client.Close()
	}
	if p.Server != nil {
		p.Server.Close()
	}
}

// Connect opens a connection from the client to a fresh listener on the
// server (IPv6 if v6), returns both ends and closes the listener.
func (l *Lab) Connect(v6 bool, d net.Dialer) (*Pair, error) {
	srv := l.SrvAddr4
	if v6 {
		srv = l.SrvAddr6
	}
	ln, err := l.Listen(netip.AddrPortFrom(srv, 0))
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	type res struct {
		c   *net.TCPConn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		ln.SetDeadline(time.Now().Add(5 * time.Second))
		c, err := ln.AcceptTCP()
		ch <- res{c, err}
	}()
	cc, err := l.Dial(d, netip.AddrPortFrom(srv, uint16(port)))
	if err != nil {
		return nil, err
	}
	r := <-ch
	if r.err != nil {
		cc.Close()
		return nil, fmt.Errorf("crashlab: accept: %w", r.err)
	}
	return &Pair{Client: cc, Server: r.c}, nil
}

// Crash kills the server host: from now on nothing it sends reaches the
// client. Its sockets stay as they were, as in a frozen or powered-off host.
func (l *Lab) Crash() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.crashed {
		return nil
	}
	if err := ip("-n", l.Srv, "route", "add", "blackhole", l.CliAddr4.String()+"/32"); err != nil {
		return err
	}
	if err := ip("-n", l.Srv, "-6", "route", "add", "blackhole", l.CliAddr6.String()+"/128"); err != nil {
		return err
	}
	l.crashed = true
	return nil
}

// Unreachable makes the path to the server host answer every segment the
// client sends with an ICMP host-unreachable error, as a router does when
// the host's route is gone: the kernel then shortens its backoff (RFC 6069)
// and the application gets EHOSTUNREACH. It needs nft(8).
func (l *Lab) Unreachable() error {
	if _, err := exec.LookPath("nft"); err != nil {
		return fmt.Errorf("crashlab: nft (nftables) is needed to send ICMP errors: %w", err)
	}
	script := fmt.Sprintf(`table inet twlab {
	chain in {
		type filter hook input priority 0; policy accept;
		ip saddr %s meta l4proto tcp reject with icmp host-unreachable
		ip6 saddr %s meta l4proto tcp reject with icmpv6 addr-unreachable
	}
}
`, l.CliAddr4, l.CliAddr6)
	cmd := exec.Command("ip", "netns", "exec", l.Srv, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("crashlab: nft in %s: %v: %s", l.Srv, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Revive brings the server host back on the network (its sockets are
// whatever the test left of them: a reboot destroys them first).
func (l *Lab) Revive() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.crashed {
		return nil
	}
	if err := ip("-n", l.Srv, "route", "del", "blackhole", l.CliAddr4.String()+"/32"); err != nil {
		return err
	}
	if err := ip("-n", l.Srv, "-6", "route", "del", "blackhole", l.CliAddr6.String()+"/128"); err != nil {
		return err
	}
	l.crashed = false
	return nil
}

// Close deletes both namespaces (and with them the veth pair and every
// socket left in them). It is safe to call more than once.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	for _, ns := range []string{l.Cli, l.Srv} {
		if _, err := os.Stat(netns.Path(ns)); err != nil {
			continue
		}
		if err := ip("netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
