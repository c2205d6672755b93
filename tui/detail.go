package tui

import (
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// openDetail shows the selected connection.
func (m *Model) openDetail() {
	r := m.selected()
	if r == nil {
		return
	}
	m.detail = holdRow(r)
	m.detailGone = false
	m.screen = screenDetail
	m.sizeDetail()
	m.refreshDetail()
	m.vp.GotoTop()
}

// updateDetailRow follows the detail view's connection into a new
// snapshot; when it is gone, the last copy stays on screen with what
// happened to it.
func (m *Model) updateDetailRow() {
	if m.detail == nil || m.snap == nil {
		return
	}
	cookie := m.detail.row.Sock.ID.Cookie
	found := false
	for i := range m.snap.Rows {
		if r := &m.snap.Rows[i]; r.Sock != nil && r.Sock.ID.Cookie == cookie {
			m.detail = holdRow(&m.snap.Rows[i])
			found = true
			break
		}
	}
	m.detailGone = !found
	m.refreshDetail()
}

// sizeDetail fits the viewport between the title line and the footer.
func (m *Model) sizeDetail() {
	m.vp.SetWidth(max(m.width, 1))
	m.vp.SetHeight(max(m.height-2, 1))
}

// refreshDetail regenerates the detail text (countdowns move every tick;
// the content is one connection, cheap to rebuild).
func (m *Model) refreshDetail() {
	if m.screen != screenDetail || m.detail == nil || m.width == 0 {
		return
	}
	off := m.vp.YOffset()
	m.vp.SetContent(strings.Join(m.detailLines(&m.detail.row), "\n"))
	m.vp.SetYOffset(off)
}

// detailKey handles keys on the detail screen.
func (m *Model) detailKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case key.Matches(k, m.keys.Back):
		m.screen = screenTable
		m.detail = nil
		return nil
	case key.Matches(k, m.keys.Help):
		m.openHelp()
		return nil
	case key.Matches(k, m.keys.Kill):
		if !m.detailGone && m.detail != nil {
			m.askKill(&m.detail.row)
		}
		return nil
	case key.Matches(k, m.keys.Home):
		m.vp.GotoTop()
		return nil
	case key.Matches(k, m.keys.End):
		m.vp.GotoBottom()
		return nil
	}
	var cmd tea.Cmd
	m.vp, cmd = m.vp.Update(k)
	return cmd
}

// renderDetail renders the detail screen.
func (m *Model) renderDetail() string {
	lines := []string{m.titleLine(m.width), m.vp.View(), m.footer(detailHelp(m.keys).ShortHelp())}
	return strings.Join(lines, "\n")
}

// detailLines is the text of the detail view for width m.width.
func (m *Model) detailLines(r *model.Row) []string {
	w := m.width - 2
	var out []string
	add := func(lines ...string) { out = append(out, lines...) }
	para := func(text string) { add(indent(wrap(text, w-1, ""))...) }
	section := func(title string) { add("", " "+m.styles.bold.Render(title)) }

	s := r.Sock
	conn := model.Endpoint(s.ID.Src) + " → " + model.Endpoint(s.ID.Dst)
	ids := []string{m.styles.bold.Render(conn), s.State.Name()}
	if p := process(r); p != "" {
		ids = append(ids, p)
	}
	ids = append(ids, "cookie 0x"+strconv.FormatUint(s.ID.Cookie, 16), "inode "+strconv.FormatUint(uint64(s.Inode), 10))
	if s.Inode == 0 {
		ids[len(ids)-1] = "no inode (orphaned)"
	}
	add(indent(flow(ids, "   ", w))...)

	l := look(r.Health)
	status := []string{m.styles.healthStyle(r.Health).Render(strings.TrimSpace(l.symbol+" "+r.Health.String())) + m.since(r.HealthSince)}
	if !r.FirstSeen.IsZero() {
		status = append(status, "first seen "+clock(r.FirstSeen))
	}
	if r.Prediction != nil {
		c := "abort in " + m.countdown(r.Prediction)
		if r.Prediction.Confidence == model.Assumed {
			c += " (assumed sysctls)"
		}
		status = append(status, m.styles.bold.Render(c))
	}
	add(indent(flow(status, " · ", w))...)
	if m.detailGone {
		add("", " "+m.styles.err.Render(truncate(m.goneLine(r), w)))
	}

	add("")
	for _, p := range m.explain(r) {
		para(p)
	}

	if p := r.Prediction; p != nil {
		if len(p.Inputs) > 0 {
			section("Inputs")
			nameW, valW := 0, 0
			for _, in := range p.Inputs {
				nameW, valW = max(nameW, len(in.Name)), max(valW, ansi.StringWidth(in.Value))
			}
			valW = min(valW, max(w-nameW-12, 10))
			for _, in := range p.Inputs {
				add("   " + fit(string(in.Name), nameW, false) + "  " + fit(in.Value, valW, false) + "  " + m.styles.dim.Render(string(in.Source)))
			}
		}
		if len(p.Notes) > 0 {
			section("Notes")
			for _, n := range p.Notes {
				add(indent(indent(wrap("• "+n, w-3, "  ")))...)
			}
		}
		if len(p.Schedule) > 0 {
			section(scheduleTitle(p))
			add(m.scheduleLines(p, w)...)
		}
	}

	section("History")
	add(m.historyLines(r, w)...)

	section("tcp_info")
	add(m.tcpInfoLines(&s.Info, w)...)
	add("", " "+m.styles.dim.Render("socket: "+socketLine(s)))
	return out
}

