//go:build linux

package loadgen_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/loadgen"
)

func TestMain(m *testing.M) {
	loadgen.WorkerMain()
	orphanMain()
	code := m.Run()
	closeBenchFixture()
	os.Exit(code)
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and holds connections in them")
	}
}

var nsSeq atomic.Uint64

// nsName returns a namespace name unique to this process and call.
func nsName() string {
	return fmt.Sprintf("tw-lg-test-%d-%d", os.Getpid(), nsSeq.Add(1))
}

// count dumps the namespace and counts sockets per state.
func count(t testing.TB, path string) map[inetdiag.State]int {
	t.Helper()
	c, err := inetdiag.Dial(&inetdiag.Config{NetNS: path})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	socks, err := c.Dump(inetdiag.Request{States: inetdiag.AllStates}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := make(map[inetdiag.State]int)
	for _, s := range socks {
		n[s.State]++
	}
	return n
}

func TestStartHoldsConnections(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name        string
		cfg         loadgen.Config
		wantWorkers int
	}{
		{name: "one worker", cfg: loadgen.Config{Conns: 1000}, wantWorkers: 1},
		{name: "four workers", cfg: loadgen.Config{Conns: 1000, MaxConnsPerWorker: 300}, wantWorkers: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.NetNS = nsName()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			f, err := loadgen.Start(ctx, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := f.Close(); err != nil {
					t.Error(err)
				}
			})
			if got := f.Workers(); got != tt.wantWorkers {
				t.Errorf("workers: got %d, want %d", got, tt.wantWorkers)
			}
			n := count(t, f.NetNSPath())
			if got, want := n[inetdiag.StateEstablished], 2*tt.cfg.Conns; got != want {
				t.Errorf("established sockets in %s: got %d, want %d (all states: %v)", f.NetNS(), got, want, n)
			}
			if got, want := n[inetdiag.StateListen], 4*tt.wantWorkers; got != want {
				t.Errorf("listeners: got %d, want %d", got, want)
			}
			if err := f.Err(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestCloseRemovesEverything(t *testing.T) {
	needRoot(t)
	name := nsName()
	f, err := loadgen.Start(context.Background(), loadgen.Config{Conns: 200, NetNS: name, MaxConnsPerWorker: 100})
	if err != nil {
		t.Fatal(err)
	}
	pids := f.WorkerPIDs()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.NetNSPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s still there after Close: %v", name, err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("worker %d still running after Close", pid)
		}
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestChurn(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name  string
		abort bool
		// wantTimeWait: whether closed churn connections leave TIME-WAIT
		// sockets behind.
		wantTimeWait bool
	}{
		{name: "fin", abort: false, wantTimeWait: true},
		{name: "reset", abort: true, wantTimeWait: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := loadgen.Start(context.Background(), loadgen.Config{
				Conns: 100, NetNS: nsName(), Churn: 200, ChurnLifetime: 100 * time.Millisecond, ChurnAbort: tt.abort,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := f.Close(); err != nil {
					t.Error(err)
				}
			})
			// Wait for a few hundred connections to come and go; the
			// deadline only guards against a hang.
			deadline := time.Now().Add(time.Minute)
			var opened, closed uint64
			for {
				opened, closed = f.Churned()
				if closed >= 300 || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if closed < 300 {
				t.Fatalf("churn: %d opened, %d closed after a minute", opened, closed)
			}
			if closed > opened {
				t.Errorf("churn: closed %d > opened %d", closed, opened)
			}
			if err := f.Err(); err != nil {
				t.Fatal(err)
			}
			n := count(t, f.NetNSPath())
			if n[inetdiag.StateEstablished] < 200 {
				t.Errorf("established: got %d, want at least the 200 steady sockets (%v)", n[inetdiag.StateEstablished], n)
			}
			if got := n[inetdiag.StateTimeWait] > 0; got != tt.wantTimeWait {
				t.Errorf("TIME-WAIT sockets present: got %v (%d), want %v", got, n[inetdiag.StateTimeWait], tt.wantTimeWait)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	// No root needed: the configuration is refused before anything is
	// created.
	tests := []struct {
		name string
		cfg  loadgen.Config
		want string
	}{
		{name: "nothing", cfg: loadgen.Config{}, want: "nothing to do"},
		{name: "negative conns", cfg: loadgen.Config{Conns: -1}, want: "negative"},
		{name: "negative churn", cfg: loadgen.Config{Conns: 1, Churn: -5}, want: "negative"},
		{name: "too many per worker", cfg: loadgen.Config{Conns: 1, MaxConnsPerWorker: 1 << 30}, want: "descriptors"},
		{name: "churn too long", cfg: loadgen.Config{Churn: 1, ChurnLifetime: 1e6 * time.Hour, MaxConnsPerWorker: 10}, want: "do not fit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := loadgen.Start(context.Background(), tt.cfg)
			if err == nil {
				f.Close()
				t.Fatalf("Start(%+v): no error, want one containing %q", tt.cfg, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start(%+v): %v, want an error containing %q", tt.cfg, err, tt.want)
			}
		})
	}
}

// orphanEnv makes the test binary act as a parent that starts a fixture,
// prints its workers' process IDs and waits to be killed.
const orphanEnv = "LOADGEN_TEST_ORPHAN_NETNS"

func orphanMain() {
	name, ok := os.LookupEnv(orphanEnv)
	if !ok {
		return
	}
	os.Unsetenv(orphanEnv)
	f, err := loadgen.Start(context.Background(), loadgen.Config{Conns: 100, MaxConnsPerWorker: 50, NetNS: name})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for _, pid := range f.WorkerPIDs() {
		fmt.Println(pid)
	}
	fmt.Println("ready")
	select {}
}

func TestWorkersDieWithParent(t *testing.T) {
	needRoot(t)
	name := nsName()
	t.Cleanup(func() {
		if _, err := os.Stat("/run/netns/" + name); err == nil {
			if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v: %s", name, err, out)
			}
		}
	})
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), orphanEnv+"="+name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var pids []int
	buf := make([]byte, 4096)
	var text string
	for !strings.Contains(text, "ready\n") {
		n, err := out.Read(buf)
		text += string(buf[:n])
		if err != nil {
			t.Fatalf("parent: %v; output so far: %q", err, text)
		}
	}
	for _, l := range strings.Fields(text) {
		if pid, err := strconv.Atoi(l); err == nil {
			pids = append(pids, pid)
		}
	}
	if len(pids) != 2 {
		t.Fatalf("parent printed %q, want two worker pids", text)
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("worker %d not running before the parent was killed", pid)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// The deadline only guards against a hang: workers get SIGKILL at once.
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("worker %d still running after its parent was killed", pid)
		}
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
