// Running the interface in a terminal: the Bubble Tea program, the
// signals that end it, and restoring the terminal in every case.

package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
)

// Run runs the interface full-screen (alternate screen) until the user
// quits or ctx is done, and restores the terminal in every case: on quit,
// on a panic (Bubble Tea recovers it, restores the terminal and Run
// returns an error), on SIGTERM (a normal quit) and on SIGHUP, when the
// ssh session or the terminal went away: then the program is killed
// without waiting to flush a last frame to a dead tty, so that the caller
// can clean up promptly. Quitting, SIGTERM, SIGHUP and ctx being done all
// return nil.
func Run(ctx context.Context, cfg Config) error { return run(ctx, cfg) }

// wrapModel puts a model around the interface's. It is the identity in
// every normal build; a build with the tcpwatch_testpanic tag replaces it
// (panic_testhook.go) to prove that a panic inside Update restores the
// terminal.
var wrapModel = func(m tea.Model) tea.Model { return m }

// frameRate is how many times a second the renderer may draw. Bubble
// Tea's default, 60, wakes the process 60 times a second to compare the
// view with the last frame drawn, though tcpwatch's views change once a
// second (a poll) or at a key. At 10^5 sockets those wake-ups cost about
// a point of a core (6.1-6.5 % against 5.3 % at 10 in the same runs); a
// tenth of a second is still the limit of what answers at once to a key.
const frameRate = 10

// run is Run with extra program options (tests give an input and an
// output instead of the terminal).
func run(ctx context.Context, cfg Config, extra ...tea.ProgramOption) error {
	m := New(cfg)
	opts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithFPS(frameRate)}
	if m.cfg.NoColor {
		opts = append(opts, tea.WithColorProfile(colorprofile.Ascii))
	}
	p := tea.NewProgram(wrapModel(m), append(opts, extra...)...)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	finished := make(chan struct{})
	var hungUp atomic.Bool
	go func() {
		select {
		case <-hup:
			hungUp.Store(true)
			p.Kill()
		case <-finished:
		}
	}()

	_, err := p.Run()
	close(finished)
	m.close()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tea.ErrProgramPanic):
		return fmt.Errorf("tui: the interface panicked (terminal restored): %w", err)
	case hungUp.Load(), errors.Is(err, tea.ErrInterrupted):
		return nil
	case errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil:
		return nil
	}
	return fmt.Errorf("tui: %w", err)
}
