// The rows on screen, told to the caller (Config.Shown): on a host with
// more connections than the watcher resolves owners for, the rows a user
// scrolls to get their process in the next poll rather than never.

package tui

import (
	"slices"

	tea "charm.land/bubbletea/v2"
)

// onScreen appends the socket inodes of the rows in the table's visible
// window (the selected row is among them).
func (t *connTable) onScreen(dst []uint32) []uint32 {
	s := t.ctx.snap
	if s == nil || len(t.vis) == 0 {
		return dst
	}
	off := t.window(t.sel.cursor, t.height)
	end := min(off+t.height, len(t.vis))
	for i := off; i < end; i++ {
		if r := &s.Rows[t.vis[i]]; r.Sock != nil && r.Sock.Inode != 0 {
			dst = append(dst, r.Sock.Inode)
		}
	}
	return dst
}

// shownCmd hands the rows on screen to Config.Shown when they changed
// since it last did.
func (m *Model) shownCmd() tea.Cmd {
	if m.cfg.Shown == nil {
		return nil
	}
	now := m.table.onScreen(nil)
	if slices.Equal(now, m.onScreen) {
		return nil
	}
	m.onScreen = now
	shown := m.cfg.Shown
	return func() tea.Msg {
		shown(now)
		return nil
	}
}
