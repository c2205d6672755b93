// Test fixtures: a fixed clock, synthetic rows of every kind, snapshots,
// a model driven by key presses, and golden files of stripped screens.

package tui

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// t0 is the fixed "now" of every test: the time of the synthetic poll.
var t0 = time.Date(2026, 3, 2, 14, 2, 9, 0, time.UTC)

// fakeClock is an injectable clock that tests advance by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// sock builds an established IPv4 socket with tcp_info of the current
// kernel's length and a few healthy defaults.
func sock(local, remote string, cookie uint64) *inetdiag.Socket {
	s := &inetdiag.Socket{
		Family: inetdiag.FamilyInet,
		State:  inetdiag.StateEstablished,
		ID:     inetdiag.SockID{Src: ap(local), Dst: ap(remote), Cookie: cookie},
		UID:    1000,
		Inode:  uint32(100000 + cookie),
	}
	full := inetdiag.TCPInfo{
		Len:          inetdiag.TCPInfoLen6_18,
		State:        uint8(inetdiag.StateEstablished),
		Options:      inetdiag.OptTimestamps | inetdiag.OptSACK | inetdiag.OptWscale,
		SndWscale:    7,
		RcvWscale:    7,
		RTO:          204 * time.Millisecond,
		ATO:          40 * time.Millisecond,
		SndMSS:       1448,
		RcvMSS:       1448,
		PMTU:         1500,
		RcvSsthresh:  64088,
		RTT:          210 * time.Microsecond,
		RTTVar:       90 * time.Microsecond,
		SndSsthresh:  2147483647,
		SndCwnd:      10,
		AdvMSS:       1448,
		Reordering:   3,
		RcvSpace:     14480,
		LastDataSent: 100 * time.Millisecond,
		LastDataRecv: 100 * time.Millisecond,
		LastAckRecv:  100 * time.Millisecond,
		SegsOut:      1200,
		SegsIn:       1100,
		BytesAcked:   1 << 20,
		MinRTT:       150 * time.Microsecond,
		SndWnd:       65536,
		RcvWnd:       65536,
	}
	// Kept whole, as the rows on screen are: the detail view lists all of
	// tcp_info.
	s.Full = &inetdiag.Full{Info: full, Cong: "cubic"}
	s.Info = full.Core()
	return s
}

// retransSchedule builds the schedule of an RTO episode under
// tcp_retries2=15: RTO from 200 ms doubling to 120 s, the first
// retransmission at start. The first `past` firings have happened.
func retransSchedule(start time.Time, past int) []model.Firing {
	var out []model.Firing
	at, rto := start, 200*time.Millisecond
	interval := rto
	for n := 1; n <= 15; n++ {
		out = append(out, model.Firing{
			N: n, Kind: model.FireRetransmit, At: at, Earliest: at, Latest: at, Interval: interval,
			Past: n <= past, Observed: n <= past && n >= 5,
		})
		rto = min(rto*2, 120*time.Second)
		interval = rto
		at = at.Add(rto)
	}
	abort := start.Add(924*time.Second + 900*time.Millisecond)
	out = append(out, model.Firing{
		N: 16, Kind: model.FireAbort, At: abort,
		Earliest: abort.Add(-300 * time.Millisecond), Latest: abort.Add(500 * time.Millisecond),
		Interval: 120 * time.Second,
	})
	return out
}

