// Tests of the interface's behaviour through Update: sorting, the clock,
// pause, snapshot release, filter, kill, resize, scrolling and selection.

package tui

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"

	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// visibleCookies lists the cookies of the rows in display order.
func visibleCookies(m *Model) []uint64 {
	var out []uint64
	for _, i := range m.table.vis {
		out = append(out, m.snap.Rows[i].Sock.ID.Cookie)
	}
	return out
}

// withAbort returns a dying row whose predicted abort is d after t0.
func withAbort(r model.Row, cookie uint64, d time.Duration) model.Row {
	s := *r.Sock
	s.ID.Cookie = cookie
	r.Sock = &s
	p := *r.Prediction
	p.At = t0.Add(d)
	r.Prediction = &p
	return r
}

func TestSort(t *testing.T) {
	rows := func() []model.Row {
		ok := okRow("10.0.3.7:22", "10.0.0.5:50122", 1, "sshd", 700)
		big := okRow("10.0.3.7:23", "10.0.0.6:50122", 2, "sshd", 701)
		big.Sock.SendQ = 900000
		return []model.Row{
			ok,
			withAbort(dyingRow(), 10, 20*time.Minute),
			closeWaitRow(), // cookie 0x3f2a9c03
			withAbort(keepaliveRow(), 11, time.Minute), // a keepalive abort sooner
			big,
			withAbort(dyingRow(), 12, 5*time.Minute),
			unguardedRow(40000, 3),
			zeroWindowRow(), // cookie 0x3f2a9c04, send-q 212K
		}
	}
	tests := []struct {
		name string
		keys []string
		want []uint64
	}{
		{
			// Predicted aborts by time, then zero-window, close-wait,
			// unguarded and healthy rows in dump order.
			name: "default puts dying rows first by time to abort",
			want: []uint64{11, 12, 10, 0x3f2a9c04, 0x3f2a9c03, 3, 1, 2},
		},
		{
			name: "send-q descending",
			keys: []string{"s", "s", "s", "s", "s"},
			want: []uint64{2, 0x3f2a9c04, 10, 12, 1, 0x3f2a9c03, 11, 3},
		},
		{
			name: "send-q reversed",
			keys: []string{"s", "s", "s", "s", "s", "S"},
			want: []uint64{1, 0x3f2a9c03, 11, 3, 10, 12, 0x3f2a9c04, 2},
		},
		{
			// Rows without a prediction come last whatever the direction.
			name: "abort time reversed keeps rows without prediction last",
			keys: []string{"s", "s", "s", "s", "s", "s", "s", "s", "s", "s", "s", "s", "s", "S"},
			want: []uint64{10, 12, 11, 1, 0x3f2a9c03, 2, 3, 0x3f2a9c04},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTestModel(Config{}, 120, 40)
			s, _ := snapshotOf(rows()...)
			feed(m, s)
			press(m, tt.keys...)
			if got := visibleCookies(m); !slices.Equal(got, tt.want) {
				t.Errorf("order: got %x, want %x", got, tt.want)
			}
		})
	}
}

// TestSortDefaultTail: in the default order the unguarded rows and the
// healthy ones keep dump order, in that order, after the rows in
// trouble, however they are interleaved and however many there are: the
// table places them without sorting them (see rankTail), as a sort of
// their tied keys would.
func TestSortDefaultTail(t *testing.T) {
	var rows []model.Row
	var wantUnguarded, wantOK []uint64
	for i := range 40 {
		c := uint64(100 + i)
		switch i % 3 {
		case 0:
			rows = append(rows, unguardedRow(uint16(40000+i), c))
			wantUnguarded = append(wantUnguarded, c)
		case 1:
			rows = append(rows, okRow("10.0.3.7:22", "10.0.0.5:"+strconv.Itoa(50000+i), c, "sshd", 700))
			wantOK = append(wantOK, c)
		default:
			if i == 5 {
				rows = append(rows, withAbort(dyingRow(), c, 9*time.Minute))
			} else if i == 20 {
				rows = append(rows, withAbort(dyingRow(), c, 3*time.Minute))
			} else {
				rows = append(rows, unguardedRow(uint16(40000+i), c))
				wantUnguarded = append(wantUnguarded, c)
			}
		}
	}
	want := append(append([]uint64{120, 105}, wantUnguarded...), wantOK...)
	m, _ := newTestModel(Config{}, 120, 40)
	s, _ := snapshotOf(rows...)
	feed(m, s)
	if got := visibleCookies(m); !slices.Equal(got, want) {
		t.Errorf("order:\n got %d\nwant %d", got, want)
	}
}

