// Package report writes snapshots as text for scripts and people: the
// NDJSON contract of --json and the aligned table of --once. It never
// emits terminal escape sequences.
package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// Conn is one connection in the JSON output. The field set and names are a
// documented contract (README, "JSON output"): add fields, never rename.
type Conn struct {
	Time           string   `json:"time"`
	Local          string   `json:"local"`
	Remote         string   `json:"remote"`
	Family         string   `json:"family"`
	State          string   `json:"state"`
	Health         string   `json:"health"`
	Retransmits    int      `json:"retransmits"`
	Backoff        int      `json:"backoff"`
	Probes         int      `json:"probes"`
	Unacked        uint32   `json:"unacked"`
	SendQ          uint32   `json:"send_q"`
	RecvQ          uint32   `json:"recv_q"`
	RTTms          float64  `json:"rtt_ms"`
	RTOms          float64  `json:"rto_ms"`
	Timer          string   `json:"timer"`
	TimerExpiresMs int64    `json:"timer_expires_ms"`
	LastAckMs      int64    `json:"last_ack_ms"`
	AbortInS       *float64 `json:"abort_in_s"`
	AbortEarliestS *float64 `json:"abort_earliest_s"`
	AbortLatestS   *float64 `json:"abort_latest_s"`
	AbortAt        *string  `json:"abort_at"`
	AbortReason    *string  `json:"abort_reason"`
	Confidence     *string  `json:"confidence"`
	// AbortMaySlip: the decisive check falls within the timer uncertainty,
	// so the kernel may give up one retransmission later (the window
	// covers both).
	AbortMaySlip   bool     `json:"abort_may_slip"`
	DetectDeadPeer *float64 `json:"detect_dead_peer_s"`
	PID            *int     `json:"pid"`
	Comm           *string  `json:"comm"`
	Cookie         string   `json:"cookie"`
	NetNSFields
}

// Event is one event in the JSON output.
type Event struct {
	Time             string  `json:"time"`
	Event            string  `json:"event"`
	Local            string  `json:"local"`
	Remote           string  `json:"remote"`
	PredictedAbortAt *string `json:"predicted_abort_at"`
	// LastSeen is when the connection was last seen (an aborted or reset
	// connection vanished between last_seen and time).
	LastSeen string `json:"last_seen"`
	// Cookie identifies the connection, as in the connection objects.
	Cookie string `json:"cookie"`
	NetNSFields
}

// TimeFormat is RFC 3339 with milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

func timerName(t inetdiag.Timer) string {
	switch t {
	case inetdiag.TimerRetransmit:
		return "retransmit"
	case inetdiag.TimerKeepalive:
		return "keepalive"
	case inetdiag.TimerProbe0:
		return "persist"
	case inetdiag.TimerTimeWait:
		return "timewait"
	case inetdiag.TimerNone:
		return "none"
	case inetdiag.TimerDelayedAck:
		return "delack"
	}
	return "unknown"
}

func ptr[T any](v T) *T { return &v }

// seconds rounds to the millisecond so that the output is stable.
func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