// since formats " since 14:01:28 (41s)" for a health that began at t.
func (m *Model) since(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " since " + clock(t) + " (" + fmtAge(m.now.Sub(t)) + ")"
}

// goneLine says that the connection left and, from the events, how.
func (m *Model) goneLine(r *model.Row) string {
	cookie := r.Sock.ID.Cookie
	for i := range m.events.shown {
		e := &m.events.shown[i]
		if e.ID.Cookie == cookie {
			_, name := eventLook(e.Kind)
			return "✗ gone from the latest poll: " + name + " at " + clock(e.Time) + ", " + eventDetail(e)
		}
	}
	return "✗ gone from the latest poll (closed); this is its last sample"
}

// explain is the plain-language account of a connection: what the kernel
// is doing, when it will give up and why, and what would make it fail
// faster; for connections without a prediction, what their health means.
func (m *Model) explain(r *model.Row) []string {
	s := r.Sock
	p := r.Prediction
	if p == nil {
		return m.explainNoPrediction(r)
	}
	silent := ""
	if r.HasInfo() {
		silent = "The peer has acknowledged nothing for " + fmtAge(s.Info.LastAckRecv) + ". "
	}
	when := m.when(p)
	clockStart := clock(p.Clock)
	var text string
	switch p.Reason {
	case model.ReasonRetries2:
		text = silent + "The kernel retransmits with backoff and will give up " + when + " after " + strconv.Itoa(p.Count) +
			" retransmissions: tcp_retries2=" + inputOr(p, model.InputRetries2, m.params().Retries2) + " → " + fmtSecs(p.Budget) +
			", counted from the first timeout at " + clockStart + ". To fail faster: TCP_USER_TIMEOUT on the socket, or lower net.ipv4.tcp_retries2."
	case model.ReasonUserTimeout:
		if probeSchedule(p) {
			text = "The connection is idle and its keepalive probes go unanswered. TCP_USER_TIMEOUT (" + fmtSecs(p.Budget) +
				") is set on the socket and ends it " + when + ", counted from the last segment received at " + clockStart + ". To fail faster: lower TCP_USER_TIMEOUT."
		} else {
			text = silent + "TCP_USER_TIMEOUT is " + fmtSecs(p.Budget) + " on this socket: the kernel gives up when nothing has been acknowledged for that long, " +
				when + ", counted from " + clockStart + ". To fail faster: lower TCP_USER_TIMEOUT."
		}
	case model.ReasonKeepalive:
		text = "The connection is idle and the peer has answered none of the " + strconv.Itoa(r.Probes()) + " keepalive probes sent so far. The kernel will give up " +
			when + " after " + strconv.Itoa(p.Count) + " unanswered probes: TCP_KEEPIDLE " + inputOr(p, model.InputKeepIdle, 0) + " + " +
			inputOr(p, model.InputKeepCnt, 0) + " × TCP_KEEPINTVL " + inputOr(p, model.InputKeepIntvl, 0) + " = " + fmtDur(p.Budget) +
			" after the last segment received at " + clockStart + ". To fail faster: lower TCP_KEEPIDLE, TCP_KEEPINTVL or TCP_KEEPCNT on the socket (or net.ipv4.tcp_keepalive_*), or set TCP_USER_TIMEOUT."
	case model.ReasonZeroWindowProbes:
		text = "The peer advertised a zero receive window and has answered none of the " + strconv.Itoa(r.Probes()) +
			" window probes sent so far: it is probably gone. The kernel will give up " + when + " after " + strconv.Itoa(p.Count) +
			" unanswered probes (tcp_retries2=" + inputOr(p, model.InputRetries2, m.params().Retries2) + "). To fail faster: TCP_USER_TIMEOUT on the socket."
	case model.ReasonOrphanRetries:
		pending := "its FIN is"
		if s.SendQ > 1 {
			pending = fmtBytesLong(uint64(s.SendQ)) + " of data or its FIN are"
		}
		text = "The application has closed this socket, but " + pending + " still unacknowledged, and the kernel keeps retransmitting on its own. It will give up " +
			when + " after " + strconv.Itoa(p.Count) + " retransmissions: tcp_orphan_retries=" + inputOr(p, model.InputOrphanRetries, m.params().OrphanRetries) +
			" → " + fmtSecs(p.Budget) + ", counted from " + clockStart + ". To fail faster: lower net.ipv4.tcp_orphan_retries."
	case model.ReasonSynRetries:
		text = "The connection attempt is unanswered: the SYN has been retransmitted " + strconv.Itoa(r.Retransmits()) + " times. The kernel will give up " +
			when + " after " + strconv.Itoa(p.Count) + " SYN retransmissions (tcp_syn_retries=" + inputOr(p, model.InputSynRetries, m.params().SynRetries) +
			" → " + fmtSecs(p.Budget) + "). To fail faster: TCP_SYNCNT or a connect timeout in the application, or lower net.ipv4.tcp_syn_retries."
	default:
		text = silent + "The kernel will give up " + when + " (" + p.Reason.String() + ")."
	}
	out := []string{text}
	if p.Confidence == model.Assumed {
		out = append(out, "~ The socket's own options could not be read (that needs root): the namespace's sysctls were assumed, and a TCP_USER_TIMEOUT or keepalive setting on the socket would change the time.")
	}
	return out
}