func TestSortColumnCycle(t *testing.T) {
	m, _ := newTestModel(Config{}, 120, 40)
	feed(m, must(snapshotOf(mixedRows()...)))
	seen := map[column]bool{}
	for i := 0; i < int(numColumns); i++ {
		seen[m.table.order.col] = true
		press(m, "s")
	}
	if len(seen) != int(numColumns) || m.table.order.col != colHealth {
		t.Errorf("s visited %d columns and ended on %d; want all %d and back to health", len(seen), m.table.order.col, numColumns)
	}
}

func must(s *model.Snapshot, _ *int) *model.Snapshot { return s }

// abortCell returns the ABORT IN cell of the row whose local endpoint is
// local, from the rendered screen.
func abortCell(t *testing.T, m *Model, local string) string {
	t.Helper()
	for _, line := range strings.Split(screenText(m), "\n") {
		if strings.Contains(line, local) && !strings.Contains(line, "→") {
			f := strings.Fields(line)
			return f[len(f)-1]
		}
	}
	t.Fatalf("no row for %s on screen:\n%s", local, screenText(m))
	return ""
}

func TestCountdownFollowsClock(t *testing.T) {
	m, clk := newTestModel(Config{}, 120, 40)
	feed(m, must(snapshotOf(dyingRow(), keepaliveRow())))
	// dyingRow aborts at t0+14m43.9s, keepaliveRow at t0+8m16s.
	if got := abortCell(t, m, "10.0.3.7:51630"); got != "~14m44s" {
		t.Fatalf("countdown at t0: got %q, want ~14m44s", got)
	}
	clk.Advance(10 * time.Second)
	m.Update(tickMsg(clk.Now()))
	if got := abortCell(t, m, "10.0.3.7:51630"); got != "~14m34s" {
		t.Errorf("countdown 10 s later without a new snapshot: got %q, want ~14m34s", got)
	}
	if got := abortCell(t, m, "10.0.3.7:40022"); got != "~8m06s" {
		t.Errorf("keepalive countdown 10 s later: got %q, want ~8m06s", got)
	}
	clk.Advance(9 * time.Minute)
	m.Update(tickMsg(clk.Now()))
	// 54 s past the keepalive abort's best estimate.
	if line := rowLine(t, m, "10.0.3.7:40022"); !strings.HasSuffix(line, "~late 54s") {
		t.Errorf("overdue keepalive abort: row %q, want it to end in ~late 54s", line)
	}
}

// rowLine returns the table line of the row whose local endpoint is local.
func rowLine(t *testing.T, m *Model, local string) string {
	t.Helper()
	for _, line := range strings.Split(screenText(m), "\n") {
		if strings.Contains(line, local) && !strings.Contains(line, "→") {
			return line
		}
	}
	t.Fatalf("no row for %s on screen:\n%s", local, screenText(m))
	return ""
}

func TestPauseFreezesRowsNotCountdowns(t *testing.T) {
	m, clk := newTestModel(Config{}, 120, 40)
	first, firstReleased := snapshotOf(dyingRow())
	feed(m, first)
	press(m, "p")

	next := dyingRow()
	next.Sock.SendQ = 300000
	second, secondReleased := snapshotOf(next, closeWaitRow())
	feed(m, second)
	clk.Advance(10 * time.Second)
	m.Update(tickMsg(clk.Now()))

	view := screenText(m)
	if !strings.Contains(view, "PAUSED") {
		t.Errorf("paused screen does not say PAUSED:\n%s", view)
	}
	if strings.Contains(view, "10.0.8.1:40118") || strings.Contains(view, "293.0K") {
		t.Errorf("paused screen shows rows of a newer poll:\n%s", view)
	}
	if !strings.Contains(view, "14.2K") {
		t.Errorf("paused screen lost the frozen row's send-q 14.2K:\n%s", view)
	}
	if got := abortCell(t, m, "10.0.3.7:51630"); got != "~14m34s" {
		t.Errorf("countdown while paused: got %q, want ~14m34s (10 s later)", got)
	}
	if *firstReleased != 0 || *secondReleased != 0 {
		t.Errorf("while paused: released first %d, second %d times; want 0, 0 (one on screen, one held)", *firstReleased, *secondReleased)
	}

	press(m, "p")
	view = screenText(m)
	if strings.Contains(view, "PAUSED") || !strings.Contains(view, "10.0.8.1:40118") || !strings.Contains(view, "293.0K") {
		t.Errorf("resumed screen does not show the newest poll:\n%s", view)
	}
	if *firstReleased != 1 || *secondReleased != 0 {
		t.Errorf("after resuming: released first %d, second %d times; want 1, 0", *firstReleased, *secondReleased)
	}
}

