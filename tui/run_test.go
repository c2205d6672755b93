// Tests of Run on a pipe instead of a terminal: quitting, the context,
// hangups, and a panic that must restore the terminal.

package tui

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tcpwatch/tcpwatch/model"
)

// syncBuffer is an output the program writes from its renderer goroutine
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRun runs the program on a pipe and a buffer instead of a terminal.
// The returned channel yields Run's result.
func startRun(ctx context.Context, t *testing.T, cfg Config) (in *io.PipeWriter, out *syncBuffer, result <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	out = &syncBuffer{}
	res := make(chan error, 1)
	go func() {
		res <- run(ctx, cfg, tea.WithInput(pr), tea.WithOutput(out), tea.WithWindowSize(100, 30))
	}()
	t.Cleanup(func() { pw.Close() })
	return pw, out, res
}

// readyClock is a Config.Now that reports when the program is running:
// New reads the clock once, every Update once more.
func readyClock() (now func() time.Time, ready <-chan struct{}) {
	var mu sync.Mutex
	calls := 0
	ch := make(chan struct{})
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 2 {
			close(ch)
		}
		return t0
	}, ch
}

// waitReady waits for the program's first Update. The deadline only
// bounds a broken test; nothing is timed.
func waitReady(t *testing.T, ready <-chan struct{}) {
	t.Helper()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the program never started")
	}
}

// The alternate screen's mode sequences (DECSET/DECRST 1049).
const altScreenOn, altScreenOff = "\x1b[?1049h", "\x1b[?1049l"

// waitAltScreen waits until the renderer has drawn a first frame on the
// alternate screen.
func waitAltScreen(t *testing.T, out *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), altScreenOn) {
		if time.Now().After(deadline) {
			t.Fatal("the program never entered the alternate screen")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func result(t *testing.T, res <-chan error) error {
	t.Helper()
	select {
	case err := <-res:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	return nil
}

// TestRunSmoke drives the real program loop: a snapshot arrives through
// the channel, a key press is read from the input, q quits.
func TestRunSmoke(t *testing.T) {
	ch := make(chan *model.Snapshot, 1)
	s, released := snapshotOf(mixedRows()...)
	ch <- s
	now, ready := readyClock()
	in, _, res := startRun(context.Background(), t, Config{Snapshots: ch, NoColor: true, Now: now})
	waitReady(t, ready)
	if _, err := in.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	if err := result(t, res); err != nil {
		t.Errorf("quit: Run returned %v, want nil", err)
	}
	if *released != 0 {
		t.Errorf("the snapshot on screen was released %d times", *released)
	}
}

func TestRunContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan *model.Snapshot, 1)
	ch <- must(snapshotOf(mixedRows()...))
	now, ready := readyClock()
	_, _, res := startRun(ctx, t, Config{Snapshots: ch, NoColor: true, Now: now})
	waitReady(t, ready)
	cancel()
	if err := result(t, res); err != nil {
		t.Errorf("ctx done: Run returned %v, want nil", err)
	}
}

func TestRunHangup(t *testing.T) {
	ch := make(chan *model.Snapshot, 1)
	ch <- must(snapshotOf(mixedRows()...))
	now, ready := readyClock()
	_, _, res := startRun(context.Background(), t, Config{Snapshots: ch, NoColor: true, Now: now})
	// The program updates only after Run installed its SIGHUP handler, so
	// the signal cannot kill the test binary.
	waitReady(t, ready)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := result(t, res); err != nil {
		t.Errorf("SIGHUP: Run returned %v, want nil", err)
	}
}

func TestRunPanicRestoresAndReturnsError(t *testing.T) {
	// Bubble Tea prints the panic and its stack on stderr (shown with -v);
	// swapping os.Stderr would race with its recovering goroutine.
	ch := make(chan *model.Snapshot)
	cfg := Config{Snapshots: ch, NoColor: true, Kill: func(model.Row) error { panic("boom") }}
	in, out, res := startRun(context.Background(), t, cfg)
	// When the first snapshot is released, the second is on screen.
	onScreen := make(chan struct{})
	ch <- withRelease(must(snapshotOf(mixedRows()...)), func() { close(onScreen) })
	ch <- must(snapshotOf(mixedRows()...))
	waitReady(t, onScreen)
	waitAltScreen(t, out)
	// K asks, y confirms: the kill command panics.
	if _, err := in.Write([]byte("Ky")); err != nil {
		t.Fatal(err)
	}
	err := result(t, res)
	if !errors.Is(err, tea.ErrProgramPanic) {
		t.Errorf("panic in a command: Run returned %v, want an error wrapping ErrProgramPanic", err)
	}
	// The alternate screen was left: the terminal is usable again.
	o := out.String()
	if enter, leave := strings.Index(o, altScreenOn), strings.LastIndex(o, altScreenOff); leave < enter {
		t.Errorf("the output does not leave the alternate screen after the panic: %q", o[max(0, len(o)-300):])
	}
}

// withRelease returns a copy of s whose Release calls f.
func withRelease(s *model.Snapshot, f func()) *model.Snapshot {
	c := model.NewSnapshot(f)
	c.Time, c.Params, c.Rows, c.Interval, c.Host = s.Time, s.Params, s.Rows, s.Interval, s.Host
	return c
}
