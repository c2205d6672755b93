//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/crashlab"
)

// recordedLab is a crash lab whose client host tcpwatch watched with
// --json --record while the server host died: one connection was sending
// and the kernel aborted it, the other stayed idle and survived.
type recordedLab struct {
	dir          string // the recording
	live         []byte // what the live run printed
	dying, quiet int    // the server ports of the two connections
}

// recordCrash runs the lab once per test binary run and returns it.
func recordCrash(t *testing.T) *recordedLab {
	t.Helper()
	needRoot(t, "builds a crash lab of two network namespaces and kills the server host")
	needTools(t, "ip")
	bin := binary(t, termBin)
	lab, err := crashlab.New(uniqueName("twrec"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	if err := lab.Sysctl(lab.Cli, "net.ipv4.tcp_retries2", "3"); err != nil {
		t.Fatal(err)
	}
	dying, err := lab.Connect(false, net.Dialer{KeepAlive: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dying.Close)
	quiet, err := lab.Connect(false, net.Dialer{KeepAlive: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(quiet.Close)
	rl := &recordedLab{
		dir:   filepath.Join(t.TempDir(), "rec"),
		dying: dying.Client.RemoteAddr().(*net.TCPAddr).Port,
		quiet: quiet.Client.RemoteAddr().(*net.TCPAddr).Port,
	}
	out := filepath.Join(t.TempDir(), "live.json")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--netns", lab.CliPath(), "--json", "--record", rl.dir, "-i", "200ms")
	cmd.Stdout, cmd.Stderr = f, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	read := func() string {
		b, _ := os.ReadFile(out)
		return string(b)
	}
	dump := func() string { return read() + "\nstderr: " + stderr.String() }
	waitUntil(t, "the first poll", func() bool { return strings.Contains(read(), `"health"`) }, dump)
	if err := lab.Crash(); err != nil {
		t.Fatal(err)
	}
	if _, err := dying.Client.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the abort event", func() bool { return strings.Contains(read(), `"event":"aborted"`) }, dump)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tcpwatch --json --record: %v\n%s", err, stderr.String())
	}
	rl.live = []byte(read())
	return rl
}

// replayOut runs tcpwatch replay with args and returns its stdout, its
// stderr and its status.
func replayOut(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(binary(t, termBin), append([]string{"replay"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	rc := 0
	if ee, ok := err.(*exec.ExitError); ok {
		rc = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), rc
}

// polls splits NDJSON into polls (runs of lines with one time): a poll's
// connections, then its events.
func polls(t *testing.T, ndjson string) [][]string {
	t.Helper()
	var out [][]string
	last := ""
	for _, l := range strings.Split(strings.TrimSuffix(ndjson, "\n"), "\n") {
		if l == "" {
			continue
		}
		var o struct{ Time string }
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		if o.Time != last || len(out) == 0 {
			out = append(out, nil)
			last = o.Time
		}
		out[len(out)-1] = append(out[len(out)-1], l)
	}
	return out
}

// TestReplayOfACrash records a real crash once and replays it in every
// way.
func TestReplayOfACrash(t *testing.T) {
	rl := recordCrash(t)
	t.Run("json is the live run", func(t *testing.T) { testReplayJSON(t, rl) })
	t.Run("filters", func(t *testing.T) { testReplayFilters(t, rl) })
	t.Run("once at", func(t *testing.T) { testReplayAt(t, rl) })
	t.Run("interface", func(t *testing.T) { testReplayInterface(t, rl) })
}

// testReplayJSON: a real crash recorded with --json --record replays with
// --json to the very bytes the live run printed: the same rows,
// countdowns, owners and the abort event, poll for poll. The one
// difference allowed is at the end: the poll taken as the signal came
// was recorded but not printed (the stream stops at the signal), so the
// replay may print one poll more.
func testReplayJSON(t *testing.T, rl *recordedLab) {
	got, stderr, rc := replayOut(t, rl.dir, "--json")
	if rc != 0 {
		t.Fatalf("replay --json: status %d\n%s", rc, stderr)
	}
	live := string(rl.live)
	if !strings.HasPrefix(got, live) {
		lp, gp := polls(t, live), polls(t, got)
		for i := range min(len(lp), len(gp)) {
			if strings.Join(lp[i], "\n") != strings.Join(gp[i], "\n") {
				t.Fatalf("poll %d differs:\nlive:\n%s\nreplay:\n%s", i, strings.Join(lp[i], "\n"), strings.Join(gp[i], "\n"))
			}
		}
		t.Fatalf("the replay (%d polls) does not start with the live output (%d polls)", len(gp), len(lp))
	}
	if extra := polls(t, got[len(live):]); len(extra) > 1 {
		t.Fatalf("the replay printed %d polls more than the live run: %q", len(extra), extra)
	}
	n := len(polls(t, live))
	if n < 10 || !strings.Contains(live, `"event":"aborted"`) || !strings.Contains(live, `"abort_in_s":`) || !strings.Contains(live, `"comm":"`) {
		t.Fatalf("the live run (%d polls) has no countdown, no abort or no owner to compare:\n%s", n, live)
	}
	t.Logf("%d polls, %d bytes, replayed byte for byte", n, len(live))
}

// testReplayFilters: a filter given to replay selects the rows and events
// of the connections it matches, as the same filter selected them live.
func testReplayFilters(t *testing.T, rl *recordedLab) {
	for _, tc := range []struct {
		args []string
		keep func(line string) bool
	}{
		// A host's verdict is judged over every connection, whatever the
		// filter, live and in replay alike: its lines ("peer") stay.
		{[]string{"--dport", strconv.Itoa(rl.quiet)}, func(l string) bool {
			return strings.Contains(l, ":"+strconv.Itoa(rl.quiet)+`"`) || strings.Contains(l, `"peer":`)
		}},
		{[]string{"--unhealthy"}, func(l string) bool {
			return strings.Contains(l, `"event"`) || strings.Contains(l, `"peer":`) || !strings.Contains(l, `"health":"ok"`) && !strings.Contains(l, `"health":"unguarded"`)
		}},
	} {
		got, stderr, rc := replayOut(t, append([]string{rl.dir, "--json"}, tc.args...)...)
		if rc != 0 {
			t.Fatalf("replay %v: status %d\n%s", tc.args, rc, stderr)
		}
		var want []string
		for _, l := range strings.Split(string(rl.live), "\n") {
			if l != "" && tc.keep(l) {
				want = append(want, l)
			}
		}
		gotLines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
		if len(want) == 0 || len(gotLines) < len(want) || strings.Join(gotLines[:len(want)], "\n") != strings.Join(want, "\n") {
			t.Errorf("replay %v: want the %d live lines the filter keeps, got %d:\n%s", tc.args, len(want), len(gotLines), got)
		}
	}
}

// testReplayAt: --once --at gives the snapshot of a moment, reached
// through the keyframe of its segment: the poll of the abort, the one
// before it, and the first, each as the live run printed it, with the
// time given as RFC 3339 or as a time of day.
func testReplayAt(t *testing.T, rl *recordedLab) {
	lp := polls(t, string(rl.live))
	abort := -1
	for i, p := range lp {
		if strings.Contains(strings.Join(p, "\n"), `"event":"aborted"`) {
			abort = i
		}
	}
	if abort < 1 {
		t.Fatalf("no abort after the first poll in the live run")
	}
	for _, i := range []int{abort, abort - 1, 0, len(lp) - 1} {
		var o struct{ Time string }
		if err := json.Unmarshal([]byte(lp[i][0]), &o); err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse(time.RFC3339Nano, o.Time)
		if err != nil {
			t.Fatal(err)
		}
		// The JSON's milliseconds are cut, not rounded: a millisecond
		// more is at or after the poll, and well before the next.
		at = at.Add(time.Millisecond)
		for _, arg := range []string{at.Format(time.RFC3339Nano), at.Local().Format("15:04:05.000")} {
			got, stderr, rc := replayOut(t, rl.dir, "--once", "--json", "--at", arg)
			if want := strings.Join(lp[i], "\n") + "\n"; rc != 0 || got != want {
				t.Errorf("--once --at %s (poll %d): status %d, stderr %q\ngot:\n%s\nwant:\n%s", arg, i, rc, stderr, got, want)
			}
		}
	}
	table, stderr, rc := replayOut(t, rl.dir, "--once")
	if rc != 0 || !strings.Contains(table, "ESTAB ") || !strings.Contains(table, ":"+strconv.Itoa(rl.quiet)) {
		t.Errorf("--once: status %d, stderr %q, table:\n%s", rc, stderr, table)
	}
}

// testReplayInterface drives the interactive replay in a terminal: it
// starts paused with REPLAY in the header, goes to the poll before the
// abort, and the detail view of the dying connection gives the abort
// time the live run printed at that poll; quitting restores the terminal.
func testReplayInterface(t *testing.T, rl *recordedLab) {
	lp := polls(t, string(rl.live))
	var pollTime, abortAt time.Time
	for i, p := range lp {
		if !strings.Contains(strings.Join(p, "\n"), `"event":"aborted"`) || i == 0 {
			continue
		}
		for _, l := range lp[i-1] {
			var o struct {
				Time    string
				Remote  string
				AbortAt *string `json:"abort_at"`
			}
			if err := json.Unmarshal([]byte(l), &o); err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(o.Remote, ":"+strconv.Itoa(rl.dying)) && o.AbortAt != nil {
				pollTime, _ = time.Parse(time.RFC3339Nano, o.Time)
				abortAt, _ = time.Parse(time.RFC3339Nano, *o.AbortAt)
			}
		}
	}
	if pollTime.IsZero() || abortAt.IsZero() {
		t.Fatal("the live run has no prediction for the dying connection in the poll before its abort")
	}
	s := newTermShell(t, 160, 50)
	s.clear()
	cmdline := "NO_COLOR=1 " + binary(t, termBin) + " replay " + rl.dir
	s.typeLine(cmdline)
	s.waitText("REPLAY", "replay of", "paused ×1")
	s.keys("t")
	s.must("send-keys", "-t", s.name, "-l", pollTime.Add(time.Millisecond).Local().Format("15:04:05.000"))
	s.keys("Enter")
	s.waitText("recorded " + pollTime.Local().Format("2006-01-02 15:04:05.000"))
	s.keys("Enter") // the dying connection is the first row (sorted by urgency)
	s.waitText("retransmitting", "Schedule", abortAt.Local().Format("15:04:05.0"))
	s.keys("q") // quits from the detail view too (an Escape right before it would read as alt+q)
	if rc := s.afterExit(cmdline); rc != 0 {
		t.Errorf("replay exited with %d", rc)
	}
}