// dyingRow: a connection to a dead database host, retransmitting for 41 s
// (seven RTOs), with an assumed tcp_retries2 prediction.
func dyingRow() model.Row {
	s := sock("10.0.3.7:51630", "10.0.9.14:5432", 0x3f2a9c01)
	start := t0.Add(-41 * time.Second) // the first retransmission
	s.Timer = inetdiag.TimerRetransmit
	s.Retrans = 7
	s.Expires = 9800 * time.Millisecond
	s.SendQ = 14540
	s.Info.CAState = 4
	s.Info.Retransmits = 7
	s.Info.Backoff = 7
	s.Info.RTO = inetdiag.MicrosOf(25600 * time.Millisecond)
	s.Info.Unacked = 10
	s.Info.Lost = 10
	s.Info.Retrans = 1
	s.Info.TotalRetrans = 17
	s.Info.LastDataSent = inetdiag.MillisOf(15800 * time.Millisecond)
	s.Info.LastAckRecv = inetdiag.MillisOf(41200 * time.Millisecond)
	s.Info.LastDataRecv = inetdiag.MillisOf(41200 * time.Millisecond)
	s.Info.TotalRTO = 7
	s.Info.TotalRTORecoveries = 1
	s.Info.TotalRTOTime = inetdiag.MillisOf(41 * time.Second)
	sched := retransSchedule(start, 7)
	abort := sched[len(sched)-1]
	pred := &model.Prediction{
		Reason: model.ReasonRetries2, Confidence: model.Assumed,
		At: abort.At, Earliest: abort.Earliest, Latest: abort.Latest,
		Clock: start, ClockEarliest: start.Add(-4 * time.Millisecond), ClockLatest: start,
		Budget: model.ModelTimeout(15, model.RTOMin, model.RTOMaxDefault), Count: 15,
		Schedule: sched,
		Inputs: []model.Input{
			{Name: "tcp_retries2", Value: "15", Source: model.FromSysctl},
			{Name: "TCP_USER_TIMEOUT", Value: "unknown, assumed unset", Source: model.FromSysctl},
			{Name: "rto_max", Value: "120s", Source: model.FromSysctl},
			{Name: "clock start", Value: "first retransmission (observed)", Source: model.FromDiag},
		},
		Made: t0,
	}
	var hist []model.Sample
	for i := 0; i < 12; i++ {
		bo := uint8(0)
		if i >= 4 {
			bo = uint8(min(i-4, 7))
		}
		hist = append(hist, model.Sample{
			T: t0.Add(time.Duration(i-11) * 4 * time.Second), RTT: 210 * time.Microsecond,
			SendQ: uint32(1200 * (i + 1)), Unacked: uint32(min(i+1, 10)), Retransmits: bo, Backoff: bo,
		})
	}
	return model.Row{
		Sock: s, Health: model.HealthRetransmitting, HealthSince: model.InstantOf(start), FirstSeen: model.InstantOf(t0.Add(-10 * time.Minute)),
		Prediction: pred, Exposure: &model.Exposure{After: abort.At.Sub(t0), Reason: model.ReasonRetries2},
		PID: 2211, Comm: "api", History: &model.History{Samples: hist},
	}
}

// keepaliveRow: an idle connection whose three keepalive probes went
// unanswered, under the default 7200/75/9.
func keepaliveRow() model.Row {
	s := sock("10.0.3.7:40022", "10.0.9.14:5432", 0x3f2a9c02)
	lastRx := t0.Add(-7380 * time.Second)
	s.Timer = inetdiag.TimerKeepalive
	s.Retrans = 3
	s.Expires = 45 * time.Second
	s.Info.Probes = 3
	s.Info.LastAckRecv = inetdiag.MillisOf(7380 * time.Second)
	s.Info.LastDataRecv = inetdiag.MillisOf(7380 * time.Second)
	s.Info.LastDataSent = inetdiag.MillisOf(7380 * time.Second)
	var sched []model.Firing
	for n := 1; n <= 9; n++ {
		at := lastRx.Add(7200*time.Second + time.Duration(n-1)*75*time.Second)
		iv := 75 * time.Second
		if n == 1 {
			iv = 7200 * time.Second
		}
		sched = append(sched, model.Firing{N: n, Kind: model.FireProbe, At: at, Earliest: at, Latest: at.Add(2 * time.Second), Interval: iv, Past: n <= 3, Observed: n <= 3})
	}
	abort := lastRx.Add(7875*time.Second + time.Second)
	sched = append(sched, model.Firing{N: 10, Kind: model.FireAbort, At: abort, Earliest: abort.Add(-time.Second), Latest: abort.Add(2 * time.Second), Interval: 75 * time.Second})
	pred := &model.Prediction{
		Reason: model.ReasonKeepalive, Confidence: model.Assumed,
		At: abort, Earliest: abort.Add(-time.Second), Latest: abort.Add(2 * time.Second),
		Clock: lastRx, ClockEarliest: lastRx, ClockLatest: lastRx,
		Budget: 7875 * time.Second, Count: 9, Schedule: sched,
		Inputs: []model.Input{
			{Name: "TCP_KEEPIDLE", Value: "7200s", Source: model.FromSysctl},
			{Name: "TCP_KEEPINTVL", Value: "75s", Source: model.FromSysctl},
			{Name: "TCP_KEEPCNT", Value: "9", Source: model.FromSysctl},
			{Name: "TCP_USER_TIMEOUT", Value: "unknown, assumed unset", Source: model.FromSysctl},
			{Name: "clock start", Value: "last segment received", Source: model.FromDiag},
		},
		Made: t0,
	}
	return model.Row{
		Sock: s, Health: model.HealthKeepaliveProbing, HealthSince: model.InstantOf(t0.Add(-180 * time.Second)), FirstSeen: model.InstantOf(t0.Add(-3 * time.Hour)),
		Prediction: pred, PID: 877, Comm: "worker",
	}
}

