//go:build linux

package main

// End-to-end tests of the binary against real terminals (tmux, a
// pseudo-terminal), outputs that are not terminals, a terminal too small
// for the table, and an unprivileged user. They prove that tcpwatch never
// leaves the terminal broken, whatever ends it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwatch/tcpwatch/internal/netns"
)

// testVersion is stamped into the test binary to check --version.
const testVersion = "v0.0.0-terminal-test"

// The binaries, built once by TestMain.
var (
	// termBin is tcpwatch as released (with testVersion stamped in).
	termBin string
	// termPanicBin panics inside Update when "!" is pressed
	// (tui/panic_testhook.go).
	termPanicBin string
	// termBuildErr says why the binaries could not be built.
	termBuildErr error
)

// testPanicText is what the panicking build's panic says.
const testPanicText = "the ! key was pressed"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tcpwatch-term-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The unprivileged runs (uid nobody) must be able to reach the binary.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	termBin = filepath.Join(dir, "tcpwatch")
	termPanicBin = filepath.Join(dir, "tcpwatch-panic")
	termBuildErr = goBuild(termBin, "-ldflags", "-X main.version="+testVersion)
	if termBuildErr == nil {
		termBuildErr = goBuild(termPanicBin, "-tags", "tcpwatch_testpanic")
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goBuild(out string, flags ...string) error {
	args := append(append([]string{"build", "-o", out}, flags...), ".")
	if b, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// binary returns the binary to run, failing the test if it was not built.
func binary(t *testing.T, path string) string {
	t.Helper()
	if termBuildErr != nil {
		t.Fatalf("the binary was not built: %v", termBuildErr)
	}
	return path
}

func needRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: " + why)
	}
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
}

// waitUntil polls cond until it holds. The deadline only bounds a broken
// run; nothing is timed.
func waitUntil(t *testing.T, what string, cond func() bool, dump func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			extra := ""
			if dump != nil {
				extra = "\n" + dump()
			}
			t.Fatalf("timed out waiting for %s%s", what, extra)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var termCounter atomic.Int32

// uniqueName is a name no other test run uses (pid and a counter).
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), termCounter.Add(1))
}

// termLab is a network namespace of the test's own with a listener and idle
// loopback connections, all created inside it.
type termLab struct {
	ns   string
	port int
}

// addr is the listener's address as every output writes it.
func (l *termLab) addr() string { return "127.0.0.1:" + strconv.Itoa(l.port) }

