// Replay: the interface over a recording. The snapshots come from a
// player instead of the poller (Config.Replay), the clock is the
// recorded one, the header says REPLAY with the host and the recorded
// time, and a few keys move through the recording: play and pause, one
// poll back or forward, a minute back or forward, a time to go to, the
// speed.

package tui

import (
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
)

// ReplayMove is a move the user asks of a replay's player.
type ReplayMove uint8

// Moves.
const (
	ReplayPlayPause ReplayMove = iota + 1
	ReplayStepBack
	ReplayStepForward
	ReplayJump  // by ReplayCmd.By
	ReplayGoTo  // to ReplayCmd.Text, a time as the player reads it
	ReplaySpeed // the next of ×1, ×10, ×60
)

// ReplayCmd is one move with its argument.
type ReplayCmd struct {
	Move ReplayMove
	By   time.Duration
	Text string
}

// ReplayState is what the header shows of a replay.
type ReplayState struct {
	Host        string
	At          time.Time // the recorded time of the poll on screen
	First, Last time.Time // the recording's span
	Playing     bool
	Speed       int
	// Problem is the last thing that went wrong (damage, a bad time).
	Problem string
}

// Replay connects the interface to a replay's player. The snapshots
// still come on Config.Snapshots, and Config.Now should be the player's
// recorded clock.
type Replay struct {
	// Do hands a move to the player; it must not block (the player sends
	// the resulting snapshot on Config.Snapshots).
	Do func(ReplayCmd)
	// State reports the player's state.
	State func() ReplayState
}

// replayKeys are the keys of a replay.
type replayKeys struct {
	Play, Back, Forward, MinuteBack, MinuteForward, GoTo, Speed key.Binding
}

func newReplayKeys() replayKeys {
	return replayKeys{
		Play:          key.NewBinding(key.WithKeys("space"), key.WithHelp("space", "play/pause")),
		Back:          key.NewBinding(key.WithKeys("left", ","), key.WithHelp("←/→", "poll")),
		Forward:       key.NewBinding(key.WithKeys("right", ".")),
		MinuteBack:    key.NewBinding(key.WithKeys("["), key.WithHelp("[/]", "±1 min")),
		MinuteForward: key.NewBinding(key.WithKeys("]")),
		GoTo:          key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "go to")),
		Speed:         key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "speed")),
	}
}

// replayUI is the interface's replay state: its keys and the go-to
// prompt.
type replayUI struct {
	keys      replayKeys
	prompting bool
	input     textinput.Model
}

func (m *Model) initReplay() {
	if m.cfg.Replay == nil {
		return
	}
	m.replay.keys = newReplayKeys()
	m.replay.input = textinput.New()
	m.replay.input.Prompt = "go to "
	m.replay.input.Placeholder = "03:12:05 or 2026-03-04T03:12:05Z"
	m.replay.input.CharLimit = 64
}

// replayKey handles a key of a replay: the go-to prompt takes every key
// while open; otherwise the moves. It reports whether the key was one.
func (m *Model) replayKey(k tea.KeyPressMsg) (tea.Cmd, bool) {
	r := m.cfg.Replay
	if r == nil || m.prompt != promptNone {
		return nil, false
	}
	if m.replay.prompting {
		return m.gotoKey(k), true
	}
	keys := m.replay.keys
	var cmd ReplayCmd
	switch {
	case key.Matches(k, keys.Play):
		cmd.Move = ReplayPlayPause
	case key.Matches(k, keys.Back):
		cmd.Move = ReplayStepBack
	case key.Matches(k, keys.Forward):
		cmd.Move = ReplayStepForward
	case key.Matches(k, keys.MinuteBack):
		cmd = ReplayCmd{Move: ReplayJump, By: -time.Minute}
	case key.Matches(k, keys.MinuteForward):
		cmd = ReplayCmd{Move: ReplayJump, By: time.Minute}
	case key.Matches(k, keys.Speed):
		cmd.Move = ReplaySpeed
	case key.Matches(k, keys.GoTo):
		m.replay.prompting = true
		m.replay.input.SetValue("")
		return m.replay.input.Focus(), true
	default:
		return nil, false
	}
	r.Do(cmd)
	return nil, true
}

// gotoKey edits the time to go to: Enter hands it to the player (which
// says in its state if it cannot read it), Esc cancels.
func (m *Model) gotoKey(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "esc":
		m.replay.prompting = false
		m.replay.input.Blur()
		return nil
	case "enter":
		m.replay.prompting = false
		m.replay.input.Blur()
		m.cfg.Replay.Do(ReplayCmd{Move: ReplayGoTo, Text: strings.TrimSpace(m.replay.input.Value())})
		return nil
	}
	var cmd tea.Cmd
	m.replay.input, cmd = m.replay.input.Update(k)
	return cmd
}

// replayFooter is the go-to prompt when it is open ("" otherwise).
func (m *Model) replayFooter() string {
	if !m.replay.prompting {
		return ""
	}
	return spread(m.replay.input.View(), m.styles.dim.Render("enter goes · esc cancels "), m.width)
}

// replayLines is the header's replay block: REPLAY, the host, the
// recorded time on screen, playing or paused at which speed, the span,
// the keys; and the last problem.
func (m *Model) replayLines(w int) []string {
	r := m.cfg.Replay
	if r == nil {
		return nil
	}
	st := r.State()
	play := "⏸ paused"
	if st.Playing {
		play = "▶ playing"
	}
	left := "replay of " + st.Host + " · recorded " + st.At.Format("2006-01-02 15:04:05.000") +
		"  " + play + " ×" + strconv.Itoa(st.Speed)
	span := m.styles.dim.Render("recording " + st.First.Format("2006-01-02 15:04:05") + " – " + st.Last.Format("15:04:05"))
	keys := m.replay.keys
	help := m.help
	help.SetWidth(0)
	lines := []string{truncate(" "+left, w), truncate(" "+span+"  "+help.ShortHelpView([]key.Binding{keys.Play, keys.Back, keys.MinuteBack, keys.GoTo, keys.Speed}), w)}
	if st.Problem != "" {
		lines = append(lines, " "+m.styles.err.Render(truncate(st.Problem, w-2)))
	}
	return lines
}
