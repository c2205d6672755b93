//go:build linux

package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// workerEnv carries a worker's configuration (JSON) from Start to
// WorkerMain.
const workerEnv = "TCPWATCH_LOADGEN_WORKER"

// statusFD is the descriptor on which a worker writes its status lines
// (cmd.ExtraFiles[0]).
const statusFD = 3

// Status lines a worker writes, one per line:
//
//	ready N          all N steady connections are established
//	churn OPENED CLOSED  running totals of churned connections
//	error MESSAGE    the worker failed and is exiting
const (
	msgReady = "ready"
	msgChurn = "churn"
	msgError = "error"
)

// workerConfig is what one worker holds.
type workerConfig struct {
	Index int
	// Addr is the loopback address the worker's listeners bind, distinct
	// per worker so that no two workers share a destination.
	Addr string
	// Conns is the number of steady connections, spread over Ports.
	Conns int
	Ports []int
	// ChurnRate connections per second are opened on ChurnPorts and
	// closed ChurnLifetime later.
	ChurnRate     int
	ChurnPorts    []int
	ChurnLifetime time.Duration
	ChurnAbort    bool
}

// WorkerMain runs the worker if the process was started as one by Start,
// and then exits; otherwise it returns at once. Call it first thing in
// main or TestMain of any program that calls Start: workers are that same
// binary started again.
func WorkerMain() {
	v, ok := os.LookupEnv(workerEnv)
	if !ok {
		return
	}
	os.Unsetenv(workerEnv)
	status := os.NewFile(statusFD, "loadgen-status")
	w := &worker{status: status}
	if err := w.run(v); err != nil {
		w.report(msgError + " " + err.Error())
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

type worker struct {
	cfg workerConfig

	statusMu sync.Mutex
	status   io.Writer

	mu      sync.Mutex
	conns   []net.Conn // both ends of the steady connections
	lns     []net.Listener
	churned []churnPair // oldest first

	opened, closed atomic.Uint64
}

type churnPair struct {
	client, server net.Conn
	at             time.Time
}

func (w *worker) report(line string) {
	w.statusMu.Lock()
	defer w.statusMu.Unlock()
	_, _ = io.WriteString(w.status, line+"\n")
}

func (w *worker) run(cfgJSON string) error {
	if err := json.Unmarshal([]byte(cfgJSON), &w.cfg); err != nil {
		return fmt.Errorf("loadgen worker: bad configuration: %w", err)
	}
	// The parent holds the other end of stdin: EOF means stop, whether it
	// closed the pipe on purpose or died.
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	defer w.abortAll()

	if err := w.fill(stop); err != nil {
		return err
	}
	w.report(msgReady + " " + strconv.Itoa(w.cfg.Conns))
	if w.cfg.ChurnRate > 0 {
		return w.churn(stop)
	}
	<-stop
	return nil
}

var (
	dialer = net.Dialer{KeepAlive: -1, Timeout: 10 * time.Second}
	lc     = net.ListenConfig{KeepAlive: -1}
)

func (w *worker) listen(port int) (net.Listener, error) {
	ln, err := lc.Listen(context.Background(), "tcp4", net.JoinHostPort(w.cfg.Addr, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("loadgen worker %d: %w", w.cfg.Index, err)
	}
	w.mu.Lock()
	w.lns = append(w.lns, ln)
	w.mu.Unlock()
	return ln, nil
}

// fill establishes the steady connections: a few dialers against
// listeners that accept concurrently, so that accept queues never
// overflow (an overflow would cost a one-second SYN retransmission).
func (w *worker) fill(stop <-chan struct{}) error {
	cfg := w.cfg
	if cfg.Conns == 0 {
		return nil
	}
	if len(cfg.Ports) == 0 {
		return fmt.Errorf("loadgen worker %d: no ports", cfg.Index)
	}
	accepted := make(chan struct{})
	var nAccepted atomic.Int64
	for _, p := range cfg.Ports {
		ln, err := w.listen(p)
		if err != nil {
			return err
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return // listener closed at exit
				}
				w.mu.Lock()
				w.conns = append(w.conns, c)
				w.mu.Unlock()
				if nAccepted.Add(1) == int64(cfg.Conns) {
					close(accepted)
				}
			}
		}()
	}

	const dialers = 8
	var next atomic.Int64
	errc := make(chan error, dialers)
	var wg sync.WaitGroup
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(cfg.Conns) {
					return
				}
				addr := net.JoinHostPort(cfg.Addr, strconv.Itoa(cfg.Ports[int(i)%len(cfg.Ports)]))
				c, err := dialer.Dial("tcp4", addr)
				if err != nil {
					errc <- fmt.Errorf("loadgen worker %d: connection %d of %d: %w", cfg.Index, i+1, cfg.Conns, err)
					next.Store(int64(cfg.Conns)) // stop the other dialers
					return
				}
				w.mu.Lock()
				w.conns = append(w.conns, c)
				w.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	select {
	case <-accepted:
		return nil
	case <-stop:
		return errors.New("loadgen worker: stopped before all connections were accepted")
	case <-time.After(time.Minute):
		return fmt.Errorf("loadgen worker %d: %d of %d connections accepted after a minute", cfg.Index, nAccepted.Load(), cfg.Conns)
	}
}

// churnTick is how often the churn loop opens and closes connections.
const churnTick = 10 * time.Millisecond

// churn opens ChurnRate connections per second and closes each one
// ChurnLifetime after it was opened, until stop. If the worker cannot keep
// up, the backlog is capped at one second, so the counters show the rate
// really achieved.
func (w *worker) churn(stop <-chan struct{}) error {
	cfg := w.cfg
	var lns []net.Listener
	for _, p := range cfg.ChurnPorts {
		ln, err := w.listen(p)
		if err != nil {
			return err
		}
		lns = append(lns, ln)
	}
	if len(lns) == 0 {
		return fmt.Errorf("loadgen worker %d: no churn ports", cfg.Index)
	}
	tick := time.NewTicker(churnTick)
	defer tick.Stop()
	last := time.Now()
	lastReport := last
	var due float64
	var k int
	var reportedOpened, reportedClosed uint64
	for {
		select {
		case <-stop:
			return nil
		case now := <-tick.C:
			due += float64(cfg.ChurnRate) * now.Sub(last).Seconds()
			last = now
			if max := float64(cfg.ChurnRate); due > max {
				due = max
			}
			for ; due >= 1; due-- {
				if err := w.openChurn(lns[k%len(lns)], now); err != nil {
					return err
				}
				k++
			}
			w.closeChurn(now)
			if now.Sub(lastReport) >= 100*time.Millisecond {
				o, c := w.opened.Load(), w.closed.Load()
				if o != reportedOpened || c != reportedClosed {
					w.report(fmt.Sprintf("%s %d %d", msgChurn, o, c))
					reportedOpened, reportedClosed = o, c
				}
				lastReport = now
			}
		}
	}
}

// openChurn dials ln and accepts that very connection: only this loop
// uses the churn listeners, so the accept queue holds nothing else.
func (w *worker) openChurn(ln net.Listener, now time.Time) error {
	c, err := dialer.Dial("tcp4", ln.Addr().String())
	if err != nil {
		return fmt.Errorf("loadgen worker %d: churn: %w", w.cfg.Index, err)
	}
	s, err := ln.Accept()
	if err != nil {
		c.Close()
		return fmt.Errorf("loadgen worker %d: churn accept: %w", w.cfg.Index, err)
	}
	if s.RemoteAddr().String() != c.LocalAddr().String() {
		c.Close()
		s.Close()
		return fmt.Errorf("loadgen worker %d: churn accepted %s, dialed from %s", w.cfg.Index, s.RemoteAddr(), c.LocalAddr())
	}
	w.mu.Lock()
	w.churned = append(w.churned, churnPair{client: c, server: s, at: now})
	w.mu.Unlock()
	w.opened.Add(1)
	return nil
}

// closeChurn closes the churned connections older than ChurnLifetime.
// The client closes first, as a client usually does, and keeps the
// TIME-WAIT socket, unless ChurnAbort asks for a reset.
func (w *worker) closeChurn(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, p := range w.churned {
		if now.Sub(p.at) < w.cfg.ChurnLifetime {
			break
		}
		if w.cfg.ChurnAbort {
			abort(p.client)
		} else {
			p.client.Close()
		}
		p.server.Close()
		n++
	}
	if n > 0 {
		w.churned = append(w.churned[:0], w.churned[n:]...)
		w.closed.Add(uint64(n))
	}
}

// abortAll resets every connection, so that the namespace is not left
// with tens of thousands of TIME-WAIT sockets when the worker exits.
func (w *worker) abortAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ln := range w.lns {
		ln.Close()
	}
	for _, c := range w.conns {
		abort(c)
	}
	for _, p := range w.churned {
		abort(p.client)
		abort(p.server)
	}
	w.conns, w.churned = nil, nil
}

// abort closes c with a reset (SO_LINGER 0) instead of a FIN.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// readStatus parses the status lines of one worker until EOF and hands
// them to the callbacks.
func readStatus(r io.Reader, ready func(n int), churn func(opened, closed uint64), fail func(msg string)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var (
			line = sc.Text()
			a, b uint64
			n    int
		)
		switch {
		case len(line) > len(msgError) && line[:len(msgError)+1] == msgError+" ":
			fail(line[len(msgError)+1:])
		case scanLine(line, msgReady+" %d", &n):
			ready(n)
		case scanLine(line, msgChurn+" %d %d", &a, &b):
			churn(a, b)
		default:
			fail(fmt.Sprintf("unexpected status line %q", line))
		}
	}
}

func scanLine(line, format string, args ...any) bool {
	n, err := fmt.Sscanf(line, format, args...)
	return err == nil && n == len(args)
}
