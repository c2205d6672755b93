package replay

import (
	"context"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// TestPlayer drives a player as the interface does: it starts paused at
// the first poll, steps a poll forward and back, jumps a minute, goes to a
// typed time (a bad one is a problem, the poll stays), refilters the poll
// on screen, and plays at ×60 through the following polls in order; every
// snapshot is the live run's.
func TestPlayer(t *testing.T) {
	dir, live, times := recordRun(t, 95)
	rp, err := Open(dir, model.Config{}, query.Query{})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	pl := NewPlayer(rp)
	pl.ParseTime = func(s string, _, _ time.Time) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { pl.Run(ctx); close(done) }()
	defer func() {
		cancel()
		for range pl.Snapshots() {
		}
		<-done
	}()
	recv := func(what string, want int) *model.Snapshot {
		t.Helper()
		select {
		case s := <-pl.Snapshots():
			if !s.Time.Equal(times[want]) {
				t.Fatalf("%s: the poll at %v, want poll %d at %v", what, s.Time, want, times[want])
			}
			if got := jsonOf(t, s); got != live[times[want].UnixNano()] {
				t.Fatalf("%s: poll %d differs from the live run's:\n%s", what, want, got)
			}
			return s
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no snapshot", what)
		}
		return nil
	}
	recv("start", 0)
	if st := pl.State(); st.Playing || st.Speed != 1 || st.Host != "db1" || !st.First.Equal(times[0]) || !st.Last.Equal(times[len(times)-1]) {
		t.Fatalf("state at start: %+v", st)
	}
	if !pl.Now().Equal(times[0]) {
		t.Errorf("paused clock %v, want the poll's time %v", pl.Now(), times[0])
	}
	pl.Do(Move{Kind: MoveStepForward})
	recv("a poll forward", 1)
	pl.Do(Move{Kind: MoveStepBack})
	recv("a poll back", 0)
	pl.Do(Move{Kind: MoveStepBack})
	recv("a poll back from the first", 0)
	pl.Do(Move{Kind: MoveJump, By: time.Minute})
	recv("a minute forward", 60)
	pl.Do(Move{Kind: MoveJump, By: -time.Minute + time.Millisecond})
	recv("a minute back", 0)
	pl.Do(Move{Kind: MoveGoTo, Text: times[47].Add(time.Millisecond).Format(time.RFC3339Nano)})
	recv("go to", 47)
	pl.Do(Move{Kind: MoveGoTo, Text: "soon"})
	recv("a bad time", 47)
	if pl.State().Problem == "" {
		t.Error("a bad time is no problem")
	}
	q, err := query.Parse("dport 5433")
	if err != nil {
		t.Fatal(err)
	}
	pl.Do(Move{Kind: MoveQuery, Query: q})
	select {
	case s := <-pl.Snapshots():
		if !s.Time.Equal(times[47]) || len(s.Rows) == 0 {
			t.Fatalf("refiltered: poll at %v with %d rows", s.Time, len(s.Rows))
		}
		for _, r := range s.Rows {
			if r.Sock.ID.Dst.Port() != 5433 {
				t.Fatalf("refiltered poll shows %v", r.Sock.ID.Dst)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot after the filter")
	}
	pl.Do(Move{Kind: MoveQuery})
	recv("unfiltered", 47)
	pl.Do(Move{Kind: MoveSpeed})
	recv("×10", 47)
	pl.Do(Move{Kind: MoveSpeed})
	recv("×60", 47)
	if pl.State().Speed != 60 {
		t.Fatalf("speed %d, want 60", pl.State().Speed)
	}
	pl.Do(Move{Kind: MovePlayPause})
	recv("play", 47)
	for i := 48; i < 55; i++ {
		recv("playing", i)
	}
	pl.Do(Move{Kind: MovePlayPause})
	for {
		// Polls that came before the pause took effect, then the pause.
		s := <-pl.Snapshots()
		if !pl.State().Playing {
			if at := pl.State().At; !s.Time.Equal(at) {
				t.Fatalf("paused at %v, the last snapshot is at %v", at, s.Time)
			}
			break
		}
	}
}