func newTermLab(t *testing.T, conns int) *termLab {
	t.Helper()
	needRoot(t, "creates a network namespace with ip netns add")
	needTools(t, "ip")
	ns := uniqueName("tw-term")
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in %s: %v: %s", ns, err, out)
	}
	var ln net.Listener
	var clients []net.Conn
	err := netns.Do(netns.Path(ns), func() error {
		var err error
		if ln, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
			return err
		}
		for range conns {
			c, err := (&net.Dialer{KeepAlive: -1}).Dial("tcp4", ln.Addr().String())
			if err != nil {
				return err
			}
			clients = append(clients, c)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("sockets in %s: %v", ns, err)
	}
	t.Cleanup(func() { ln.Close() })
	for _, c := range clients {
		t.Cleanup(func() { c.Close() })
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	return &termLab{ns: ns, port: ln.Addr().(*net.TCPAddr).Port}
}

// dial opens one more connection to the lab's listener from inside the
// namespace and returns its client side as a file (to hand to a child
// process) after closing every other reference to it. The server side is
// accepted and kept open.
func (l *termLab) dialFile(t *testing.T) *os.File {
	t.Helper()
	var c net.Conn
	err := netns.Do(netns.Path(l.ns), func() error {
		var err error
		c, err = (&net.Dialer{KeepAlive: -1}).Dial("tcp4", l.addr())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.(*net.TCPConn).File()
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// pidGone reports whether a process has exited (gone or a zombie).
func pidGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z'
	}
	return false
}

// --- an interactive shell in tmux ---

// shellPrompt is the prompt of the test's shells.
const shellPrompt = "tw$"

// termShell is an interactive bash in a tmux server of the test's own
// (never the user's), so that the terminal a program leaves behind can be
// inspected after it ends.
type termShell struct {
	t      *testing.T
	socket string
	name   string
	dir    string // files the shell's commands write
	before string // `stty -g` before any program ran
	runs   int
}

func newTermShell(t *testing.T, width, height int) *termShell {
	t.Helper()
	needTools(t, "tmux", "bash", "stty")
	s := &termShell{t: t, socket: uniqueName("tw-term"), name: "sh", dir: t.TempDir()}
	// A clean environment for colours: the tests choose NO_COLOR.
	s.must("new-session", "-d", "-s", s.name, "-x", strconv.Itoa(width), "-y", strconv.Itoa(height),
		"env", "-u", "NO_COLOR", "-u", "CLICOLOR_FORCE", "-u", "COLORTERM",
		"PS1="+shellPrompt+" ", "HISTFILE=/dev/null", "INPUTRC=/dev/null",
		"bash", "--norc", "--noprofile")
	// kill-server leaves the socket file behind.
	path := strings.TrimSpace(s.must("display-message", "-p", "#{socket_path}"))
	t.Cleanup(func() { _, _ = s.tmux("kill-server"); _ = os.Remove(path) })
	s.waitScreen("the first prompt", func(lines []string) bool {
		return len(lines) > 0 && lines[len(lines)-1] == shellPrompt
	})
	s.before = strings.TrimSpace(s.runCapture("stty -g"))
	return s
}

func (s *termShell) tmux(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-L", s.socket, "-f", "/dev/null"}, args...)...).CombinedOutput()
	return string(out), err
}

func (s *termShell) must(args ...string) string {
	s.t.Helper()
	out, err := s.tmux(args...)
	if err != nil {
		s.t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

// screen is the visible pane, wrapped lines joined, trailing blanks cut.
func (s *termShell) screen() string {
	return s.must("capture-pane", "-p", "-J", "-t", s.name)
}

// lines is the screen's non-blank lines.
func (s *termShell) lines() []string {
	var out []string
	for _, l := range strings.Split(s.screen(), "\n") {
		if l = strings.TrimRight(l, " "); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// display evaluates a tmux format for the pane.
func (s *termShell) display(format string) string {
	return strings.TrimSpace(s.must("display-message", "-p", "-t", s.name, format))
}

func (s *termShell) keys(keys ...string) {
	s.t.Helper()
	for _, k := range keys {
		s.must("send-keys", "-t", s.name, k)
	}
}

func (s *termShell) typeLine(line string) {
	s.t.Helper()
	s.must("send-keys", "-t", s.name, "-l", line)
	s.must("send-keys", "-t", s.name, "Enter")
}

func (s *termShell) waitScreen(what string, cond func(lines []string) bool) {
	s.t.Helper()
	waitUntil(s.t, what, func() bool { return cond(s.lines()) }, s.screen)
}

func (s *termShell) waitText(want ...string) {
	s.t.Helper()
	s.waitScreen(fmt.Sprintf("the screen to show %q", want), func([]string) bool {
		scr := s.screen()
		for _, w := range want {
			if !strings.Contains(scr, w) {
				return false
			}
		}
		return true
	})
}

// clear empties the screen, leaving only the prompt.
func (s *termShell) clear() {
	s.t.Helper()
	s.typeLine("clear")
	s.waitScreen("a cleared screen", func(lines []string) bool {
		return len(lines) == 1 && lines[0] == shellPrompt
	})
}

// runCapture runs a shell command line with its output going to a file
// and returns that output.
func (s *termShell) runCapture(cmd string) string {
	s.t.Helper()
	s.runs++
	out := filepath.Join(s.dir, fmt.Sprintf("out-%d", s.runs))
	done := out + ".done"
	s.typeLine(fmt.Sprintf("{ %s; } >%s 2>&1; : >%s", cmd, out, done))
	waitUntil(s.t, "the command "+cmd, func() bool { _, err := os.Stat(done); return err == nil }, s.screen)
	b, err := os.ReadFile(out)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

// child waits for the shell's one foreground child and returns its pid.
func (s *termShell) child() int {
	s.t.Helper()
	shellPID := s.display("#{pane_pid}")
	var pid int
	waitUntil(s.t, "the shell's child process", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%s/task/%s/children", shellPID, shellPID))
		f := strings.Fields(string(b))
		if err != nil || len(f) != 1 {
			return false
		}
		pid, err = strconv.Atoi(f[0])
		return err == nil
	}, s.screen)
	return pid
}

// afterExit checks the terminal a program left behind once the prompt is
// back: the normal screen holds only the command line and the prompt, the
// alternate screen is off, the cursor visible, the tty in the state it
// was in before (echo, canonical mode...). It returns the exit status.
func (s *termShell) afterExit(cmdline string) int {
	s.t.Helper()
	// The prompt comes back under the command line, or, now and then on a
	// loaded machine, right after it (the first frame and the shell's echo
	// of the newline race in the pane); either way nothing of the interface
	// is left on the normal screen.
	waitUntil(s.t, "the prompt to come back after the command line", func() bool {
		lines := s.lines()
		under := len(lines) == 2 && lines[0] == shellPrompt+" "+cmdline && lines[1] == shellPrompt
		after := len(lines) == 1 && lines[0] == shellPrompt+" "+cmdline+shellPrompt
		return under || after
	}, func() string {
		return s.display("alternate_on=#{alternate_on} cursor_flag=#{cursor_flag}") + "\n" + s.screen()
	})
	if alt := s.display("#{alternate_on}"); alt != "0" {
		s.t.Errorf("alternate screen still on (alternate_on=%s)", alt)
	}
	if cur := s.display("#{cursor_flag}"); cur != "1" {
		s.t.Errorf("cursor left hidden (cursor_flag=%s)", cur)
	}
	res := s.runCapture("echo rc=$?; stty -a; echo; stty -g")
	i := strings.Index(res, "\n")
	if i < 0 || !strings.HasPrefix(res, "rc=") {
		s.t.Fatalf("no exit status in %q", res)
	}
	rc, err := strconv.Atoi(res[len("rc="):i])
	if err != nil {
		s.t.Fatalf("exit status %q: %v", res[:i], err)
	}
	rest := strings.TrimSpace(res[i+1:])
	j := strings.LastIndex(rest, "\n")
	sttyA, sttyG := rest[:max(j, 0)], strings.TrimSpace(rest[j+1:])
	fields := map[string]bool{}
	for _, f := range strings.Fields(sttyA) {
		fields[f] = true
	}
	// Raw mode clears these; a usable line-editing terminal has them.
	for _, flag := range []string{"echo", "icanon", "isig", "icrnl", "opost", "onlcr"} {
		if !fields[flag] || fields["-"+flag] {
			s.t.Errorf("tty left without %s:\n%s", flag, sttyA)
		}
	}
	if sttyG != s.before {
		s.t.Errorf("tty state changed:\nbefore %s\nafter  %s", s.before, sttyG)
	}
	return rc
}

// TestTerminalRestored runs tcpwatch from an interactive shell and ends
// it every way it can end; each time the terminal must be left as it was.
func TestTerminalRestored(t *testing.T) {
	lab := newTermLab(t, 1)
	for _, tc := range []struct {
		name   string
		bin    string
		end    func(sh *termShell, pid int) error
		wantRC int
		// stderr checks what the program wrote there.
		stderr func(t *testing.T, stderr string)
	}{
		{name: "q", bin: termBin, end: func(sh *termShell, _ int) error { sh.keys("q"); return nil }},
		{name: "ctrl+c", bin: termBin, end: func(sh *termShell, _ int) error { sh.keys("C-c"); return nil }},
		{name: "SIGTERM", bin: termBin, end: func(_ *termShell, pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }},
		{name: "SIGHUP", bin: termBin, end: func(_ *termShell, pid int) error { return syscall.Kill(pid, syscall.SIGHUP) }},
		{name: "SIGINT", bin: termBin, end: func(_ *termShell, pid int) error { return syscall.Kill(pid, syscall.SIGINT) }},
		{
			name: "panic", bin: termPanicBin, wantRC: 1,
			end: func(sh *termShell, _ int) error { sh.keys("!"); return nil },
			stderr: func(t *testing.T, stderr string) {
				for _, want := range []string{testPanicText, "tcpwatch: ", "panicked"} {
					if !strings.Contains(stderr, want) {
						t.Errorf("stderr does not report the panic (%q missing):\n%s", want, stderr)
					}
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh := newTermShell(t, 120, 40)
			errFile := filepath.Join(sh.dir, "stderr")
			cmdline := fmt.Sprintf("%s --netns %s 2>%s", binary(t, tc.bin), lab.ns, errFile)
			sh.clear()
			sh.typeLine(cmdline)
			sh.waitText("HEALTH", lab.addr())
			if alt := sh.display("#{alternate_on}"); alt != "1" {
				t.Fatalf("the interface is not on the alternate screen (alternate_on=%s)", alt)
			}
			pid := sh.child()
			t.Cleanup(func() {
				if !pidGone(pid) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			if err := tc.end(sh, pid); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "tcpwatch to exit", func() bool { return pidGone(pid) }, sh.screen)
			if rc := sh.afterExit(cmdline); rc != tc.wantRC {
				t.Errorf("exit status %d, want %d", rc, tc.wantRC)
			}
			b, err := os.ReadFile(errFile)
			if err != nil {
				t.Fatal(err)
			}
			if tc.stderr != nil {
				tc.stderr(t, string(b))
			} else if len(b) != 0 {
				t.Errorf("unexpected stderr:\n%s", b)
			}
		})
	}
}

// TestTerminalGone: when the terminal goes away under the shell (a
// dropped ssh connection; here the tmux session is killed), tcpwatch gets
// SIGHUP and exits instead of running on without a terminal.
func TestTerminalGone(t *testing.T) {
	lab := newTermLab(t, 1)
	sh := newTermShell(t, 120, 40)
	sh.clear()
	sh.typeLine(fmt.Sprintf("%s --netns %s", binary(t, termBin), lab.ns))
	sh.waitText("HEALTH", lab.addr())
	shellPID, err := strconv.Atoi(sh.display("#{pane_pid}"))
	if err != nil {
		t.Fatal(err)
	}
	pid := sh.child()
	sh.must("kill-session", "-t", sh.name)
	// A few seconds bound the exit: a process that ignores the hangup
	// would run on forever.
	deadline := time.Now().Add(10 * time.Second)
	for !pidGone(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("tcpwatch (pid %d) still runs 10 s after its terminal went away", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitUntil(t, "the shell to exit", func() bool { return pidGone(shellPID) }, nil)
}

// --- a pseudo-terminal of the test's own ---

// openPTY returns a new pseudo-terminal's master and slave, the slave
// sized cols×rows.
func openPTY(t *testing.T, cols, rows uint16) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows}); err != nil {
		t.Fatal(err)
	}
	return master, slave
}

// syncBuf collects what a reader goroutine reads.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// colourEnv is an environment that invites colours: a 256-colour
// terminal that says it does true colour, and no NO_COLOR.
func colourEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "NO_COLOR" && k != "TERM" && k != "COLORTERM" {
			env = append(env, kv)
		}
	}
	return append(env, "TERM=xterm-256color", "COLORTERM=truecolor")
}

// noEscapes fails the test if b holds an escape byte.
func noEscapes(t *testing.T, what string, b []byte) {
	t.Helper()
	if i := bytes.IndexByte(b, 0x1b); i >= 0 {
		lo, hi := max(i-60, 0), min(i+60, len(b))
		t.Errorf("%s holds an escape byte at offset %d: %q", what, i, b[lo:hi])
	}
}

// ptyRun runs the binary with its standard streams on a pseudo-terminal
// (stdout elsewhere if given); run returns what reached the terminal and
// the exit status.
type ptyRun struct {
	args   []string
	stdout io.Writer // nil: the terminal
	// stop, if set, is called with the terminal output seen so far until
	// it returns true; then the program gets SIGINT.
	stop func(tty []byte) bool
}

func (r ptyRun) run(t *testing.T) (tty []byte, rc int) {
	t.Helper()
	master, slave := openPTY(t, 120, 40)
	// A program that never ends is killed, failing the test.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t, termBin), r.args...)
	cmd.Env = colourEnv()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	if r.stdout != nil {
		cmd.Stdout = r.stdout
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out syncBuf
	read := make(chan struct{})
	go func() {
		defer close(read)
		_, _ = io.Copy(&out, master) // ends with EIO once the child closed the slave
	}()
	if r.stop != nil {
		waitUntil(t, "enough output", func() bool { return r.stop(out.Bytes()) }, func() string { return string(out.Bytes()) })
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("%s did not end; the terminal shows:\n%q", cmd, out.Bytes())
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		rc = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	select {
	case <-read:
	case <-time.After(20 * time.Second):
		t.Fatal("the terminal's output never ended")
	}
	return out.Bytes(), rc
}

// jsonLines checks that every line is a JSON object and returns how many
// mention want.
func jsonLines(t *testing.T, what string, b []byte, want string) int {
	t.Helper()
	n := 0
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		if l == "" {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Errorf("%s: not a JSON object: %q: %v", what, l, err)
			continue
		}
		if strings.Contains(l, want) {
			n++
		}
	}
	return n
}

// TestNotATerminal: output that is not a terminal gets a plain snapshot,
// and --once and --json are plain even on a terminal: no escape byte
// anywhere, in colour-inviting environments.
func TestNotATerminal(t *testing.T) {
	lab := newTermLab(t, 1)
	ns := []string{"--netns", lab.ns}
	// plainTable checks a table snapshot: a header line, the listener.
	plainTable := func(t *testing.T, out []byte) {
		t.Helper()
		s := strings.ReplaceAll(string(out), "\r\n", "\n")
		if !strings.HasPrefix(s, "# ") || !strings.Contains(s, lab.addr()) {
			t.Errorf("not a snapshot with the listener %s:\n%s", lab.addr(), s)
		}
	}

	t.Run("stdout a pipe", func(t *testing.T) {
		// tcpwatch | cat in a terminal: stdin and stderr are the terminal.
		var stdout bytes.Buffer
		tty, rc := ptyRun{args: ns, stdout: &stdout}.run(t)
		if rc != 0 {
			t.Errorf("exit status %d, want 0; terminal: %s", rc, tty)
		}
		plainTable(t, stdout.Bytes())
		noEscapes(t, "stdout", stdout.Bytes())
		noEscapes(t, "the terminal (stderr)", tty)
		if n := strings.Count(string(tty), "\n"); n != 1 {
			t.Errorf("want one line on stderr saying stdout is not a terminal, got %d:\n%s", n, tty)
		}
	})
	t.Run("stdout a file", func(t *testing.T) {
		f, err := os.Create(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		tty, rc := ptyRun{args: ns, stdout: f}.run(t)
		if rc != 0 {
			t.Errorf("exit status %d, want 0; terminal: %s", rc, tty)
		}
		out, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		plainTable(t, out)
		noEscapes(t, "the file", out)
		noEscapes(t, "the terminal (stderr)", tty)
	})
	t.Run("--once on a terminal", func(t *testing.T) {
		tty, rc := ptyRun{args: append([]string{"--once"}, ns...)}.run(t)
		if rc != 0 {
			t.Errorf("exit status %d, want 0", rc)
		}
		plainTable(t, tty)
		noEscapes(t, "the terminal", tty)
	})
	t.Run("--once --json on a terminal", func(t *testing.T) {
		tty, rc := ptyRun{args: append([]string{"--once", "--json"}, ns...)}.run(t)
		if rc != 0 {
			t.Errorf("exit status %d, want 0", rc)
		}
		if n := jsonLines(t, "--once --json", tty, lab.addr()); n == 0 {
			t.Errorf("no connection of the listener %s in:\n%s", lab.addr(), tty)
		}
		noEscapes(t, "the terminal", tty)
	})
	t.Run("--json stream on a terminal", func(t *testing.T) {
		// Three sockets per poll: stop after two polls.
		stop := func(tty []byte) bool { return bytes.Count(tty, []byte(lab.addr())) >= 6 }
		tty, rc := ptyRun{args: append([]string{"--json", "-i", "100ms"}, ns...), stop: stop}.run(t)
		if rc != 0 {
			t.Errorf("exit status %d after SIGINT, want 0", rc)
		}
		jsonLines(t, "--json", tty, lab.addr())
		noEscapes(t, "the terminal", tty)
	})
}

// TestProcessNameEscapes: a process's name is whatever its executable is
// called, escape bytes included; the plain outputs must not hand them to
// the terminal.
func TestProcessNameEscapes(t *testing.T) {
	lab := newTermLab(t, 0)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("needs sleep(1)")
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	// A copy of sleep named with reverse video: its comm is that name.
	hostile := filepath.Join(t.TempDir(), "tw\x1b[7mX")
	if err := os.WriteFile(hostile, b, 0o755); err != nil {
		t.Fatal(err)
	}
	f := lab.dialFile(t)
	owner := exec.Command(hostile, "300")
	owner.ExtraFiles = []*os.File{f}
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = owner.Process.Kill(); _ = owner.Wait() })
	f.Close()
	pid := owner.Process.Pid
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || !bytes.Contains(comm, []byte{0x1b}) {
		t.Fatalf("the owner's comm holds no escape: %q, %v", comm, err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		owner string // how the output shows the owner's pid
	}{
		{name: "--once", args: []string{"--once"}, owner: fmt.Sprintf("[%d]", pid)},
		{name: "--once --json", args: []string{"--once", "--json"}, owner: fmt.Sprintf(`"pid":%d`, pid)},
		{name: "snapshot to a pipe", owner: fmt.Sprintf("[%d]", pid)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, rc := result(t, exec.Command(binary(t, termBin), append(tc.args, "--netns", lab.ns)...))
			if rc != 0 {
				t.Fatalf("exit status %d: %s", rc, stderr)
			}
			if !strings.Contains(stdout, tc.owner) {
				t.Fatalf("the connection's owner (pid %d) is not shown:\n%s", pid, stdout)
			}
			noEscapes(t, "stdout", []byte(stdout))
			noEscapes(t, "stderr", []byte(stderr))
		})
	}
}

// sgrRE matches an SGR sequence and captures its parameters.
var sgrRE = regexp.MustCompile("\x1b\\[([0-9;:]*)m")

// colourSGR returns the first SGR sequence in s that sets a colour
// (foreground, background or underline; 39, 49 and 59, which reset to
// the default colour, do not count), or "".
func colourSGR(s string) string {
	for _, m := range sgrRE.FindAllStringSubmatch(s, -1) {
		for _, p := range strings.Split(m[1], ";") {
			p, _, _ = strings.Cut(p, ":")
			n, err := strconv.Atoi(p)
			if err != nil {
				continue
			}
			if n >= 30 && n <= 38 || n >= 40 && n <= 48 || n == 58 || n >= 90 && n <= 97 || n >= 100 && n <= 107 {
				return m[0]
			}
		}
	}
	return ""
}

// TestNoColor: with NO_COLOR=1 or --no-color no colour reaches the
// terminal, while every health keeps its symbol. The first case, with
// colours, shows that the check sees them.
func TestNoColor(t *testing.T) {
	lab := newTermLab(t, 1)
	symbols := []string{"▲", "●", "◆", "○", "∞"}
	for _, tc := range []struct {
		name, env, flag string
		wantColour      bool
	}{
		{name: "colours", wantColour: true},
		{name: "NO_COLOR=1", env: "NO_COLOR=1 "},
		{name: "--no-color", flag: " --no-color"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh := newTermShell(t, 120, 40)
			cmdline := fmt.Sprintf("%s%s --netns %s%s", tc.env, binary(t, termBin), lab.ns, tc.flag)
			sh.clear()
			sh.typeLine(cmdline)
			sh.waitText("HEALTH", lab.addr())
			table := sh.must("capture-pane", "-p", "-e", "-t", sh.name)
			sh.keys("?")
			// The help screen lists every health with its symbol.
			sh.waitText(symbols...)
			help := sh.must("capture-pane", "-p", "-e", "-t", sh.name)
			for _, sym := range symbols {
				if !strings.Contains(help, sym) {
					t.Errorf("health symbol %s missing from the help screen", sym)
				}
			}
			tableColour, helpColour := colourSGR(table), colourSGR(help)
			if tc.wantColour && helpColour == "" {
				t.Errorf("no colour on the help screen; the check cannot see colours:\n%q", help)
			}
			if !tc.wantColour && (tableColour != "" || helpColour != "") {
				t.Errorf("colour sequences %q (table) %q (help) with %s", tableColour, helpColour, tc.name)
			}
			sh.keys("q")
			if rc := sh.afterExit(cmdline); rc != 0 {
				t.Errorf("exit status %d, want 0", rc)
			}
		})
	}
}

// TestTinyTerminal: below the minimum size the screen shows one line
// saying so, not a garbled table; growing the terminal brings the table
// back.
func TestTinyTerminal(t *testing.T) {
	lab := newTermLab(t, 1)
	sh := newTermShell(t, 40, 10)
	cmdline := fmt.Sprintf("%s --netns %s", binary(t, termBin), lab.ns)
	sh.clear()
	sh.typeLine(cmdline)
	waitUntil(t, "the alternate screen", func() bool { return sh.display("#{alternate_on}") == "1" }, sh.screen)
	// Without -J: a line too long for 40 columns would show as two.
	raw := func() []string {
		var out []string
		for _, l := range strings.Split(sh.must("capture-pane", "-p", "-t", sh.name), "\n") {
			if strings.TrimSpace(l) != "" {
				out = append(out, l)
			}
		}
		return out
	}
	waitUntil(t, "one line giving the minimum size", func() bool {
		l := raw()
		return len(l) == 1 && strings.Contains(l[0], "60") && strings.Contains(l[0], "12")
	}, sh.screen)
	// Polls keep coming (one a second): the screen stays one line.
	time.Sleep(1200 * time.Millisecond)
	if l := raw(); len(l) != 1 || strings.Contains(sh.screen(), lab.addr()) {
		t.Errorf("the small screen changed into:\n%s", sh.screen())
	}
	sh.must("resize-window", "-t", sh.name, "-x", "120", "-y", "40")
	sh.waitText("HEALTH", lab.addr())
	if l := raw(); len(l) < 5 {
		t.Errorf("no table after growing the terminal:\n%s", sh.screen())
	}
	sh.keys("q")
	if rc := sh.afterExit(cmdline); rc != 0 {
		t.Errorf("exit status %d, want 0", rc)
	}
}

// --- without privileges ---

const nobodyID = 65534

// nobodyCmd runs the binary as uid/gid nobody without supplementary
// groups or capabilities, from / with a minimal environment.
func nobodyCmd(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(binary(t, termBin), args...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "TERM=dumb"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyID, Gid: nobodyID, Groups: []uint32{}}}
	return cmd
}

// captured is a command whose outputs are kept.
type captured struct {
	cmd      *exec.Cmd
	out, err bytes.Buffer
}

func capture(cmd *exec.Cmd) *captured {
	c := &captured{cmd: cmd}
	cmd.Stdout, cmd.Stderr = &c.out, &c.err
	return c
}

// wait waits for a started command and returns its outputs and exit
// status; a death by signal fails the test.
func (c *captured) wait(t *testing.T) (stdout, stderr string, rc int) {
	t.Helper()
	err := c.cmd.Wait()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		if !ee.Exited() {
			t.Fatalf("%s died: %v\n%s", c.cmd, err, c.err.String())
		}
		rc = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return c.out.String(), c.err.String(), rc
}

// result runs a command and returns its outputs and exit status.
func result(t *testing.T, cmd *exec.Cmd) (stdout, stderr string, rc int) {
	t.Helper()
	c := capture(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return c.wait(t)
}

// sockKey identifies a socket in --json output.
type sockKey struct{ state, local, remote string }

// jsonSockets parses --once --json output into the set of sockets, with
// the process owning each ("" if not known).
func jsonSockets(t *testing.T, out string) map[sockKey]string {
	t.Helper()
	socks := map[sockKey]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c struct {
			State, Local, Remote string
			Event                string
			Comm                 *string
			PID                  *int
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		if c.Event != "" {
			continue
		}
		owner := ""
		if c.Comm != nil && c.PID != nil {
			owner = fmt.Sprintf("%s[%d]", *c.Comm, *c.PID)
		}
		socks[sockKey{c.State, c.Local, c.Remote}] = owner
	}
	return socks
}

// inNamespace calls run on a thread inside the namespace: a child started
// there is born in it.
func inNamespace(t *testing.T, ns string, run func() error) {
	t.Helper()
	if err := netns.Do(netns.Path(ns), run); err != nil {
		t.Fatal(err)
	}
}

// TestWithoutPrivileges runs the binary as nobody: it still sees every
// socket, says once that it cannot see every process, and refuses what
// needs privileges with one clear line instead of crashing.
func TestWithoutPrivileges(t *testing.T) {
	lab := newTermLab(t, 2)

	t.Run("--once in its own namespace", func(t *testing.T) {
		// One connection belongs to a process of nobody's: its name must
		// show; the others belong to root's test process.
		f := lab.dialFile(t)
		sleeper := exec.Command("sleep", "300")
		sleeper.ExtraFiles = []*os.File{f}
		sleeper.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyID, Gid: nobodyID, Groups: []uint32{}}}
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
		f.Close()

		// The children are born inside the namespace: their own one.
		runs := []*captured{
			capture(exec.Command(binary(t, termBin), "--once", "--json")),
			capture(nobodyCmd(t, "--once", "--json")),
			capture(nobodyCmd(t, "--once")),
		}
		inNamespace(t, lab.ns, func() error {
			for _, c := range runs {
				if err := c.cmd.Start(); err != nil {
					return err
				}
			}
			return nil
		})
		rootOut, _, rc1 := runs[0].wait(t)
		nobodyOut, _, rc2 := runs[1].wait(t)
		nobodyTable, nobodyErr, rc3 := runs[2].wait(t)
		if rc1 != 0 || rc2 != 0 || rc3 != 0 {
			t.Fatalf("exit statuses %d (root), %d and %d (nobody), want 0:\n%s", rc1, rc2, rc3, nobodyErr)
		}
		root, nobody := jsonSockets(t, rootOut), jsonSockets(t, nobodyOut)
		// The listener, three client and three server sides.
		if len(root) != 7 {
			t.Fatalf("root sees %d sockets, want 7:\n%s", len(root), rootOut)
		}
		for k, owner := range root {
			nobodyOwner, ok := nobody[k]
			switch {
			case !ok:
				t.Errorf("nobody does not see %v", k)
			case strings.HasPrefix(owner, "sleep["):
				if nobodyOwner != owner {
					t.Errorf("%v belongs to nobody's %s, but nobody sees owner %q", k, owner, nobodyOwner)
				}
			case nobodyOwner != "":
				t.Errorf("%v belongs to root's %s, yet nobody names %q", k, owner, nobodyOwner)
			}
		}
		if len(nobody) != len(root) {
			t.Errorf("nobody sees %d sockets, root %d", len(nobody), len(root))
		}
		if !strings.Contains(rootOut, fmt.Sprintf("\"pid\":%d", sleeper.Process.Pid)) {
			t.Errorf("root does not see the sleeper's socket (pid %d)", sleeper.Process.Pid)
		}

		// The table says, once, that names are limited.
		all := nobodyTable + nobodyErr
		said := 0
		seen := map[string]bool{}
		for _, l := range strings.Split(all, "\n") {
			if strings.Contains(l, "process names") {
				said++
			}
			if strings.HasPrefix(l, "# note:") {
				if seen[l] {
					t.Errorf("note repeated: %s", l)
				}
				seen[l] = true
			}
		}
		if said == 0 {
			t.Errorf("nothing says that process names are limited:\n%s", all)
		}
		if c := strings.Count(nobodyTable, fmt.Sprintf("sleep[%d]", sleeper.Process.Pid)); c != 1 {
			t.Errorf("the table names nobody's sleep[%d] %d times, want 1:\n%s", sleeper.Process.Pid, c, nobodyTable)
		}
	})

	t.Run("--once in the host namespace", func(t *testing.T) {
		// Sockets come and go on the host: compare with root's view
		// just before and just after, and expect every socket seen in
		// both.
		before, _, rc1 := result(t, exec.Command(binary(t, termBin), "--once", "--json"))
		nobodyOut, nobodyErr, rc2 := result(t, nobodyCmd(t, "--once", "--json"))
		after, _, rc3 := result(t, exec.Command(binary(t, termBin), "--once", "--json"))
		if rc1 != 0 || rc2 != 0 || rc3 != 0 {
			t.Fatalf("exit statuses %d, %d (nobody), %d, want 0:\n%s", rc1, rc2, rc3, nobodyErr)
		}
		b, n, a := jsonSockets(t, before), jsonSockets(t, nobodyOut), jsonSockets(t, after)
		stable := 0
		for k := range b {
			if _, ok := a[k]; !ok {
				continue
			}
			stable++
			if _, ok := n[k]; !ok {
				t.Errorf("nobody does not see %v (root sees it before and after)", k)
			}
		}
		if stable == 0 {
			t.Skip("the host namespace has no socket that lasted the test: nothing to compare")
		}
		t.Logf("%d sockets in both of root's views; nobody sees %d", stable, len(n))
	})

	t.Run("--allow-kill", func(t *testing.T) {
		// Were the check missing, stdout (a pipe) would get a snapshot.
		stdout, stderr, rc := result(t, nobodyCmd(t, "--allow-kill"))
		if rc != 1 {
			t.Errorf("exit status %d, want 1", rc)
		}
		oneLine(t, stderr, "--allow-kill")
		if stdout != "" {
			t.Errorf("stdout: %q", stdout)
		}
	})

	t.Run("--netns", func(t *testing.T) {
		stdout, stderr, rc := result(t, nobodyCmd(t, "--once", "--netns", lab.ns))
		if rc != 1 {
			t.Errorf("exit status %d, want 1", rc)
		}
		oneLine(t, stderr, lab.ns)
		if stdout != "" {
			t.Errorf("stdout: %q", stdout)
		}
	})
}

// oneLine checks that stderr is one line from tcpwatch that mentions want
// and is no crash.
func oneLine(t *testing.T, stderr, want string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") || !strings.HasPrefix(stderr, "tcpwatch: ") {
		t.Errorf("want one line starting with \"tcpwatch: \" on stderr, got %q", stderr)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr does not mention %s: %q", want, stderr)
	}
	for _, crash := range []string{"panic", "goroutine "} {
		if strings.Contains(stderr, crash) {
			t.Errorf("stderr looks like a crash: %q", stderr)
		}
	}
}

// TestBinaryExitStatus: the binary exits with run's status and --version
// prints the version stamped at build time.
func TestBinaryExitStatus(t *testing.T) {
	bin := binary(t, termBin)
	for _, tc := range []struct {
		name   string
		args   []string
		wantRC int
		stdout string
	}{
		{name: "--version", args: []string{"--version"}, stdout: "tcpwatch " + testVersion + "\n"},
		{name: "unknown flag", args: []string{"--no-such-flag"}, wantRC: exitUsage},
		{name: "bad value", args: []string{"-p", "99999"}, wantRC: exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			stdout, stderr, rc := result(t, exec.CommandContext(ctx, bin, tc.args...))
			if rc != tc.wantRC {
				t.Errorf("exit status %d, want %d (stderr %q)", rc, tc.wantRC, stderr)
			}
			if tc.wantRC == 0 && stdout != tc.stdout {
				t.Errorf("stdout %q, want %q", stdout, tc.stdout)
			}
		})
	}
}
