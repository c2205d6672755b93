package report

import (
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// contractKeys are the connection fields the README documents as a
// contract, in order.
var contractKeys = []string{"time", "local", "remote", "family", "state", "health", "retransmits", "backoff", "probes",
	"unacked", "send_q", "recv_q", "rtt_ms", "rto_ms", "timer", "timer_expires_ms", "last_ack_ms", "abort_in_s",
	"abort_earliest_s", "abort_latest_s", "abort_at", "abort_reason", "confidence", "detect_dead_peer_s", "pid", "comm", "cookie"}

var eventKeys = []string{"time", "event", "local", "remote", "predicted_abort_at"}

func fixture() *model.Snapshot {
	now := time.Date(2026, 11, 23, 14, 2, 9, 500_000_000, time.UTC)
	dying := &inetdiag.Socket{
		Family: inetdiag.FamilyInet, State: inetdiag.StateEstablished, Timer: inetdiag.TimerRetransmit,
		Expires: 4788 * time.Millisecond, Retrans: 5, SendQ: 1000, Inode: 77,
		ID:   inetdiag.SockID{Src: netip.MustParseAddrPort("10.0.3.7:51630"), Dst: netip.MustParseAddrPort("10.0.9.14:5432"), Cookie: 0x3f2a},
		Info: inetdiag.TCPCore{Len: 280, Retransmits: 5, Backoff: 5, Unacked: 1, RTT: inetdiag.MicrosOf(61 * time.Microsecond), RTO: inetdiag.MicrosOf(6528 * time.Millisecond), LastAckRecv: inetdiag.MillisOf(8212 * time.Millisecond)},
	}
	idle := &inetdiag.Socket{
		Family: inetdiag.FamilyInet6, State: inetdiag.StateEstablished, Inode: 78,
		ID:   inetdiag.SockID{Src: netip.MustParseAddrPort("[fd00::1]:40022"), Dst: netip.MustParseAddrPort("[fd00::2]:5432"), Cookie: 0x10},
		Info: inetdiag.TCPCore{Len: 280, RTO: inetdiag.MicrosOf(204 * time.Millisecond), LastAckRecv: inetdiag.MillisOf(time.Minute)},
	}
	tw := &inetdiag.Socket{
		Family: inetdiag.FamilyInet, State: inetdiag.StateTimeWait, Timer: inetdiag.TimerTimeWait, Expires: 30 * time.Second,
		ID: inetdiag.SockID{Src: netip.MustParseAddrPort("10.0.3.7:5000"), Dst: netip.MustParseAddrPort("10.0.8.1:40118"), Cookie: 0x11},
	}
	pred := &model.Prediction{
		Reason: model.ReasonRetries2, Confidence: model.Exact,
		At: now.Add(930100 * time.Millisecond), Earliest: now.Add(929200 * time.Millisecond), Latest: now.Add(931 * time.Second),
	}
	snap := model.NewSnapshot(nil)
	snap.Time = now
	snap.Params = model.DefaultParams()
	snap.Rows = []model.Row{
		{Sock: dying, Health: model.HealthRetransmitting, Prediction: pred, Exposure: &model.Exposure{After: 930100 * time.Millisecond}, PID: 2211, Comm: "api"},
		// Between two spaced-out full dumps: sampled by the last one.
		{Sock: idle, Health: model.HealthUnguarded, Exposure: &model.Exposure{Never: true}, Sampled: model.InstantOf(now.Add(-3 * time.Second))},
		{Sock: tw},
	}
	snap.Events = []model.Event{{
		Time: now, Kind: model.EventAborted, LastSeen: now.Add(-time.Second), Predicted: pred,
		ID: model.EventID{Family: inetdiag.FamilyInet, Local: netip.MustParseAddrPort("10.0.3.7:51590"), Remote: netip.MustParseAddrPort("10.0.9.14:5432"), Cookie: 0x3f29},
	}}
	return snap
}

func decodeLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestJSONContract(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, fixture()); err != nil {
		t.Fatal(err)
	}
	objs := decodeLines(t, buf.Bytes())
	if len(objs) != 4 {
		t.Fatalf("got %d objects, want 3 connections and 1 event", len(objs))
	}
	for i, o := range objs[:3] {
		for _, k := range contractKeys {
			if _, ok := o[k]; !ok {
				t.Errorf("connection %d: key %q missing", i, k)
			}
		}
	}
	for _, k := range eventKeys {
		if _, ok := objs[3][k]; !ok {
			t.Errorf("event: key %q missing", k)
		}
	}

	tests := []struct {
		name string
		obj  int
		key  string
		want any
	}{
		{"time has milliseconds", 0, "time", "2026-11-23T14:02:09.500Z"},
		{"time of a row sampled by an earlier dump", 1, "time", "2026-11-23T14:02:06.500Z"},
		{"time of a row without a sample time: the snapshot's", 2, "time", "2026-11-23T14:02:09.500Z"},
		{"local", 0, "local", "10.0.3.7:51630"},
		{"remote", 0, "remote", "10.0.9.14:5432"},
		{"family inet", 0, "family", "inet"},
		{"family inet6", 1, "family", "inet6"},
		{"IPv6 address in brackets", 1, "local", "[fd00::1]:40022"},
		{"state is the kernel name", 0, "state", "ESTABLISHED"},
		{"time-wait state", 2, "state", "TIME_WAIT"},
		{"health", 0, "health", "retransmitting"},
		{"retransmits", 0, "retransmits", 5.0},
		{"backoff", 0, "backoff", 5.0},
		{"send_q", 0, "send_q", 1000.0},
		{"rtt in ms", 0, "rtt_ms", 0.061},
		{"rto in ms", 0, "rto_ms", 6528.0},
		{"timer", 0, "timer", "retransmit"},
		{"timer none", 1, "timer", "none"},
		{"timer timewait", 2, "timer", "timewait"},
		{"expires", 0, "timer_expires_ms", 4788.0},
		{"last ack", 0, "last_ack_ms", 8212.0},
		{"abort in", 0, "abort_in_s", 930.1},
		{"abort earliest", 0, "abort_earliest_s", 929.2},
		{"abort latest", 0, "abort_latest_s", 931.0},
		{"abort at", 0, "abort_at", "2026-11-23T14:17:39.600Z"},
		{"reason", 0, "abort_reason", "tcp_retries2"},
		{"confidence", 0, "confidence", "exact"},
		{"no prediction: null", 1, "abort_in_s", nil},
		{"no reason: null", 1, "abort_reason", nil},
		{"exposure seconds", 0, "detect_dead_peer_s", 930.1},
		{"exposure never: null", 1, "detect_dead_peer_s", nil},
		{"pid", 0, "pid", 2211.0},
		{"comm", 0, "comm", "api"},
		{"unknown process: null", 1, "pid", nil},
		{"cookie in hex", 0, "cookie", "3f2a"},
		{"event kind", 3, "event", "aborted"},
		{"event local", 3, "local", "10.0.3.7:51590"},
		{"event prediction", 3, "predicted_abort_at", "2026-11-23T14:17:39.600Z"},
		{"event cookie", 3, "cookie", "3f29"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := objs[tt.obj][tt.key]; got != tt.want {
				t.Errorf("%s = %#v, want %#v", tt.key, got, tt.want)
			}
		})
	}
}

