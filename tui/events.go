// The events pane: what happened to connections that left (aborts,
// resets, recoveries, closes of troubled ones), picked once per snapshot.

package tui

import (
	"strings"
	"time"

	"github.com/tcpwatch/tcpwatch/model"
)

// maxShownEvents bounds the events kept for the pane.
const maxShownEvents = 50

// eventList is what the events pane shows, computed once per snapshot:
// aborts, resets and recoveries, and closes only of connections that were
// in trouble (normal closes are counted, not listed: a busy host closes
// thousands a minute).
type eventList struct {
	shown                             []model.Event // newest first
	aborted, reset, recovered, closed int
	closedShown                       int
}

// eventShown reports whether an event deserves a line.
func eventShown(e *model.Event) bool {
	switch e.Kind {
	case model.EventAborted, model.EventReset, model.EventRecovered, model.EventPeerUnresponsive, model.EventPeerAnswering:
		return true
	case model.EventClosed:
		return e.Health.Unhealthy()
	}
	return false
}

// collectEvents picks the events of a snapshot for the pane.
func collectEvents(s *model.Snapshot) eventList {
	var l eventList
	if s == nil {
		return l
	}
	evs := s.AllEvents
	if evs == nil {
		evs = s.Events
	}
	for i := len(evs) - 1; i >= 0; i-- {
		e := &evs[i]
		switch e.Kind {
		case model.EventAborted:
			l.aborted++
		case model.EventReset:
			l.reset++
		case model.EventRecovered:
			l.recovered++
		case model.EventClosed:
			l.closed++
		}
		if eventShown(e) && len(l.shown) < maxShownEvents {
			l.shown = append(l.shown, *e)
			if e.Kind == model.EventClosed {
				l.closedShown++
			}
		}
	}
	return l
}

// eventLook is the symbol and name of an event kind.
func eventLook(k model.EventKind) (symbol, name string) {
	switch k {
	case model.EventAborted:
		return "✗", "aborted"
	case model.EventReset:
		return "↯", "reset"
	case model.EventRecovered:
		return "↺", "recovered"
	case model.EventClosed:
		return "·", "closed"
	case model.EventPeerUnresponsive:
		return "⊘", "host down"
	case model.EventPeerAnswering:
		return "↺", "host back"
	}
	return "?", k.String()
}

// renderEvents renders the events pane in h lines: a title with the
// counts, then the newest events.
func (m *Model) renderEvents(h int) []string {
	l := &m.events
	title := " " + m.styles.bold.Render("events")
	counts := []string{}
	add := func(n int, k model.EventKind) {
		if n > 0 {
			sym, name := eventLook(k)
			counts = append(counts, sym+" "+fmtCount(n)+" "+name)
		}
	}
	add(l.aborted, model.EventAborted)
	add(l.reset, model.EventReset)
	add(l.recovered, model.EventRecovered)
	add(l.closed, model.EventClosed)
	if len(counts) > 0 {
		title += "  " + strings.Join(counts, "  ")
	}
	if hidden := l.closed - l.closedShown; hidden > 0 {
		title += m.styles.dim.Render("  (normal closes not listed)")
	}
	lines := []string{truncate(title, m.width)}
	if len(l.shown) == 0 && h > 1 {
		lines = append(lines, m.styles.dim.Render(" none yet: aborts, resets and recoveries will show here"))
	}
	for i := 0; i < len(l.shown) && len(lines) < h; i++ {
		lines = append(lines, truncate(m.eventLine(&l.shown[i]), m.width))
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return lines
}

// eventLine describes one event: when, what, which connection, and for
// an abort how it compares with the prediction.
func (m *Model) eventLine(e *model.Event) string {
	sym, name := eventLook(e.Kind)
	head := sym + " " + fit(name, 9, false)
	switch e.Kind {
	case model.EventAborted, model.EventPeerUnresponsive:
		head = m.styles.eventAborted.Render(head)
	case model.EventReset:
		head = m.styles.eventReset.Render(head)
	case model.EventRecovered, model.EventPeerAnswering:
		head = m.styles.eventRecovered.Render(head)
	default:
		head = m.styles.dim.Render(head)
	}
	if e.Peer.IsValid() {
		// A host, not a connection.
		silent := "never heard from"
		if !e.LastSeen.IsZero() {
			silent = "last heard from at " + clockTenth(e.LastSeen)
		}
		return " " + clock(e.Time) + " " + head + " " + e.Peer.String() + "  " + silent
	}
	conn := model.Endpoint(e.ID.Local) + " → " + model.Endpoint(e.ID.Remote)
	return " " + clock(e.Time) + " " + head + " " + conn + "  " + eventDetail(e)
}

// eventDetail is the explanation after the connection.
func eventDetail(e *model.Event) string {
	was := e.Health.String()
	if e.Health == model.HealthOK {
		was = e.State.String()
	}
	p := e.Predicted
	switch e.Kind {
	case model.EventAborted:
		if p == nil {
			return "was " + was
		}
		s := "predicted " + clockTenth(p.At)
		switch {
		case p.At.Before(e.LastSeen):
			s += ", outlived by ≥ " + fmtDur(e.LastSeen.Sub(p.At).Round(1e8))
		case p.At.After(e.Time):
			s += ", came ≥ " + fmtDur(p.At.Sub(e.Time).Round(1e8)) + " early"
		default:
			s += " ✓"
		}
		return s + " (vanished " + tenthRange(e.LastSeen, e.Time) + ", " + p.Reason.String() + ")"
	case model.EventReset:
		s := "was " + was
		if p != nil {
			s += ", before the predicted abort at " + clock(p.At)
		}
		return s
	case model.EventRecovered:
		return "an ACK arrived; was " + was
	}
	return "was " + was
}

// tenthRange formats an interval to the tenth of a second, leaving out of
// the end what it shares with the start: "14:01:57.0–58.0".
func tenthRange(a, b time.Time) string {
	as, bs := clockTenth(a), clockTenth(b)
	if len(as) == len(bs) && as[:6] == bs[:6] {
		return as + "–" + bs[6:]
	}
	return as + "–" + bs
}
