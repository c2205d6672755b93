// The header above the table: the title line, the kernel parameters, the
// counts by health and by state, the exposure, notices and the filter
// line, each a block that a short terminal drops by priority.

package tui

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// summary is what the header shows about a snapshot, computed once when
// it arrives.
type summary struct {
	total   int
	states  []stateCount
	health  map[model.Health]int
	dying   int
	never   int
	ports   []model.PortExposure
	morePts bool
	// soonest is the earliest predicted abort and its connection.
	soonest     *model.Prediction
	soonestWhat string
	// namespaces counts the rows by namespace (with --all-netns only).
	namespaces []nsCount
}

type stateCount struct {
	state inetdiag.State
	n     int
}

// summarize counts a snapshot for the header, with sums.
func summarize(s *model.Snapshot, sums *model.Summarizer) summary {
	var sum summary
	if s == nil {
		return sum
	}
	all := sums.Summarize(s)
	c := &all.Counts
	sum.total = c.Total
	for _, st := range c.States() {
		sum.states = append(sum.states, stateCount{st, c.ByState[st]})
	}
	slices.SortFunc(sum.states, func(a, b stateCount) int {
		if r := cmp.Compare(b.n, a.n); r != 0 {
			return r
		}
		return cmp.Compare(a.state, b.state)
	})
	sum.health = map[model.Health]int{}
	for _, h := range healthOrder {
		if n := c.Health(h); n > 0 {
			sum.health[h] = n
			if h.Dying() {
				sum.dying += n
			}
		}
	}
	const topPorts = 3
	sum.never, sum.ports = all.Never, model.TopPorts(all.NeverByPort, topPorts+1)
	if len(sum.ports) > topPorts {
		sum.ports, sum.morePts = sum.ports[:topPorts], true
	}
	if r := all.SoonestAbort(s); r != nil && r.Sock != nil {
		sum.soonest = r.Prediction
		sum.soonestWhat = arrow(r)
	}
	sum.namespaces = countNamespaces(s)
	return sum
}

// headerBlock is a group of header lines with a priority: on a short
// terminal the least important blocks are dropped first.
type headerBlock struct {
	prio  int
	lines []string
}

// headerBlocks renders the header for width w.
func (m *Model) headerBlocks(w int) []headerBlock {
	var blocks []headerBlock
	add := func(prio int, lines ...string) {
		if len(lines) > 0 {
			blocks = append(blocks, headerBlock{prio, lines})
		}
	}
	if m.cfg.Banner != "" {
		// Up to two lines: the banner says what goes away on exit.
		lines := wrap(m.cfg.Banner, w-2, "")
		if len(lines) > 2 {
			lines = lines[:2]
			lines[1] = truncate(lines[1]+" …", w-2)
		}
		for i, l := range lines {
			lines[i] = m.styles.banner.Render(fit(" "+l, w, false))
		}
		add(3, lines...)
	}
	add(0, m.replayLines(w)...)
	add(0, m.titleLine(w))
	add(1, m.peerBanners(w)...)
	if m.snap != nil {
		add(6, indent(flow(m.paramChips(), "   ", w-1))...)
		if chips := m.namespaceChips(); chips != nil {
			add(6, indent(flow(chips, "  ", w-1))...)
		}
		add(1, indent(flow(m.healthChips(), "  ", w-1))...)
		add(7, indent(flow(m.stateChips(), "  ", w-1))...)
		if e := m.exposureLine(); e != "" {
			add(5, indent(wrapStyled(e, w-1))...)
		}
	}
	add(4, m.noticeLines(w)...)
	add(2, m.filterLine(w))
	return blocks
}

func indent(lines []string) []string {
	for i := range lines {
		lines[i] = " " + lines[i]
	}
	return lines
}

func wrapStyled(s string, w int) []string {
	return strings.Split(ansi.Wordwrap(s, w, " ,"), "\n")
}

// titleLine: the program, what is watched, how polling goes, the clock.
func (m *Model) titleLine(w int) string {
	left := " " + m.styles.title.Render("tcpwatch")
	var right []string
	if m.cfg.Replay != nil {
		right = append(right, m.styles.paused.Render(" REPLAY "))
	}
	if m.paused {
		right = append(right, m.styles.paused.Render(" PAUSED "))
	}
	if s := m.snap; s != nil {
		if s.Host != "" {
			left += "  " + s.Host
		}
		if s.NetNS != "" {
			left += "  netns: " + s.NetNS
		}
		if s.OtherNetNS > 0 {
			left += m.styles.dim.Render("  · " + plural(s.OtherNetNS, "other namespace") + ": --all-netns")
		}
		poll := "poll " + fmtSecs(s.Interval) + " · " + fmtDur(s.PollCost.Round(1e6))
		if s.Slowed {
			poll = m.styles.warn.Render("slowed to " + fmtSecs(s.Interval) + ": polls take " + fmtDur(s.PollCost.Round(1e6)))
		}
		if s.SweepEvery > 0 {
			// Two tiers: the dying rows are fresh, the rest is the
			// last full dump's.
			poll += m.styles.dim.Render(" · full dump every " + fmtSecs(s.SweepEvery) + " (" + fmtDur(s.SweepCost.Round(1e6)) + ")")
		}
		right = append(right, poll+" · "+plural(m.sum.total, "socket"))
	} else {
		right = append(right, "waiting for the first poll")
	}
	right = append(right, clock(m.now)+" ")
	return spread(left, strings.Join(right, "  "), w)
}

