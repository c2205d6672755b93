package sockowner

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary re-executes itself to get processes other than the test
// process: a holder of a TCP connection with options set, and unprivileged
// readers. The mode is passed in the environment.
const childModeEnv = "SOCKOWNER_TEST_CHILD"

// nobody is the unprivileged identity the tests switch to.
const nobody = 65534

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		if err := runChild(mode); err != nil {
			fmt.Fprintf(os.Stderr, "child %s: %v\n", mode, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild(mode string) error {
	switch mode {
	case "hold":
		return childHold()
	case "readopts":
		return childReadOpts()
	case "tree":
		return childTree()
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// holdOpts are the options the holder sets on its connection; the tests
// expect exactly these back from ReadOptions.
var holdOpts = []struct {
	level, name, value int
	optional           bool // unknown before Linux 6.15
}{
	{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1, false},
	{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 17, false},
	{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 3, false},
	{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 4, false},
	{unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, 1234, false},
	{unix.IPPROTO_TCP, unix.TCP_SYNCNT, 5, false},
	{unix.IPPROTO_TCP, unix.TCP_THIN_LINEAR_TIMEOUTS, 1, false},
	{unix.IPPROTO_TCP, unix.TCP_RTO_MAX_MS, 5000, true},
	// The kernel keeps the RTO limits in jiffies: 60 ms is a whole
	// number of them at HZ 100, 250, 300 and 1000, so it reads back exactly.
	{unix.IPPROTO_TCP, unix.TCP_RTO_MIN_US, 60000, true},
}

// childHold connects to SOCKOWNER_ADDR, sets holdOpts, prints
// "fd=N port=P rto=B" (B: whether the 6.15 RTO options were accepted), then
// closes the connection when it reads "close" and exits at end of input.
func childHold() error {
	d := net.Dialer{KeepAlive: -1}
	c, err := d.Dial("tcp4", os.Getenv("SOCKOWNER_ADDR"))
	if err != nil {
		return err
	}
	tc := c.(*net.TCPConn)
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var fd int
	rto := true
	var serr error
	err = rc.Control(func(f uintptr) {
		fd = int(f)
		for _, o := range holdOpts {
			err := unix.SetsockoptInt(fd, o.level, o.name, o.value)
			if o.optional && errors.Is(err, unix.ENOPROTOOPT) {
				rto = false
				continue
			}
			if err != nil && serr == nil {
				serr = fmt.Errorf("setsockopt %d/%d: %w", o.level, o.name, err)
			}
		}
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	fmt.Printf("fd=%d port=%d rto=%t\n", fd, tc.LocalAddr().(*net.TCPAddr).Port, rto)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "close" {
			if err := tc.Close(); err != nil {
				return err
			}
			fmt.Println("closed")
		}
	}
	return nil
}

// childReadOpts runs unprivileged: it tries to read the options of a socket
// of the (root) test process and to find its owner, and prints what
// happened.
func childReadOpts() error {
	pid, _ := strconv.Atoi(os.Getenv("SOCKOWNER_PID"))
	fd, _ := strconv.Atoi(os.Getenv("SOCKOWNER_FD"))
	cookie, _ := strconv.ParseUint(os.Getenv("SOCKOWNER_COOKIE"), 10, 64)
	inode, _ := strconv.ParseUint(os.Getenv("SOCKOWNER_INODE"), 10, 32)
	_, err := ReadOptions(Owner{PID: pid, FD: fd}, cookie)
	fmt.Printf("uid=%d\n", os.Geteuid())
	fmt.Printf("permission=%t\n", errors.Is(err, ErrPermission))
	fmt.Printf("err=%v\n", err)
	idx := New("/proc")
	idx.MaxPids, idx.MaxScanTime = 0, 0
	if _, err := idx.Refresh([]uint32{uint32(inode)}, time.Now()); err != nil {
		return err
	}
	_, n := idx.Owner(uint32(inode))
	fmt.Printf("owners=%d denied=%d\n", n, idx.Denied())
	return nil
}

// childTree refreshes an index over the fake tree SOCKOWNER_TREE for the
// inodes in SOCKOWNER_INODES and prints the owners found and the denied
// count.
func childTree() error {
	idx := New(os.Getenv("SOCKOWNER_TREE"))
	var want []uint32
	for _, s := range strings.Fields(os.Getenv("SOCKOWNER_INODES")) {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return err
		}
		want = append(want, uint32(n))
	}
	if _, err := idx.Refresh(want, time.Now()); err != nil {
		return err
	}
	fmt.Print(describeTree(idx, want))
	return nil
}

// describeTree prints the owners of each inode and the denied count, the
// common output of childTree and its in-process equivalent.
func describeTree(idx *Index, want []uint32) string {
	var b strings.Builder
	for _, ino := range want {
		fmt.Fprintf(&b, "%d=%v\n", ino, idx.Owners(ino))
	}
	fmt.Fprintf(&b, "denied=%d partial=%t\n", idx.Denied(), idx.Partial())
	return b.String()
}

// unprivilegedCopy copies the test binary to a directory that nobody can
// reach (go test builds it under a private 0700 directory) and returns its
// path.
func unprivilegedCopy(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "sockowner-exe-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "sockowner.test")
	if err := os.WriteFile(dst, src, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// runAsNobody runs the test binary in mode as uid/gid nobody with env added
// and returns its standard output.
func runAsNobody(t *testing.T, mode string, env ...string) string {
	t.Helper()
	cmd := exec.Command(unprivilegedCopy(t))
	cmd.Env = append(os.Environ(), append(env, childModeEnv+"="+mode)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %s as nobody: %v\nstderr: %s", mode, err, stderr.String())
	}
	return string(out)
}

var nsCounter atomic.Int32

// newNetns creates a network namespace with lo up, removed when the test
// ends, and returns its name.
func newNetns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and reads other processes' descriptors")
	}
	name := fmt.Sprintf("sockowner-%d-%d", os.Getpid(), nsCounter.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in %s: %v: %s", name, err, out)
	}
	return name
}

// inNetns runs fn on an OS thread moved into the namespace, so that sockets
// fn creates belong there. The thread is never returned to the scheduler: the
// runtime discards it when the goroutine ends, locked.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// holder is a child process holding one TCP connection with holdOpts.
type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	pid   int
	fd    int
	port  int
	rto   bool // the RTO options of Linux 6.15 were set
}

// startHolder starts the holder in namespace ns, connecting to addr.
func startHolder(t *testing.T, ns string, addr net.Addr) *holder {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, exe)
	cmd.Env = append(os.Environ(), childModeEnv+"=hold", "SOCKOWNER_ADDR="+addr.String())
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &holder{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout), pid: cmd.Process.Pid}
	t.Cleanup(h.stop)
	if !h.out.Scan() {
		t.Fatalf("holder printed nothing: %v", h.out.Err())
	}
	if _, err := fmt.Sscanf(h.out.Text(), "fd=%d port=%d rto=%t", &h.fd, &h.port, &h.rto); err != nil {
		t.Fatalf("holder said %q: %v", h.out.Text(), err)
	}
	return h
}

// closeConn makes the holder close its connection and waits until it has.
func (h *holder) closeConn(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(h.stdin, "close\n"); err != nil {
		t.Fatal(err)
	}
	if !h.out.Scan() || h.out.Text() != "closed" {
		t.Fatalf("holder did not confirm the close: %q %v", h.out.Text(), h.out.Err())
	}
}

// stop ends the holder (end of input makes it exit) and reaps it.
func (h *holder) stop() {
	h.stdin.Close()
	h.cmd.Wait()
}
