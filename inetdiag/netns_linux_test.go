package inetdiag

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Helpers for tests against the real kernel: private network namespaces,
// sockets created inside them, and polling dumps until the kernel has
// finished a state transition.

var netnsCounter atomic.Int32

func requireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: " + why)
	}
}

// testNet is where a test creates its sockets: a private network namespace
// (as root) or the caller's own namespace (the host's loopback, for tests
// that also run unprivileged).
type testNet struct {
	name string // namespace name; "" for the caller's namespace
}

func (n testNet) path() string {
	if n.name == "" {
		return ""
	}
	return "/run/netns/" + n.name
}

// newNetNS creates a network namespace with a unique name and lo up, and
// removes it when the test ends, whatever the outcome.
func newNetNS(t testing.TB) testNet {
	t.Helper()
	requireRoot(t, "creates a network namespace")
	name := fmt.Sprintf("tcpwatch-inetdiag-%d-%d", os.Getpid(), netnsCounter.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	n := testNet{name: name}
	n.ip(t, "link", "set", "lo", "up")
	return n
}

// loopbackNet returns a private namespace when running as root, and the
// caller's own namespace otherwise: sock_diag dumps work unprivileged, and
// sockets on the loopback with ephemeral ports disturb nobody.
func loopbackNet(t testing.TB) testNet {
	if os.Geteuid() == 0 {
		return newNetNS(t)
	}
	return testNet{}
}

// ip runs "ip -n NAME args...".
func (n testNet) ip(t testing.TB, args ...string) {
	t.Helper()
	if n.name == "" {
		t.Fatal("ip: refusing to change the caller's namespace")
	}
	args = append([]string{"-n", n.name}, args...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// do runs fn with the calling OS thread inside the namespace, so that the
// sockets fn creates belong to it. The thread is never handed back to the
// Go scheduler: it stays locked and exits with its goroutine, so no other
// goroutine can end up in the namespace by accident.
func (n testNet) do(fn func() error) error {
	if n.name == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open(n.path())
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", n.path(), err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// dial opens a sock_diag Conn in the namespace, closed at cleanup.
func (n testNet) dial(t testing.TB) *Conn {
	t.Helper()
	c, err := Dial(&Config{NetNS: n.path()})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// listenTCP creates a listening socket with an exact backlog and receive
// buffer (net.Listen picks its own backlog), bound to addr.
func listenTCP(addr netip.AddrPort, backlog, rcvbuf int, v6only bool) (*net.TCPListener, error) {
	fam := unix.AF_INET
	if addr.Addr().Is6() {
		fam = unix.AF_INET6
	}
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	defer f.Close() // FileListener dups the descriptor
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return nil, err
	}
	if rcvbuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); err != nil {
			return nil, err
		}
	}
	var sa unix.Sockaddr
	if fam == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().As4()}
	} else {
		v := 0
		if v6only {
			v = 1
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v); err != nil {
			return nil, err
		}
		sa = &unix.SockaddrInet6{Port: int(addr.Port()), Addr: addr.Addr().As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("bind %s: %w", addr, err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	l, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	return l.(*net.TCPListener), nil
}

// tcpPair is both ends of one connection.
type tcpPair struct {
	client, server *net.TCPConn
}

// connect dials ln from local (port 0: ephemeral) and accepts the
// connection. Keepalive stays off so that no timer is armed behind the
// test's back.
func connect(ln *net.TCPListener, local netip.AddrPort, to netip.AddrPort) (tcpPair, error) {
	d := net.Dialer{KeepAlive: -1, LocalAddr: net.TCPAddrFromAddrPort(local)}
	c, err := d.Dial("tcp", to.String())
	if err != nil {
		return tcpPair{}, fmt.Errorf("dial %s from %s: %w", to, local, err)
	}
	s, err := ln.AcceptTCP()
	if err != nil {
		c.Close()
		return tcpPair{}, fmt.Errorf("accept on %s: %w", ln.Addr(), err)
	}
	if s.RemoteAddr().String() != c.LocalAddr().String() {
		c.Close()
		s.Close()
		return tcpPair{}, fmt.Errorf("accepted %s, dialled from %s", s.RemoteAddr(), c.LocalAddr())
	}
	return tcpPair{client: c.(*net.TCPConn), server: s}, nil
}

func addrPort(a net.Addr) netip.AddrPort { return a.(*net.TCPAddr).AddrPort() }

// ids returns the SockIDs the kernel reports for each end (without
// cookies). An IPv4 address on an IPv6 socket is reported v4-mapped.
func (p tcpPair) clientID() SockID {
	return SockID{Src: addrPort(p.client.LocalAddr()), Dst: addrPort(p.client.RemoteAddr())}
}

func (p tcpPair) serverID() SockID {
	return SockID{Src: addrPort(p.server.LocalAddr()), Dst: addrPort(p.server.RemoteAddr())}
}

// closeWait half-closes the server's side: the server goes to FIN-WAIT-2
// and the client, once it has read the FIN, to CLOSE-WAIT.
func (p tcpPair) closeWait() error {
	if err := p.server.CloseWrite(); err != nil {
		return err
	}
	return readEOF(p.client)
}

// timeWait closes the connection from the client (the active closer), so
// that the client's side ends in TIME-WAIT once the server has closed too.
func (p tcpPair) timeWait() error {
	if err := p.client.Close(); err != nil {
		return err
	}
	if err := readEOF(p.server); err != nil {
		return err
	}
	return p.server.Close()
}

func readEOF(c *net.TCPConn) error {
	var b [16]byte
	n, err := c.Read(b[:])
	if n != 0 || !errors.Is(err, io.EOF) {
		return fmt.Errorf("read on %s: %d bytes, %v; want EOF", c.LocalAddr(), n, err)
	}
	return nil
}

func (p tcpPair) close() {
	p.client.Close()
	p.server.Close()
}

// sockKey is the part of a socket that identifies it in a dump.
func sockKey(fam Family, id SockID) string {
	return fmt.Sprintf("%s %s->%s", fam, id.Src, id.Dst)
}

// canon maps an address as the kernel reports it for a socket of family fam.
func canon(fam Family, ap netip.AddrPort) netip.AddrPort {
	if fam == FamilyInet6 {
		return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func canonID(fam Family, id SockID) SockID {
	return SockID{Src: canon(fam, id.Src), Dst: canon(fam, id.Dst)}
}

// findSock returns the socket of the dump with this family, addresses and
// state (any state if st is 0).
func findSock(socks []Socket, fam Family, id SockID, st State) *Socket {
	id = canonID(fam, id)
	for i := range socks {
		s := &socks[i]
		if s.Family == fam && s.ID.Src == id.Src && s.ID.Dst == id.Dst && (st == 0 || s.State == st) {
			return s
		}
	}
	return nil
}

// pollDump dumps until ok accepts the result, and returns the last dump. It
// gives the kernel time to finish state transitions (FIN-WAIT-2, TIME-WAIT,
// ACKs of queued data); it asserts nothing about how long that takes.
func pollDump(t testing.TB, c *Conn, req Request, ok func([]Socket) bool) []Socket {
	t.Helper()
	var socks []Socket
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		socks, err = c.Dump(req, socks[:0])
		if err != nil {
			t.Fatalf("Dump: %v", err)
		}
		if ok(socks) || time.Now().After(deadline) {
			return socks
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dumpString(socks []Socket) string {
	var b strings.Builder
	for _, s := range socks {
		fmt.Fprintf(&b, "\n  %-5s %-11s %s -> %s cookie=%d rq=%d wq=%d inode=%d", s.Family, s.State, s.ID.Src, s.ID.Dst, s.ID.Cookie, s.RecvQ, s.SendQ, s.Inode)
	}
	return b.String()
}

// rawConner is a socket whose descriptor can be reached: *net.TCPConn or
// *net.TCPListener.
type rawConner interface {
	SyscallConn() (syscall.RawConn, error)
}

// control runs fn on the socket's file descriptor.
func control(t testing.TB, c rawConner, fn func(fd uintptr)) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(fn); err != nil {
		t.Fatal(err)
	}
}

// inodeOf returns the inode of the socket, from fstat and, as a cross
// check, from the /proc/self/fd link "socket:[N]".
func inodeOf(t testing.TB, c rawConner) uint64 {
	t.Helper()
	var ino uint64
	var link string
	control(t, c, func(fd uintptr) {
		var st unix.Stat_t
		if err := unix.Fstat(int(fd), &st); err != nil {
			t.Errorf("fstat: %v", err)
			return
		}
		ino = st.Ino
		link, _ = os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	})
	if want := fmt.Sprintf("socket:[%d]", ino); link != want {
		t.Errorf("/proc/self/fd link %q, fstat says %s", link, want)
	}
	return ino
}

// tcpInfoLenOf returns how many bytes of struct tcp_info the kernel copies
// to getsockopt(TCP_INFO) when offered more than it has.
func tcpInfoLenOf(t testing.TB, c rawConner) int {
	t.Helper()
	var n int
	control(t, c, func(fd uintptr) {
		buf := make([]byte, 1024)
		l := uint32(len(buf))
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.IPPROTO_TCP, unix.TCP_INFO,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&l)), 0)
		if e != 0 {
			t.Errorf("getsockopt(TCP_INFO): %v", e)
		}
		n = int(l)
	})
	return n
}

func congestionOf(t testing.TB, c rawConner) string {
	t.Helper()
	var cc string
	control(t, c, func(fd uintptr) {
		var err error
		cc, err = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
		if err != nil {
			t.Errorf("getsockopt(TCP_CONGESTION): %v", err)
		}
	})
	return cc
}
