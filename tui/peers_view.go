// The peers view: every remote host of the snapshot on screen, the most
// urgent first, with its verdict, silence and blast radius; Enter shows
// the table filtered to the selected host's connections. It follows the
// selected host into each new snapshot.

package tui

import (
	"net/netip"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/tcpwatch/tcpwatch/model"
)

// peersView is the state of the peers view.
type peersView struct {
	keys peersKeyMap
	ctx  *shared

	cursor, offset int
	sel            netip.Addr // the selected host, kept across snapshots
}

// peersKeyMap are the view's own keys (the parent adds back, kill, help
// and quit).
type peersKeyMap struct {
	Up, Down, Home, End key.Binding
	Show, Kill          key.Binding
}

func defaultPeersKeyMap() peersKeyMap {
	return peersKeyMap{
		Up:   key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down: key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Home: key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("home/g", "first")),
		End:  key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("end/G", "last")),
		Show: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "its connections")),
		// Always enabled: without --allow-kill it says what it needs.
		Kill: key.NewBinding(key.WithKeys("K"), key.WithHelp("K", "kill stuck")),
	}
}

func newPeersView(ctx *shared) peersView { return peersView{keys: defaultPeersKeyMap(), ctx: ctx} }

// peers are the hosts of the snapshot on screen.
func (v *peersView) peers() []model.Peer {
	if v.ctx.snap == nil {
		return nil
	}
	return v.ctx.snap.Peers
}

// follow puts the cursor back on the selected host in a new snapshot
// (or on the same position if it is gone).
func (v *peersView) follow() {
	ps := v.peers()
	for i := range ps {
		if ps[i].Addr == v.sel {
			v.cursor = i
			return
		}
	}
	v.cursor = min(v.cursor, max(len(ps)-1, 0))
	v.remember()
}

func (v *peersView) remember() {
	if ps := v.peers(); v.cursor < len(ps) {
		v.sel = ps[v.cursor].Addr
	}
}

// selected is the host under the cursor, or nil.
func (v *peersView) selected() *model.Peer {
	ps := v.peers()
	if v.cursor < len(ps) {
		return &ps[v.cursor]
	}
	return nil
}

// Update moves the cursor.
func (v peersView) Update(msg tea.Msg) (peersView, tea.Cmd) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return v, nil
	}
	n := len(v.peers())
	switch {
	case key.Matches(k, v.keys.Up):
		v.cursor = max(v.cursor-1, 0)
	case key.Matches(k, v.keys.Down):
		v.cursor = max(min(v.cursor+1, n-1), 0)
	case key.Matches(k, v.keys.Home):
		v.cursor = 0
	case key.Matches(k, v.keys.End):
		v.cursor = max(n-1, 0)
	}
	v.remember()
	return v, nil
}

// counts is the view's title: how many hosts of each verdict.
func (v *peersView) counts() string {
	var n [3]int
	for _, p := range v.peers() {
		if int(p.Status) < len(n) {
			n[p.Status]++
		}
	}
	return "hosts: " + fmtCount(n[model.PeerUnresponsive]) + " unresponsive · " + fmtCount(n[model.PeerPartial]) + " partial · " +
		fmtCount(n[model.PeerAlive]) + " alive · the most urgent first"
}

// View renders (below the counts line the parent draws) the list and, below it, the selected host's blast radius
// and reasons, in w×h cells.
func (v peersView) View(w, h int) string {
	st := &v.ctx.styles
	lines := []string{""}
	ps := v.peers()
	if len(ps) == 0 {
		lines = append(lines, st.dim.Render(" no remote hosts: no connections"))
	}
	// The selected host's account takes the lower part, at most half.
	var below []string
	if p := v.selected(); p != nil {
		below = v.account(p, w)
		if len(below) > h/2 {
			below = below[:h/2]
		}
	}
	listH := max(h-len(lines)-len(below)-1, 1)
	if len(ps) > 0 {
		peerW := 4
		for i := range ps {
			peerW = max(peerW, len(ps[i].Addr.String()))
		}
		peerW = min(peerW, 39)
		head := "   " + fit("STATUS", 12, false) + "  " + fit("PEER", peerW, false) + "  " + fit("SILENT SINCE", 26, false) +
			fit("CONNS", 6, true) + fit("DYING", 6, true) + fit("NEVER", 6, true) + fit("ABORT IN", 9, true) + "  PROCESSES"
		lines = append(lines, st.colHeader.Render(fit(head, w, false)))
		listH--
		if v.cursor < v.offset {
			v.offset = v.cursor
		}
		if v.cursor >= v.offset+listH {
			v.offset = v.cursor - listH + 1
		}
		for i := v.offset; i < len(ps) && i < v.offset+listH; i++ {
			lines = append(lines, v.row(&ps[i], peerW, w, i == v.cursor))
		}
	}
	for len(lines) < h-len(below) {
		lines = append(lines, "")
	}
	lines = append(lines, below...)
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines[:h], "\n")
}

// row renders one host of the list.
func (v *peersView) row(p *model.Peer, peerW, w int, selected bool) string {
	sym, name := peerLook(p.Status)
	silent := "—"
	if !p.SilentSince.IsZero() {
		silent = clock(p.SilentSince) + " (" + fmtAge(v.ctx.now.Sub(p.SilentSince)) + " ago)"
	}
	if p.Status == model.PeerAlive {
		silent = "—"
	}
	abort := "—"
	if !p.FirstAbort.IsZero() {
		abort = fmtRemaining(p.FirstAbort.Sub(v.ctx.now))
	}
	cells := sym + " " + fit(name, 12, false) + "  " + fit(p.Addr.String(), peerW, false) + "  " + fit(silent, 26, false) +
		fit(fmtCount(p.Conns), 6, true) + fit(fmtCount(p.Dying), 6, true) + fit(fmtCount(p.NeverNotice), 6, true) +
		fit(abort, 9, true) + "  " + strings.Join(p.Processes(), ", ")
	mark := " "
	if selected {
		mark = "▶"
	}
	line := fit(mark+cells, w, false)
	st := &v.ctx.styles
	switch {
	case selected:
		return st.selected.Render(line)
	case p.Status == model.PeerUnresponsive:
		return st.err.Render(line)
	case p.Status == model.PeerPartial:
		return st.warn.Render(line)
	}
	return line
}

// account is the selected host's blast radius by process, port and
// health, and what its verdict rests on.
func (v *peersView) account(p *model.Peer, w int) []string {
	st := &v.ctx.styles
	_, name := peerLook(p.Status)
	head := p.Addr.String() + " " + name
	if p.Status != model.PeerAlive {
		head += " · " + v.ctx.silentText(p)
	}
	out := []string{" " + st.bold.Render(truncate(head, w-2))}
	for _, g := range p.Groups {
		proc := "?"
		if g.PID != 0 {
			proc = g.Comm + "[" + strconv.Itoa(g.PID) + "]"
		}
		l := look(g.Health)
		port := " → :" + fit(strconv.Itoa(int(g.RemotePort)), 5, false)
		if g.LocalPort != 0 {
			port = " ← :" + fit(strconv.Itoa(int(g.LocalPort)), 5, false) // the host connected to our listener
		}
		out = append(out, "   "+truncate(fit(proc, 20, false)+port+" "+
			st.healthStyle(g.Health).Render(l.symbol+" "+fit(g.Health.String(), 17, false))+" ×"+fmtCount(g.Count), w-3))
	}
	for _, r := range p.Reasons {
		out = append(out, indent(indent(wrap(r, w-4, "")))...)
	}
	return out
}
