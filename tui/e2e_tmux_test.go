//go:build linux

// The end-to-end test: the real binary in tmux, as a user runs it.

package tui

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/netns"
)

var e2eCounter atomic.Int32

// tmuxSession drives one tmux server of its own (never the user's).
type tmuxSession struct {
	t      *testing.T
	socket string
	name   string
}

func (s *tmuxSession) run(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-L", s.socket, "-f", "/dev/null"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (s *tmuxSession) must(args ...string) string {
	s.t.Helper()
	out, err := s.run(args...)
	if err != nil {
		s.t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

func (s *tmuxSession) screen() string { return s.must("capture-pane", "-p", "-t", s.name) }

func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	for _, k := range keys {
		s.must("send-keys", "-t", s.name, k)
	}
}

// waitScreen waits until the pane shows every string in want. The
// deadline bounds a broken run; nothing is timed. A build without the
// interactive interface skips the test.
func (s *tmuxSession) waitScreen(want ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		scr := s.screen()
		if strings.Contains(scr, "no interactive interface") {
			s.t.Skip("the binary was built without the interactive interface")
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(scr, w)
		}
		if ok {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the screen never showed %q:\n%s", want, scr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestE2ETmux runs the real binary in tmux on a namespace with one idle
// loopback connection: the table shows it, the help and the filter work,
// q exits leaving the alternate screen, and a hangup (the terminal going
// away) ends the process.
func TestE2ETmux(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and watches it")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("needs tmux")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8) to create a network namespace")
	}
	bin := os.Getenv("TCPWATCH_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "tcpwatch")
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/tcpwatch/tcpwatch").CombinedOutput(); err != nil {
			t.Skipf("cannot build the binary (set TCPWATCH_BIN to use a built one): %v\n%s", err, out)
		}
	}

	ns := fmt.Sprintf("tw-tui-%d-%d", os.Getpid(), e2eCounter.Add(1))
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in %s: %v: %s", ns, err, out)
	}

	// One idle connection without keepalive, created inside the namespace.
	var ln net.Listener
	var client net.Conn
	err := netns.Do(netns.Path(ns), func() error {
		var err error
		if ln, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
			return err
		}
		client, err = (&net.Dialer{KeepAlive: -1}).Dial("tcp4", ln.Addr().String())
		return err
	})
	if err != nil {
		t.Fatalf("sockets in %s: %v", ns, err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close(); ln.Close() })
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	s := &tmuxSession{t: t, socket: ns, name: "e2e"}
	t.Cleanup(func() { _, _ = s.run("kill-server") })
	s.must("start-server", ";", "set-option", "-g", "remain-on-exit", "on", ";",
		"new-session", "-d", "-s", s.name, "-x", "120", "-y", "40", bin, "--netns", ns)

	s.waitScreen("tcpwatch", "netns: "+ns, "127.0.0.1:"+port)
	s.keys("?")
	s.waitScreen("Keys", "Health", "unguarded")
	s.keys("Escape")
	s.waitScreen("HEALTH", "ABORT IN")
	s.keys("/")
	s.must("send-keys", "-t", s.name, "-l", "sport "+port)
	s.keys("Enter")
	s.waitScreen("filter: sport " + port)
	panePID, err := strconv.Atoi(strings.TrimSpace(s.must("display-message", "-p", "-t", s.name, "#{pane_pid}")))
	if err != nil {
		t.Fatal(err)
	}
	s.keys("q")
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := strings.Fields(s.must("display-message", "-p", "-t", s.name, "#{pane_dead} #{pane_dead_status} #{alternate_on}"))
		if len(st) == 3 && st[0] == "1" {
			if st[1] != "0" || st[2] != "0" {
				t.Errorf("after q: exit status %s, alternate screen %s; want 0 and 0\n%s", st[1], st[2], s.screen())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("q did not end the program:\n%s", s.screen())
		}
		if zombie(panePID) {
			// The program has exited, but tmux (3.3a seen here) sometimes
			// misses the SIGCHLD and leaves it unreaped, the pane alive:
			// another child of the server exiting makes it reap them all
			// (waitpid(WAIT_ANY) in server_child_signal), status included.
			s.must("run-shell", "true")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A hangup: kill the session, as a dropped ssh connection would.
	s.name = "e2e-hup"
	s.must("new-session", "-d", "-s", s.name, "-x", "100", "-y", "30", bin, "--netns", ns)
	s.waitScreen("127.0.0.1:" + port)
	pid, err := strconv.Atoi(strings.TrimSpace(s.must("display-message", "-p", "-t", s.name, "#{pane_pid}")))
	if err != nil {
		t.Fatal(err)
	}
	s.must("kill-session", "-t", s.name)
	deadline = time.Now().Add(20 * time.Second)
	for {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tcpwatch (pid %d) still runs after its terminal went away", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// zombie reports whether process pid has exited and waits to be reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state …: the state follows the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}
