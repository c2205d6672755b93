// The detail view's measurements: the history of a troubled connection
// as sparklines, every tcp_info field with its unit, and the inet_diag
// fields that tcp_info does not carry.

package tui

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

func (d *detailView) historyLines(r *model.Row, w int) []string {
	h := r.Samples()
	if len(h) == 0 {
		return []string{"   " + d.ctx.styles.dim.Render("no samples kept (history starts when a connection gets into trouble)")}
	}
	n := min(len(h), max(w-40, 10))
	h = h[len(h)-n:]
	span := h[len(h)-1].T.Sub(h[0].T)
	out := []string{"   " + d.ctx.styles.dim.Render("last "+strconv.Itoa(n)+" samples over "+fmtAge(span))}
	series := func(name string, val func(s *model.Sample) float64, format func(float64) string) {
		vals := make([]float64, len(h))
		hi := 0.0
		for i := range h {
			vals[i] = val(&h[i])
			hi = max(hi, vals[i])
		}
		if hi == 0 && name != "rtt" && name != "send-q" {
			return // a flat zero line says nothing
		}
		out = append(out, "   "+fit(name, 9, false)+" "+sparkline(vals)+"  last "+format(vals[len(vals)-1])+", max "+format(hi))
	}
	series("rtt", func(s *model.Sample) float64 { return float64(s.RTT) }, func(v float64) string { return fmtDur(time.Duration(v)) })
	series("send-q", func(s *model.Sample) float64 { return float64(s.SendQ) }, func(v float64) string { return fmtBytes(uint64(v)) })
	series("unacked", func(s *model.Sample) float64 { return float64(s.Unacked) }, func(v float64) string { return strconv.Itoa(int(v)) })
	series("backoff", func(s *model.Sample) float64 { return float64(s.Backoff) }, func(v float64) string { return strconv.Itoa(int(v)) })
	series("probes", func(s *model.Sample) float64 { return float64(s.Probes) }, func(v float64) string { return strconv.Itoa(int(v)) })
	return out
}

var sparkRunes = []rune("▁▂▃▄▅▆▇█")

// sparkline draws values from their minimum to their maximum in eighths
// of a cell; a constant series is a flat line at mid height.
func sparkline(vals []float64) string {
	if len(vals) == 0 {
		return ""
	}
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		lo, hi = min(lo, v), max(hi, v)
	}
	out := make([]rune, len(vals))
	for i, v := range vals {
		k := len(sparkRunes) / 2
		if hi > lo {
			k = int((v - lo) / (hi - lo) * float64(len(sparkRunes)-1))
		}
		out[i] = sparkRunes[min(max(k, 0), len(sparkRunes)-1)]
	}
	return string(out)
}

// tcpInfoLines lists every tcp_info field this build knows, in columns,
// with units; fields the kernel did not send show "—". The watcher keeps
// the sockets of the rows on screen whole; a row that came on screen
// since the last poll has its compact form only, whose fields are listed
// until the next poll brings the rest.
func (d *detailView) tcpInfoLines(s *inetdiag.Socket, w int) []string {
	if s.Info.Len == 0 {
		return []string{"   " + d.ctx.styles.dim.Render("the kernel sent no tcp_info for this socket")}
	}
	fields := inetdiag.TCPInfoFields()
	// The core's fields are the row's own; the whole, when kept, gives
	// the rest.
	value := func(f inetdiag.TCPInfoField) (uint64, bool) {
		if f.InCore() || s.Full == nil {
			return f.CoreValue(&s.Info)
		}
		return f.Value(&s.Full.Info)
	}
	head := "the kernel sent " + strconv.Itoa(int(s.Info.Len)) + " bytes"
	if s.Full == nil {
		fields = slices.DeleteFunc(fields, func(f inetdiag.TCPInfoField) bool { return !f.InCore() })
		head += "; the fields every row keeps (the rest from the next poll)"
	}
	const nameW, valW = 25, 14
	cellW := nameW + 1 + valW + 2
	cols := max((w-3)/cellW, 1)
	perCol := (len(fields) + cols - 1) / cols
	out := []string{"   " + d.ctx.styles.dim.Render(head)}
	for row := 0; row < perCol; row++ {
		var b strings.Builder
		b.WriteString("   ")
		for c := 0; c < cols; c++ {
			i := c*perCol + row
			if i >= len(fields) {
				break
			}
			f := fields[i]
			v, ok := value(f)
			val := "—"
			if ok {
				val = fieldValue(f, v)
			}
			b.WriteString(fit(f.Name, nameW, false) + " " + fit(val, valW, false))
			if c < cols-1 {
				b.WriteString("  ")
			}
		}
		out = append(out, strings.TrimRight(b.String(), " "))
	}
	return out
}

var caStates = []string{"Open", "Disorder", "CWR", "Recovery", "Loss"}

// fieldValue formats a tcp_info value in its unit.
func fieldValue(f inetdiag.TCPInfoField, v uint64) string {
	switch f.Unit {
	case inetdiag.UnitMicroseconds:
		return fmtDur(time.Duration(v) * time.Microsecond)
	case inetdiag.UnitMilliseconds:
		return fmtDur(time.Duration(v) * time.Millisecond)
	case inetdiag.UnitBytes:
		return fmtBytesLong(v)
	case inetdiag.UnitBytesPerSec:
		if v == ^uint64(0) {
			return "unlimited" // the kernel's ~0 default for max_pacing_rate
		}
		return fmtBytesLong(v) + "/s"
	case inetdiag.UnitFlags:
		switch f.Name {
		case "state":
			return inetdiag.State(v).String()
		case "ca_state":
			if int(v) < len(caStates) {
				return caStates[v]
			}
		case "options":
			return tcpOptions(uint8(v))
		}
	}
	return strconv.FormatUint(v, 10)
}

// tcpOptions names the TCPI_OPT_* bits.
func tcpOptions(o uint8) string {
	names := []struct {
		bit  uint8
		name string
	}{
		{inetdiag.OptTimestamps, "ts"}, {inetdiag.OptSACK, "sack"}, {inetdiag.OptWscale, "wscale"},
		{inetdiag.OptECN, "ecn"}, {inetdiag.OptECNSeen, "ecnseen"}, {inetdiag.OptSYNData, "syndata"},
		{inetdiag.OptUSecTS, "usec_ts"}, {inetdiag.OptTFOChild, "tfo_child"},
	}
	var out []string
	for _, n := range names {
		if o&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}

// socketLine lists the inet_diag fields that tcp_info does not carry.
func socketLine(s *inetdiag.Socket) string {
	parts := []string{
		"timer " + s.Timer.String(),
	}
	if s.Timer != inetdiag.TimerNone {
		parts = append(parts, "expires in "+fmtDur(s.Expires), "idiag_retrans "+strconv.Itoa(int(s.Retrans)))
	}
	parts = append(parts, "send-q "+fmtBytesLong(uint64(s.SendQ)), "recv-q "+fmtBytesLong(uint64(s.RecvQ)), "uid "+strconv.FormatUint(uint64(s.UID), 10))
	return strings.Join(parts, " · ")
}
