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
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

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
	// Replay, if set, makes the interface a replay's (see replay.go).
	Replay *Replay
	// Shown, if set, is called (from a command) with the socket inodes
	// and cookies of the rows on screen whenever they change, so that the
	// caller resolves their processes first (above its owner limit a
	// watcher resolves only the unhealthy rows, and the rows a user
	// scrolls to must not show an empty PROCESS column) and keeps their
	// sockets whole for the detail view (see shown.go).
	Shown func(inodes []uint32, cookies []uint64)
	// Recall, if set, delivers the watcher's requests for the snapshot on
	// screen back before a poll of a large host; the interface answers
	// each by closing the channel it receives (see lend.go).
	Recall <-chan chan<- struct{}
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
	screenPeers
)

// prompt is an input line that replaces the footer.
type prompt uint8

const (
	promptNone prompt = iota
	promptFilter
	promptKill
	promptKillPeer
)

// Model is the interface's state: a tea.Model (Bubble Tea v2). It is
// exported so that tests can drive Update and View directly.
//
// It owns what the whole screen shares (the embedded shared state: the
// snapshot on screen, the clock, the styles, the filter) and what frames
// the components (the size, pause, the status line, the prompts, which
// screen is up), and routes messages and keys to the connection table
// and the detail view, components with their own state and keys.
type Model struct {
	shared

	cfg   Config
	keys  keyMap
	help  help.Model
	input textinput.Model

	table  connTable
	detail detailView
	peers  peersView

	width, height int

	pending *model.Snapshot // newest poll received while paused
	lent    *lentTable      // set while copies of the rows in view stand in for the snapshot
	stopped bool
	paused  bool
	done    chan struct{}
	once    sync.Once

	screen     screen
	helpFrom   screen // where Esc on the help screen goes back to
	prompt     prompt
	showEvents bool
	killRow    *heldRow // awaiting confirmation
	killPeer   *heldPeer

	status    string
	statusErr bool
	statusAt  time.Time

	replay replayUI
	// onScreen and onScreenCookies are what was last handed to
	// Config.Shown.
	onScreen        []uint32
	onScreenCookies []uint64
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
		help:       help.New(),
		input:      textinput.New(),
		done:       make(chan struct{}),
		showEvents: true,
	}
	m.now = cfg.Now()
	m.styles = newStyles(colorprofile.ANSI, cfg.NoColor)
	m.table = newConnTable(&m.shared)
	m.detail = newDetailView(&m.shared)
	m.peers = newPeersView(&m.shared)
	m.help.Styles = m.styles.helpStyles()
	m.help.ShortSeparator = "  "
	m.input.Prompt = "/ "
	m.input.Placeholder = "port 5432 · dying · comm nginx · state close-wait · src 10.0.0.0/8"
	m.input.CharLimit = 256
	m.setQuery(cfg.Query)
	m.initReplay()
	return m
}

// Init starts waiting for snapshots and the one-second countdown tick.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(m.waitSnapshot(), m.waitRecall(), tick())
}

// Update handles one message; each kind has its own method.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m.now = m.cfg.Now()
	if _, ok := msg.(tickMsg); !ok {
		// Keys page and scroll by the height the layout leaves the
		// table. A tick only moves countdowns: it lays nothing out, which
		// keeps a frame of 10^5 rows at the cost of its visible ones.
		m.table.setHeight(m.tableRows())
	}
	cmd := m.handle(msg)
	if _, ok := msg.(tickMsg); !ok {
		if sh := m.shownCmd(); sh != nil {
			cmd = tea.Batch(cmd, sh)
		}
	}
	return m, cmd
}

// handle dispatches a message by its type.
func (m *Model) handle(msg tea.Msg) tea.Cmd {
	if m.holds(msg) {
		return nil
	}
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.onResize(msg)
		return nil
	case tea.ColorProfileMsg:
		m.styles = newStyles(msg.Profile, m.cfg.NoColor)
		m.help.Styles = m.styles.helpStyles()
		m.detail.refresh()
		return nil
	case snapshotMsg:
		return m.onSnapshot(msg.snap)
	case recallMsg:
		return m.onRecall(msg)
	case stoppedMsg:
		m.stopped = true
		if held := m.unlend(); m.snap != nil {
			// No poll's snapshot will come: the copies stay on screen.
			m.table.rebuild()
			return m.replayHeld(held)
		}
		return nil
	case tickMsg:
		return m.onTick()
	case queryMsg:
		return m.onQueryResult(msg)
	case killMsg:
		return m.onKillResult(msg)
	case tea.KeyPressMsg:
		return m.onKey(msg)
	case tea.PasteMsg:
		if m.prompt != promptFilter {
			return nil
		}
	}
	if m.prompt == promptFilter {
		// Pastes, cursor blinks and other messages of the text input.
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return cmd
	}
	return nil
}

func (m *Model) onResize(msg tea.WindowSizeMsg) {
	m.width, m.height = msg.Width, msg.Height
	m.help.SetWidth(msg.Width)
	m.input.SetWidth(max(10, msg.Width-36)) // room for the prompt and the hint
	m.detail.setSize(m.width, m.height-2)   // between the title line and the footer
	m.fitTable()
}

// fitTable gives the table the height the layout leaves it and keeps the
// cursor in view.
func (m *Model) fitTable() {
	m.table.setHeight(m.tableRows())
	m.table.keepCursorInView()
}

// setStatus shows a message on the filter line for a few seconds.
func (m *Model) setStatus(s string, isErr bool) {
	m.status, m.statusErr, m.statusAt = s, isErr, m.now
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
	case screenPeers:
		return m.renderPeers()
	}
	return m.renderMain()
}
