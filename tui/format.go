// Text formatting shared by every screen: durations, countdowns, byte
// counts, clocks, and fitting, cutting and wrapping styled text to widths.

package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// fmtCountdown formats the time left before an abort as the table shows
// it: whole seconds, minutes and seconds, or hours, minutes and seconds,
// always with two-digit minor units so that a ticking column does not jump.
func fmtCountdown(d time.Duration) string {
	d = d.Round(time.Second)
	s := int64(d / time.Second)
	switch {
	case s >= 3600:
		return strconv.FormatInt(s/3600, 10) + "h" + pad2(s/60%60) + "m" + pad2(s%60) + "s"
	case s >= 60:
		return strconv.FormatInt(s/60, 10) + "m" + pad2(s%60) + "s"
	}
	return strconv.FormatInt(s, 10) + "s"
}

// fmtRemaining formats the signed time to an abort: "13m02s", "now" within
// half a second, and "late 3s" once the best estimate has passed (the
// kernel fires late; the connection vanishes at the next poll).
func fmtRemaining(d time.Duration) string {
	switch {
	case d >= 500*time.Millisecond:
		return fmtCountdown(d)
	case d > -500*time.Millisecond:
		return "now"
	}
	return "late " + fmtCountdown(-d)
}

func pad2(v int64) string {
	if v < 10 {
		return "0" + strconv.FormatInt(v, 10)
	}
	return strconv.FormatInt(v, 10)
}

// fmtAge formats how long ago something happened, coarsely: the table has
// room for about seven characters.
func fmtAge(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Minute:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d < time.Hour:
		s := int64(d / time.Second)
		return strconv.FormatInt(s/60, 10) + "m" + pad2(s%60) + "s"
	case d < 24*time.Hour:
		m := int64(d / time.Minute)
		return strconv.FormatInt(m/60, 10) + "h" + pad2(m%60) + "m"
	}
	h := int64(d / time.Hour)
	return strconv.FormatInt(h/24, 10) + "d" + pad2(h%24) + "h"
}

// fmtDur formats a duration precisely but briefly, for kernel timers and
// tcp_info fields: "0.21ms", "204ms", "6.528s", "15m24.6s".
func fmtDur(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d == 0:
		s = "0s"
	case d < time.Millisecond:
		s = strconv.FormatInt(int64(d/time.Microsecond), 10) + "µs"
	case d < 10*time.Millisecond:
		s = trimFloat(float64(d)/float64(time.Millisecond), 2) + "ms"
	case d < time.Second:
		s = trimFloat(float64(d)/float64(time.Millisecond), 1) + "ms"
	case d < time.Minute:
		s = trimFloat(d.Seconds(), 3) + "s"
	default:
		s = fmtHMS(d.Round(100 * time.Millisecond))
	}
	if neg {
		return "-" + s
	}
	return s
}

// fmtHMS formats a duration of a minute or more as hours, minutes and
// (fractional) seconds, leaving out zero units: "2m", "1m42.4s",
// "2h11m15s".
func fmtHMS(d time.Duration) string {
	var b strings.Builder
	if h := d / time.Hour; h > 0 {
		b.WriteString(strconv.FormatInt(int64(h), 10) + "h")
	}
	if m := d % time.Hour / time.Minute; m > 0 {
		b.WriteString(strconv.FormatInt(int64(m), 10) + "m")
	}
	if s := d % time.Minute; s > 0 {
		b.WriteString(trimFloat(s.Seconds(), 1) + "s")
	}
	return b.String()
}

// plural returns "1 socket" or "2 sockets" (with thousands separators).
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmtCount(n) + " " + noun + "s"
}

// fmtSecs formats a kernel budget in seconds with at most one decimal, as
// the sysctl documentation states them ("924.6s", "120s").
func fmtSecs(d time.Duration) string {
	return trimFloat(d.Seconds(), 1) + "s"
}

// trimFloat formats f with at most prec decimals and no trailing zeros.
func trimFloat(f float64, prec int) string {
	s := strconv.FormatFloat(f, 'f', prec, 64)
	if strings.IndexByte(s, '.') >= 0 {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// fmtBytes humanises a byte count in binary units: "90", "14.2K", "3.0M".
func fmtBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10)
	}
	v := float64(n)
	for _, suffix := range []string{"K", "M", "G", "T"} {
		v /= unit
		if v < unit || suffix == "T" {
			return strconv.FormatFloat(v, 'f', 1, 64) + suffix
		}
	}
	return strconv.FormatUint(n, 10)
}