func TestPauseDropsIntermediatePolls(t *testing.T) {
	m, _ := newTestModel(Config{}, 120, 40)
	feed(m, must(snapshotOf(dyingRow())))
	press(m, "p")
	a, aReleased := snapshotOf(closeWaitRow())
	b, bReleased := snapshotOf(zeroWindowRow())
	feed(m, a)
	feed(m, b)
	if *aReleased != 1 || *bReleased != 0 {
		t.Errorf("a poll superseded while paused must be released: a %d, b %d; want 1, 0", *aReleased, *bReleased)
	}
}

func TestReleaseOnReplace(t *testing.T) {
	m, _ := newTestModel(Config{}, 100, 30)
	var counts []*int
	for i := 0; i < 3; i++ {
		s, n := snapshotOf(mixedRows()...)
		poisonOnRelease(s, n)
		counts = append(counts, n)
		feed(m, s)
		_ = screenText(m)
	}
	for i, want := range []int{1, 1, 0} {
		if *counts[i] != want {
			t.Errorf("snapshot %d released %d times, want %d", i, *counts[i], want)
		}
	}
}

// poisonOnRelease makes a snapshot's rows unusable once released, as a
// producer reusing its buffers would: reading them afterwards panics.
func poisonOnRelease(s *model.Snapshot, released *int) {
	rows := s.Rows
	*s = *model.NewSnapshot(func() {
		*released++
		for i := range rows {
			rows[i] = model.Row{}
		}
	})
	s.Rows, s.Time, s.Params, s.Interval, s.Host = rows, t0, model.DefaultParams(), time.Second, "db-7.prod"
}

func TestDetailSurvivesRelease(t *testing.T) {
	m, _ := newTestModel(Config{}, 100, 60)
	s1, n := snapshotOf(mixedRows()...)
	poisonOnRelease(s1, n)
	feed(m, s1)
	press(m, "j", "enter") // the dying row
	s2, _ := snapshotOf(okRow("10.0.3.7:22", "10.0.0.5:50122", 0x11, "sshd", 700))
	s2.AllEvents = []model.Event{{
		Time: t0.Add(time.Second), Kind: model.EventReset, Health: model.HealthRetransmitting,
		ID: model.EventID{Local: ap("10.0.3.7:51630"), Remote: ap("10.0.9.14:5432"), Cookie: 0x3f2a9c01},
	}}
	feed(m, s2) // releases and poisons s1
	view := screenText(m)
	for _, want := range []string{"10.0.3.7:51630 → 10.0.9.14:5432", "gone from the latest poll: reset", "14m44s"} {
		if !strings.Contains(view, want) {
			t.Errorf("detail view after the connection vanished lacks %q:\n%s", want, view)
		}
	}
	press(m, "esc")
	if !strings.Contains(screenText(m), "sshd[700]") {
		t.Errorf("esc did not go back to the table")
	}
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name       string
		typed      string
		setErr     error
		wantCalls  []string
		wantFilter string
		wantRows   int
		wantStatus string
	}{
		{name: "valid filter applies", typed: "port 5432", wantCalls: []string{"port 5432"}, wantFilter: "port 5432", wantRows: 4, wantStatus: "filter applied"},
		{name: "user-space part applies here", typed: "comm nginx", wantCalls: []string{"comm nginx"}, wantFilter: "comm nginx", wantRows: 1, wantStatus: "filter applied"},
		{name: "parse error keeps the old filter", typed: "port banana", wantFilter: "", wantRows: 9, wantStatus: "bad filter"},
		{name: "caller error keeps the old filter", typed: "dying", setErr: errors.New("no"), wantCalls: []string{"dying"}, wantFilter: "", wantRows: 9, wantStatus: "filter not applied: no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []string
			cfg := Config{SetQuery: func(q query.Query) error { calls = append(calls, q.String()); return tt.setErr }}
			m, _ := newTestModel(cfg, 120, 40)
			feed(m, must(snapshotOf(mixedRows()...)))
			press(m, "/")
			typeText(m, tt.typed)
			cmd := press(m, "enter")
			if len(calls) != 0 {
				t.Fatalf("SetQuery was called inside Update")
			}
			if cmd != nil {
				m.Update(cmd())
			}
			if !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("SetQuery calls: got %q, want %q", calls, tt.wantCalls)
			}
			if got := m.query.String(); got != tt.wantFilter {
				t.Errorf("filter in force: got %q, want %q", got, tt.wantFilter)
			}
			if got := len(m.table.vis); got != tt.wantRows {
				t.Errorf("rows shown: got %d, want %d", got, tt.wantRows)
			}
			if !strings.Contains(screenText(m), tt.wantStatus) {
				t.Errorf("screen lacks %q:\n%s", tt.wantStatus, screenText(m))
			}
		})
	}
}