// closeWaitRow: the peer closed two hours ago; the application did not.
func closeWaitRow() model.Row {
	s := sock("10.0.3.7:5000", "10.0.8.1:40118", 0x3f2a9c03)
	s.State = inetdiag.StateCloseWait
	s.Info.State = uint8(inetdiag.StateCloseWait)
	s.RecvQ = 1
	s.Info.LastAckRecv = inetdiag.MillisOf(2 * time.Hour)
	s.Info.LastDataRecv = inetdiag.MillisOf(2 * time.Hour)
	return model.Row{
		Sock: s, Health: model.HealthCloseWait, HealthSince: model.InstantOf(t0.Add(-2 * time.Hour)), FirstSeen: model.InstantOf(t0.Add(-2 * time.Hour)),
		PID: 3003, Comm: "legacy",
	}
}

// zeroWindowRow: the peer is alive but not reading; its window is zero.
func zeroWindowRow() model.Row {
	s := sock("10.0.3.7:8443", "10.0.4.2:61002", 0x3f2a9c04)
	s.Timer = inetdiag.TimerProbe0
	s.Expires = 1200 * time.Millisecond
	s.SendQ = 217088
	s.Info.Backoff = 3
	s.Info.RTO = inetdiag.MicrosOf(204 * time.Millisecond)
	s.Info.LastAckRecv = inetdiag.MillisOf(300 * time.Millisecond)
	s.Info.SndWnd = 0
	return model.Row{
		Sock: s, Health: model.HealthZeroWindow, HealthSince: model.InstantOf(t0.Add(-3 * time.Minute)), FirstSeen: model.InstantOf(t0.Add(-time.Hour)),
		PID: 12, Comm: "nginx",
	}
}

// unguardedRow: an idle database connection without keepalive.
func unguardedRow(port uint16, cookie uint64) model.Row {
	s := sock("10.0.3.7:5432", netip.AddrPortFrom(netip.MustParseAddr("10.0.3.9"), port).String(), cookie)
	s.Info.LastAckRecv = inetdiag.MillisOf(20 * time.Minute)
	s.Info.LastDataRecv = inetdiag.MillisOf(20 * time.Minute)
	s.Info.LastDataSent = inetdiag.MillisOf(20 * time.Minute)
	return model.Row{
		Sock: s, Health: model.HealthUnguarded, HealthSince: model.InstantOf(t0.Add(-20 * time.Minute)), FirstSeen: model.InstantOf(t0.Add(-time.Hour)),
		Exposure: &model.Exposure{Never: true}, PID: 91, Comm: "postgres",
	}
}

// okRow: a busy, healthy connection.
func okRow(local, remote string, cookie uint64, comm string, pid int) model.Row {
	s := sock(local, remote, cookie)
	s.SendQ = 0
	return model.Row{
		Sock: s, Health: model.HealthOK, HealthSince: model.InstantOf(t0.Add(-time.Hour)), FirstSeen: model.InstantOf(t0.Add(-time.Hour)),
		Exposure: &model.Exposure{After: 15*time.Minute + 25*time.Second, Reason: model.ReasonRetries2}, PID: pid, Comm: comm,
	}
}

// timeWaitRow: no tcp_info, no owner.
func timeWaitRow(cookie uint64) model.Row {
	s := &inetdiag.Socket{
		Family: inetdiag.FamilyInet, State: inetdiag.StateTimeWait, Timer: inetdiag.TimerTimeWait, Expires: 42 * time.Second,
		ID: inetdiag.SockID{Src: ap("10.0.3.7:44210"), Dst: ap("10.0.5.5:443"), Cookie: cookie},
	}
	return model.Row{Sock: s, FirstSeen: model.InstantOf(t0.Add(-18 * time.Second))}
}

