// The detail view's schedule: the firings (retransmissions or probes)
// that lead to the abort, as a timeline and as a table.

package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/tcpwatch/tcpwatch/model"
)

func scheduleTitle(p *model.Prediction) string {
	what := "retransmissions"
	if probeSchedule(p) {
		what = "probes"
	}
	return "Schedule: " + strconv.Itoa(p.Count) + " " + what + ", then the abort"
}

// scheduleLines draws the schedule: a one-line timeline from the first
// firing to the abort, then a table of every firing.
func (d *detailView) scheduleLines(p *model.Prediction, w int) []string {
	out := d.timeline(p, min(w-4, 100))
	out = append(out, "")
	header := "   " + fit("#", 3, true) + "  " + fit("what", 14, false) + " " + fit("time", 12, false) + " " +
		fit("from start", 10, true) + " " + fit("interval", 9, true) + "  status"
	out = append(out, d.ctx.styles.dim.Render(header))
	nextShown := false
	sched := p.Schedule
	// Very long schedules (tcp_retries2 can be 255) keep their beginning
	// and their end.
	const keepHead, keepTail = 5, 20
	for i := range sched {
		if len(sched) > keepHead+keepTail+1 && i == keepHead {
			out = append(out, "   "+fit("…", 3, true))
		}
		if len(sched) > keepHead+keepTail+1 && i >= keepHead && i < len(sched)-keepTail {
			continue
		}
		f := &sched[i]
		n := strconv.Itoa(f.N)
		what := f.Kind.String()
		switch f.Kind {
		case model.FireRetransmit:
			what = "retransmission"
		case model.FireAbort:
			n = "✗"
		}
		var status string
		st := d.ctx.styles.future
		switch {
		case f.Kind == model.FireAbort:
			status = "abort, window " + clockTenth(f.Earliest) + "–" + clockTenth(f.Latest)
			st = d.ctx.styles.err
		case f.Observed:
			status, st = "observed", d.ctx.styles.past
		case f.Past:
			status, st = "reconstructed", d.ctx.styles.past
		case !f.At.After(d.ctx.now):
			status, st = "due (not yet seen)", d.ctx.styles.past
		case !nextShown:
			status = "next, in " + fmtCountdown(f.At.Sub(d.ctx.now))
			nextShown = true
		default:
			status = "in " + fmtCountdown(f.At.Sub(d.ctx.now))
		}
		interval := ""
		if f.Interval > 0 {
			interval = fmtDur(f.Interval)
		}
		line := "   " + fit(n, 3, true) + "  " + fit(what, 14, false) + " " + fit(f.At.Format("15:04:05.000"), 12, false) + " " +
			fit(signed(f.At.Sub(p.Clock)), 10, true) + " " + fit(interval, 9, true) + "  " + status
		out = append(out, st.Render(line))
	}
	return out
}

// signed formats an offset with its sign: "+1.2s", "-996ms".
func signed(d time.Duration) string {
	if d < 0 {
		return fmtDur(d)
	}
	return "+" + fmtDur(d)
}

// timeline draws the schedule on one line of width w, from the clock's
// start to the abort: ● past firings, ○ future ones, ┃ now, ✗ the abort,
// with the times underneath.
func (d *detailView) timeline(p *model.Prediction, w int) []string {
	if w < 20 || len(p.Schedule) == 0 {
		return nil
	}
	// From the first firing: a keepalive clock starts two idle hours
	// before its first probe, which would squeeze every probe into the
	// last cells.
	start := p.Schedule[0].At
	end := p.Schedule[len(p.Schedule)-1].At
	if !end.After(start) {
		return nil
	}
	span := float64(end.Sub(start))
	pos := func(t time.Time) int {
		x := int(float64(t.Sub(start)) / span * float64(w-1))
		return min(max(x, 0), w-1)
	}
	line := []rune(strings.Repeat("─", w))
	if now := pos(d.ctx.now); d.ctx.now.After(start) && d.ctx.now.Before(end) {
		line[now] = '┃'
	}
	for i := range p.Schedule {
		f := &p.Schedule[i]
		x := pos(f.At)
		switch {
		case f.Kind == model.FireAbort:
			line[x] = '✗'
		case f.Past || !f.At.After(d.ctx.now):
			line[x] = '●'
		default:
			line[x] = '○'
		}
	}
	legend := []string{"● past", "○ to come"}
	if d.ctx.now.After(start) && d.ctx.now.Before(end) {
		legend = append(legend, "┃ now "+clock(d.ctx.now))
	}
	legend = append(legend, "✗ abort "+clockTenth(end), "from "+clock(start))
	return []string{"   " + string(line), "   " + d.ctx.styles.dim.Render(strings.Join(legend, "   "))}
}

// historyLines draws sparklines of the samples kept for a troubled
// connection.