// NewConn converts a row at snapshot time now.
func NewConn(r *model.Row, now time.Time) Conn {
	s := r.Sock
	c := Conn{
		Time:           r.SampledAt(now).Format(TimeFormat),
		Local:          r.Local(),
		Remote:         r.Remote(),
		Family:         s.Family.String(),
		State:          s.State.Name(),
		Health:         r.Health.String(),
		Retransmits:    r.Retransmits(),
		Backoff:        int(s.Info.Backoff),
		Probes:         r.Probes(),
		Unacked:        s.Info.Unacked,
		SendQ:          s.SendQ,
		RecvQ:          s.RecvQ,
		RTTms:          float64(s.Info.RTT.Duration().Microseconds()) / 1000,
		RTOms:          float64(s.Info.RTO.Duration().Microseconds()) / 1000,
		Timer:          timerName(s.Timer),
		TimerExpiresMs: s.Expires.Milliseconds(),
		LastAckMs:      s.Info.LastAckRecv.Duration().Milliseconds(),
		Cookie:         strconv.FormatUint(s.ID.Cookie, 16),
	}
	if p := r.Prediction; p != nil {
		c.AbortInS = ptr(seconds(p.At.Sub(now)))
		c.AbortEarliestS = ptr(seconds(p.Earliest.Sub(now)))
		c.AbortLatestS = ptr(seconds(p.Latest.Sub(now)))
		c.AbortAt = ptr(p.At.Format(TimeFormat))
		c.AbortReason = ptr(p.Reason.String())
		c.Confidence = ptr(p.Confidence.String())
		c.AbortMaySlip = p.MaySlip
	}
	if e := r.Exposure; e != nil && !e.Never {
		c.DetectDeadPeer = ptr(seconds(e.After))
	}
	if r.PID != 0 {
		c.PID, c.Comm = ptr(r.PID), ptr(r.Comm)
	}
	c.NetNSFields = netnsFields(r.NetNS)
	return c
}

// NewEvent converts an event.
func NewEvent(e *model.Event) Event {
	out := Event{
		Time:     e.Time.Format(TimeFormat),
		Event:    e.Kind.String(),
		Local:    model.Endpoint(e.ID.Local),
		Remote:   model.Endpoint(e.ID.Remote),
		LastSeen: e.LastSeen.Format(TimeFormat),
		Cookie:   strconv.FormatUint(e.ID.Cookie, 16),
	}
	if e.Predicted != nil {
		out.PredictedAbortAt = ptr(e.Predicted.At.Format(TimeFormat))
	}
	out.NetNSFields = netnsFields(e.NetNS)
	return out
}

