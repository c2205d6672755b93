// The help screen: every key, generated from the key maps of the parent
// and of its components, and what the symbols and marks of the table mean.

package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
)

// renderHelp lists every key (from the key maps, through the help bubble)
// and what the symbols and marks of the table mean.
func (m *Model) renderHelp() string {
	lines := []string{m.titleLine(m.width), "", " " + m.styles.bold.Render("Keys"), ""}
	lines = append(lines, m.helpColumns(m.tableHelp())...)
	if m.cfg.Kill == nil {
		lines = append(lines, "   "+m.styles.dim.Render("K (kill a connection) needs --allow-kill"))
	}
	lines = append(lines, "", " "+m.styles.bold.Render("Keys in the detail view"), "")
	lines = append(lines, m.helpColumns(m.detail.keys.FullHelp())...)
	lines = append(lines, "", " "+m.styles.bold.Render("Keys in the hosts view (H)"), "")
	lines = append(lines, m.helpColumns(m.peersHelp())...)
	lines = append(lines, "", " "+m.styles.bold.Render("Health"), "")
	for _, hl := range healthOrder {
		l := look(hl)
		lines = append(lines, "   "+m.styles.healthStyle(hl).Render(l.symbol+" "+fit(hl.String(), 18, false))+l.description)
	}
	lines = append(lines,
		"",
		" "+m.styles.bold.Render("Marks"),
		"",
		"   "+fit("~13m02s", 20, false)+"abort in 13m02s, assuming the namespace's sysctls (socket options unreadable)",
		"   "+fit("13m02s", 20, false)+"abort in 13m02s, from the socket's own settings",
		"   "+fit("—", 20, false)+"no abort expected",
		"   "+fit("5/15", 20, false)+"retransmissions (or probes) so far / before the kernel gives up",
		"   "+fit("✗ ↯ ↺ ·", 20, false)+"events: aborted, reset, recovered, closed",
		"   "+fit("⊘ ↺", 20, false)+"events: a host became unresponsive, was heard from again",
		"   "+fit("✗ ≈", 20, false)+"hosts: unresponsive (nothing heard since its connections stalled), partial (some stall, another hears)",
		"   "+fit("PAUSED", 20, false)+"rows frozen (p); countdowns still follow the clock",
	)
	lines = append(lines, "")
	body := make([]string, 0, m.height)
	for _, l := range lines {
		if len(body) == m.height-1 {
			break
		}
		body = append(body, truncate(l, m.width))
	}
	for len(body) < m.height-1 {
		body = append(body, "")
	}
	back := []key.Binding{m.keys.Back, m.keys.Quit}
	return strings.Join(append(body, m.footer(back)), "\n")
}

// helpColumns renders groups of bindings side by side, indented.
func (m *Model) helpColumns(groups [][]key.Binding) []string {
	h := m.help
	h.ShowAll = true
	lines := strings.Split(h.FullHelpView(groups), "\n")
	for i := range lines {
		lines[i] = "   " + lines[i]
	}
	return lines
}
