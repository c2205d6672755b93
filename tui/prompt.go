// The prompts that replace the footer: the filter ("/"), handed to the
// caller from a command, and the confirmation before a kill ("K").

package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// openFilter opens the "/" prompt with the filter in force.
func (m *Model) openFilter() tea.Cmd {
	m.prompt = promptFilter
	m.input.SetValue(m.query.String())
	m.input.CursorEnd()
	return m.input.Focus()
}

// filterKey edits the filter: Enter parses and applies it (a parse error
// is shown and the prompt stays open, the old filter in force), Esc
// cancels.
func (m *Model) filterKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "esc":
		m.closePrompt()
		return nil
	case "enter":
		q, err := query.Parse(strings.TrimSpace(m.input.Value()))
		if err != nil {
			m.setStatus("bad filter: "+err.Error(), true)
			return nil
		}
		m.closePrompt()
		return m.applyQuery(q)
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(k)
	return cmd
}

func (m *Model) closePrompt() {
	m.prompt = promptNone
	m.input.Blur()
	m.killRow = nil
	m.killPeer = nil
}

// applyQuery hands a new filter to the caller, from a command: SetQuery
// may take a lock or rebuild a request, which has no place in Update.
func (m *Model) applyQuery(q query.Query) tea.Cmd {
	set := m.cfg.SetQuery
	if set == nil {
		return func() tea.Msg { return queryMsg{q: q} }
	}
	return func() tea.Msg { return queryMsg{q: q, err: set(q)} }
}

// onQueryResult installs the filter once the caller accepted it.
func (m *Model) onQueryResult(msg queryMsg) tea.Cmd {
	if msg.err != nil {
		m.setStatus("filter not applied: "+msg.err.Error(), true)
		return nil
	}
	m.setQuery(msg.q)
	m.table.rebuild()
	if msg.q.IsZero() {
		m.setStatus("filter cleared", false)
	} else {
		m.setStatus("filter applied", false)
	}
	return nil
}

// askKill asks for confirmation before destroying the connection r. The
// row is copied: the snapshot it belongs to may be released before the
// answer comes.
func (m *Model) askKill(r *model.Row) {
	if m.cfg.Kill == nil || r == nil {
		return
	}
	m.killRow = holdRow(r)
	m.prompt = promptKill
}

// killPrompt names the connection that K would destroy.
func (m *Model) killPrompt() string {
	if m.killRow == nil {
		return ""
	}
	return m.confirmLine("Kill "+connName(&m.killRow.row)+"?", "the peer gets an RST, the application ECONNABORTED")
}

// confirmLine renders a kill confirmation: the question, which names what
// dies, the keys, and what the kill does.
func (m *Model) confirmLine(question, effect string) string {
	q := m.styles.err.Render(" "+question) + " " + m.styles.key.Render("y") + " kills, any other key cancels" +
		m.styles.dim.Render(" ("+effect+")")
	return truncate(q, m.width)
}

// confirmed reports whether the answer to a kill confirmation is y, and
// says otherwise that the kill was cancelled.
func (m *Model) confirmed(k tea.KeyPressMsg) bool {
	if k.String() == "y" {
		return true
	}
	m.setStatus("kill cancelled", false)
	return false
}

// killKey answers the confirmation: only y kills.
func (m *Model) killKey(k tea.KeyPressMsg) tea.Cmd {
	h := m.killRow
	m.closePrompt()
	if h == nil || !m.confirmed(k) {
		return nil
	}
	kill, row, what := m.cfg.Kill, h.row, connName(&h.row)
	m.setStatus("killing "+what+"…", false)
	return func() tea.Msg { return killMsg{what: what, err: kill(row)} }
}

// onKillResult shows what the kill did.
func (m *Model) onKillResult(msg killMsg) tea.Cmd {
	if msg.err != nil {
		m.setStatus("kill "+msg.what+" failed: "+msg.err.Error(), true)
	} else {
		m.setStatus("killed "+msg.what, false)
	}
	return nil
}