// fmtBytesLong is fmtBytes for the detail view, where exact small values
// (an MSS of 1448) read better than rounded ones.
func fmtBytesLong(n uint64) string {
	if n < 10000 {
		return strconv.FormatUint(n, 10) + " B"
	}
	return fmtBytes(n) + "iB"
}

// fmtCount formats an integer with thousands separators: 41,203.
func fmtCount(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + fmtCount(-n)
	}
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	lead := len(s) % 3
	if lead > 0 {
		b.WriteString(s[:lead])
	}
	for i := lead; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// clock formats a wall-clock instant to the second.
func clock(t time.Time) string { return t.Format("15:04:05") }

// clockTenth formats a wall-clock instant to the tenth of a second, for
// predictions whose window is a few hundred milliseconds wide.
func clockTenth(t time.Time) string { return t.Format("15:04:05.0") }

// fit pads or truncates s to exactly w cells. Right-aligned cells are
// padded on the left.
func fit(s string, w int, right bool) string {
	sw := ansi.StringWidth(s)
	if sw > w {
		return ansi.Truncate(s, w, "…")
	}
	if sw == w {
		return s
	}
	if right {
		return strings.Repeat(" ", w-sw) + s
	}
	return s + strings.Repeat(" ", w-sw)
}

// fitLeft is fit for endpoints: when too long it drops the beginning, so
// that the port stays visible ("…:fe12:3]:5432").
func fitLeft(s string, w int) string {
	sw := ansi.StringWidth(s)
	if sw <= w {
		return s + strings.Repeat(" ", w-sw)
	}
	if w <= 1 {
		return ansi.Truncate(s, w, "")
	}
	return "…" + ansi.TruncateLeft(s, sw-w+1, "")
}

// truncate cuts a possibly styled line to w cells.
func truncate(s string, w int) string {
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// spread lays out left and right parts on one line of width w, the right
// part flush right; when both do not fit, the left part is cut.
func spread(left, right string, w int) string {
	lw, rw := ansi.StringWidth(left), ansi.StringWidth(right)
	if lw+rw+1 > w {
		if rw+2 >= w {
			return truncate(left, w)
		}
		left = ansi.Truncate(left, w-rw-1, "…")
		lw = ansi.StringWidth(left)
	}
	return left + strings.Repeat(" ", w-lw-rw) + right
}

// flow packs items into lines no wider than w, separated by sep; an item
// wider than a line is truncated.
func flow(items []string, sep string, w int) []string {
	var lines []string
	var cur strings.Builder
	curW := 0
	sepW := ansi.StringWidth(sep)
	for _, it := range items {
		iw := ansi.StringWidth(it)
		if curW > 0 && curW+sepW+iw > w {
			lines = append(lines, cur.String())
			cur.Reset()
			curW = 0
		}
		if curW > 0 {
			cur.WriteString(sep)
			curW += sepW
		}
		if iw > w-curW {
			it = ansi.Truncate(it, w-curW, "…")
			iw = ansi.StringWidth(it)
		}
		cur.WriteString(it)
		curW += iw
	}
	if curW > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

// wrap word-wraps plain text to width w, indenting continuation lines.
func wrap(text string, w int, indent string) []string {
	if w <= len(indent)+10 {
		w = len(indent) + 10
	}
	var lines []string
	for _, para := range strings.Split(text, "\n") {
		var cur strings.Builder
		curW, empty := 0, true
		for _, word := range strings.Fields(para) {
			ww := ansi.StringWidth(word)
			if !empty && curW+1+ww > w {
				lines = append(lines, cur.String())
				cur.Reset()
				cur.WriteString(indent)
				curW, empty = len(indent), true
			}
			if !empty {
				cur.WriteByte(' ')
				curW++
			}
			cur.WriteString(word)
			curW += ww
			empty = false
		}
		if !empty {
			lines = append(lines, cur.String())
		}
	}
	return lines
}
