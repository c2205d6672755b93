package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tcpwatch/tcpwatch/model"
)

// Peer is one remote host in the JSON output, written once per poll for
// every host that is not alive. It is told from a connection and an event
// by its "peer" key (connections have none, events have "event"). The
// field set is a contract (README, "JSON output"): add, never rename.
type Peer struct {
	Time   string `json:"time"`
	Peer   string `json:"peer"`
	Status string `json:"status"`
	// SilentSince is the last moment anything was received from the
	// host (null if nothing ever was), give or take its uncertainty.
	SilentSince            *string  `json:"silent_since"`
	SilentSinceUncertainty float64  `json:"silent_since_uncertainty_s"`
	StalledSince           *string  `json:"stalled_since"`
	Connections            int      `json:"connections"`
	Dying                  int      `json:"dying"`
	NeverNotice            int      `json:"never_notice"`
	FirstAbortInS          *float64 `json:"first_abort_in_s"`
	LastAbortInS           *float64 `json:"last_abort_in_s"`
	Processes              []string `json:"processes"`
	// Groups is the blast radius: connections by process, remote port
	// and health.
	Groups  []PeerGroup `json:"groups"`
	Reasons []string    `json:"reasons"`
}

// PeerGroup is a peer's connections of one process, remote port and
// health.
type PeerGroup struct {
	PID        *int    `json:"pid"`
	Comm       *string `json:"comm"`
	RemotePort uint16  `json:"remote_port"`
	LocalPort  uint16  `json:"local_port,omitempty"` // the local listener the host connected to (remote_port 0)
	Health     string  `json:"health"`
	Count      int     `json:"count"`
}

// PeerEvent is a peer event in the JSON output: a host became
// unresponsive, or answered again.
type PeerEvent struct {
	Time  string `json:"time"`
	Event string `json:"event"`
	Peer  string `json:"peer"`
	// SilentSince is when the host was last heard from (null: never).
	SilentSince *string `json:"silent_since"`
}

// NewPeer converts a peer at snapshot time now.
func NewPeer(p *model.Peer, now time.Time) Peer {
	out := Peer{
		Time: now.Format(TimeFormat), Peer: p.Addr.String(), Status: p.Status.String(),
		SilentSince: timeOrNil(p.SilentSince), SilentSinceUncertainty: seconds(p.SilentUncertainty),
		StalledSince: timeOrNil(p.StalledSince),
		Connections:  p.Conns, Dying: p.Dying, NeverNotice: p.NeverNotice,
		Processes: p.Processes(), Groups: []PeerGroup{}, Reasons: p.Reasons,
	}
	if out.Reasons == nil {
		out.Reasons = []string{}
	}
	if !p.FirstAbort.IsZero() {
		out.FirstAbortInS = ptr(seconds(p.FirstAbort.Sub(now)))
		out.LastAbortInS = ptr(seconds(p.LastAbort.Sub(now)))
	}
	for _, g := range p.Groups {
		pg := PeerGroup{RemotePort: g.RemotePort, LocalPort: g.LocalPort, Health: g.Health.String(), Count: g.Count}
		if g.PID != 0 {
			pg.PID, pg.Comm = ptr(g.PID), ptr(g.Comm)
		}
		out.Groups = append(out.Groups, pg)
	}
	return out
}

// NewPeerEvent converts a peer event.
func NewPeerEvent(e *model.Event) PeerEvent {
	return PeerEvent{Time: e.Time.Format(TimeFormat), Event: e.Kind.String(), Peer: e.Peer.String(), SilentSince: timeOrNil(e.LastSeen)}
}

func timeOrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	return ptr(t.Format(TimeFormat))
}

// isPeerEvent reports whether an event is about a host, not a connection.
func isPeerEvent(e *model.Event) bool {
	return e.Kind == model.EventPeerUnresponsive || e.Kind == model.EventPeerAnswering
}

// troubledPeers are the peers worth a line: those not alive.
func troubledPeers(snap *model.Snapshot) []*model.Peer {
	var out []*model.Peer
	for i := range snap.Peers {
		if snap.Peers[i].Status != model.PeerAlive {
			out = append(out, &snap.Peers[i])
		}
	}
	return out
}

// writePeerTable writes the --once peers section: a line per host that is
// not alive, its blast radius and the reasons, then a blank line. Nothing
// when every host is alive.
func writePeerTable(w io.Writer, snap *model.Snapshot) error {
	peers := troubledPeers(snap)
	if len(peers) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "Peer\tStatus\tSilent-since\tConns\tDying\tNever-notice\tFirst-abort\tLast-abort\tProcesses")
	for _, p := range peers {
		first, last := "-", "-"
		if !p.FirstAbort.IsZero() {
			first, last = FormatDuration(p.FirstAbort.Sub(snap.Time)), FormatDuration(p.LastAbort.Sub(snap.Time))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", p.Addr, p.Status, SilentSince(p, snap.Time),
			p.Conns, p.Dying, p.NeverNotice, first, last, strings.Join(p.Processes(), ","))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for _, p := range peers {
		var gs []string
		for _, g := range p.Groups {
			proc := "?"
			if g.PID != 0 {
				proc = fmt.Sprintf("%s[%d]", g.Comm, g.PID)
			}
			port := fmt.Sprintf(":%d", g.RemotePort)
			if g.LocalPort != 0 {
				port = fmt.Sprintf("<-:%d", g.LocalPort) // the host connected to our listener
			}
			gs = append(gs, fmt.Sprintf("%s %s %s x%d", proc, port, g.Health, g.Count))
		}
		fmt.Fprintf(w, "# %s: %s\n", p.Addr, strings.Join(gs, ", "))
		for _, r := range p.Reasons {
			fmt.Fprintf(w, "#   %s\n", r)
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}

// SilentSince prints when a host was last heard from, its uncertainty and
// how long ago, as of now: "17:52:12.040 ±5ms (9.5s ago)", or "never".
func SilentSince(p *model.Peer, now time.Time) string {
	if p.SilentSince.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%s ±%s (%s ago)", p.SilentSince.Format("15:04:05.000"), FormatDuration(p.SilentUncertainty), FormatDuration(now.Sub(p.SilentSince)))
}
