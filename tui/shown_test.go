package tui

import (
	"fmt"
	"slices"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tcpwatch/tcpwatch/model"
)

// runCmd executes what Update returned as the program would, batches
// included; a command that blocks (a timer) is left behind after 100 ms.
func runCmd(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	select {
	case msg := <-done:
		if b, ok := msg.(tea.BatchMsg); ok {
			for _, c := range b {
				runCmd(c)
			}
		}
	case <-time.After(100 * time.Millisecond):
	}
}

// TestShownFollowsTheScreen: the caller is told the inodes and cookies of
// the rows in the visible window when a snapshot comes and when the user
// scrolls, and only when they change.
func TestShownFollowsTheScreen(t *testing.T) {
	var calls [][]uint32
	var cookies [][]uint64
	m, _ := newTestModel(Config{Shown: func(in []uint32, c []uint64) {
		calls, cookies = append(calls, slices.Clone(in)), append(cookies, slices.Clone(c))
	}}, 100, 20)
	var rows []model.Row
	for i := range 60 {
		rows = append(rows, okRow(fmt.Sprintf("10.0.3.7:%d", 40000+i), "10.0.9.14:5432", uint64(i+1), "", 0))
	}
	s, _ := snapshotOf(rows...)
	_, cmd := m.Update(snapshotMsg{s})
	runCmd(cmd)
	if len(calls) != 1 {
		t.Fatalf("%d calls after the first snapshot, want 1", len(calls))
	}
	first := calls[0]
	if n := m.table.height; len(first) != n || n < 5 || n >= 60 {
		t.Fatalf("told %d rows, the window holds %d of 60", len(first), n)
	}
	onScreen := func(in []uint32) map[uint32]bool {
		set := map[uint32]bool{}
		for _, ino := range in {
			set[ino] = true
		}
		return set
	}
	inodes, _ := m.table.onScreen(nil, nil)
	want := onScreen(inodes)
	for _, ino := range first {
		if !want[ino] {
			t.Errorf("inode %d told but not on screen", ino)
		}
	}
	// The cookies are the same rows'.
	byCookie := map[uint64]uint32{}
	for _, r := range rows {
		byCookie[r.Sock.ID.Cookie] = r.Sock.Inode
	}
	for k, calls := range [][]uint64{cookies[0]} {
		if len(calls) != len(first) {
			t.Fatalf("call %d: %d cookies for %d inodes", k, len(calls), len(first))
		}
		for _, c := range calls {
			if !want[byCookie[c]] {
				t.Errorf("cookie %d told, its row (inode %d) is not on screen", c, byCookie[c])
			}
		}
	}
	// A key that moves nothing on screen tells nothing.
	_, cmd = m.Update(keyMsg("?"))
	runCmd(cmd)
	_, cmd = m.Update(keyMsg("esc"))
	runCmd(cmd)
	if len(calls) != 1 {
		t.Errorf("%d calls after help and back, want still 1", len(calls))
	}
	_, cmd = m.Update(keyMsg("end"))
	runCmd(cmd)
	if len(calls) != 2 {
		t.Fatalf("%d calls after going to the end, want 2", len(calls))
	}
	last := rows[len(rows)-1].Sock.Inode
	if got := onScreen(calls[1]); len(calls[1]) != len(first) || !got[last] || got[first[0]] {
		t.Errorf("at the end told %v (the last row's inode is %d), the first window was %v", calls[1], last, first)
	}
}
