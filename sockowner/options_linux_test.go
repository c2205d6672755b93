package sockowner

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"golang.org/x/sys/unix"
)

// diagSocket dumps the established TCP sockets of namespace ns that match f
// and returns the only one.
func diagSocket(t *testing.T, ns string, f inetdiag.Filter) inetdiag.Socket {
	t.Helper()
	c, err := inetdiag.Dial(&inetdiag.Config{NetNS: "/run/netns/" + ns})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	socks, err := c.Dump(inetdiag.Request{States: inetdiag.StateBit(inetdiag.StateEstablished), Filter: f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 1 {
		t.Fatalf("dump %v in %s: %d sockets, want 1", f, ns, len(socks))
	}
	if socks[0].Inode == 0 || socks[0].ID.Cookie == 0 {
		t.Fatalf("dump %v: inode %d cookie %d", f, socks[0].Inode, socks[0].ID.Cookie)
	}
	return socks[0]
}

// openFDs returns the descriptors of the test process and the socket inodes
// they refer to.
func openFDs(t *testing.T) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(ents))
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // the directory descriptor of ReadDir itself
		}
		out[e.Name()] = target
	}
	return out
}

// connFD returns the descriptor number of a TCP connection.
func connFD(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

// lab is a namespace with a listener of the test process and one holder
// child connected to it.
type lab struct {
	ns     string
	srv    *net.TCPConn // the test process's end
	h      *holder      // the child's end
	client inetdiag.Socket
	server inetdiag.Socket
	// keepaliveTime is the namespace's net.ipv4.tcp_keepalive_time, set
	// to a value no socket sets.
	keepaliveTime int
}

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{ns: newNetns(t), keepaliveTime: 4321}
	if out, err := exec.Command("ip", "netns", "exec", l.ns, "sysctl", "-q", "-w",
		"net.ipv4.tcp_keepalive_time="+strconv.Itoa(l.keepaliveTime)).CombinedOutput(); err != nil {
		t.Fatalf("sysctl in %s: %v: %s", l.ns, err, out)
	}
	var ln net.Listener
	err := inNetns(l.ns, func() error {
		var err error
		ln, err = (&net.ListenConfig{KeepAlive: -1}).Listen(t.Context(), "tcp4", "127.0.0.1:0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l.h = startHolder(t, l.ns, ln.Addr())
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	l.srv = c.(*net.TCPConn)
	t.Cleanup(func() { l.srv.Close() })
	l.client = diagSocket(t, l.ns, inetdiag.SrcPort(uint16(l.h.port)))
	l.server = diagSocket(t, l.ns, inetdiag.DstPort(uint16(l.h.port)))
	return l
}

// resolve finds the owner of inode through a fresh index over /proc.
func resolve(t *testing.T, inode uint32) Owner {
	t.Helper()
	idx := New("/proc")
	idx.MaxPids, idx.MaxScanTime = 0, 0
	st, err := idx.Refresh([]uint32{inode}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	o, n := idx.Owner(inode)
	if n != 1 {
		t.Fatalf("owner of inode %d: %d processes (%+v), want 1", inode, n, st)
	}
	return o
}

func TestReadOptionsOfChild(t *testing.T) {
	l := newLab(t)
	owner := resolve(t, l.client.Inode)
	comm := filepath.Base(os.Args[0])
	if len(comm) > 15 {
		comm = comm[:15]
	}
	if want := (Owner{PID: l.h.pid, FD: l.h.fd, Comm: comm}); owner != want {
		t.Fatalf("owner of the child's socket = %+v, want %+v", owner, want)
	}

	before := openFDs(t)
	got, err := ReadOptions(owner, l.client.ID.Cookie)
	if err != nil {
		t.Fatal(err)
	}
	want := Options{
		Cookie:    l.client.ID.Cookie,
		Present:   OptKeepAlive | OptKeepIdle | OptKeepIntvl | OptKeepCnt | OptUserTimeout | OptSynCnt | OptThinLinearTimeouts | OptRTOMax | OptRTOMin,
		KeepAlive: true, KeepIdle: 17 * time.Second, KeepIntvl: 3 * time.Second, KeepCnt: 4,
		UserTimeout: 1234 * time.Millisecond, SynCnt: 5, ThinLinearTimeouts: true,
		RTOMax: 5 * time.Second, RTOMin: 60 * time.Millisecond,
	}
	if !l.h.rto {
		// Before Linux 6.15 the RTO limits are unknown to the kernel and
		// must be reported absent, not as zero values.
		want.Present &^= OptRTOMax | OptRTOMin
		want.RTOMax, want.RTOMin = 0, 0
	}
	if got != want {
		t.Errorf("ReadOptions =\n%+v\nwant\n%+v", got, want)
	}
	after := openFDs(t)
	if len(after) != len(before) {
		t.Errorf("descriptors of the test process: %d before ReadOptions, %d after", len(before), len(after))
	}
	for fd, target := range after {
		if target == fmt.Sprintf("socket:[%d]", l.client.Inode) {
			t.Errorf("fd %s of the test process still refers to the child's socket", fd)
		}
	}

	// A cookie of another socket means the descriptor was reused.
	if _, err := ReadOptions(owner, l.client.ID.Cookie+1); !errors.Is(err, ErrCookieMismatch) {
		t.Errorf("ReadOptions with a wrong cookie = %v, want ErrCookieMismatch", err)
	}
	if _, err := ReadOptions(Owner{PID: owner.PID, FD: 0}, l.client.ID.Cookie); !errors.Is(err, ErrCookieMismatch) {
		t.Errorf("ReadOptions of a descriptor that is not a socket = %v, want ErrCookieMismatch", err)
	}
	if _, err := ReadOptions(Owner{PID: owner.PID, FD: 1 << 20}, l.client.ID.Cookie); !errors.Is(err, ErrGone) {
		t.Errorf("ReadOptions of a closed descriptor = %v, want ErrGone", err)
	}
	if n := len(openFDs(t)); n != len(before) {
		t.Errorf("descriptors of the test process: %d before, %d after the failing calls", len(before), n)
	}

	// The child closes its socket: nothing of ours may keep the connection
	// open, so the peer must read EOF. The deadline only keeps a broken
	// build from hanging the test.
	l.h.closeConn(t)
	l.srv.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := l.srv.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("peer read after the owner closed = %d, %v; want EOF (a duplicate kept the connection open?)", n, err)
	}

	// The child exits: its owner entry is gone.
	l.h.stop()
	if _, err := ReadOptions(owner, l.client.ID.Cookie); !errors.Is(err, ErrGone) {
		t.Errorf("ReadOptions after the owner exited = %v, want ErrGone", err)
	}
}

// The test process's own socket has no per-socket keepalive settings, so the
// kernel reports the namespace's sysctl: an effective value.
func TestReadOptionsEffectiveValues(t *testing.T) {
	l := newLab(t)
	owner := resolve(t, l.server.Inode)
	if owner.PID != os.Getpid() || owner.FD != connFD(t, l.srv) {
		t.Fatalf("owner of the accepted socket = %+v, want pid %d fd %d", owner, os.Getpid(), connFD(t, l.srv))
	}
	got, err := ReadOptions(owner, l.server.ID.Cookie)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Has(OptKeepIdle) || !got.Has(OptUserTimeout) || !got.Has(OptKeepAlive) {
		t.Fatalf("options missing: %+v", got)
	}
	if got.KeepAlive || got.UserTimeout != 0 || got.ThinLinearTimeouts {
		t.Errorf("accepted socket reports options nobody set: %+v", got)
	}
	if want := time.Duration(l.keepaliveTime) * time.Second; got.KeepIdle != want {
		t.Errorf("KeepIdle = %v, want the namespace's tcp_keepalive_time %v", got.KeepIdle, want)
	}
}

// nobody may not duplicate a root process's descriptors, nor read its
// descriptor table: ReadOptions returns ErrPermission and the index counts
// the process as denied.
func TestReadOptionsUnprivileged(t *testing.T) {
	l := newLab(t)
	fd := connFD(t, l.srv)
	owner := Owner{PID: os.Getpid(), FD: fd}
	// Control: the same call as root succeeds, so a failure below is due
	// to the missing privilege.
	if _, err := ReadOptions(owner, l.server.ID.Cookie); err != nil {
		t.Fatalf("ReadOptions as root: %v", err)
	}
	out := runAsNobody(t, "readopts",
		"SOCKOWNER_PID="+strconv.Itoa(owner.PID), "SOCKOWNER_FD="+strconv.Itoa(fd),
		"SOCKOWNER_COOKIE="+strconv.FormatUint(l.server.ID.Cookie, 10),
		"SOCKOWNER_INODE="+strconv.FormatUint(uint64(l.server.Inode), 10))
	for _, want := range []string{fmt.Sprintf("uid=%d\n", nobody), "permission=true\n", "owners=0 "} {
		if !strings.Contains(out, want) {
			t.Errorf("unprivileged child output lacks %q:\n%s", strings.TrimSpace(want), out)
		}
	}
	var denied int
	if i := strings.Index(out, "denied="); i < 0 {
		t.Errorf("no denied count in:\n%s", out)
	} else if _, err := fmt.Sscanf(out[i:], "denied=%d", &denied); err != nil || denied < 1 {
		t.Errorf("denied = %d (%v), want at least 1 (the test process)", denied, err)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		in   error
		want error
	}{
		{"EPERM", unix.EPERM, ErrPermission},
		{"EACCES", unix.EACCES, ErrPermission},
		{"ESRCH", unix.ESRCH, ErrGone},
		{"EBADF", unix.EBADF, ErrGone},
		{"ENOSYS", unix.ENOSYS, ErrUnsupported},
		{"other", unix.EINVAL, unix.EINVAL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.in)
			if !errors.Is(got, tc.want) || !errors.Is(got, tc.in) {
				t.Errorf("classify(%v) = %v, want it to wrap %v and %v", tc.in, got, tc.want, tc.in)
			}
		})
	}
}

func TestCompareNetCgroups(t *testing.T) {
	const v2 = "0::/user.slice/session-1.scope\n"
	tests := []struct {
		name         string
		self, target string
		wantErr      bool
	}{
		{"cgroup v2 only", v2, "0::/system.slice/nginx.service\n", false},
		{"v1 without net controllers", "4:memory:/a\n0::/\n", "4:memory:/b\n0::/\n", false},
		{"same net_cls,net_prio group", "3:net_cls,net_prio:/\n4:memory:/a\n", "3:net_cls,net_prio:/\n4:memory:/b\n", false},
		{"container in its own net_cls group", "3:net_cls,net_prio:/\n", "3:net_cls,net_prio:/docker/abc\n", true},
		{"separate net_prio hierarchy differs", "3:net_cls:/\n5:net_prio:/\n", "3:net_cls:/\n5:net_prio:/x\n", true},
		{"hierarchy only on one side", "3:net_cls:/\n", v2, true},
		{"garbage lines ignored", "garbage\n3\n", "x:y\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := compareNetCgroups(42, []byte(tc.self), []byte(tc.target))
			if got := errors.Is(err, ErrWouldModify); got != tc.wantErr {
				t.Errorf("compareNetCgroups = %v, want ErrWouldModify %t", err, tc.wantErr)
			}
		})
	}
}