// when says when the kernel gives up: "at 14:15:11 (in 13m02s, window
// 14:15:09–14:15:14)", or how late it is.
func (m *Model) when(p *model.Prediction) string {
	layout := clock
	if p.Latest.Sub(p.Earliest) < 2*time.Second {
		layout = clockTenth
	}
	window := "window " + layout(p.Earliest) + "–" + layout(p.Latest)
	rem := p.Remaining(m.now)
	if rem < -500*time.Millisecond {
		return "at " + layout(p.At) + " (" + fmtCountdown(-rem) + " ago, " + window + "; the next poll will tell)"
	}
	return "at " + layout(p.At) + " (in " + fmtRemaining(rem) + ", " + window + ")"
}

func (m *Model) params() model.Params {
	if m.snap == nil {
		return model.DefaultParams()
	}
	return m.snap.Params
}

// inputOr returns the value of a prediction input, or fallback (an input
// a prediction did not list: the namespace's value).
func inputOr(p *model.Prediction, name model.InputName, fallback int) string {
	if in, ok := p.Input(name); ok {
		return in.Value
	}
	return strconv.Itoa(fallback)
}

// explainNoPrediction explains a health that has no abort in sight.
func (m *Model) explainNoPrediction(r *model.Row) []string {
	s := r.Sock
	who := process(r)
	if who == "" {
		who = "the application"
	}
	switch r.Health {
	case model.HealthCloseWait:
		t := "The peer closed its side"
		if !r.HealthSince.IsZero() {
			t += " at " + clock(r.HealthSince) + " (" + fmtAge(m.now.Sub(r.HealthSince)) + " ago)"
		}
		t += "; the local application (" + who + ") has not closed the socket. The kernel will not time this out: only the application can, by calling close(). A CLOSE-WAIT that lasts is a leak: it holds a file descriptor"
		switch {
		case s.RecvQ == 1:
			t += " and 1 unread byte"
		case s.RecvQ > 1:
			t += " and " + fmtBytesLong(uint64(s.RecvQ)) + " of unread data"
		}
		return []string{t + "."}
	case model.HealthZeroWindow:
		t := "The peer is alive but not reading: it advertises a zero receive window and answers the kernel's window probes, so no abort is expected; the kernel will wait indefinitely (RFC 1122)."
		if s.SendQ > 0 {
			t += " " + fmtBytesLong(uint64(s.SendQ)) + " of data is waiting to be sent."
		}
		return []string{t, "Look at the application on " + model.Endpoint(s.ID.Dst) + ": it has stopped reading from its socket."}
	case model.HealthUnguarded:
		t := "Idle without keepalive: if the peer host died now, this connection would stay ESTABLISHED forever and " + who + " would never find out."
		if m.snap != nil {
			port := m.snap.ServicePort(r)
			for _, pe := range m.sum.ports {
				if pe.Port == port && pe.Never > 1 {
					t += " " + fmtCount(pe.Never) + " connections of :" + strconv.Itoa(int(port)) + " are alike."
				}
			}
		}
		return []string{t, "To be told: SO_KEEPALIVE with TCP_KEEPIDLE (and TCP_KEEPINTVL, TCP_KEEPCNT), TCP_USER_TIMEOUT, or an application heartbeat."}
	}
	if r.Health.Dying() {
		return []string{"The kernel is counting down (" + r.Health.String() + "), but when it will give up cannot be told from what inet_diag shows yet; the next polls may."}
	}
	out := []string{"Nothing to report."}
	if e := r.Exposure; e != nil {
		switch {
		case e.Never:
			out = append(out, "If the peer host died now, this connection would never notice.")
		default:
			t := "If the peer host died now, the kernel would notice after about " + fmtAge(e.After)
			if e.Reason != model.ReasonNone {
				t += " (" + e.Reason.String() + ")"
			}
			out = append(out, t+".")
		}
	}
	return out
}