func TestFilterEscCancels(t *testing.T) {
	called := false
	m, _ := newTestModel(Config{SetQuery: func(query.Query) error { called = true; return nil }}, 120, 40)
	feed(m, must(snapshotOf(mixedRows()...)))
	press(m, "/")
	typeText(m, "port 22")
	press(m, "esc")
	if called || m.query.String() != "" || m.prompt != promptNone {
		t.Errorf("esc: SetQuery called %v, filter %q, prompt %d; want nothing applied and the prompt closed", called, m.query.String(), m.prompt)
	}
	// Keys typed in the prompt must not have acted on the table ("p"
	// pauses, "q" quits).
	if m.paused {
		t.Errorf("typing 'p' in the filter paused the display")
	}
}

func TestUnhealthyOnly(t *testing.T) {
	m, _ := newTestModel(Config{}, 120, 40)
	feed(m, must(snapshotOf(mixedRows()...)))
	press(m, "u")
	got := visibleCookies(m)
	want := []uint64{0x3f2a9c02, 0x3f2a9c01, 0x3f2a9c04, 0x3f2a9c03}
	if !slices.Equal(got, want) {
		t.Errorf("u: got %x, want the four unhealthy rows %x", got, want)
	}
	press(m, "u")
	if len(m.table.vis) != 9 {
		t.Errorf("u again: %d rows, want 9", len(m.table.vis))
	}
}

func TestKill(t *testing.T) {
	var killed []model.Row
	m, _ := newTestModel(Config{Kill: func(r model.Row) error { killed = append(killed, r); return nil }}, 120, 40)
	feed(m, must(snapshotOf(mixedRows()...)))
	press(m, "j") // the dying row

	if cmd := press(m, "K"); cmd != nil {
		t.Fatalf("K returned a command before confirmation")
	}
	if v := screenText(m); !strings.Contains(v, "Kill 10.0.3.7:51630 → 10.0.9.14:5432 (api[2211])?") {
		t.Fatalf("no confirmation naming the connection:\n%s", v)
	}
	if cmd := press(m, "n"); cmd != nil || len(killed) != 0 {
		t.Fatalf("n: Kill called or scheduled")
	}
	if !strings.Contains(screenText(m), "kill cancelled") {
		t.Errorf("cancel not reported")
	}

	press(m, "K")
	// A new poll arrives while the question is open: the row to kill was
	// copied and stays valid.
	s2, _ := snapshotOf(mixedRows()...)
	feed(m, s2)
	cmd := press(m, "y")
	if cmd == nil {
		t.Fatal("y did not schedule the kill")
	}
	if len(killed) != 0 {
		t.Fatal("Kill ran inside Update")
	}
	m.Update(cmd())
	if len(killed) != 1 || killed[0].Sock.ID.Cookie != 0x3f2a9c01 {
		t.Fatalf("killed %d rows (%v), want the dying row once", len(killed), killed)
	}
	if !strings.Contains(screenText(m), "killed 10.0.3.7:51630 → 10.0.9.14:5432") {
		t.Errorf("result not shown:\n%s", screenText(m))
	}
}

func TestKillFailureShown(t *testing.T) {
	m, _ := newTestModel(Config{Kill: func(model.Row) error { return errors.New("operation not permitted") }}, 120, 40)
	feed(m, must(snapshotOf(mixedRows()...)))
	press(m, "K")
	m.Update(press(m, "y")())
	if !strings.Contains(screenText(m), "failed: operation not permitted") {
		t.Errorf("kill failure not shown:\n%s", screenText(m))
	}
}

func TestKillDisabled(t *testing.T) {
	m, _ := newTestModel(Config{}, 120, 40)
	feed(m, must(snapshotOf(mixedRows()...)))
	press(m, "K")
	if m.prompt != promptNone || strings.Contains(screenText(m), "Kill ") {
		t.Errorf("K without a Kill function opened a prompt")
	}
}

