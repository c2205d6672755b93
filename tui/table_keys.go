// The connection table's keys: moving the cursor, the sort and the
// unhealthy-only toggle, and the table's Update, which handles them.

package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// tableKeyMap is what the table does by itself; the parent handles the
// keys that open screens and prompts over it.
type tableKeyMap struct {
	Up, Down, PageUp, PageDown, Home, End key.Binding
	Unhealthy, Sort, SortReverse          key.Binding
}

// defaultTableKeyMap returns the table's bindings.
func defaultTableKeyMap() tableKeyMap {
	return tableKeyMap{
		Up:          key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:        key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:      key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup", "page up")),
		PageDown:    key.NewBinding(key.WithKeys("pgdown", "ctrl+f", "space"), key.WithHelp("pgdn", "page down")),
		Home:        key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("home/g", "first")),
		End:         key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("end/G", "last")),
		Unhealthy:   key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "unhealthy")),
		Sort:        key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort")),
		SortReverse: key.NewBinding(key.WithKeys("S"), key.WithHelp("S", "reverse")),
	}
}

// ShortHelp is the table's part of the one-line reminder.
func (k tableKeyMap) ShortHelp() []key.Binding { return []key.Binding{k.Unhealthy, k.Sort} }

// FullHelp is the table's part of the help screen: the moves, then the
// order and the toggle, with longer descriptions.
func (k tableKeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, withDesc(k.Home, "first row"), withDesc(k.End, "last row")},
		{withDesc(k.Unhealthy, "only unhealthy rows"), withDesc(k.Sort, "next sort column"), withDesc(k.SortReverse, "reverse the sort")},
	}
}

// Update handles the table's keys; other messages leave it unchanged.
// Moving the cursor makes it follow the connection under it across
// polls, except Home, which goes back to sticking to the most urgent row.
func (t connTable) Update(msg tea.Msg) (connTable, tea.Cmd) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return t, nil
	}
	switch {
	case key.Matches(k, t.keys.Up):
		t.followTo(t.sel.cursor - 1)
	case key.Matches(k, t.keys.Down):
		t.followTo(t.sel.cursor + 1)
	case key.Matches(k, t.keys.PageUp):
		t.followTo(t.sel.cursor - t.page())
	case key.Matches(k, t.keys.PageDown):
		t.followTo(t.sel.cursor + t.page())
	case key.Matches(k, t.keys.Home):
		t.sel.follow = false
		t.moveTo(0)
	case key.Matches(k, t.keys.End):
		t.followTo(len(t.vis) - 1)
	case key.Matches(k, t.keys.Unhealthy):
		t.unhealthyOnly = !t.unhealthyOnly
		t.rebuild()
	case key.Matches(k, t.keys.Sort):
		t.order = t.order.next()
		t.rebuild()
	case key.Matches(k, t.keys.SortReverse):
		t.order = t.order.reversed()
		t.rebuild()
	}
	return t, nil
}

// followTo moves the cursor to position i and follows the connection
// there.
func (t *connTable) followTo(i int) {
	t.sel.follow = true
	t.moveTo(i)
}