// snapshotOf wraps rows in a snapshot taken at t0 on host db-7.prod. The
// returned counter counts Release calls.
func snapshotOf(rows ...model.Row) (*model.Snapshot, *int) {
	released := new(int)
	s := model.NewSnapshot(func() { *released++ })
	s.Time = t0
	s.PollCost = 31 * time.Millisecond
	s.Interval = time.Second
	s.Params = model.DefaultParams()
	s.Rows = rows
	s.Host = "db-7.prod"
	s.Listening = map[uint16]bool{5432: true, 5000: true, 8443: true, 22: true}
	return s, released
}

// mixedRows is a small host with one connection of each kind.
func mixedRows() []model.Row {
	rows := []model.Row{
		okRow("10.0.3.7:22", "10.0.0.5:50122", 0x11, "sshd", 700),
		unguardedRow(44120, 0x12),
		zeroWindowRow(),
		closeWaitRow(),
		unguardedRow(44121, 0x13),
		keepaliveRow(),
		okRow("10.0.3.7:51000", "10.0.7.3:6379", 0x14, "api", 2211),
		dyingRow(),
		timeWaitRow(0x15),
	}
	return rows
}

// events: one abort that matched its prediction and one recovery.
func sampleEvents() []model.Event {
	pred := &model.Prediction{Reason: model.ReasonRetries2, At: t0.Add(-11*time.Second - 200*time.Millisecond)}
	return []model.Event{
		{
			Time: t0.Add(-2 * time.Minute), Kind: model.EventRecovered,
			ID:    model.EventID{Family: inetdiag.FamilyInet, Local: ap("10.0.3.7:51602"), Remote: ap("10.0.9.15:5432"), Cookie: 0x99},
			State: inetdiag.StateEstablished, Health: model.HealthRetransmitting, LastSeen: t0.Add(-2*time.Minute - time.Second),
		},
		{
			Time: t0.Add(-90 * time.Second), Kind: model.EventClosed,
			ID:    model.EventID{Family: inetdiag.FamilyInet, Local: ap("10.0.3.7:44000"), Remote: ap("10.0.5.5:443"), Cookie: 0x98},
			State: inetdiag.StateTimeWait, LastSeen: t0.Add(-91 * time.Second),
		},
		{
			Time: t0.Add(-11 * time.Second), Kind: model.EventAborted,
			ID:    model.EventID{Family: inetdiag.FamilyInet, Local: ap("10.0.3.7:51590"), Remote: ap("10.0.9.14:5432"), Cookie: 0x97},
			State: inetdiag.StateEstablished, Health: model.HealthRetransmitting, LastSeen: t0.Add(-12 * time.Second), Predicted: pred,
		},
	}
}

// newTestModel returns a model with a fixed clock at t0, sized w×h.
func newTestModel(cfg Config, w, h int) (*Model, *fakeClock) {
	clk := &fakeClock{t: t0}
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	cfg.NoColor = true
	m := New(cfg)
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	return m, clk
}

// feed delivers a snapshot as the waiting command would.
func feed(m *Model, s *model.Snapshot) { m.Update(snapshotMsg{s}) }

// press sends key presses: "j", "enter", "esc", "ctrl+c", "pgdown"…
func press(m *Model, keys ...string) tea.Cmd {
	var last tea.Cmd
	for _, k := range keys {
		_, last = m.Update(keyMsg(k))
	}
	return last
}

func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "home":
		return tea.KeyPressMsg{Code: tea.KeyHome}
	case "end":
		return tea.KeyPressMsg{Code: tea.KeyEnd}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	}
	if c, ok := strings.CutPrefix(k, "ctrl+"); ok && len(c) == 1 {
		return tea.KeyPressMsg{Code: rune(c[0]), Mod: tea.ModCtrl}
	}
	r := []rune(k)
	return tea.KeyPressMsg{Code: r[0], Text: k}
}

// typeText types a string into whatever has the focus.
func typeText(m *Model, s string) {
	for _, r := range s {
		if r == ' ' {
			m.Update(tea.KeyPressMsg{Code: tea.KeySpace, Text: " "})
			continue
		}
		m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// screen returns the view without escape sequences, trailing spaces
// trimmed from each line.
func screenText(m *Model) string {
	lines := strings.Split(ansi.Strip(m.View().Content), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	return strings.Join(lines, "\n")
}

// golden compares got with testdata/<test name>.golden, or rewrites the
// file with -update.
func golden(t *testing.T, got string) {
	t.Helper()
	path := filepath.Join("testdata", filepath.FromSlash(t.Name())+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if string(want) != got {
		t.Errorf("view differs from %s (run with -update after checking):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}
