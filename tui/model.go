// Package tui is tcpwatch's full-screen terminal interface: a live table
// of TCP connections with those the kernel is about to abort first, a
// countdown to each abort, a detail view that explains the prediction, and
// a pane of recent events.
//
// The package only displays. It consumes immutable model.Snapshot values
// from a channel, reads the clock through Config.Now, and calls back into
// its caller (SetQuery, Kill) from commands. It must not do I/O of its own
// and never talks to netlink: Update and View are functions of the
// messages received, so that the whole interface can be driven in tests
// with synthetic snapshots and a fixed clock.
package tui

import (
	"os"
	"sync"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/textinput"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// Config is what the interface needs from its caller.
type Config struct {
	// Snapshots delivers one snapshot per poll. It is closed when the
	// watcher stops: the last snapshot stays on screen with a notice.
	Snapshots <-chan *model.Snapshot
	// Query is the filter in force at start, shown in the header and
	// editable with "/".
	Query query.Query
	// SetQuery is called (from a command, never from Update) when the
	// user changes the filter; the caller applies the kernel-side part
	// from the next poll on. An error keeps the previous filter.
	SetQuery func(query.Query) error
	// Kill destroys a connection. It is nil unless killing was allowed
	// on the command line; then K asks for confirmation first.
	Kill func(model.Row) error
	// NoColor disables colours (the NO_COLOR environment variable does
	// too); every distinction is also carried by a symbol.
	NoColor bool
	// Banner is shown above the header (the demo says which namespaces
	// it built and that they go away on exit).
	Banner string
	// Now is the clock; nil means time.Now. Tests inject a fixed one.
	Now func() time.Time
}

// Minimum terminal size: below it the screen shows one line saying so.
const (
	minWidth  = 60
	minHeight = 12
)

// screen is what fills the area below the header.
type screen uint8

const (
	screenTable screen = iota
	screenDetail
	screenHelp
)

// prompt is an input line that replaces the footer.
type prompt uint8

const (
	promptNone prompt = iota
	promptFilter
	promptKill
)

// Messages.
type (
	// snapshotMsg carries a new poll.
	snapshotMsg struct{ snap *model.Snapshot }
	// stoppedMsg says the snapshot channel was closed.
	stoppedMsg struct{}
	// tickMsg re-renders the countdowns between polls.
	tickMsg time.Time
	// queryMsg is the caller's answer to SetQuery.
	queryMsg struct {
		q   query.Query
		err error
	}
	// killMsg is the caller's answer to Kill.
	killMsg struct {
		what string
		err  error
	}
)

// heldRow is a row copied out of a snapshot, with its socket, so that it
// stays valid after the snapshot is released (for the detail view of a
// connection that vanished, and for a kill awaiting confirmation).
type heldRow struct {
	row  model.Row
	sock inetdiag.Socket
}

func holdRow(r *model.Row) *heldRow {
	h := &heldRow{row: *r, sock: *r.Sock}
	h.row.Sock = &h.sock
	return h
}

// Model is the interface's state: a tea.Model (Bubble Tea v2). It is
// exported so that tests can drive Update and View directly.
type Model struct {
	cfg    Config
	keys   keyMap
	styles styles
	help   help.Model
	input  textinput.Model
	vp     viewport.Model

	width, height int
	now           time.Time // the clock at the last message

	snap    *model.Snapshot // on screen
	pending *model.Snapshot // newest poll received while paused
	stopped bool
	paused  bool
	done    chan struct{}
	once    sync.Once

	query   query.Query
	kfilter inetdiag.Filter // the kernel-side part of query, applied here too
	kstates inetdiag.StateMask

	tbl    table
	sum    summary
	events eventList

	screen     screen
	helpFrom   screen // where Esc on the help screen goes back to
	prompt     prompt
	showEvents bool
	detail     *heldRow // the connection of the detail view
	detailGone bool     // it is no longer in the latest poll
	killRow    *heldRow // awaiting confirmation

	status    string
	statusErr bool
	statusAt  time.Time
}

// New returns the interface's model. It does nothing until Init's command
// runs (inside a tea.Program) or messages are fed to Update.
func New(cfg Config) *Model {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if os.Getenv("NO_COLOR") != "" {
		cfg.NoColor = true
	}
	m := &Model{
		cfg:        cfg,
		keys:       defaultKeyMap(cfg.Kill != nil),
		styles:     newStyles(colorprofile.ANSI, cfg.NoColor),
		help:       help.New(),
		input:      textinput.New(),
		vp:         viewport.New(),
		done:       make(chan struct{}),
		showEvents: true,
		now:        cfg.Now(),
	}
	m.help.Styles = m.styles.helpStyles()
	m.help.ShortSeparator = "  "
	m.input.Prompt = "/ "
	m.input.Placeholder = "port 5432 · dying · comm nginx · state close-wait · src 10.0.0.0/8"
	m.input.CharLimit = 256
	m.vp.KeyMap.PageDown.SetKeys("pgdown", "space", "f", "ctrl+f")
	m.vp.KeyMap.PageUp.SetKeys("pgup", "b", "ctrl+b")
	m.setQuery(cfg.Query)
	return m
}

// Init starts waiting for snapshots and the one-second countdown tick.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(m.waitSnapshot(), tick())
}