// WriteJSON writes one NDJSON object per connection, then one per host
// that is not alive, then one per event of this poll.
func WriteJSON(w io.Writer, snap *model.Snapshot) error {
	// Buffered: an Encoder writes each object on its own, and at 10^5
	// connections a write(2) per line was half the cost of the stream.
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	for i := range snap.Rows {
		if err := enc.Encode(NewConn(&snap.Rows[i], snap.Time)); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	return writeJSONTail(bw, enc, snap)
}

// writeJSONTail writes what follows the connections (the troubled peers,
// the events) and flushes.
func writeJSONTail(bw *bufio.Writer, enc *json.Encoder, snap *model.Snapshot) error {
	for _, p := range troubledPeers(snap) {
		if err := enc.Encode(NewPeer(p, snap.Time)); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	for i := range snap.Events {
		var v any = NewEvent(&snap.Events[i])
		if isPeerEvent(&snap.Events[i]) {
			v = NewPeerEvent(&snap.Events[i])
		}
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// FormatDuration prints a duration compactly: 850ms, 13.4s, 15m24s, 2h11m.
func FormatDuration(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d < time.Second:
		s = fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		s = fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		s = fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		s = fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
	}
	if neg {
		return "-" + s
	}
	return s
}

// WriteTable writes the snapshot as an aligned table, unhealthy
// connections first.
func WriteTable(out io.Writer, snap *model.Snapshot) error {
	// tabwriter writes every cell and padding run on its own: unbuffered,
	// that was ~21 write(2) calls per row (0.26 s of system time at 40k
	// sockets, against the JSON writer's one per 64 KiB).
	w := bufio.NewWriterSize(out, 64<<10)
	if err := writeTable(w, snap); err != nil {
		return err
	}
	return w.Flush()
}

func writeTable(w io.Writer, snap *model.Snapshot) error {
	never, ports := snap.NeverExposure(3)
	if err := writeTableHead(w, snap, snap.Count(), never, ports); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	netnsCol := hasNetNS(snap)
	if netnsCol {
		fmt.Fprint(tw, "NetNS\t")
	}
	fmt.Fprintln(tw, tableHeader)
	order := make([]int, len(snap.Rows))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		return tableBefore(&snap.Rows[order[i]], &snap.Rows[order[j]])
	})
	var line []byte
	for _, i := range order {
		line = appendTableRow(line[:0], &snap.Rows[i], snap.Time, netnsCol)
		line = append(line, '\n')
		tw.Write(line)
	}
	return tw.Flush()
}

// tableHeader names the columns of the --once table (after NetNS).
const tableHeader = "State\tRecv-Q\tSend-Q\tLocal\tPeer\tHealth\tRetr\tRTO\tAbort-in\tProcess"

// tableRank orders the table: predicted aborts (soonest first), the
// other unhealthy connections, the rest.
func tableRank(r *model.Row) (int, time.Time) {
	if r.Prediction != nil {
		return 0, r.Prediction.At
	}
	if r.Health.Unhealthy() {
		return 1, time.Time{}
	}
	return 2, time.Time{}
}

// tableBefore reports whether row a comes before row b in the table.
func tableBefore(a, b *model.Row) bool {
	ra, ta := tableRank(a)
	rb, tb := tableRank(b)
	if ra != rb {
		return ra < rb
	}
	return ta.Before(tb)
}

// appendTableRow appends a row's cells, tab-separated, without the
// newline; now is its sample time.
func appendTableRow(b []byte, r *model.Row, now time.Time, netnsCol bool) []byte {
	s := r.Sock
	abort := "-"
	if p := r.Prediction; p != nil {
		abort = FormatDuration(p.At.Sub(now))
		if p.Confidence == model.Assumed {
			abort = "~" + abort
		}
	}
	rto := "-"
	if r.HasInfo() {
		rto = fmt.Sprintf("%s/%d", FormatDuration(s.Info.RTO.Duration()), s.Info.Backoff)
	}
	proc := "-"
	if r.PID != 0 {
		proc = fmt.Sprintf("%s[%d]", r.Comm, r.PID)
	}
	if netnsCol {
		b = fmt.Appendf(b, "%s\t", netnsName(r.NetNS))
	}
	return fmt.Appendf(b, "%s\t%d\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s", s.State, s.RecvQ, s.SendQ,
		r.Local(), r.Remote(), r.Health, r.Retransmits(), rto, abort, proc)
}

// writeTableHead writes the lines above the table: the summary, the
// notices and the peers section.
func writeTableHead(w io.Writer, snap *model.Snapshot, counts model.Counts, never int, ports []model.PortExposure) error {
	unhealthy := 0
	for h := model.HealthOK; h <= model.HealthOrphanRetrying; h++ {
		if h.Unhealthy() {
			unhealthy += counts.Health(h)
		}
	}
	params := ""
	if hasNetNS(snap) {
		params = "host's " // each row's prediction uses its own namespace's
	}
	fmt.Fprintf(w, "# %d sockets, %d unhealthy; %stcp_retries2=%d -> %s; ", counts.Total, unhealthy, params, snap.Params.Retries2, FormatDuration(snap.Params.RetransmitBudget()))
	fmt.Fprintf(w, "keepalive %s/%s/%d -> %s; %d would never notice a dead peer", FormatDuration(snap.Params.KeepaliveTime), FormatDuration(snap.Params.KeepaliveIntvl), snap.Params.KeepaliveProbes, FormatDuration(snap.Params.KeepaliveBudget()), never)
	if len(ports) > 0 {
		var ps []string
		for _, p := range ports {
			ps = append(ps, fmt.Sprintf(":%d x%d", p.Port, p.Never))
		}
		fmt.Fprintf(w, " (%s)", strings.Join(ps, ", "))
	}
	fmt.Fprintln(w)
	for _, n := range snap.Notices {
		fmt.Fprintf(w, "# note: %s\n", n)
	}
	return writePeerTable(w, snap)
}
