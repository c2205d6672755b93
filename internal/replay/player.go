package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// Speeds are the playing speeds a player cycles through.
var Speeds = []int{1, 10, 60}

// Player plays a recording for the interface: it sends a snapshot for
// each poll it shows, waits between polls as long as the recording did
// (divided by the speed) while playing, and takes moves (pause, a poll
// back or forward, a jump, a time to go to, the speed) at any time. It
// starts paused at the first poll.
type Player struct {
	rp    *Replayer
	out   chan *model.Snapshot
	moves chan Move
	// ParseTime reads the time of a go-to move (the command line's --at
	// syntax); first and last are the recording's span.
	ParseTime func(s string, first, last time.Time) (time.Time, error)
	// wallNow is the wall clock that paces playing (tests replace it).
	wallNow func() time.Time

	mu          sync.Mutex
	state       PlayerState
	shownAt     time.Time // wall-clock time the poll on screen was sent
	next        time.Time // the next poll's recorded time (zero: none)
	first, last time.Time
	last1       Step            // the poll on screen (the player's goroutine only)
	lastSnap    *model.Snapshot // its snapshot
}

// PlayerState is what the player reports.
type PlayerState struct {
	Host        string
	At          time.Time
	First, Last time.Time
	Playing     bool
	Speed       int
	Problem     string
}

// MoveKind names a move.
type MoveKind uint8

// Moves.
const (
	MovePlayPause MoveKind = iota + 1
	MoveStepBack
	MoveStepForward
	MoveJump
	MoveGoTo
	MoveSpeed
	MoveQuery // a new filter, applied to the poll on screen at once
)

// Move is a move with its argument: the jump's length (MoveJump), the
// time to go to as typed (MoveGoTo), the filter (MoveQuery).
type Move struct {
	Kind  MoveKind
	By    time.Duration
	Text  string
	Query query.Query
}

// NewPlayer returns a player of rp; Run starts it.
func NewPlayer(rp *Replayer) *Player {
	return &Player{rp: rp, out: make(chan *model.Snapshot, 1), moves: make(chan Move, 16), wallNow: time.Now}
}

// Snapshots delivers the snapshots to show.
func (pl *Player) Snapshots() <-chan *model.Snapshot { return pl.out }

// Do queues a move; it never blocks (a move beyond 16 queued is dropped:
// the user presses keys faster than polls can be replayed).
func (pl *Player) Do(m Move) {
	select {
	case pl.moves <- m:
	default:
	}
}

// State returns the player's state.
func (pl *Player) State() PlayerState {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.state
}

// Now is the recorded clock: the time of the poll on screen, moving on
// at the playing speed while playing (up to the next poll), so that the
// countdowns run as they ran live.
func (pl *Player) Now() time.Time {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	t := pl.state.At
	if pl.state.Playing && !pl.shownAt.IsZero() {
		t = t.Add(pl.wallNow().Sub(pl.shownAt) * time.Duration(pl.state.Speed))
		if !pl.next.IsZero() && t.After(pl.next) {
			t = pl.next
		}
	}
	return t
}

// Run plays until ctx is done, then closes Snapshots.
func (pl *Player) Run(ctx context.Context) {
	defer close(pl.out)
	first, last, err := pl.rp.Reader().Span()
	pl.mu.Lock()
	pl.first, pl.last = first, last
	pl.state.First, pl.state.Last, pl.state.Speed = first, last, Speeds[0]
	pl.mu.Unlock()
	if err != nil {
		pl.problem(err)
	}
	if !pl.step(ctx) {
		return
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var tick <-chan time.Time
		if wait, ok := pl.wait(); ok {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case m := <-pl.moves:
			timer.Stop()
			if !pl.apply(ctx, m) {
				return
			}
		case <-tick:
			if !pl.step(ctx) {
				return
			}
		}
	}
}

// wait returns how long to wait before the next poll while playing.
func (pl *Player) wait() (time.Duration, bool) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if !pl.state.Playing {
		return 0, false
	}
	if pl.next.IsZero() {
		pl.state.Playing = false // the end of the recording
		return 0, false
	}
	gap := pl.next.Sub(pl.state.At) / time.Duration(pl.state.Speed)
	return max(0, gap-pl.wallNow().Sub(pl.shownAt)), true
}

