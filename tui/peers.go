// Remote hosts on screen: the banner line of each unresponsive host above
// the table, and the sentence that names a connection's host verdict in
// the detail view. The peers view itself is peers_view.go.

package tui

import (
	"strconv"
	"strings"

	"github.com/tcpwatch/tcpwatch/model"
)

// maxPeerBanners bounds the banner lines: a partition that takes down
// fifty hosts must not push the table off the screen (the peers view
// lists them all).
const maxPeerBanners = 3

// peerLook is the symbol and name of a verdict.
func peerLook(s model.PeerStatus) (symbol, name string) {
	switch s {
	case model.PeerUnresponsive:
		return "✗", "unresponsive"
	case model.PeerPartial:
		return "≈", "partial"
	}
	return " ", "alive"
}

// silentText says since when a host is silent: "silent since 14:02:01
// (8s)", or "never answered".
func (s *shared) silentText(p *model.Peer) string {
	if p.SilentSince.IsZero() {
		return "never answered"
	}
	return "silent since " + clock(p.SilentSince) + " (" + fmtAge(s.now.Sub(p.SilentSince)) + ")"
}

// peerImpact is what a host's death does to its connections: "14
// connections: 5 retransmitting, first abort in 11m, 9 will never
// notice".
func (s *shared) peerImpact(p *model.Peer) string {
	var parts []string
	for _, h := range healthOrder {
		if h.Dying() {
			if n := p.Health(h); n > 0 {
				parts = append(parts, strconv.Itoa(n)+" "+h.String())
			}
		}
	}
	if !p.FirstAbort.IsZero() {
		parts = append(parts, "first abort in "+fmtRemaining(p.FirstAbort.Sub(s.now)))
	}
	if p.NeverNotice > 0 {
		parts = append(parts, strconv.Itoa(p.NeverNotice)+" will never notice")
	}
	out := plural(p.Conns, "connection")
	if len(parts) > 0 {
		out += ": " + strings.Join(parts, ", ")
	}
	return out
}

// peerImpactShort is peerImpact for a narrow terminal, what matters
// most first: "14 conns: 9 never notice, 5 dying, abort in 11m00s".
func (s *shared) peerImpactShort(p *model.Peer) string {
	var parts []string
	if p.NeverNotice > 0 {
		parts = append(parts, fmtCount(p.NeverNotice)+" never notice")
	}
	if p.Dying > 0 {
		parts = append(parts, fmtCount(p.Dying)+" dying")
	}
	if !p.FirstAbort.IsZero() {
		parts = append(parts, "abort in "+fmtRemaining(p.FirstAbort.Sub(s.now)))
	}
	out := fmtCount(p.Conns) + " conns"
	if len(parts) > 0 {
		out += ": " + strings.Join(parts, ", ")
	}
	return out
}

// peerBanners are the lines above the table, one per unresponsive host
// (the snapshot lists the most urgent first).
func (m *Model) peerBanners(w int) []string {
	if m.snap == nil {
		return nil
	}
	var lines []string
	more := 0
	for i := range m.snap.Peers {
		p := &m.snap.Peers[i]
		if p.Status != model.PeerUnresponsive {
			continue
		}
		if len(lines) == maxPeerBanners {
			more++
			continue
		}
		text := "✗ " + p.Addr.String() + " " + m.silentText(p) + " · " + m.peerImpact(p)
		if len([]rune(text)) > w-2 {
			text = "✗ " + p.Addr.String() + " " + m.silentText(p) + " · " + m.peerImpactShort(p)
		}
		lines = append(lines, " "+m.styles.err.Render(truncate(text, w-2)))
	}
	if more > 0 {
		lines = append(lines, " "+m.styles.err.Render(truncate("✗ and "+plural(more, "more unresponsive host")+": "+m.keys.Peers.Help().Key+" lists them", w-2)))
	}
	return lines
}

// peerVerdict is the detail view's sentence on the connection's host, or
// "" when the snapshot judged no host.
func (s *shared) peerVerdict(r *model.Row) string {
	if s.snap == nil || len(s.snap.Peers) == 0 {
		return ""
	}
	p := model.FindPeer(s.snap.Peers, model.PeerAddr(r))
	if p == nil {
		return ""
	}
	sym, name := peerLook(p.Status)
	text := strings.TrimSpace(sym+" host "+p.Addr.String()+" "+name) + " · "
	switch p.Status {
	case model.PeerUnresponsive:
		text += s.silentText(p) + " · " + s.peerImpact(p)
	case model.PeerPartial:
		text += "some of its connections stall while another still hears from it: not a dead host · " + plural(p.Conns, "connection")
	default:
		text += plural(p.Conns, "connection")
	}
	return text
}

// hostsInTrouble reports whether a host of the snapshot on screen is not
// alive.
func (s *shared) hostsInTrouble() bool {
	if s.snap == nil {
		return false
	}
	for i := range s.snap.Peers {
		if s.snap.Peers[i].Status != model.PeerAlive {
			return true
		}
	}
	return false
}
