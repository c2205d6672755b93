// The detail view's account of a connection: who it is, its health, and
// in plain language what the kernel is doing and when it will give up.

package tui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/tcpwatch/tcpwatch/model"
)

// lines is the text of the detail view for width d.width.
func (d *detailView) lines(r *model.Row) []string {
	w := d.width - 2
	var out []string
	add := func(lines ...string) { out = append(out, lines...) }
	para := func(text string) { add(indent(wrap(text, w-1, ""))...) }
	section := func(title string) { add("", " "+d.ctx.styles.bold.Render(title)) }

	s := r.Sock
	ids := []string{d.ctx.styles.bold.Render(arrow(r)), s.State.Name()}
	if p := process(r); p != "" {
		ids = append(ids, p)
	}
	ids = append(ids, "cookie 0x"+strconv.FormatUint(s.ID.Cookie, 16), "inode "+strconv.FormatUint(uint64(s.Inode), 10))
	if s.Inode == 0 {
		ids[len(ids)-1] = "no inode (orphaned)"
	}
	ids = append(ids, netnsIDs(r)...)
	add(indent(flow(ids, "   ", w))...)

	l := look(r.Health)
	status := []string{d.ctx.styles.healthStyle(r.Health).Render(strings.TrimSpace(l.symbol+" "+r.Health.String())) + d.since(r.HealthSince.Time())}
	if !r.FirstSeen.IsZero() {
		status = append(status, "first seen "+clock(r.FirstSeen.Time()))
	}
	if r.Prediction != nil {
		c := "abort in " + d.ctx.countdown(r.Prediction)
		if r.Prediction.Confidence == model.Assumed {
			c += " (assumed sysctls)"
		}
		status = append(status, d.ctx.styles.bold.Render(c))
	}
	add(indent(flow(status, " · ", w))...)
	if v := d.ctx.peerVerdict(r); v != "" {
		add(indent(wrap(v, w-1, "  "))...)
	}
	if d.gone {
		add("", " "+d.ctx.styles.err.Render(truncate(d.goneLine(r), w)))
	}

	add("")
	for _, p := range d.explain(r) {
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
				add("   " + fit(string(in.Name), nameW, false) + "  " + fit(in.Value, valW, false) + "  " + d.ctx.styles.dim.Render(string(in.Source)))
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
			add(d.scheduleLines(p, w)...)
		}
	}

	section("History")
	add(d.historyLines(r, w)...)

	section("tcp_info")
	add(d.tcpInfoLines(s, w)...)
	add("", " "+d.ctx.styles.dim.Render("socket: "+socketLine(s)))
	return out
}

// since formats " since 14:01:28 (41s)" for a health that began at t.
func (d *detailView) since(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " since " + clock(t) + " (" + fmtAge(d.ctx.now.Sub(t)) + ")"
}

// goneLine says that the connection left and, from the events, how.
func (d *detailView) goneLine(r *model.Row) string {
	key := r.Key()
	for i := range d.ctx.events.shown {
		e := &d.ctx.events.shown[i]
		if e.Key() == key && !e.Peer.IsValid() {
			_, name := eventLook(e.Kind)
			return "✗ gone from the latest poll: " + name + " at " + clock(e.Time) + ", " + eventDetail(e)
		}
	}
	return "✗ gone from the latest poll (closed); this is its last sample"
}

// explain is the plain-language account of a connection: what the kernel
// is doing, when it will give up and why, and what would make it fail
// faster; for connections without a prediction, what their health means.
func (d *detailView) explain(r *model.Row) []string {
	s := r.Sock
	p := r.Prediction
	if p == nil {
		return d.explainNoPrediction(r)
	}
	silent := ""
	if r.HasInfo() {
		silent = "The peer has acknowledged nothing for " + fmtAge(s.Info.LastAckRecv.Duration()) + ". "
	}
	when := d.when(p)
	clockStart := clock(p.Clock)
	var text string
	switch p.Reason {
	case model.ReasonRetries2:
		text = silent + "The kernel retransmits with backoff and will give up " + when + " after " + strconv.Itoa(p.Count) +
			" retransmissions: tcp_retries2=" + inputOr(p, model.InputRetries2, d.params(r).Retries2) + " → " + fmtSecs(p.Budget) +
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
			" unanswered probes (tcp_retries2=" + inputOr(p, model.InputRetries2, d.params(r).Retries2) + "). To fail faster: TCP_USER_TIMEOUT on the socket."
	case model.ReasonOrphanRetries:
		pending := "its FIN is"
		if s.SendQ > 1 {
			pending = fmtBytesLong(uint64(s.SendQ)) + " of data or its FIN are"
		}
		text = "The application has closed this socket, but " + pending + " still unacknowledged, and the kernel keeps retransmitting on its own. It will give up " +
			when + " after " + strconv.Itoa(p.Count) + " retransmissions: tcp_orphan_retries=" + inputOr(p, model.InputOrphanRetries, d.params(r).OrphanRetries) +
			" → " + fmtSecs(p.Budget) + ", counted from " + clockStart + ". To fail faster: lower net.ipv4.tcp_orphan_retries."
	case model.ReasonSynRetries:
		text = "The connection attempt is unanswered: the SYN has been retransmitted " + strconv.Itoa(r.Retransmits()) + " times. The kernel will give up " +
			when + " after " + strconv.Itoa(p.Count) + " SYN retransmissions (tcp_syn_retries=" + inputOr(p, model.InputSynRetries, d.params(r).SynRetries) +
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
func (d *detailView) when(p *model.Prediction) string {
	layout := clock
	if p.Latest.Sub(p.Earliest) < 2*time.Second {
		layout = clockTenth
	}
	window := "window " + layout(p.Earliest) + "–" + layout(p.Latest)
	rem := p.Remaining(d.ctx.now)
	if rem < -500*time.Millisecond {
		return "at " + layout(p.At) + " (" + fmtCountdown(-rem) + " ago, " + window + "; the next poll will tell)"
	}
	return "at " + layout(p.At) + " (in " + fmtRemaining(rem) + ", " + window + ")"
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
func (d *detailView) explainNoPrediction(r *model.Row) []string {
	s := r.Sock
	who := process(r)
	if who == "" {
		who = "the application"
	}
	switch r.Health {
	case model.HealthCloseWait:
		t := "The peer closed its side"
		if !r.HealthSince.IsZero() {
			t += " at " + clock(r.HealthSince.Time()) + " (" + fmtAge(d.ctx.now.Sub(r.HealthSince.Time())) + " ago)"
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
		return []string{t, "Look at the application on " + r.Remote() + ": it has stopped reading from its socket."}
	case model.HealthUnguarded:
		t := "Idle without keepalive: if the peer host died now, this connection would stay ESTABLISHED forever and " + who + " would never find out."
		if d.ctx.snap != nil {
			port := d.ctx.snap.ServicePort(r)
			for _, pe := range d.ctx.sum.ports {
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
