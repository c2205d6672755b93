package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tcpwatch/tcpwatch/model"
)

// manyRows is mixedRows and n unguarded connections: more than a screen.
func manyRows(n int) []model.Row {
	rows := mixedRows()
	for i := range n {
		rows = append(rows, unguardedRow(uint16(40000+i), uint64(0x1000+i)))
	}
	return rows
}

// recall asks m for its snapshot back as the watcher does, and checks
// that it answers.
func recall(t *testing.T, m *Model) {
	t.Helper()
	done := make(chan struct{})
	m.Update(recallMsg{done})
	select {
	case <-done:
	default:
		t.Fatal("recall not answered")
	}
}

// TestRecallGivesSnapshotBack: asked before a sweep, the interface
// releases the snapshot on screen (poisoned on release, as the watcher's
// reused buffers would be) and goes on drawing the same screen, its
// countdowns ticking; the keys pressed meanwhile are handled once the
// next snapshot comes, and the screen is then what it would have been
// without the recall (a second model, never recalled, is the reference).
func TestRecallGivesSnapshotBack(t *testing.T) {
	tests := []struct {
		name   string
		before []string // keys before the recall
		during []string // keys while the copies are on screen
	}{
		{name: "top", during: []string{"j", "j"}},
		{name: "scrolled", before: []string{"pgdown", "j"}, during: []string{"j", "pgdown"}},
		{name: "mid-window", before: []string{"pgdown", "pgdown", "k", "k", "k"}},
		{name: "sort", before: []string{"end"}, during: []string{"s", "home"}},
		{name: "detail", before: []string{"j"}, during: []string{"enter"}},
		{name: "nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, clk := newTestModel(Config{}, 120, 30)
			ref, refClk := newTestModel(Config{}, 120, 30)
			s1, n1 := snapshotOf(manyRows(60)...)
			poisonOnRelease(s1, n1)
			feed(m, s1)
			feed(ref, must(snapshotOf(manyRows(60)...)))
			press(m, tt.before...)
			press(ref, tt.before...)

			before := screenText(m)
			recall(t, m)
			if *n1 != 1 {
				t.Fatalf("snapshot released %d times, want 1", *n1)
			}
			if got := screenText(m); got != before {
				t.Fatalf("screen changed when the snapshot was given back:\n%s\nwant:\n%s", got, before)
			}
			press(m, tt.during...)
			if got := screenText(m); got != before {
				t.Errorf("keys acted on the copies:\n%s\nwant:\n%s", got, before)
			}
			clk.Advance(3 * time.Second)
			refClk.Advance(3 * time.Second)
			m.Update(tickMsg(clk.Now()))
			ref.Update(tickMsg(refClk.Now()))
			if got := screenText(m); got == before && strings.Contains(before, "14m4") {
				t.Errorf("countdowns stopped while the copies were on screen:\n%s", got)
			}

			feed(m, must(snapshotOf(manyRows(60)...)))
			feed(ref, must(snapshotOf(manyRows(60)...)))
			press(ref, tt.during...)
			if got, want := screenText(m), screenText(ref); got != want {
				t.Errorf("after the next snapshot:\n%s\nwant (never recalled):\n%s", got, want)
			}
		})
	}
}

// TestRecallCountdownsTick: the dying row's countdown moves with the
// clock while only copies are on screen.
func TestRecallCountdownsTick(t *testing.T) {
	m, clk := newTestModel(Config{}, 120, 40)
	s, n := snapshotOf(dyingRow(), keepaliveRow())
	poisonOnRelease(s, n)
	feed(m, s)
	recall(t, m)
	clk.Advance(10 * time.Second)
	m.Update(tickMsg(clk.Now()))
	if got := abortCell(t, m, "10.0.3.7:51630"); got != "~14m34s" {
		t.Errorf("countdown 10 s after the recall: got %q, want ~14m34s", got)
	}
	if !strings.Contains(screenText(m), "row 1 of 2") {
		t.Errorf("header lost its counts:\n%s", screenText(m))
	}
}

// TestRecallDeclined: a paused display, an open prompt and a display
// without a snapshot keep what they have (and answer); quitting is never
// held back.
func TestRecallDeclined(t *testing.T) {
	for _, keys := range [][]string{{"p"}, {"/"}} {
		m, _ := newTestModel(Config{}, 120, 30)
		s, n := snapshotOf(manyRows(10)...)
		feed(m, s)
		press(m, keys...)
		recall(t, m)
		if *n != 0 || m.lent != nil {
			t.Errorf("after %v: released %d times, lent %v; want kept", keys, *n, m.lent != nil)
		}
	}
	m, _ := newTestModel(Config{}, 120, 30)
	recall(t, m) // nothing on screen yet
	if m.lent != nil {
		t.Error("lent without a snapshot")
	}
	feed(m, must(snapshotOf(manyRows(10)...)))
	recall(t, m)
	if m.lent == nil {
		t.Fatal("not lent")
	}
	for _, k := range []string{"q", "ctrl+c"} {
		cmd := press(m, k)
		if cmd == nil {
			t.Fatalf("%s held back while lent", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Errorf("%s while lent: not a quit", k)
		}
	}
}

// TestRecallThenStopped: when the watcher stops instead of sweeping, the
// copies stay on screen and the keys held are handled on them.
func TestRecallThenStopped(t *testing.T) {
	m, _ := newTestModel(Config{}, 120, 30)
	s, n := snapshotOf(manyRows(60)...)
	poisonOnRelease(s, n)
	feed(m, s)
	recall(t, m)
	press(m, "j")
	m.Update(stoppedMsg{})
	if m.lent != nil {
		t.Fatal("still lent after the watcher stopped")
	}
	if got := m.table.cursor(); got != 1 {
		t.Errorf("cursor at %d after the held j, want 1", got)
	}
	_ = screenText(m)
}

// TestRecallRearms: answering a recall waits for the next one, so that
// every poll's recall reaches the interface (Config.Recall).
func TestRecallRearms(t *testing.T) {
	ch := make(chan chan<- struct{})
	m, _ := newTestModel(Config{Recall: ch}, 120, 30)
	feed(m, must(snapshotOf(manyRows(10)...)))
	for i := range 3 {
		done := make(chan struct{})
		_, cmd := m.Update(recallMsg{done})
		<-done
		if cmd == nil {
			t.Fatalf("recall %d: no command waits for the next", i)
		}
		next := make(chan struct{})
		go func() { ch <- next }()
		msg, ok := cmd().(recallMsg)
		if !ok {
			t.Fatalf("recall %d: the command returned %T, want the next recall", i, msg)
		}
		close(next)
		feed(m, must(snapshotOf(manyRows(10)...)))
	}
}
