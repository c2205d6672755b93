// Giving the snapshot back before a poll. On a large host the snapshot
// on screen points into the watcher's last sweep (its sockets: 20 MB at
// 10^5, 200 MB at 10^6) and has its own row array (10 MB, 100 MB), and
// the interface holds it until the next snapshot comes: the next sweep
// had to dump beside it and the next refresh to write its rows beside
// them, into a second buffer and a second array kept for good. Before
// each poll of such a host the watcher asks for it back (Config.Recall).
// The interface then keeps copies of the rows in view, releases the
// snapshot, and draws the copies, countdowns ticking, until the poll's
// snapshot comes in: a few milliseconds for a refresh; for a sweep, a
// fraction of a second at 10^5 sockets, a few seconds at 10^6. What would
// need the other rows (keys but quitting, a filter's answer) waits for
// it, and is then handled in order. What the table kept of the epoch's
// rows (table_kept.go) is kept: it holds no row. A paused display or an
// open prompt keeps its snapshot: the user is reading or typing, and the
// poll works beside it.

package tui

import (
	"slices"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/tcpwatch/tcpwatch/model"
)

// recallMsg is the watcher asking for the snapshot back; closing done
// answers, whether it was given back or not.
type recallMsg struct{ done chan<- struct{} }

// lentTable is what the interface keeps while it draws copies of the
// rows in view: the table's counts and selection over the whole
// snapshot, and the messages held back.
type lentTable struct {
	sel          selection
	shown, total int
	held         []tea.Msg
}

// waitRecall waits for the watcher's next recall; it is re-armed after
// each one.
func (m *Model) waitRecall() tea.Cmd {
	ch, done := m.cfg.Recall, m.done
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		select {
		case d := <-ch:
			return recallMsg{d}
		case <-done:
			return nil
		}
	}
}

// onRecall gives the snapshot on screen back if it can, answers, and
// re-arms the wait.
func (m *Model) onRecall(msg recallMsg) tea.Cmd {
	m.lend()
	close(msg.done)
	return m.waitRecall()
}

// lend puts copies of the rows in view on screen in place of the
// snapshot, and releases it.
func (m *Model) lend() {
	s := m.snap
	if s == nil || m.lent != nil || m.paused || m.prompt != promptNone || m.stopped {
		return
	}
	lt := &lentTable{sel: m.table.sel, shown: m.table.shown(), total: len(s.Rows)}
	m.snap = s.WithRows(m.table.hold())
	m.lent = lt
	s.Release()
}

// holds reports whether msg must wait for a whole snapshot, and keeps it
// if so.
func (m *Model) holds(msg tea.Msg) bool {
	if m.lent == nil {
		return false
	}
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		if msg.String() == "ctrl+c" || key.Matches(msg, m.keys.Quit) {
			return false
		}
	case queryMsg, killMsg, tea.PasteMsg, tea.MouseMsg:
	default:
		return false
	}
	m.lent.held = append(m.lent.held, msg)
	return true
}

// unlend ends the copies' time, before snapshot s goes on screen: the
// table's selection over the whole snapshot is back. It returns the
// messages held meanwhile.
func (m *Model) unlend() []tea.Msg {
	lt := m.lent
	if lt == nil {
		return nil
	}
	m.lent = nil
	m.table.sel = lt.sel
	return lt.held
}

// replayHeld handles the messages held while the copies were on screen.
func (m *Model) replayHeld(held []tea.Msg) tea.Cmd {
	var cmds []tea.Cmd
	for _, msg := range held {
		m.table.setHeight(m.tableRows())
		cmds = append(cmds, m.handle(msg))
	}
	return tea.Batch(cmds...)
}

// tableCounts are the header's "row N of M": the rows that pass the
// filter, the snapshot's, and the selected one's position, over the
// whole snapshot even while copies are on screen.
func (m *Model) tableCounts() (shown, total, cursor int) {
	if lt := m.lent; lt != nil {
		return lt.shown, lt.total, lt.sel.cursor
	}
	if m.snap == nil {
		return 0, 0, 0
	}
	return m.table.shown(), len(m.snap.Rows), m.table.cursor()
}

// hold returns copies of the rows in view, in display order, and makes
// the table show them alone, as they were shown: a snapshot of those
// rows is about to replace the one on screen. What it kept of the
// epoch's rows stays for the next snapshot (rebuildSnapshot): the copies
// are of no epoch, and nothing rebuilds the table on them.
func (t *connTable) hold() []model.Row {
	s := t.ctx.snap
	off, end := t.inView()
	rows := make([]model.Row, 0, max(end-off, 0))
	for i := off; i < end; i++ {
		if r := &s.Rows[t.vis[i]]; r.Sock != nil {
			rows = append(rows, holdRow(r).row)
		}
	}
	t.vis = t.vis[:0]
	for i := range rows {
		t.vis = append(t.vis, int32(i))
	}
	t.sel.cursor = min(max(t.sel.cursor-off, 0), max(len(rows)-1, 0))
	t.sel.offset = 0
	return slices.Clip(rows)
}
