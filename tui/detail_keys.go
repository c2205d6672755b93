// The detail view's keys: the viewport's scrolling keys, which the
// viewport itself matches, and Home/End; both the footer and the help
// screen are generated from them.

package tui

import (
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/viewport"
)

// detailKeyMap is what the detail view does by itself; the parent
// handles going back, killing, pausing, help and quitting.
type detailKeyMap struct {
	// Scroll is handed to the viewport, which matches it in its Update.
	Scroll      viewport.KeyMap
	Top, Bottom key.Binding
}

// defaultDetailKeyMap returns the viewport's pager keys with Ctrl-F and
// Ctrl-B added (less and vi users expect them), and Home/End with the g/G
// the table uses.
func defaultDetailKeyMap() detailKeyMap {
	s := viewport.DefaultKeyMap()
	s.PageDown.SetKeys("pgdown", "space", "f", "ctrl+f")
	s.PageUp.SetKeys("pgup", "b", "ctrl+b")
	return detailKeyMap{
		Scroll: s,
		Top:    key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("home/g", "top")),
		Bottom: key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("end/G", "bottom")),
	}
}

// ShortHelp is the detail view's part of the one-line reminder: the
// moves by line and by page, each pair under one label so that the
// parent's keys (kill, pause) still fit on 80 columns.
func (k detailKeyMap) ShortHelp() []key.Binding {
	return []key.Binding{
		joinKeys("↑/↓", "scroll", k.Scroll.Up, k.Scroll.Down),
		joinKeys("f/b", "page down/up", k.Scroll.PageDown, k.Scroll.PageUp),
	}
}

// FullHelp is the detail view's part of the help screen: every key the
// viewport binds, and Home/End. The columns fit 80 cells.
func (k detailKeyMap) FullHelp() [][]key.Binding {
	s := k.Scroll
	return [][]key.Binding{
		{withDesc(s.Up, "line up"), withDesc(s.Down, "line down"), withDesc(s.Left, "scroll left"), withDesc(s.Right, "scroll right")},
		{withDesc(s.PageDown, "page down (also space, ctrl+f)"), withDesc(s.PageUp, "page up (also ctrl+b)"),
			withDesc(s.HalfPageDown, "½ page down (also ctrl+d)"), withDesc(s.HalfPageUp, "½ page up (also ctrl+u)")},
		{k.Top, k.Bottom},
	}
}

// joinKeys is one reminder for several bindings: it matches all their
// keys and is enabled while any of them is.
func joinKeys(keys, desc string, bs ...key.Binding) key.Binding {
	var all []string
	enabled := false
	for _, b := range bs {
		all = append(all, b.Keys()...)
		enabled = enabled || b.Enabled()
	}
	j := key.NewBinding(key.WithKeys(all...), key.WithHelp(keys, desc))
	j.SetEnabled(enabled)
	return j
}
