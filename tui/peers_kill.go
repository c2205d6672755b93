// Acting on a dead host (K in the hosts view, only with --allow-kill):
// destroy its connections that would never notice its death, so that
// their applications get an error at once and reconnect — what `ss -K dst
// ADDR` does by hand, limited to the connections proven stuck. A
// confirmation names the host and the count first, and at the answer the
// host must still be unresponsive in the snapshot then on screen: only
// connections in both lists are destroyed.

package tui

import (
	"errors"
	"net/netip"
	"strconv"

	tea "charm.land/bubbletea/v2"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// heldPeer is a host awaiting the kill confirmation, with the
// connections the prompt named.
type heldPeer struct {
	addr  netip.Addr
	conns []model.ConnRef
}

// askKillPeer asks for confirmation before destroying the selected host's
// never-noticing connections, or says why there is nothing to do.
func (m *Model) askKillPeer() {
	p := m.peers.selected()
	switch {
	case p == nil:
		return
	case m.cfg.Kill == nil:
		m.setStatus("destroying a host's stuck connections needs --allow-kill", true)
		return
	case p.Status != model.PeerUnresponsive:
		m.setStatus(p.Addr.String()+" is not unresponsive: nothing is killed", true)
		return
	case len(p.NeverNoticeConns) == 0:
		m.setStatus("no connection to "+p.Addr.String()+" would hang: the kernel aborts them all", false)
		return
	}
	m.killPeer = &heldPeer{addr: p.Addr, conns: append([]model.ConnRef(nil), p.NeverNoticeConns...)}
	m.prompt = promptKillPeer
}

// killPeerPrompt names the host and how many connections die.
func (m *Model) killPeerPrompt() string {
	h := m.killPeer
	if h == nil {
		return ""
	}
	return m.confirmLine("Kill the "+plural(len(h.conns), "connection")+" to "+h.addr.String()+" that would never notice its death?",
		"their applications get ECONNABORTED")
}

// killPeerKey answers the confirmation: only y kills, and only what is
// still stuck.
func (m *Model) killPeerKey(k tea.KeyPressMsg) tea.Cmd {
	h := m.killPeer
	m.closePrompt()
	if h == nil || !m.confirmed(k) {
		return nil
	}
	var now *model.Peer
	if m.snap != nil {
		now = model.FindPeer(m.snap.Peers, h.addr)
	}
	if now == nil || now.Status != model.PeerUnresponsive {
		m.setStatus(h.addr.String()+" is no longer unresponsive: nothing killed", true)
		return nil
	}
	still := map[uint64]bool{}
	for _, c := range now.NeverNoticeConns {
		still[c.ID.Cookie] = true
	}
	var targets []model.ConnRef
	for _, c := range h.conns {
		if still[c.ID.Cookie] {
			targets = append(targets, c)
		}
	}
	what := plural(len(targets), "connection") + " to " + h.addr.String()
	if len(targets) == 0 {
		m.setStatus("none of those connections to "+h.addr.String()+" is still stuck: nothing killed", false)
		return nil
	}
	kill := m.cfg.Kill
	m.setStatus("killing "+what+"…", false)
	return func() tea.Msg { return killMsg{what: what, err: killAll(kill, targets)} }
}

// killAll destroys each connection through kill, and says how many failed.
func killAll(kill func(model.Row) error, targets []model.ConnRef) error {
	var errs []error
	for _, c := range targets {
		s := &inetdiag.Socket{Family: c.Family, ID: c.ID}
		if err := kill(model.Row{Sock: s}); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(append([]error{errors.New(strconv.Itoa(len(errs)) + " of " + strconv.Itoa(len(targets)) + " failed")}, errs...)...)
}