// apply makes a move.
func (pl *Player) apply(ctx context.Context, m Move) bool {
	st := pl.State()
	switch m.Kind {
	case MovePlayPause:
		pl.mu.Lock()
		if !pl.state.Playing {
			pl.shownAt = pl.wallNow() // the clock goes on from the poll on screen
		}
		pl.state.Playing = !pl.state.Playing
		pl.mu.Unlock()
		pl.send(ctx, nil)
		return ctx.Err() == nil
	case MoveSpeed:
		pl.mu.Lock()
		i := 0
		for k, s := range Speeds {
			if s == pl.state.Speed {
				i = (k + 1) % len(Speeds)
			}
		}
		pl.state.Speed, pl.shownAt = Speeds[i], pl.wallNow()
		pl.mu.Unlock()
		pl.send(ctx, nil)
		return ctx.Err() == nil
	case MoveStepForward:
		pl.pause()
		return pl.step(ctx)
	case MoveStepBack:
		pl.pause()
		return pl.seek(ctx, st.At.Add(-time.Nanosecond))
	case MoveJump:
		return pl.seek(ctx, st.At.Add(m.By))
	case MoveGoTo:
		if pl.ParseTime == nil {
			return true
		}
		t, err := pl.ParseTime(m.Text, pl.first, pl.last)
		if err != nil {
			pl.problem(err)
			pl.send(ctx, nil)
			return ctx.Err() == nil
		}
		return pl.seek(ctx, t)
	case MoveQuery:
		pl.rp.SetQuery(m.Query)
		if pl.last1.Poll != nil {
			// The tracker has not moved since: the poll on screen can be
			// built again with the new filter.
			pl.lastSnap = pl.rp.Snapshot(pl.last1)
		}
		pl.send(ctx, nil)
		return ctx.Err() == nil
	}
	return true
}

// step shows the next poll.
func (pl *Player) step(ctx context.Context) bool {
	st, err := pl.rp.Next()
	return pl.show(ctx, st, err)
}

// seek shows the last poll at or before t.
func (pl *Player) seek(ctx context.Context, t time.Time) bool {
	st, err := pl.rp.SeekTime(t)
	return pl.show(ctx, st, err)
}

func (pl *Player) pause() {
	pl.mu.Lock()
	pl.state.Playing = false
	pl.mu.Unlock()
}

func (pl *Player) problem(err error) {
	pl.mu.Lock()
	pl.state.Problem = err.Error()
	pl.mu.Unlock()
}

// show puts a replayed poll on screen. At the end of the recording the
// poll on screen stays and playing stops; damage is shown as the problem,
// and the poll before it stays.
func (pl *Player) show(ctx context.Context, st Step, err error) bool {
	if err != nil {
		if errors.Is(err, io.EOF) {
			pl.mu.Lock()
			pl.state.Playing, pl.next = false, time.Time{}
			if pl.state.At.IsZero() {
				pl.state.Problem = "the recording holds no poll"
			}
			pl.mu.Unlock()
		} else {
			pl.problem(fmt.Errorf("replay: %w", err))
		}
		if st.Poll == nil {
			pl.send(ctx, nil)
			return ctx.Err() == nil
		}
	}
	snap := pl.rp.Snapshot(st)
	pl.last1 = st
	next := time.Time{}
	if p, err := pl.rp.Peek(); err == nil {
		next = p.Time
	}
	pl.mu.Lock()
	pl.state.At, pl.state.Host, pl.next, pl.shownAt = st.Poll.Time, snap.Host, next, pl.wallNow()
	if err == nil {
		pl.state.Problem = ""
	}
	pl.mu.Unlock()
	pl.send(ctx, snap)
	return ctx.Err() == nil
}

// send hands a snapshot to the interface. A nil snap re-sends the poll on
// screen so that the header shows the new state: the interface is fed
// only through snapshots.
func (pl *Player) send(ctx context.Context, snap *model.Snapshot) {
	if snap == nil {
		snap = pl.lastSnap
		if snap == nil {
			return
		}
		// The interface releases the snapshot it replaces: a copy keeps
		// the one on screen valid.
		c := *snap
		snap = &c
	} else {
		pl.lastSnap = snap
	}
	select {
	case pl.out <- snap:
	case <-ctx.Done():
	}
}
