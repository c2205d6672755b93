// The connection table's cells: the column header, one line per
// connection, and the text of each value in its column.

package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/tcpwatch/tcpwatch/model"
)

// renderColumnHeader renders the titles, the sort column marked.
func (t *connTable) renderColumnHeader(cols []placed) string {
	var b strings.Builder
	b.WriteString(" ")
	merged := mergedTries(cols)
	for i, p := range cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		spec := colSpecs[p.col]
		title := spec.title
		if p.col == colRetrans && merged {
			title = "TRIES"
		}
		st := t.ctx.styles.colHeader
		if p.col == t.order.col && !t.order.byUrgency() {
			title += t.order.arrow()
			st = t.ctx.styles.colSorted
		}
		b.WriteString(st.Render(fit(title, p.w, spec.right)))
	}
	return b.String()
}

// renderRow renders one connection on a line w cells wide: a cursor
// marker, the cells, and the health's style over the whole line (reversed
// when selected).
func (t *connTable) renderRow(cols []placed, merged bool, r *model.Row, sel bool, w int) string {
	var b strings.Builder
	if sel {
		b.WriteString("▶")
	} else {
		b.WriteString(" ")
	}
	for i, p := range cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		c := p.col
		if c == colRetrans && merged && countsProbes(r) {
			c = colProbes
		}
		text := t.cell(c, r, p.w)
		switch {
		case p.col == colLocal || p.col == colRemote:
			b.WriteString(fitLeft(text, p.w))
		default:
			b.WriteString(fit(text, p.w, colSpecs[p.col].right))
		}
	}
	line := b.String()
	if pad := w - 1 - lineWidth(cols); pad > 0 && sel {
		line += strings.Repeat(" ", pad)
	}
	st := t.ctx.styles.healthStyle(r.Health)
	if sel {
		st = st.Reverse(true)
	}
	return st.Render(line)
}

// cell formats one value of a row for a column of width w.
func (t *connTable) cell(c column, r *model.Row, w int) string {
	s := r.Sock
	info := &s.Info
	switch c {
	case colHealth:
		l := look(r.Health)
		if w >= colSpecs[colHealth].max {
			return l.symbol + " " + r.Health.String()
		}
		return l.symbol + " " + l.short
	case colLocal:
		return r.Local()
	case colRemote:
		return r.Remote()
	case colState:
		return s.State.String()
	case colNetNS:
		if r.NetNS == nil {
			return ""
		}
		return r.NetNS.Name
	case colProcess:
		return process(r)
	case colSendQ:
		return fmtBytes(uint64(s.SendQ))
	case colRecvQ:
		return fmtBytes(uint64(s.RecvQ))
	case colRTT:
		if !r.HasInfo() {
			return "—"
		}
		return fmtDur(info.RTT.Duration())
	case colRTO:
		if !r.HasInfo() {
			return "—"
		}
		return fmtRTO(info.RTO.Duration()) + "/" + strconv.Itoa(int(info.Backoff))
	case colRetrans:
		return tries(r.Retransmits(), r.Prediction, false)
	case colProbes:
		return tries(r.Probes(), r.Prediction, true)
	case colUnacked:
		if !r.HasInfo() {
			return "—"
		}
		return strconv.Itoa(int(info.Unacked))
	case colLastAck:
		if !r.HasInfo() {
			return "—"
		}
		return fmtAge(info.LastAckRecv.Duration())
	case colAbort:
		return t.ctx.countdown(r.Prediction)
	}
	return ""
}

// tries formats a count of retransmissions (probes false) or probes so
// far, followed by how many the kernel allows when the prediction counts
// that kind: "7/15".
func tries(n int, p *model.Prediction, probes bool) string {
	s := strconv.Itoa(n)
	if p != nil && probeSchedule(p) == probes && p.Count > 0 {
		s += "/" + strconv.Itoa(p.Count)
	}
	return s
}

// fmtRTO fits an RTO in four or five characters.
func fmtRTO(d time.Duration) string {
	switch {
	case d < time.Second:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	case d < 10*time.Second:
		return trimFloat(d.Seconds(), 1) + "s"
	}
	return strconv.FormatInt(int64(d.Round(time.Second)/time.Second), 10) + "s"
}
