//go:build tcpwatch_testpanic

// A test-only hook, in binaries built with the tcpwatch_testpanic tag:
// a key that panics inside Update.

package tui

import tea "charm.land/bubbletea/v2"

// A binary built with -tags tcpwatch_testpanic panics inside Update when
// "!" is pressed, so that the end-to-end tests can check that a panic
// restores the terminal and is reported. Normal builds do not contain this
// file.
func init() {
	wrapModel = func(m tea.Model) tea.Model { return panicOnBang{m} }
}

// panicOnBang is the interface's model with one extra key.
type panicOnBang struct{ tea.Model }

// testPanicValue is the panic's value; tests look for it on stderr.
const testPanicValue = "tcpwatch test panic: the ! key was pressed"

func (p panicOnBang) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok && k.String() == "!" {
		panic(testPanicValue)
	}
	m, cmd := p.Model.Update(msg)
	return panicOnBang{m}, cmd
}
