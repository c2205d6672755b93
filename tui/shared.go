// Shared state: what the parent model owns and its components (the
// connection table, the detail view) read while they update and render.

package tui

import (
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// shared is the part of the interface's state that more than one
// component needs: the snapshot on screen and what was computed from it
// once, the clock, the styles and the filter. The parent Model embeds it
// and alone writes it; components hold a pointer to it and only read, so
// that one snapshot, one clock reading and one filter are in force on
// the whole screen.
type shared struct {
	styles styles
	now    time.Time // the clock at the last message

	snap *model.Snapshot // on screen
	sum  summary         // the header's counts of snap
	// sums makes sum's counts, over a refresh's suspects alone when the
	// other rows are the last snapshot's (see model.Summarizer).
	sums   model.Summarizer
	events eventList // the events pane's pick of snap

	query   query.Query
	kfilter inetdiag.Filter // the kernel-side part of query, applied here too
	kstates inetdiag.StateMask
}

// setQuery installs a filter and precomputes its kernel-side part, which
// is applied to the snapshot on screen so that the change shows at once
// (the caller applies it in the kernel from the next poll).
func (s *shared) setQuery(q query.Query) {
	s.query = q
	req := q.Request()
	s.kfilter, s.kstates = req.Filter, req.States
}

// matchesQuery reports whether a row passes the filter in force.
func (s *shared) matchesQuery(r *model.Row) bool {
	if s.query.IsZero() {
		return true
	}
	if s.kstates != 0 && !s.kstates.Has(r.Sock.State) {
		return false
	}
	if !s.kfilter.IsZero() && !s.kfilter.Match(r.Sock.Family, r.Sock.ID) {
		return false
	}
	return s.query.MatchRow(r)
}

// countdown is the abort-in text of a prediction (the table's cell, the
// header's next abort, the detail view): the time left at the current
// clock, "~" when the prediction assumed the namespace's sysctls.
func (s *shared) countdown(p *model.Prediction) string {
	if p == nil {
		return "—"
	}
	left := fmtRemaining(p.Remaining(s.now))
	if p.Confidence == model.Assumed {
		return "~" + left
	}
	return left
}

// params are the kernel parameters of the snapshot on screen, or the
// kernel's defaults before the first poll.
func (s *shared) params() model.Params {
	if s.snap == nil {
		return model.DefaultParams()
	}
	return s.snap.Params
}

// heldRow is a row copied out of a snapshot, with its socket, so that it
// stays valid after the snapshot is released (for the detail view of a
// connection that vanished, and for a kill awaiting confirmation).
type heldRow struct {
	row  model.Row
	sock inetdiag.Socket
	full inetdiag.Full
}

func holdRow(r *model.Row) *heldRow {
	h := &heldRow{row: *r, sock: *r.Sock}
	h.row.Sock = &h.sock
	if r.Sock.Full != nil {
		// The socket's whole lives in the snapshot's buffer too.
		h.full = *r.Sock.Full
		h.sock.Full = &h.full
	}
	return h
}