func TestTableIsPlainAndOrdered(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, fixture()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.ContainsRune(out, 0x1b) {
		t.Errorf("table output contains an escape sequence:\n%q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var body []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "#") {
			body = append(body, l)
		}
	}
	if len(body) != 4 || !strings.HasPrefix(body[0], "State") {
		t.Fatalf("want a header and three rows:\n%s", out)
	}
	if !strings.Contains(body[1], "10.0.3.7:51630") || !strings.Contains(body[1], "15m30s") || !strings.Contains(body[1], "api[2211]") {
		t.Errorf("the dying connection is not first with its countdown and process:\n%s", out)
	}
	if !strings.Contains(lines[0], "1 would never notice a dead peer (:5432 x1)") {
		t.Errorf("summary line lacks the exposure: %q", lines[0])
	}
	// Columns are aligned: every row starts its Local column at the same
	// offset as the header.
	col := strings.Index(body[0], "Local")
	for _, l := range body[1:] {
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("row not aligned on the Local column (%d): %q", col, l)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{850 * time.Millisecond, "850ms"},
		{13400 * time.Millisecond, "13.4s"},
		{924600 * time.Millisecond, "15m24s"},
		{7875 * time.Second, "2h11m"},
		{50 * time.Hour, "2d02h"},
		{-3 * time.Second, "-3.0s"},
	} {
		if got := FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestTableAndJSONAgree: the --once table and the JSON print the same
// endpoints (an IPv4-mapped address as IPv4) and the same retransmission
// count, also for a request socket, which has no tcp_info.
func TestTableAndJSONAgree(t *testing.T) {
	snap := model.NewSnapshot(nil)
	snap.Time = time.Date(2026, 11, 23, 14, 2, 9, 0, time.UTC)
	snap.Params = model.DefaultParams()
	snap.Rows = []model.Row{
		{Sock: &inetdiag.Socket{
			Family: inetdiag.FamilyInet6, State: inetdiag.StateEstablished, Inode: 9,
			ID:   inetdiag.SockID{Src: netip.MustParseAddrPort("[::ffff:127.0.0.1]:49550"), Dst: netip.MustParseAddrPort("[::ffff:127.0.0.1]:8080"), Cookie: 1},
			Info: inetdiag.TCPCore{Len: 280, RTO: inetdiag.MicrosOf(204 * time.Millisecond)},
		}},
		{Sock: &inetdiag.Socket{
			Family: inetdiag.FamilyInet, State: inetdiag.StateSynRecv, Timer: inetdiag.TimerRetransmit, Retrans: 3, Expires: time.Second,
			ID: inetdiag.SockID{Src: netip.MustParseAddrPort("10.0.0.1:443"), Dst: netip.MustParseAddrPort("10.0.0.9:50000"), Cookie: 2},
		}},
	}
	var js, tab bytes.Buffer
	if err := WriteJSON(&js, snap); err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(&tab, snap); err != nil {
		t.Fatal(err)
	}
	lines := decodeLines(t, js.Bytes())
	table := tab.String()
	for i, l := range lines {
		local, remote, retr := l["local"].(string), l["remote"].(string), int(l["retransmits"].(float64))
		if strings.Contains(local, "ffff") || strings.Contains(remote, "ffff") {
			t.Errorf("row %d: JSON prints a mapped address: %s -> %s", i, local, remote)
		}
		found := false
		for _, tl := range strings.Split(table, "\n") {
			f := strings.Fields(tl)
			if len(f) >= 7 && f[3] == local && f[4] == remote {
				found = true
				if f[6] != strconv.Itoa(retr) {
					t.Errorf("row %d: table says %s retransmissions, JSON %d", i, f[6], retr)
				}
			}
		}
		if !found {
			t.Errorf("row %d (%s -> %s) not in the table:\n%s", i, local, remote, table)
		}
	}
	if got := int(lines[1]["retransmits"].(float64)); got != 3 {
		t.Errorf("request socket: retransmits = %d, want 3 (idiag_retrans)", got)
	}
}

// countingWriter counts the Write calls that would each be a write(2) on
// an unbuffered stdout.
type countingWriter struct {
	calls int
	bytes.Buffer
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.calls++
	return c.Buffer.Write(p)
}

// The outputs must reach their writer in large blocks, not cell by cell:
// at 10^5 rows one write per cell is millions of system calls.
func TestOutputsAreBuffered(t *testing.T) {
	snap := fixture()
	for len(snap.Rows) < 1000 {
		snap.Rows = append(snap.Rows, snap.Rows[:3]...)
	}
	for _, tc := range []struct {
		name  string
		write func(io.Writer, *model.Snapshot) error
	}{
		{"table", WriteTable},
		{"json", WriteJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w countingWriter
			if err := tc.write(&w, snap); err != nil {
				t.Fatal(err)
			}
			// One call per 64 KiB, and a few for the rest.
			if limit := w.Len()/(64<<10) + 4; w.calls > limit {
				t.Errorf("%d rows, %d bytes written in %d calls, want at most %d", len(snap.Rows), w.Len(), w.calls, limit)
			}
		})
	}
}