func TestResize(t *testing.T) {
	m, _ := newTestModel(Config{}, 80, 24)
	feed(m, must(snapshotOf(mixedRows()...)))
	m.Update(tea.WindowSizeMsg{Width: 40, Height: 10})
	lines := strings.Split(screenText(m), "\n")
	var text []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			text = append(text, strings.TrimSpace(l))
		}
	}
	if len(lines) != 10 || len(text) != 1 || !strings.Contains(text[0], "60×12") {
		t.Errorf("40×10: want 10 lines with one saying the minimum 60×12, got %d lines: %q", len(lines), text)
	}
	for _, size := range [][2]int{{60, 12}, {80, 24}, {200, 60}, {61, 13}} {
		m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		v := screenText(m)
		lines := strings.Split(v, "\n")
		if len(lines) != size[1] {
			t.Errorf("%dx%d: %d lines", size[0], size[1], len(lines))
		}
		for _, l := range lines {
			if w := lipglossWidth(l); w > size[0] {
				t.Errorf("%dx%d: line wider than the terminal (%d): %q", size[0], size[1], w, l)
			}
		}
		if !strings.Contains(v, "10.0.3.7:40022") {
			t.Errorf("%dx%d: the most urgent row is not on screen:\n%s", size[0], size[1], v)
		}
	}
}

func TestScrolling(t *testing.T) {
	m, _ := newTestModel(Config{}, 80, 24)
	var rows []model.Row
	for i := 0; i < 100; i++ {
		rows = append(rows, okRow(ipPort(i), "10.0.0.5:443", uint64(1000+i), "curl", 100+i))
	}
	feed(m, must(snapshotOf(rows...)))
	n := m.tableRows()
	press(m, "pgdown")
	if m.table.sel.cursor != n-1 {
		t.Errorf("pgdown: cursor %d, want %d", m.table.sel.cursor, n-1)
	}
	press(m, "end")
	v := screenText(m)
	if m.table.sel.cursor != 99 || !strings.Contains(v, "▶") || !strings.Contains(v, ipPort(99)) || strings.Contains(v, ipPort(0)+" ") {
		t.Errorf("end: cursor %d, want the last row selected and visible:\n%s", m.table.sel.cursor, v)
	}
	press(m, "g")
	if m.table.sel.cursor != 0 || !strings.Contains(screenText(m), ipPort(0)) {
		t.Errorf("g: cursor %d, want 0", m.table.sel.cursor)
	}
	press(m, "up")
	if m.table.sel.cursor != 0 {
		t.Errorf("up at the top moved the cursor to %d", m.table.sel.cursor)
	}
}

