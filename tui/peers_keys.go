// The peers screen's frame and keys: opening it, going back, and Enter,
// which shows the table filtered to the selected host's connections.

package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tcpwatch/tcpwatch/query"
)

// openPeers shows the peers view, the cursor on the most urgent host.
func (m *Model) openPeers() {
	m.peers.cursor, m.peers.offset = 0, 0
	m.peers.remember()
	m.screen = screenPeers
}

// renderPeers renders the peers screen: the title line, the view, the
// footer.
func (m *Model) renderPeers() string {
	lines := []string{m.titleLine(m.width), m.peersLine(), m.peers.View(m.width, m.height-3), m.footer(m.peersFooter())}
	return strings.Join(lines, "\n")
}

// peersLine is the line above the hosts: their counts, and the latest
// status message (what K or Enter did).
func (m *Model) peersLine() string {
	left := " " + m.styles.bold.Render(m.peers.counts())
	if m.status == "" {
		return truncate(left, m.width)
	}
	st := m.styles.good
	if m.statusErr {
		st = m.styles.err
	}
	right := st.Render(m.status) + " "
	if ansi.StringWidth(left)+ansi.StringWidth(right)+2 > m.width {
		return truncate(" "+right, m.width)
	}
	return spread(left, right, m.width)
}

// peersFooter is the reminder at the bottom of the peers view.
func (m *Model) peersFooter() []key.Binding {
	k := m.keys
	back := k.Back
	back.SetHelp("esc/H", "back")
	return []key.Binding{m.peers.keys.Show, m.peers.keys.Kill, m.peers.keys.Up, m.peers.keys.Down, back, k.Pause, k.Help, k.Quit}
}

// peersScreenKey handles the peers screen's keys.
func (m *Model) peersScreenKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Back, m.keys.Peers):
		m.screen = screenTable
	case key.Matches(k, m.keys.Help):
		m.openHelp()
	case key.Matches(k, m.peers.keys.Show):
		return m.showPeerConnections()
	case key.Matches(k, m.peers.keys.Kill):
		m.askKillPeer()
	default:
		var cmd tea.Cmd
		m.peers, cmd = m.peers.Update(k)
		return cmd
	}
	return nil
}

// showPeerConnections filters the table to the selected host's
// connections ("dst ADDR": the kernel filter matches an IPv4-mapped
// address too) and goes back to it.
func (m *Model) showPeerConnections() tea.Cmd {
	p := m.peers.selected()
	if p == nil {
		return nil
	}
	q, err := query.Parse("dst " + p.Addr.String())
	if err != nil {
		m.setStatus("cannot filter on "+p.Addr.String()+": "+err.Error(), true)
		return nil
	}
	m.screen = screenTable
	return m.applyQuery(q)
}

// peersHelp is the help screen's list of the peers view's keys.
func (m *Model) peersHelp() [][]key.Binding {
	k, p := m.keys, m.peers.keys
	return [][]key.Binding{
		{p.Up, p.Down, p.Home, p.End},
		{withDesc(p.Show, "the table, filtered to the host's connections"), withDesc(k.Peers, "back to the table (also esc)"),
			withDesc(p.Kill, "kill an unresponsive host's connections that would never notice (--allow-kill)")},
	}
}
