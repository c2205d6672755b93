// The parent's keys and the routing of key presses: the keys valid on
// every screen, those that open screens and prompts, and which component
// gets the rest. The footers and the help screen are generated from these
// key maps and the components' own, so a key cannot exist without being
// documented.

package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// keyMap lists the keys the parent handles itself.
type keyMap struct {
	Detail, Back, Events, Help key.Binding
	Filter, Pause, Kill, Quit  key.Binding
}

// defaultKeyMap returns the bindings; kill is enabled only when the caller
// allows killing connections.
func defaultKeyMap(kill bool) keyMap {
	k := keyMap{
		Detail: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "details")),
		Back:   key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Events: key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "events")),
		Help:   key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Filter: key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Pause:  key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause")),
		Kill:   key.NewBinding(key.WithKeys("K"), key.WithHelp("K", "kill")),
		Quit:   key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
	k.Kill.SetEnabled(kill)
	return k
}

// withDesc is b with the longer description the help screen has room for.
func withDesc(b key.Binding, desc string) key.Binding {
	b.SetHelp(b.Help().Key, desc)
	return b
}

// tableFooter is the one-line reminder at the bottom of the table.
func (m *Model) tableFooter() []key.Binding {
	k := m.keys
	return append(append([]key.Binding{k.Detail, k.Filter}, m.table.keys.ShortHelp()...),
		k.Pause, k.Kill, k.Events, k.Help, k.Quit)
}

// detailFooter is the reminder at the bottom of the detail view.
func (m *Model) detailFooter() []key.Binding {
	k := m.keys
	return append(append([]key.Binding{k.Back}, m.detail.keys.ShortHelp()...),
		k.Pause, k.Kill, k.Help, k.Quit)
}

// tableHelp is the help screen's list of the table screen's keys, one
// column per group: moves, screens, what the rows show.
func (m *Model) tableHelp() [][]key.Binding {
	k := m.keys
	t := m.table.keys.FullHelp() // moves, then order and toggle
	return [][]key.Binding{
		t[0],
		{withDesc(k.Detail, "explain the connection"), withDesc(k.Back, "back, cancel"), withDesc(k.Events, "show/hide events"),
			withDesc(k.Help, "this help"), withDesc(k.Quit, "quit (also ctrl+c)")},
		append(append([]key.Binding{withDesc(k.Filter, "filter: port 5432, dying…")}, t[1]...),
			withDesc(k.Pause, "freeze the rows"), withDesc(k.Kill, "kill the connection")),
	}
}

// onKey dispatches a key press: Ctrl-C always quits, an open prompt takes
// every other key, then the keys valid everywhere, then the screen's own.
func (m *Model) onKey(k tea.KeyPressMsg) tea.Cmd {
	if k.String() == "ctrl+c" {
		return tea.Quit
	}
	switch m.prompt {
	case promptFilter:
		return m.filterKey(k)
	case promptKill:
		return m.killKey(k)
	}
	if cmd, ok := m.replayKey(k); ok {
		return cmd
	}
	switch {
	case key.Matches(k, m.keys.Quit):
		return tea.Quit
	case key.Matches(k, m.keys.Pause):
		m.togglePause()
		return nil
	}
	switch m.screen {
	case screenHelp:
		if key.Matches(k, m.keys.Help, m.keys.Back) {
			m.screen = m.helpFrom
		}
		return nil
	case screenDetail:
		return m.detailScreenKey(k)
	}
	return m.tableScreenKey(k)
}

// tableScreenKey handles the keys that open something over the table,
// and hands the others to the table.
func (m *Model) tableScreenKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Help):
		m.openHelp()
	case key.Matches(k, m.keys.Detail):
		m.openDetail()
	case key.Matches(k, m.keys.Events):
		m.showEvents = !m.showEvents
		m.fitTable()
	case key.Matches(k, m.keys.Filter):
		return m.openFilter()
	case key.Matches(k, m.keys.Kill):
		m.askKill(m.table.selected())
	case key.Matches(k, m.keys.Back):
		m.status = ""
	default:
		var cmd tea.Cmd
		m.table, cmd = m.table.Update(k)
		return cmd
	}
	return nil
}

// detailScreenKey handles going back, help and kill on the detail
// screen, and hands the others to the detail view.
func (m *Model) detailScreenKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Back):
		m.screen = screenTable
		m.detail.close()
	case key.Matches(k, m.keys.Help):
		m.openHelp()
	case key.Matches(k, m.keys.Kill):
		m.askKill(m.detail.killable())
	default:
		var cmd tea.Cmd
		m.detail, cmd = m.detail.Update(k)
		return cmd
	}
	return nil
}

// openDetail shows the selected connection.
func (m *Model) openDetail() {
	r := m.table.selected()
	if r == nil {
		return
	}
	m.detail.open(r)
	m.screen = screenDetail
}

// openHelp shows the help screen over the current one.
func (m *Model) openHelp() {
	m.helpFrom = m.screen
	m.screen = screenHelp
}
