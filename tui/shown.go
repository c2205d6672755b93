// The rows on screen, told to the caller (Config.Shown): on a host with
// more connections than the watcher resolves owners for, the rows a user
// scrolls to get their process in the next poll rather than never.

package tui

import (
	"slices"

	tea "charm.land/bubbletea/v2"
)

// onScreen appends the socket inodes (of the rows that have one) and the
// cookies of the rows in the table's visible window (the selected row is
// among them).
func (t *connTable) onScreen(inodes []uint32, cookies []uint64) ([]uint32, []uint64) {
	s := t.ctx.snap
	if s == nil || len(t.vis) == 0 {
		return inodes, cookies
	}
	off, end := t.inView()
	for i := off; i < end; i++ {
		r := &s.Rows[t.vis[i]]
		if r.Sock == nil {
			continue
		}
		if r.Sock.Inode != 0 {
			inodes = append(inodes, r.Sock.Inode)
		}
		cookies = append(cookies, r.Sock.ID.Cookie)
	}
	return inodes, cookies
}

// shownCmd hands the rows on screen to Config.Shown when they changed
// since it last did.
func (m *Model) shownCmd() tea.Cmd {
	if m.cfg.Shown == nil {
		return nil
	}
	inodes, cookies := m.table.onScreen(nil, nil)
	if slices.Equal(inodes, m.onScreen) && slices.Equal(cookies, m.onScreenCookies) {
		return nil
	}
	m.onScreen, m.onScreenCookies = inodes, cookies
	shown := m.cfg.Shown
	return func() tea.Msg {
		shown(inodes, cookies)
		return nil
	}
}
