// The look of the interface: how each health is shown (symbol, names,
// colour) and every style, chosen per colour profile.

package tui

import (
	"image/color"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/tcpwatch/tcpwatch/model"
)

// healthLook is how a health is shown: a symbol that carries the meaning
// without colour (NO_COLOR, monochrome ssh sessions), a full and a short
// name for the table, and a sentence for the help screen.
type healthLook struct {
	symbol      string
	short       string
	description string
}

var healthLooks = map[model.Health]healthLook{
	model.HealthOK:               {" ", "ok", "nothing to report"},
	model.HealthRetransmitting:   {"▲", "retrans", "the peer acknowledges nothing; the kernel backs off and will abort"},
	model.HealthKeepaliveProbing: {"●", "keepalive", "idle, and the keepalive probes go unanswered; the kernel will abort"},
	model.HealthZeroWindow:       {"◆", "zero-win", "the peer is alive but not reading (zero window); no abort expected"},
	model.HealthCloseWait:        {"○", "close-wait", "the peer closed its side long ago; the local application has not"},
	model.HealthUnguarded:        {"∞", "unguarded", "idle without keepalive: would never notice a dead peer"},
	model.HealthSynSent:          {"△", "syn-sent", "a connection attempt whose SYN goes unanswered; the kernel will give up"},
	model.HealthOrphanRetrying:   {"▽", "orphan", "closed by the application with data unacknowledged; retried, then aborted"},
}

// look returns the presentation of h, with a fallback for values this
// version does not know.
func look(h model.Health) healthLook {
	if l, ok := healthLooks[h]; ok {
		return l
	}
	return healthLook{"?", h.String(), h.String()}
}

// healthOrder is the order in which healths are listed in the header and
// the help screen: the most urgent first.
var healthOrder = []model.Health{
	model.HealthRetransmitting, model.HealthKeepaliveProbing, model.HealthSynSent, model.HealthOrphanRetrying,
	model.HealthZeroWindow, model.HealthCloseWait, model.HealthUnguarded,
}

// styles holds every style of the interface. Colours are chosen per colour
// profile: basic ANSI colours on 16-colour terminals (where an orange
// would be approximated to red or yellow, erasing a distinction), 256 or
// true colours elsewhere, none at all with NO_COLOR.
type styles struct {
	noColor bool
	health  map[model.Health]lipgloss.Style

	title, bold, dim, italic lipgloss.Style
	selected                 lipgloss.Style
	colHeader, colSorted     lipgloss.Style
	banner, paused           lipgloss.Style
	warn, err, good          lipgloss.Style
	key                      lipgloss.Style
	eventAborted, eventReset lipgloss.Style
	eventRecovered           lipgloss.Style
	future, past             lipgloss.Style
}

// newStyles builds the styles for a colour profile.
func newStyles(p colorprofile.Profile, noColor bool) styles {
	if p <= colorprofile.Ascii {
		noColor = true
	}
	c := lipgloss.Complete(p)
	col := func(ansi color.Color, ansi256, truecolor string) color.Color {
		if noColor {
			return nil
		}
		return c(ansi, lipgloss.Color(ansi256), lipgloss.Color(truecolor))
	}
	red := col(lipgloss.Red, "196", "#ff3b3b")
	orange := col(lipgloss.BrightRed, "208", "#ff8700")
	yellow := col(lipgloss.Yellow, "220", "#ffd000")
	magenta := col(lipgloss.Magenta, "170", "#d75fd7")
	green := col(lipgloss.Green, "34", "#3fbf3f")
	cyan := col(lipgloss.Cyan, "37", "#00afaf")

	fg := func(c color.Color) lipgloss.Style {
		s := lipgloss.NewStyle()
		if c != nil {
			s = s.Foreground(c)
		}
		return s
	}
	s := styles{noColor: noColor}
	s.health = map[model.Health]lipgloss.Style{
		model.HealthOK:               lipgloss.NewStyle(),
		model.HealthRetransmitting:   fg(red).Bold(true),
		model.HealthKeepaliveProbing: fg(orange).Bold(true),
		model.HealthSynSent:          fg(red).Bold(true),
		model.HealthOrphanRetrying:   fg(red).Bold(true),
		model.HealthZeroWindow:       fg(yellow),
		model.HealthCloseWait:        fg(magenta),
		model.HealthUnguarded:        lipgloss.NewStyle().Faint(true),
	}
	s.title = lipgloss.NewStyle().Bold(true)
	s.bold = lipgloss.NewStyle().Bold(true)
	s.dim = lipgloss.NewStyle().Faint(true)
	s.italic = lipgloss.NewStyle().Italic(true)
	s.selected = lipgloss.NewStyle().Reverse(true)
	s.colHeader = lipgloss.NewStyle().Bold(true)
	s.colSorted = lipgloss.NewStyle().Bold(true).Italic(true)
	if !noColor {
		s.colSorted = s.colSorted.Foreground(cyan)
	}
	s.banner = lipgloss.NewStyle().Reverse(true).Bold(true)
	s.paused = lipgloss.NewStyle().Reverse(true).Bold(true)
	s.warn = fg(yellow)
	s.err = fg(red).Bold(true)
	s.good = fg(green)
	s.key = lipgloss.NewStyle().Bold(true)
	s.eventAborted = fg(red).Bold(true)
	s.eventReset = fg(orange)
	s.eventRecovered = fg(green)
	s.future = lipgloss.NewStyle()
	s.past = lipgloss.NewStyle().Faint(true)
	return s
}

// healthStyle returns the style of rows with health h.
func (s styles) healthStyle(h model.Health) lipgloss.Style {
	if st, ok := s.health[h]; ok {
		return st
	}
	return lipgloss.NewStyle()
}

// helpStyles adapts the help bubble to the profile: its default styles
// are grey on the assumption of a dark background, which is unreadable on
// some terminals; bold keys and plain descriptions read everywhere.
func (s styles) helpStyles() help.Styles {
	h := help.Styles{
		ShortKey:       lipgloss.NewStyle().Bold(true),
		ShortDesc:      lipgloss.NewStyle(),
		ShortSeparator: lipgloss.NewStyle().Faint(true),
		Ellipsis:       lipgloss.NewStyle().Faint(true),
		FullKey:        lipgloss.NewStyle().Bold(true),
		FullDesc:       lipgloss.NewStyle(),
		FullSeparator:  lipgloss.NewStyle().Faint(true),
	}
	return h
}