// paramChips are the kernel parameters that decide aborts, each with the
// time it yields.
func (m *Model) paramChips() []string {
	p := m.snap.Params
	chips := []string{
		"retries2=" + strconv.Itoa(p.Retries2) + " → " + fmtDur(model.ModelTimeout(p.Retries2, model.RTOMin, p.RTOMax)),
		"keepalive " + trimFloat(p.KeepaliveTime.Seconds(), 1) + "/" + trimFloat(p.KeepaliveIntvl.Seconds(), 1) + "/" +
			strconv.Itoa(p.KeepaliveProbes) + " → " + fmtDur(p.KeepaliveBudget()),
		"rto_max " + fmtSecs(p.RTOMax),
	}
	return chips
}

// healthChips count connections by health, the dying first; when nothing
// is dying the first chip says so in words.
func (m *Model) healthChips() []string {
	sum := &m.sum
	var chips []string
	if sum.dying == 0 {
		chips = append(chips, m.styles.good.Render("✓ no dying connections among "+plural(sum.total, "socket")))
	}
	for _, h := range healthOrder {
		n := sum.health[h]
		if n == 0 {
			continue
		}
		l := look(h)
		chips = append(chips, m.styles.healthStyle(h).Render(l.symbol+" "+fmtCount(n)+" "+h.String()))
	}
	if p := sum.soonest; p != nil {
		next := "next abort in " + m.countdown(p)
		if rem := p.Remaining(m.now); rem <= -500*time.Millisecond {
			next = "an abort is " + fmtCountdown(-rem) + " overdue"
		}
		chips = append(chips, m.styles.bold.Render(next)+" ("+sum.soonestWhat+")")
	}
	return chips
}

// stateChips count connections by TCP state, the most numerous first.
func (m *Model) stateChips() []string {
	chips := make([]string, 0, len(m.sum.states))
	for _, sc := range m.sum.states {
		chips = append(chips, sc.state.String()+" "+fmtCount(sc.n))
	}
	return chips
}

// exposureLine says how many connections would never notice a dead peer,
// and on which service ports.
func (m *Model) exposureLine() string {
	sum := &m.sum
	if sum.never == 0 {
		if sum.total == 0 {
			return ""
		}
		return "exposure: every established connection would notice a dead peer"
	}
	var ports []string
	for _, p := range sum.ports {
		ports = append(ports, ":"+strconv.Itoa(int(p.Port))+" ×"+fmtCount(p.Never))
	}
	if sum.morePts {
		ports = append(ports, "…")
	}
	return "exposure: " + m.styles.bold.Render(plural(sum.never, "connection")) + " would never notice a dead peer (" + strings.Join(ports, ", ") + ")"
}

// noticeLines: what the operator should know once (privileges, missing
// sysctls) and whether the watcher stopped.
func (m *Model) noticeLines(w int) []string {
	var lines []string
	if m.stopped {
		msg := "the watcher stopped"
		if m.snap != nil {
			msg += ": this is the last poll, taken at " + clock(m.snap.Time)
		}
		lines = append(lines, " "+m.styles.err.Render(truncate(msg, w-2)))
	}
	if m.snap == nil {
		return lines
	}
	for _, n := range m.snap.Notices {
		lines = append(lines, " "+m.styles.warn.Render(truncate("note: "+n, w-2)))
	}
	if miss := m.snap.Params.Missing; len(miss) > 0 {
		lines = append(lines, " "+m.styles.dim.Render(truncate("note: built-in defaults used for "+strings.Join(miss, ", ")+" (not in this kernel)", w-2)))
	}
	return lines
}

// filterLine: the filter in force, the toggles, the sort, how many rows
// show, and the latest status message.
func (m *Model) filterLine(w int) string {
	f := m.query.String()
	if f == "" && !m.query.IsZero() {
		f = "(from the command line)"
	}
	if f == "" {
		f = "none"
	}
	parts := []string{"filter: " + m.styles.bold.Render(f)}
	if m.table.unhealthyOnly {
		parts = append(parts, "only unhealthy")
	}
	parts = append(parts, m.table.order.label())
	if m.snap != nil {
		if n, total, cur := m.tableCounts(); n != total {
			parts = append(parts, "showing "+fmtCount(n)+" of "+fmtCount(total))
		} else if n > 0 {
			parts = append(parts, "row "+fmtCount(cur+1)+" of "+fmtCount(n))
		}
	}
	left := " " + strings.Join(parts, " · ")
	right := ""
	if m.status != "" {
		st := m.styles.good
		if m.statusErr {
			st = m.styles.err
		}
		right = st.Render(m.status) + " "
	}
	if right == "" {
		return truncate(left, w)
	}
	if ansi.StringWidth(left)+ansi.StringWidth(right)+2 > w {
		// The status matters more than the sort order: it answers what
		// the user just did.
		return truncate(" "+right, w)
	}
	return spread(left, right, w)
}