func ipPort(i int) string {
	return "10.1." + itoa(i/250) + "." + itoa(i%250+1) + ":" + itoa(30000+i)
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestSelectionFollowsConnection(t *testing.T) {
	m, _ := newTestModel(Config{}, 120, 40)
	feed(m, must(snapshotOf(mixedRows()...)))
	press(m, "j", "j") // the zero-window row
	if c := visibleCookies(m)[m.table.sel.cursor]; c != 0x3f2a9c04 {
		t.Fatalf("selected %x, want the zero-window row", c)
	}
	rows := append(mixedRows(), withAbort(dyingRow(), 77, 30*time.Second))
	feed(m, must(snapshotOf(rows...)))
	if c := visibleCookies(m)[m.table.sel.cursor]; c != 0x3f2a9c04 {
		t.Errorf("after a new dying row appeared above, selected %x, want still the zero-window row", c)
	}
}

func TestWatcherStopped(t *testing.T) {
	ch := make(chan *model.Snapshot, 1)
	m, _ := newTestModel(Config{Snapshots: ch}, 100, 30)
	s, _ := snapshotOf(mixedRows()...)
	ch <- s
	msg := m.waitSnapshot()()
	if sm, ok := msg.(snapshotMsg); !ok || sm.snap != s {
		t.Fatalf("waiting command returned %T, want the snapshot", msg)
	}
	_, next := m.Update(msg)
	if next == nil {
		t.Fatal("the wait was not re-armed after a snapshot")
	}
	close(ch)
	m.Update(next())
	v := screenText(m)
	if !strings.Contains(v, "the watcher stopped") || !strings.Contains(v, "10.0.3.7:51630") {
		t.Errorf("after the channel closed: want the last snapshot and a notice:\n%s", v)
	}
}

func TestWaitStopsOnClose(t *testing.T) {
	ch := make(chan *model.Snapshot)
	m := New(Config{Snapshots: ch})
	cmd := m.waitSnapshot()
	done := make(chan tea.Msg)
	go func() { done <- cmd() }()
	m.close()
	if msg := <-done; msg != nil {
		t.Errorf("after close the wait returned %T, want nil", msg)
	}
}

func TestQuit(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		m, _ := newTestModel(Config{}, 80, 24)
		cmd := press(m, k)
		if cmd == nil {
			t.Fatalf("%s: no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Errorf("%s does not quit", k)
		}
	}
}

func TestNoDyingSaidPlainly(t *testing.T) {
	m, _ := newTestModel(Config{}, 100, 30)
	feed(m, must(snapshotOf(okRow("10.0.3.7:22", "10.0.0.5:50122", 1, "sshd", 700), unguardedRow(40000, 2), closeWaitRow())))
	v := screenText(m)
	if !strings.Contains(v, "no dying connections among 3 sockets") {
		t.Errorf("no plain statement that nothing is dying:\n%s", v)
	}
	if !strings.Contains(v, "exposure: 1 connection would never notice a dead peer (:5432 ×1)") {
		t.Errorf("exposure line missing:\n%s", v)
	}
}

func TestEventsToggle(t *testing.T) {
	m, _ := newTestModel(Config{}, 120, 40)
	s, _ := snapshotOf(mixedRows()...)
	s.AllEvents = sampleEvents()
	feed(m, s)
	v := screenText(m)
	if !strings.Contains(v, "✗ aborted") || !strings.Contains(v, "predicted 14:01:57.8 ✓") {
		t.Errorf("events pane lacks the abort compared with its prediction:\n%s", v)
	}
	if strings.Contains(v, "10.0.3.7:44000") {
		t.Errorf("a normal close is listed:\n%s", v)
	}
	press(m, "e")
	if strings.Contains(screenText(m), "✗ aborted") {
		t.Errorf("e did not hide the events pane")
	}
}

func TestNoColorHasNoColour(t *testing.T) {
	m, _ := newTestModel(Config{}, 120, 40)
	feed(m, must(snapshotOf(mixedRows()...)))
	raw := m.View().Content
	// SGR colour parameters: 3x/9x foreground, 38;5/38;2 extended.
	for _, seq := range []string{"[31m", "[91m", "[33m", "[35m", "38;5;", "38;2;", ";31m", ";91m", ";33m", ";35m"} {
		if strings.Contains(raw, seq) {
			t.Errorf("NoColor view contains colour sequence %q", seq)
		}
	}
	// The distinctions are still there as symbols.
	for _, sym := range []string{"▲", "●", "◆", "○", "∞"} {
		if !strings.Contains(raw, sym) {
			t.Errorf("NoColor view lacks symbol %s", sym)
		}
	}
}

func TestColourProfile(t *testing.T) {
	m := New(Config{Now: func() time.Time { return t0 }})
	if m.cfg.NoColor {
		t.Skip("NO_COLOR is set in the environment")
	}
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(tea.ColorProfileMsg{Profile: colorprofile.ANSI})
	feed(m, must(snapshotOf(mixedRows()...)))
	raw := m.View().Content
	if !strings.Contains(raw, "31") {
		t.Errorf("16-colour profile: dying rows are not red (SGR 31):\n%q", raw)
	}
}

func lipglossWidth(s string) int { return ansi.StringWidth(s) }

func TestCursorStaysOnTopUntilMoved(t *testing.T) {
	m, _ := newTestModel(Config{}, 120, 40)
	feed(m, must(snapshotOf(mixedRows()...)))
	// A sooner abort appears: an operator who has not touched the keys
	// keeps seeing the most urgent row selected.
	feed(m, must(snapshotOf(append(mixedRows(), withAbort(dyingRow(), 77, 30*time.Second))...)))
	if c := visibleCookies(m)[m.table.sel.cursor]; m.table.sel.cursor != 0 || c != 77 {
		t.Errorf("untouched cursor at %d (%x), want 0 on the new most urgent row", m.table.sel.cursor, c)
	}
	press(m, "j", "g") // g goes back to sticking to the top
	feed(m, must(snapshotOf(append(mixedRows(), withAbort(dyingRow(), 78, 10*time.Second))...)))
	if c := visibleCookies(m)[m.table.sel.cursor]; m.table.sel.cursor != 0 || c != 78 {
		t.Errorf("after g: cursor at %d (%x), want 0 on the new most urgent row", m.table.sel.cursor, c)
	}
}