func TestOptionsCache(t *testing.T) {
	type call struct {
		name   string
		owner  Owner
		cookie uint64
		at     time.Duration
		reads  int // reads done so far, this call included
	}
	a, b := Owner{PID: 10, FD: 3}, Owner{PID: 11, FD: 4}
	tests := []struct {
		name  string
		fail  map[int]error // error returned by the n-th read (1-based)
		calls []call
	}{
		{
			name: "new cookie read, then reused until MaxAge",
			calls: []call{
				{"new", a, 1, 0, 1},
				{"fresh", a, 1, 10 * time.Second, 1},
				{"another socket", a, 2, 10 * time.Second, 2},
				{"other owner, cached success", b, 1, 20 * time.Second, 2},
				{"expired", a, 1, 30 * time.Second, 3},
			},
		},
		{
			name: "failures cached for the same owner, retried for a new one",
			fail: map[int]error{1: ErrPermission, 2: ErrCookieMismatch},
			calls: []call{
				{"denied", a, 1, 0, 1},
				{"denied again", a, 1, time.Second, 1},
				{"new owner", b, 1, 2 * time.Second, 2},
				{"new owner again", b, 1, 3 * time.Second, 2},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewOptionsCache(30 * time.Second)
			reads := 0
			c.read = func(o Owner, cookie uint64) (Options, error) {
				reads++
				if err := tc.fail[reads]; err != nil {
					return Options{}, err
				}
				return Options{Cookie: cookie, KeepCnt: o.PID}, nil
			}
			for _, cl := range tc.calls {
				got, err := c.Get(cl.owner, cl.cookie, t0.Add(cl.at))
				if reads != cl.reads {
					t.Errorf("%s: %d reads, want %d", cl.name, reads, cl.reads)
				}
				if err == nil && got.Cookie != cl.cookie {
					t.Errorf("%s: options of cookie %d, want %d", cl.name, got.Cookie, cl.cookie)
				}
				if wantErr := tc.fail[cl.reads]; !errors.Is(err, wantErr) || (wantErr == nil) != (err == nil) {
					t.Errorf("%s: error %v, want %v", cl.name, err, wantErr)
				}
			}
		})
	}
}

func TestOptionsCachePrune(t *testing.T) {
	c := NewOptionsCache(time.Minute)
	c.read = func(Owner, uint64) (Options, error) { return Options{}, nil }
	c.Get(Owner{}, 1, t0)
	c.Get(Owner{}, 2, t0.Add(5*time.Second))
	c.Get(Owner{}, 1, t0.Add(10*time.Second)) // still asked for
	if n := c.Prune(t0.Add(8 * time.Second)); n != 1 {
		t.Errorf("Prune dropped %d, want 1", n)
	}
	if c.Len() != 1 {
		t.Errorf("Len = %d, want 1", c.Len())
	}
}