// close stops the command waiting on the snapshot channel (Run calls it
// when the program ends, so that no snapshot is taken and dropped).
func (m *Model) close() { m.once.Do(func() { close(m.done) }) }

// waitSnapshot waits for the next snapshot; it is re-armed after each one.
func (m *Model) waitSnapshot() tea.Cmd {
	ch, done := m.cfg.Snapshots, m.done
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		select {
		case s, ok := <-ch:
			if !ok {
				return stoppedMsg{}
			}
			return snapshotMsg{s}
		case <-done:
			return nil
		}
	}
}

// tick fires on the next whole second of the wall clock, so that every
// countdown on screen changes at once.
func tick() tea.Cmd {
	return tea.Every(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// Update handles one message. Each kind has its own method.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m.now = m.cfg.Now()
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		return m, m.onResize(msg)
	case tea.ColorProfileMsg:
		m.styles = newStyles(msg.Profile, m.cfg.NoColor)
		m.help.Styles = m.styles.helpStyles()
		m.refreshDetail()
		return m, nil
	case snapshotMsg:
		return m, m.onSnapshot(msg.snap)
	case stoppedMsg:
		m.stopped = true
		return m, nil
	case tickMsg:
		return m, m.onTick()
	case queryMsg:
		return m, m.onQueryResult(msg)
	case killMsg:
		return m, m.onKillResult(msg)
	case tea.KeyPressMsg:
		return m, m.onKey(msg)
	case tea.PasteMsg:
		if m.prompt == promptFilter {
			var cmd tea.Cmd
			m.input, cmd = m.input.Update(msg)
			return m, cmd
		}
		return m, nil
	}
	if m.prompt == promptFilter {
		// Cursor blinks and other internal messages of the text input.
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m *Model) onResize(msg tea.WindowSizeMsg) tea.Cmd {
	m.width, m.height = msg.Width, msg.Height
	m.help.SetWidth(msg.Width)
	m.input.SetWidth(max(10, msg.Width-36)) // room for the prompt and the hint
	m.sizeDetail()
	m.refreshDetail()
	m.tbl.scrollTo(m.tbl.cursor, m.tableRows())
	return nil
}

// onSnapshot takes in a new poll (or holds it while paused) and re-arms
// the wait.
func (m *Model) onSnapshot(s *model.Snapshot) tea.Cmd {
	next := m.waitSnapshot()
	if s == nil {
		return next
	}
	if m.paused {
		if m.pending != nil && m.pending != s {
			m.pending.Release()
		}
		m.pending = s
		return next
	}
	m.replace(s)
	return next
}

// replace puts s on screen and releases the snapshot it replaces, after
// everything that was needed from it (the selected connection, the
// detail view's row) has been copied out.
func (m *Model) replace(s *model.Snapshot) {
	old := m.snap
	m.snap = s
	if m.pending == s {
		m.pending = nil
	}
	m.ingest()
	if old != nil && old != s {
		old.Release()
	}
}

// ingest does the per-snapshot work, once: filtering, sorting, counting.
// Frames then only render the visible slice.
func (m *Model) ingest() {
	m.rebuildTable()
	m.sum = summarize(m.snap)
	m.events = collectEvents(m.snap)
	m.updateDetailRow()
}

func (m *Model) onTick() tea.Cmd {
	if m.status != "" && m.now.Sub(m.statusAt) > 10*time.Second {
		m.status = ""
	}
	m.refreshDetail()
	return tick()
}

// setStatus shows a message on the filter line for a few seconds.
func (m *Model) setStatus(s string, isErr bool) {
	m.status, m.statusErr, m.statusAt = s, isErr, m.now
}

// setQuery installs a filter and precomputes its kernel-side part, which
// is applied to the snapshot on screen so that the change shows at once
// (the caller applies it in the kernel from the next poll).
func (m *Model) setQuery(q query.Query) {
	m.query = q
	req := q.Request()
	m.kfilter, m.kstates = req.Filter, req.States
}

// matches reports whether a row passes the filter and the unhealthy-only
// toggle.
func (m *Model) matches(r *model.Row) bool {
	if m.tbl.unhealthyOnly && !r.Health.Unhealthy() {
		return false
	}
	if m.query.IsZero() {
		return true
	}
	if m.kstates != 0 && !m.kstates.Has(r.Sock.State) {
		return false
	}
	if !m.kfilter.IsZero() && !m.kfilter.Match(r.Sock.Family, r.Sock.ID) {
		return false
	}
	return m.query.MatchRow(r)
}

// View renders the screen.
func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "tcpwatch"
	if m.snap != nil && m.snap.Host != "" {
		v.WindowTitle = "tcpwatch " + m.snap.Host
	}
	return v
}

// render returns the screen's content.
func (m *Model) render() string {
	if m.width == 0 || m.height == 0 {
		return ""
	}
	if m.width < minWidth || m.height < minHeight {
		return m.renderTooSmall()
	}
	switch m.screen {
	case screenHelp:
		return m.renderHelp()
	case screenDetail:
		return m.renderDetail()
	}
	return m.renderMain()
}
