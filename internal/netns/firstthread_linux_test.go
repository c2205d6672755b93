package netns

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// The main goroutine stays on the process's first thread (locked during
// init), so that TestMain can run functions there: /proc/self is that
// thread's, and a test can send it into another namespace.
func init() { runtime.LockOSThread() }

// onFirstThread runs functions on the process's first thread.
var onFirstThread = make(chan func())

func TestMain(m *testing.M) {
	done := make(chan int)
	go func() { done <- m.Run() }()
	for {
		select {
		case f := <-onFirstThread:
			f()
		case code := <-done:
			os.Exit(code)
		}
	}
}

// TestDiscoverWhileFirstThreadVisits: while the process's first thread
// is inside another namespace (as a poller's reading of a container's
// counters puts a thread), discovery still marks our own namespace as
// ours, and counts our process in it.
func TestDiscoverWhileFirstThreadVisits(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace (run the suite as root)")
	}
	name := fmt.Sprintf("twns-visit-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	visitID, err := statID(Path(name))
	if err != nil {
		t.Fatal(err)
	}
	own, err := statID("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}

	entered, back, returned := make(chan error), make(chan struct{}), make(chan error)
	onFirstThread <- func() {
		if tid := unix.Gettid(); tid != os.Getpid() {
			entered <- fmt.Errorf("the main goroutine runs on thread %d, not the first (%d)", tid, os.Getpid())
			return
		}
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			entered <- err
			return
		}
		defer self.Close()
		target, err := os.Open(Path(name))
		if err != nil {
			entered <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			entered <- err
			return
		}
		entered <- nil
		<-back
		returned <- unix.Setns(int(self.Fd()), unix.CLONE_NEWNET)
	}
	if err := <-entered; err != nil {
		t.Fatal(err)
	}
	f, derr := Discover(DefaultRoots)
	leader, lerr := statID("/proc/self/ns/net")
	close(back)
	if err := <-returned; err != nil {
		t.Fatalf("the first thread did not come back: %v", err)
	}
	if derr != nil {
		t.Fatal(derr)
	}
	if lerr != nil || leader != visitID {
		t.Fatalf("/proc/self/ns/net was %v (%v) during discovery, not the visited namespace %v: the test proves nothing", leader, lerr, visitID)
	}
	var self []Namespace
	for _, ns := range f.Namespaces {
		if ns.Self {
			self = append(self, ns)
		}
		if ns.ID == visitID && (ns.Host || slices.Contains(ns.PIDs, os.Getpid())) {
			// Host: where PID 1 is not ours to read, the host is the
			// namespace we run in.
			t.Errorf("the visited namespace %s taken for the host or counted with our process: %+v", name, ns)
		}
		if ns.ID == own && !slices.Contains(ns.PIDs, os.Getpid()) {
			t.Errorf("our process not counted in our own namespace: %v", ns.PIDs)
		}
	}
	if len(self) != 1 || self[0].ID != own {
		t.Errorf("namespaces marked as ours: %+v, want only %v (the visited one is %v)", self, own, visitID)
	}
}
