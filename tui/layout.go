// The frames of the screens: how the main screen's height is split
// between the header, the table, the events pane and the footer, the
// detail screen's title and footer, the footer itself, and the screen
// shown when the terminal is too small.

package tui

import (
	"fmt"
	"slices"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// mainLayout splits the main screen's height between the header, the
// table, the events pane and the footer.
type mainLayout struct {
	header  []string
	rows    int // table rows, below the column header
	eventsH int
}

// minTableRows is what the table keeps on a short terminal: header
// blocks and the events pane give way first.
const minTableRows = 3

func (m *Model) layoutMain() mainLayout {
	blocks := m.headerBlocks(m.width)
	eventsH := 0
	if m.showEvents {
		eventsH = 4
		if m.height >= 36 {
			eventsH = 7
		}
	}
	const footerH, colHeaderH = 1, 1
	headerH := func() int {
		n := 0
		for _, b := range blocks {
			n += len(b.lines)
		}
		return n
	}
	rows := func() int { return m.height - headerH() - colHeaderH - eventsH - footerH }
	for rows() < minTableRows {
		if eventsH > 2 {
			eventsH = 2
			continue
		}
		// Drop the least important droppable block.
		worst := -1
		for i, b := range blocks {
			if b.prio > 0 && (worst < 0 || b.prio > blocks[worst].prio) {
				worst = i
			}
		}
		if worst >= 0 && blocks[worst].prio > 2 {
			blocks = append(blocks[:worst], blocks[worst+1:]...)
			continue
		}
		if eventsH > 0 {
			eventsH = 0
			continue
		}
		if worst >= 0 {
			blocks = append(blocks[:worst], blocks[worst+1:]...)
			continue
		}
		break
	}
	var header []string
	for _, b := range blocks {
		header = append(header, b.lines...)
	}
	return mainLayout{header: header, rows: max(rows(), 1), eventsH: eventsH}
}

// tableRows is how many rows the table shows at the current size.
func (m *Model) tableRows() int {
	if m.width < minWidth || m.height < minHeight {
		return 1
	}
	return m.layoutMain().rows
}

// renderMain renders the table screen.
func (m *Model) renderMain() string {
	l := m.layoutMain()
	lines := make([]string, 0, m.height)
	for _, h := range l.header {
		lines = append(lines, truncate(h, m.width))
	}
	lines = append(lines, m.table.View(m.width, l.rows+1))
	if l.eventsH > 0 {
		lines = append(lines, m.renderEvents(l.eventsH)...)
	}
	lines = append(lines, m.footer(m.tableFooter()))
	return strings.Join(lines, "\n")
}

// renderDetail renders the detail screen: the title line, the detail
// view, the footer.
func (m *Model) renderDetail() string {
	lines := []string{m.titleLine(m.width), m.detail.View(m.width, m.height-2), m.footer(m.detailFooter())}
	return strings.Join(lines, "\n")
}

// footer is the bottom line: the open prompt, or a reminder of the keys.
func (m *Model) footer(bindings []key.Binding) string {
	if f := m.replayFooter(); f != "" {
		return f
	}
	switch m.prompt {
	case promptFilter:
		return spread(m.input.View(), m.styles.dim.Render("enter applies · esc cancels "), m.width)
	case promptKill:
		return m.killPrompt()
	}
	return " " + m.fitHelp(bindings)
}

// fitHelp renders as many of the bindings as fit on the footer, always
// keeping the last two (help and quit): the key that lists every other
// key must never be the one cut off.
func (m *Model) fitHelp(bindings []key.Binding) string {
	var enabled []key.Binding
	for _, b := range bindings {
		if b.Enabled() {
			enabled = append(enabled, b)
		}
	}
	h := m.help
	h.SetWidth(0) // measure untruncated
	keep := 2
	if len(enabled) <= keep {
		return truncate(h.ShortHelpView(enabled), m.width-1)
	}
	tail := enabled[len(enabled)-keep:]
	head := enabled[:len(enabled)-keep]
	for n := len(head); n >= 0; n-- {
		v := h.ShortHelpView(append(slices.Clone(head[:n]), tail...))
		if ansi.StringWidth(v) <= m.width-1 {
			return v
		}
	}
	return truncate(h.ShortHelpView(tail), m.width-1)
}

// renderTooSmall is the whole screen below the minimum size: one centred
// line saying what is needed.
func (m *Model) renderTooSmall() string {
	msg := fmt.Sprintf("tcpwatch needs at least %d×%d (now %d×%d)", minWidth, minHeight, m.width, m.height)
	if ansi.StringWidth(msg) > m.width {
		msg = fmt.Sprintf("tcpwatch needs %d×%d (now %d×%d)", minWidth, minHeight, m.width, m.height)
	}
	if ansi.StringWidth(msg) > m.width {
		msg = fmt.Sprintf("≥ %d×%d", minWidth, minHeight)
	}
	return lipgloss.Place(m.width, m.height, lipgloss.Center, lipgloss.Center, truncate(msg, m.width))
}
