package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// keyMap lists every key of the interface; the help screen is generated
// from it, so a key cannot exist without being documented.
type keyMap struct {
	Up, Down, PageUp, PageDown, Home, End key.Binding
	Detail, Back, Events, Help            key.Binding
	Filter, Unhealthy, Sort, SortReverse  key.Binding
	Pause, Kill, Quit                     key.Binding
}

// defaultKeyMap returns the bindings; kill is enabled only when the caller
// allows killing connections.
func defaultKeyMap(kill bool) keyMap {
	k := keyMap{
		Up:          key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:        key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:      key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup", "page up")),
		PageDown:    key.NewBinding(key.WithKeys("pgdown", "ctrl+f", "space"), key.WithHelp("pgdn", "page down")),
		Home:        key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("home/g", "first")),
		End:         key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("end/G", "last")),
		Detail:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "details")),
		Back:        key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Events:      key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "events")),
		Help:        key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Filter:      key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Unhealthy:   key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "unhealthy")),
		Sort:        key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort")),
		SortReverse: key.NewBinding(key.WithKeys("S"), key.WithHelp("S", "reverse")),
		Pause:       key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause")),
		Kill:        key.NewBinding(key.WithKeys("K"), key.WithHelp("K", "kill")),
		Quit:        key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
	k.Kill.SetEnabled(kill)
	return k
}

// ShortHelp is the one-line reminder at the bottom of the table.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Detail, k.Filter, k.Unhealthy, k.Sort, k.Pause, k.Kill, k.Events, k.Help, k.Quit}
}

// FullHelp is the help screen, one column per group, with longer
// descriptions than the one-line reminder has room for.
func (k keyMap) FullHelp() [][]key.Binding {
	long := func(b key.Binding, desc string) key.Binding {
		b.SetHelp(b.Help().Key, desc)
		return b
	}
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, long(k.Home, "first row"), long(k.End, "last row")},
		{long(k.Detail, "explain the connection"), long(k.Back, "back, cancel"), long(k.Events, "show/hide events"),
			long(k.Help, "this help"), long(k.Quit, "quit (also ctrl+c)")},
		{long(k.Filter, "filter: port 5432, dying…"), long(k.Unhealthy, "only unhealthy rows"), long(k.Sort, "next sort column"),
			long(k.SortReverse, "reverse the sort"), long(k.Pause, "freeze the rows"), long(k.Kill, "kill the connection")},
	}
}

// detailHelp is the reminder at the bottom of the detail view.
type detailHelp keyMap

func (k detailHelp) ShortHelp() []key.Binding {
	return []key.Binding{k.Back, k.Up, k.Down, k.PageDown, k.Pause, k.Kill, k.Help, k.Quit}
}

func (k detailHelp) FullHelp() [][]key.Binding { return keyMap(k).FullHelp() }

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
		return m.detailKey(k)
	}
	if key.Matches(k, m.keys.Help) {
		m.openHelp()
		return nil
	}
	return m.tableKey(k)
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
