package crashlab

import (
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tmux drives a tmux server of the test's own.
type tmux struct {
	t      *testing.T
	socket string
}

func (x *tmux) run(args ...string) string {
	x.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", x.socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var countdownRE = regexp.MustCompile(`~?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$`)

// parseCountdown reads the interface's "ABORT IN" cell: 42s, 8.4s, 15m35s,
// 2h11m, with ~ for assumed predictions.
func parseCountdown(s string) (time.Duration, bool) {
	m := countdownRE.FindStringSubmatch(s)
	if m == nil || (m[1] == "" && m[2] == "" && m[3] == "") {
		return 0, false
	}
	var d time.Duration
	if m[1] != "" {
		h, _ := strconv.Atoi(m[1])
		d += time.Duration(h) * time.Hour
	}
	if m[2] != "" {
		mm, _ := strconv.Atoi(m[2])
		d += time.Duration(mm) * time.Minute
	}
	if m[3] != "" {
		sec, _ := strconv.ParseFloat(m[3], 64)
		d += time.Duration(sec * float64(time.Second))
	}
	return d, true
}

// TestLabTUICountdown runs the real binary in tmux on a crash lab with a
// dying connection among healthy ones, captures the screen twice, and
// checks that the dying connection is the first row, highlighted, and
// that its countdown went down by the time between the captures.
func TestLabTUICountdown(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("needs tmux to drive the interface")
	}
	t.Parallel()
	l := newLab(t)
	sysctl(t, l, "net.ipv4.tcp_retries2", "7") // a 51 s budget
	var healthy []*Pair
	for i := 0; i < 3; i++ {
		p, err := l.Connect(false, net.Dialer{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		exchange(t, p)
		healthy = append(healthy, p)
	}
	dying, err := l.Connect(false, net.Dialer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dying.Close)
	exchange(t, dying)
	if err := l.Crash(); err != nil {
		t.Fatal(err)
	}
	if _, err := dying.Client.Write(make([]byte, 200)); err != nil {
		t.Fatal(err)
	}
	local := dying.Client.LocalAddr().String()

	x := &tmux{t: t, socket: fmt.Sprintf("%s-tmux", l.Cli)}
	t.Cleanup(func() { exec.Command("tmux", "-L", x.socket, "kill-server").Run() })
	x.run("new-session", "-d", "-s", "lab", "-x", "120", "-y", "40", "env", "TERM=xterm-256color", tcpwatchBin, "--netns", l.CliPath())

	// Wait for the first retransmission timeouts to show up.
	capture := func() (string, string, time.Time) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			at := time.Now()
			plain := x.run("capture-pane", "-p", "-t", "lab")
			if strings.Contains(plain, local) && strings.Contains(plain, "▲") {
				return plain, x.run("capture-pane", "-p", "-e", "-t", "lab"), at
			}
			if time.Now().After(deadline) {
				t.Fatalf("the dying connection never showed as dying:\n%s", plain)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	row := func(screen string) (line string, countdown time.Duration) {
		t.Helper()
		var rows []string
		inTable := false
		for _, ln := range strings.Split(screen, "\n") {
			if strings.Contains(ln, "HEALTH") && strings.Contains(ln, "ABORT IN") {
				inTable = true
				continue
			}
			if inTable {
				if strings.TrimSpace(ln) == "" {
					break
				}
				rows = append(rows, ln)
			}
		}
		if len(rows) < 4 {
			t.Fatalf("want the dying connection and three healthy ones, got %d rows:\n%s", len(rows), screen)
		}
		if !strings.Contains(rows[0], local) || !strings.Contains(rows[0], "▲") {
			t.Fatalf("the dying connection %s is not the first row:\n%s", local, screen)
		}
		f := strings.Fields(rows[0])
		d, ok := parseCountdown(f[len(f)-1])
		if !ok {
			t.Fatalf("no countdown in the first row %q", rows[0])
		}
		return rows[0], d
	}
	plain1, esc1, at1 := capture()
	_, d1 := row(plain1)
	time.Sleep(4 * time.Second)
	plain2, _, at2 := capture()
	_, d2 := row(plain2)

	elapsed := at2.Sub(at1)
	if got := d1 - d2; got < elapsed-1500*time.Millisecond || got > elapsed+1500*time.Millisecond {
		t.Errorf("the countdown went from %v to %v in %v: down by %v", d1, d2, elapsed, got)
	}
	// Highlighted: the dying row carries a colour the healthy rows do not.
	for _, ln := range strings.Split(esc1, "\n") {
		if strings.Contains(ln, "▲") && strings.Contains(ln, strings.Split(local, ":")[1]) {
			if !strings.Contains(ln, "\x1b[") || !regexp.MustCompile(`\x1b\[[0-9;]*(31|91|38;5;196|38;2;255;59;59)[;m]`).MatchString(ln) {
				t.Errorf("the dying row is not red: %q", ln)
			}
		}
	}
	for _, p := range healthy {
		if !strings.Contains(plain2, p.Client.LocalAddr().String()) {
			t.Errorf("healthy connection %s missing from the screen", p.Client.LocalAddr())
		}
	}
	x.run("send-keys", "-t", "lab", "q")
	t.Logf("first capture:\n%s\ncountdown %v then %v, %v apart", plain1, d1, d2, elapsed)
}
