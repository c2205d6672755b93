// How data comes in: the snapshots from the caller's channel, a command
// that waits for each and is re-armed after it, the countdown tick, and
// pausing, which holds new snapshots back.

package tui

import (
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// Messages.
type (
	// snapshotMsg carries a new poll.
	snapshotMsg struct{ snap *model.Snapshot }
	// stoppedMsg says the snapshot channel was closed.
	stoppedMsg struct{}
	// tickMsg re-renders the countdowns between polls.
	tickMsg time.Time
	// queryMsg is the caller's answer to SetQuery.
	queryMsg struct {
		q   query.Query
		err error
	}
	// killMsg is the caller's answer to Kill.
	killMsg struct {
		what string
		err  error
	}
)

// close stops the command waiting on the snapshot channel (Run calls it
// when the program ends, so that no snapshot is taken and dropped).
func (m *Model) close() { m.once.Do(func() { close(m.done) }) }

// waitSnapshot waits for the next snapshot; it is re-armed after each one.
func (m *Model) waitSnapshot() tea.Cmd {
	ch, done := m.cfg.Snapshots, m.done
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		select {
		case s, ok := <-ch:
			if !ok {
				return stoppedMsg{}
			}
			return snapshotMsg{s}
		case <-done:
			return nil
		}
	}
}

// tick fires on the next whole second of the wall clock, so that every
// countdown on screen changes at once.
func tick() tea.Cmd {
	return tea.Every(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// onSnapshot takes in a new poll (or holds it while paused) and re-arms
// the wait.
func (m *Model) onSnapshot(s *model.Snapshot) tea.Cmd {
	next := m.waitSnapshot()
	if s == nil {
		return next
	}
	if m.paused {
		if m.pending != nil && m.pending != s {
			m.pending.Release()
		}
		m.pending = s
		return next
	}
	held := m.unlend()
	m.replace(s)
	return tea.Batch(next, m.replayHeld(held))
}

// replace puts s on screen and releases the snapshot it replaces, after
// everything that was needed from it (the selected connection, the
// detail view's row) has been copied out.
func (m *Model) replace(s *model.Snapshot) {
	old := m.snap
	m.snap = s
	if m.pending == s {
		m.pending = nil
	}
	m.ingest()
	if old != nil && old != s {
		old.Release()
	}
}

// ingest does the per-snapshot work, once: counting, filtering, sorting.
// Frames then only render the visible slice. The header is counted
// first: its height, which may change with the snapshot, is the table's
// scrolling window.
func (m *Model) ingest() {
	m.sum = summarize(m.snap, &m.sums)
	m.events = collectEvents(m.snap)
	m.table.setHeight(m.tableRows())
	m.table.rebuildSnapshot()
	m.detail.follow()
	m.peers.follow()
}

func (m *Model) onTick() tea.Cmd {
	if m.status != "" && m.now.Sub(m.statusAt) > 10*time.Second {
		m.status = ""
	}
	m.detail.refresh()
	return tick()
}

// togglePause freezes the display on the current snapshot (countdowns
// keep counting: they are functions of the clock) or resumes it with the
// newest poll received meanwhile.
func (m *Model) togglePause() {
	m.paused = !m.paused
	if !m.paused && m.pending != nil {
		m.replace(m.pending)
	}
}
