//go:build linux

package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultMaxConnsPerWorker keeps a worker's descriptors (two per
// connection) well below a 20000 limit on open files.
const DefaultMaxConnsPerWorker = 9000

// DefaultChurnLifetime is how long a churned connection stays open.
const DefaultChurnLifetime = time.Second

// Listener layout of each worker: a few ports spread the accept load and
// the four-tuples; the churn has its own ports so that it never competes
// with the steady set's accept queues.
var (
	steadyPorts = []int{10000, 10001, 10002, 10003}
	churnPorts  = []int{20000, 20001, 20002, 20003}
)

// fdOverhead is what a worker needs besides its connections: standard
// streams, the status pipe, listeners and the Go runtime's poller.
const fdOverhead = 64

// Config says how many connections to hold and where.
type Config struct {
	// Conns is the number of steady, idle, established connections. Each
	// one is two sockets in the namespace (client and server end).
	Conns int
	// NetNS is the name of the network namespace to create (ip netns
	// add). It must not exist yet. Empty picks a unique name.
	NetNS string
	// MaxConnsPerWorker bounds the connections (steady and churned) of one
	// worker process; zero means DefaultMaxConnsPerWorker.
	MaxConnsPerWorker int
	// Churn, if positive, opens that many extra connections per second,
	// continuously, and closes each one ChurnLifetime after it opened: the
	// load a watcher sees on a busy front end.
	Churn int
	// ChurnLifetime defaults to DefaultChurnLifetime.
	ChurnLifetime time.Duration
	// ChurnAbort closes churned connections with a reset instead of a
	// FIN, so that they leave no TIME-WAIT sockets behind.
	ChurnAbort bool
}

// Fixture is a running set of worker processes holding connections in a
// private network namespace.
type Fixture struct {
	cfg     Config
	name    string
	workers []*workerProc
	sp      *spawner

	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error

	errMu sync.Mutex
	err   error
}

type workerProc struct {
	index  int
	cmd    *exec.Cmd
	stdin  interface{ Close() error }
	stderr *tailBuffer
	done   chan struct{} // closed once the process was reaped

	opened, closed atomic.Uint64
}

var nsCounter atomic.Uint64

// Start creates the network namespace, starts the workers and returns
// when every steady connection is established. ctx bounds the start-up
// only; the fixture lives until Close. It needs root.
func Start(ctx context.Context, cfg Config) (*Fixture, error) {
	plan, err := cfg.plan()
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	if cfg.NetNS == "" {
		cfg.NetNS = fmt.Sprintf("tcpwatch-loadgen-%d-%d", os.Getpid(), nsCounter.Add(1))
	}
	if err := createNetNS(cfg.NetNS); err != nil {
		return nil, err
	}
	f := &Fixture{cfg: cfg, name: cfg.NetNS, sp: newSpawner()}

	readyc := make(chan int, len(plan))
	failc := make(chan error, 2*len(plan))
	for _, wc := range plan {
		wp, err := f.startWorker(exe, wc, readyc, failc)
		if err != nil {
			f.Close()
			return nil, err
		}
		f.workers = append(f.workers, wp)
	}
	for range plan {
		select {
		case <-readyc:
		case err := <-failc:
			f.Close()
			return nil, err
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("loadgen: start: %w", ctx.Err())
		}
	}
	return f, nil
}

// plan validates cfg and splits the work between workers: the fewest
// that keep each one under MaxConnsPerWorker, sharing conns and churn
// evenly.
func (cfg *Config) plan() ([]workerConfig, error) {
	if cfg.Conns < 0 || cfg.Churn < 0 || cfg.ChurnLifetime < 0 || cfg.MaxConnsPerWorker < 0 {
		return nil, fmt.Errorf("loadgen: negative value in %+v", *cfg)
	}
	if cfg.Conns == 0 && cfg.Churn == 0 {
		return nil, errors.New("loadgen: nothing to do: Conns and Churn are both zero")
	}
	if cfg.MaxConnsPerWorker == 0 {
		cfg.MaxConnsPerWorker = DefaultMaxConnsPerWorker
	}
	if cfg.ChurnLifetime == 0 {
		cfg.ChurnLifetime = DefaultChurnLifetime
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return nil, fmt.Errorf("loadgen: open file limit: %w", err)
	}
	if need := uint64(2*cfg.MaxConnsPerWorker + fdOverhead); need > lim.Max {
		return nil, fmt.Errorf("loadgen: %d connections per worker need %d descriptors, the limit is %d", cfg.MaxConnsPerWorker, need, lim.Max)
	}
	// A churning worker holds up to rate × (lifetime + 1 s) connections:
	// the ones not yet due to close, and a backlog of at most a second.
	live := func(rate int) int { return int(math.Ceil(float64(rate) * (cfg.ChurnLifetime.Seconds() + 1))) }
	n := (cfg.Conns + live(cfg.Churn) + cfg.MaxConnsPerWorker - 1) / cfg.MaxConnsPerWorker
	for ; ; n++ {
		if n > 1000 {
			return nil, fmt.Errorf("loadgen: %d connections and a churn of %d/s over %v do not fit in 1000 workers of %d connections", cfg.Conns, cfg.Churn, cfg.ChurnLifetime, cfg.MaxConnsPerWorker)
		}
		if share(cfg.Conns, n, 0)+live(share(cfg.Churn, n, 0)) <= cfg.MaxConnsPerWorker {
			break // worker 0 has the biggest share of both
		}
	}
	base := netip.AddrFrom4([4]byte{127, 1, 0, 0})
	plan := make([]workerConfig, n)
	addr := base
	for i := range plan {
		addr = addr.Next()
		plan[i] = workerConfig{
			Index:         i,
			Addr:          addr.String(),
			Conns:         share(cfg.Conns, n, i),
			Ports:         steadyPorts,
			ChurnRate:     share(cfg.Churn, n, i),
			ChurnPorts:    churnPorts,
			ChurnLifetime: cfg.ChurnLifetime,
			ChurnAbort:    cfg.ChurnAbort,
		}
	}
	return plan, nil
}