func scheduleTitle(p *model.Prediction) string {
	what := "retransmissions"
	if probeSchedule(p) {
		what = "probes"
	}
	return "Schedule: " + strconv.Itoa(p.Count) + " " + what + ", then the abort"
}

// scheduleLines draws the schedule: a one-line timeline from the first
// firing to the abort, then a table of every firing.
func (m *Model) scheduleLines(p *model.Prediction, w int) []string {
	out := m.timeline(p, min(w-4, 100))
	out = append(out, "")
	header := "   " + fit("#", 3, true) + "  " + fit("what", 14, false) + " " + fit("time", 12, false) + " " +
		fit("from start", 10, true) + " " + fit("interval", 9, true) + "  status"
	out = append(out, m.styles.dim.Render(header))
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
		st := m.styles.future
		switch {
		case f.Kind == model.FireAbort:
			status = "abort, window " + clockTenth(f.Earliest) + "–" + clockTenth(f.Latest)
			st = m.styles.err
		case f.Observed:
			status, st = "observed", m.styles.past
		case f.Past:
			status, st = "reconstructed", m.styles.past
		case !f.At.After(m.now):
			status, st = "due (not yet seen)", m.styles.past
		case !nextShown:
			status = "next, in " + fmtCountdown(f.At.Sub(m.now))
			nextShown = true
		default:
			status = "in " + fmtCountdown(f.At.Sub(m.now))
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
func (m *Model) timeline(p *model.Prediction, w int) []string {
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
	if now := pos(m.now); m.now.After(start) && m.now.Before(end) {
		line[now] = '┃'
	}
	for i := range p.Schedule {
		f := &p.Schedule[i]
		x := pos(f.At)
		switch {
		case f.Kind == model.FireAbort:
			line[x] = '✗'
		case f.Past || !f.At.After(m.now):
			line[x] = '●'
		default:
			line[x] = '○'
		}
	}
	legend := []string{"● past", "○ to come"}
	if m.now.After(start) && m.now.Before(end) {
		legend = append(legend, "┃ now "+clock(m.now))
	}
	legend = append(legend, "✗ abort "+clockTenth(end), "from "+clock(start))
	return []string{"   " + string(line), "   " + m.styles.dim.Render(strings.Join(legend, "   "))}
}

// historyLines draws sparklines of the samples kept for a troubled
// connection.
func (m *Model) historyLines(r *model.Row, w int) []string {
	h := r.History
	if len(h) == 0 {
		return []string{"   " + m.styles.dim.Render("no samples kept (history starts when a connection gets into trouble)")}
	}
	n := min(len(h), max(w-40, 10))
	h = h[len(h)-n:]
	span := h[len(h)-1].T.Sub(h[0].T)
	out := []string{"   " + m.styles.dim.Render("last "+strconv.Itoa(n)+" samples over "+fmtAge(span))}
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
// with units; fields the kernel did not send show "—".
func (m *Model) tcpInfoLines(info *inetdiag.TCPInfo, w int) []string {
	if info.Len == 0 {
		return []string{"   " + m.styles.dim.Render("the kernel sent no tcp_info for this socket")}
	}
	fields := inetdiag.TCPInfoFields()
	const nameW, valW = 25, 14
	cellW := nameW + 1 + valW + 2
	cols := max((w-3)/cellW, 1)
	perCol := (len(fields) + cols - 1) / cols
	out := []string{"   " + m.styles.dim.Render("the kernel sent "+strconv.Itoa(info.Len)+" bytes")}
	for row := 0; row < perCol; row++ {
		var b strings.Builder
		b.WriteString("   ")
		for c := 0; c < cols; c++ {
			i := c*perCol + row
			if i >= len(fields) {
				break
			}
			f := fields[i]
			v, ok := f.Value(info)
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
	if s.Cong != "" {
		parts = append(parts, "cc "+s.Cong)
	}
	return strings.Join(parts, " · ")
}
