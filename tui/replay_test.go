package tui

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakePlayer records the moves the interface asks for and reports a
// fixed state.
type fakePlayer struct {
	moves []ReplayCmd
	state ReplayState
}

func (p *fakePlayer) replay() *Replay {
	return &Replay{Do: func(c ReplayCmd) { p.moves = append(p.moves, c) }, State: func() ReplayState { return p.state }}
}

func newReplayModel(t *testing.T, w, h int) (*Model, *fakePlayer) {
	t.Helper()
	p := &fakePlayer{state: ReplayState{
		Host: "db-7.prod", At: t0, First: t0.Add(-42 * time.Minute), Last: t0.Add(17 * time.Minute), Speed: 10,
	}}
	m, _ := newTestModel(Config{Replay: p.replay()}, w, h)
	s, _ := snapshotOf(mixedRows()...)
	s.AllEvents = sampleEvents()
	feed(m, s)
	return m, p
}

// TestReplayViews: the screens of a replay say REPLAY, the host, the
// recorded time on screen, whether it plays and how fast, the span and
// the keys; the go-to prompt replaces the footer; a problem is shown.
func TestReplayViews(t *testing.T) {
	for _, tc := range []struct {
		name  string
		w, h  int
		setup func(p *fakePlayer)
		keys  []string
	}{
		{name: "paused", w: 100, h: 24},
		{name: "playing", w: 80, h: 24, setup: func(p *fakePlayer) { p.state.Playing, p.state.Speed = true, 60 }},
		{name: "goto_prompt", w: 100, h: 24, keys: []string{"t", "0", "3", ":", "1", "2"}},
		{name: "problem", w: 100, h: 24, setup: func(p *fakePlayer) {
			p.state.Problem = "replay: record: rec-00000003-20260304T031000Z.twr: offset 18211: checksum mismatch"
		}},
		{name: "detail", w: 100, h: 40, keys: []string{"j", "enter"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, p := newReplayModel(t, tc.w, tc.h)
			if tc.setup != nil {
				tc.setup(p)
			}
			press(m, tc.keys...)
			golden(t, screenText(m))
		})
	}
}

// TestReplayKeys: each key asks the player for its move, the go-to
// prompt hands over what was typed (Esc hands nothing), and the keys of
// a replay are plain keys again while the filter prompt is open.
func TestReplayKeys(t *testing.T) {
	m, p := newReplayModel(t, 100, 24)
	press(m, "space", ",", ".", "[", "]", "x")
	press(m, "t")
	typeText(m, "03:12:05")
	press(m, "enter")
	press(m, "t")
	typeText(m, "04:00")
	press(m, "esc")
	press(m, "/")
	typeText(m, "state x")
	press(m, "esc")
	want := []ReplayCmd{
		{Move: ReplayPlayPause}, {Move: ReplayStepBack}, {Move: ReplayStepForward},
		{Move: ReplayJump, By: -time.Minute}, {Move: ReplayJump, By: time.Minute}, {Move: ReplaySpeed},
		{Move: ReplayGoTo, Text: "03:12:05"},
	}
	if !reflect.DeepEqual(p.moves, want) {
		t.Errorf("moves %+v\nwant  %+v", p.moves, want)
	}
	if m.table.cursor() != 0 {
		t.Errorf("space paged the table (cursor %d): in a replay it plays", m.table.cursor())
	}
}

// TestLiveHasNoReplayKeys: without a player the replay keys do what they
// did, and the header says nothing of a replay.
func TestLiveHasNoReplayKeys(t *testing.T) {
	m, _ := newTestModel(Config{}, 100, 24)
	s, _ := snapshotOf(mixedRows()...)
	feed(m, s)
	press(m, "t", "x", "[")
	if m.replay.prompting {
		t.Error("t opened the go-to prompt of a live view")
	}
	if got := screenText(m); strings.Contains(got, "REPLAY") || strings.Contains(got, "recorded") {
		t.Errorf("a live view mentions a replay:\n%s", got)
	}
}