// share is worker i's part of total split n ways.
func share(total, n, i int) int {
	s := total / n
	if i < total%n {
		s++
	}
	return s
}

func (f *Fixture) startWorker(exe string, wc workerConfig, readyc chan<- int, failc chan<- error) (*workerProc, error) {
	js, err := json.Marshal(wc)
	if err != nil {
		return nil, fmt.Errorf("loadgen: worker configuration: %w", err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("loadgen: status pipe: %w", err)
	}
	cmd := exec.Command("ip", "netns", "exec", f.name, exe)
	cmd.Env = append(os.Environ(), workerEnv+"="+string(js))
	cmd.ExtraFiles = []*os.File{statusW}
	wp := &workerProc{index: wc.Index, cmd: cmd, stderr: &tailBuffer{max: 4 << 10}, done: make(chan struct{})}
	cmd.Stderr = wp.stderr
	// The worker is killed if the thread that started it ends, which the
	// spawner only lets happen after Close, and it stops on its own when
	// stdin reaches EOF, which covers the parent's death however it dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		statusR.Close()
		statusW.Close()
		return nil, fmt.Errorf("loadgen: worker stdin: %w", err)
	}
	wp.stdin = stdin
	err = f.sp.do(cmd.Start)
	statusW.Close()
	if err != nil {
		statusR.Close()
		stdin.Close()
		return nil, fmt.Errorf("loadgen: start worker %d: %w", wc.Index, err)
	}

	fail := func(msg string) {
		err := fmt.Errorf("loadgen: worker %d: %s", wc.Index, msg)
		f.setErr(err)
		select {
		case failc <- err:
		default:
		}
	}
	go func() {
		readStatus(statusR,
			func(int) { readyc <- wc.Index },
			func(o, c uint64) { wp.opened.Store(o); wp.closed.Store(c) },
			fail)
		statusR.Close()
		werr := cmd.Wait()
		close(wp.done)
		if !f.closing.Load() {
			fail(fmt.Sprintf("exited (%v): %s", werr, strings.TrimSpace(wp.stderr.String())))
		}
	}()
	return wp, nil
}

func (f *Fixture) setErr(err error) {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

// Err returns the first failure of a worker after Start returned (a
// churn that could not connect, a worker that died), or nil.
func (f *Fixture) Err() error {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	return f.err
}

// NetNS returns the name of the fixture's network namespace.
func (f *Fixture) NetNS() string { return f.name }

// NetNSPath returns the path of the fixture's network namespace, as
// inetdiag.Config.NetNS wants it.
func (f *Fixture) NetNSPath() string { return netnsPath(f.name) }

// Conns returns the number of steady connections.
func (f *Fixture) Conns() int { return f.cfg.Conns }

// Workers returns the number of worker processes.
func (f *Fixture) Workers() int { return len(f.workers) }

// WorkerPIDs returns the process IDs of the workers.
func (f *Fixture) WorkerPIDs() []int {
	pids := make([]int, len(f.workers))
	for i, w := range f.workers {
		pids[i] = w.cmd.Process.Pid
	}
	return pids
}

// Churned returns how many churned connections have been opened and
// closed so far, as last reported by the workers (every 100 ms).
func (f *Fixture) Churned() (opened, closed uint64) {
	for _, w := range f.workers {
		opened += w.opened.Load()
		closed += w.closed.Load()
	}
	return opened, closed
}

// closeTimeout is how long workers get to reset their connections and
// exit before they are killed.
const closeTimeout = 30 * time.Second

// Close stops the workers (they reset their connections, so no TIME-WAIT
// sockets are left), kills any that do not exit in time, waits for them
// and deletes the namespace. It is safe to call more than once.
func (f *Fixture) Close() error {
	f.closeOnce.Do(func() {
		f.closing.Store(true)
		for _, w := range f.workers {
			w.stdin.Close()
		}
		timer := time.NewTimer(closeTimeout)
		defer timer.Stop()
		late := false
		for _, w := range f.workers {
			if !late {
				select {
				case <-w.done:
					continue
				case <-timer.C:
					late = true
				}
			}
			_ = w.cmd.Process.Kill() // harmless if it has just exited
			<-w.done
		}
		f.sp.stop()
		f.closeErr = deleteNetNS(f.name)
	})
	return f.closeErr
}

// spawner starts processes from one OS thread that lives as long as the
// fixture: PR_SET_PDEATHSIG fires when the thread that forked a child
// ends, not the process, and Go may end other threads at any time.
type spawner struct {
	reqs chan func()
	done chan struct{}
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan func()), done: make(chan struct{})}
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread ends with this goroutine, which
		// kills any worker still alive.
		for fn := range s.reqs {
			fn()
		}
		close(s.done)
	}()
	return s
}

func (s *spawner) do(fn func() error) error {
	errc := make(chan error, 1)
	s.reqs <- func() { errc <- fn() }
	return <-errc
}

func (s *spawner) stop() {
	close(s.reqs)
	<-s.done
}

// tailBuffer keeps the last max bytes written to it; it collects a
// worker's error output for messages.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
