package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

var (
	matrixTable  = flag.String("vm.table", "", "write the crash lab's scenario × kernel table (markdown) to this file")
	matrixNative = flag.Bool("vm.native", false, "also run the guests' crash-lab selection on the host's own kernel, for the table")
)

// labSelection is the crash lab as the guests run it: every scenario
// except the interface's countdown (it proves rendering in tmux, which the
// host's run covers, not a kernel rule) and the soak (a loop of the
// scenarios already selected, for minutes).
const labSelection = "^TestLab(RetransmitRetries2|ICMPUnreachable|Keepalive|Orphan|PeerReboot|CloseWait|ZeroWindow|NoFalseAlarm|SynSent|ZeroWindowPeerDies|ZeroWindowUserTimeout|EarlySweep)$"

// jsonContract is the documented JSON row (README, "JSON output"): a key
// that disappears breaks every script that reads it.
var jsonContract = []string{"time", "local", "remote", "family", "state", "health", "retransmits", "backoff", "probes",
	"unacked", "send_q", "recv_q", "rtt_ms", "rto_ms", "timer", "timer_expires_ms", "last_ack_ms", "abort_in_s",
	"abort_earliest_s", "abort_latest_s", "abort_at", "abort_reason", "confidence", "detect_dead_peer_s", "pid", "comm", "cookie"}

// binaries are built once on the host; guests run them from their share.
type binaries struct{ dir, tcpwatch, inetdiag, crashlab string }

func buildBinaries(t *testing.T) binaries {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "tcpwatch-vm-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b := binaries{dir: dir, tcpwatch: filepath.Join(dir, "tcpwatch"), inetdiag: filepath.Join(dir, "inetdiag.test"), crashlab: filepath.Join(dir, "crashlab.test")}
	root := repoRoot(t)
	for _, args := range [][]string{
		{"build", "-o", b.tcpwatch, "."},
		{"test", "-c", "-o", b.inetdiag, "./inetdiag"},
		{"test", "-c", "-o", b.crashlab, "./internal/crashlab"},
	} {
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return b
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(filepath.Dir(wd))
}

// shareWith makes a share for one guest holding hard links to the binaries.
func shareWith(t *testing.T, b binaries) (string, binaries) {
	t.Helper()
	share, err := os.MkdirTemp("/tmp", "tcpwatch-vm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(share) })
	s := binaries{dir: share}
	for _, p := range []struct {
		from string
		to   *string
	}{{b.tcpwatch, &s.tcpwatch}, {b.inetdiag, &s.inetdiag}, {b.crashlab, &s.crashlab}} {
		*p.to = filepath.Join(share, filepath.Base(p.from))
		if err := os.Link(p.from, *p.to); err != nil {
			t.Fatal(err)
		}
	}
	return share, s
}

// TestKernelMatrix boots every kernel once and runs inside it the
// sock_diag integration tests, the crash lab and the binary's smoke tests,
// each reported as a subtest of the kernel.
func TestKernelMatrix(t *testing.T) {
	ks := kernels(t)
	bins := buildBinaries(t)
	root := repoRoot(t)
	columns := map[string]map[string]labRow{}
	var order []string
	for _, k := range ks {
		t.Run(k.Release, func(t *testing.T) {
			share, b := shareWith(t, bins)
			table := filepath.Join(share, "lab-table.md")
			jobs := []Job{
				{Name: "inetdiag", Dir: filepath.Join(root, "inetdiag"), Argv: []string{b.inetdiag, "-test.count=1"}, Timeout: 5 * time.Minute},
				labJob(root, b, table, labSelection),
				{Name: "demo --once --json", Argv: []string{b.tcpwatch, "demo", "--once", "--json"}, Timeout: 2 * time.Minute},
				{Name: "--once", Argv: []string{b.tcpwatch, "--once"}, Timeout: time.Minute},
				{Name: "--version", Argv: []string{b.tcpwatch, "--version"}, Timeout: time.Minute},
			}
			g, err := Run(context.Background(), Config{Kernel: k, Share: share, Source: root}, jobs)
			if g != nil {
				t.Logf("%s: guest ran for %v", k.Release, g.Elapsed.Round(time.Second))
			}
			if err != nil {
				t.Fatalf("%v\nconsole:\n%s", err, tail(g.Console, 4000))
			}
			if g.Release != k.Release {
				t.Errorf("guest release %q, want %q", g.Release, k.Release)
			}
			for _, r := range g.Results {
				if r.Job.Name == "crashlab" {
					continue
				}
				t.Run(strings.ReplaceAll(r.Job.Name, " ", "_"), func(t *testing.T) { checkJob(t, r) })
			}
			rows := map[string]labRow{}
			if b, err := os.ReadFile(table); err == nil {
				rows = parseLabTable(string(b))
			}
			t.Run("crashlab", func(t *testing.T) { retryLab(t, k, g.Results[1], root, b, rows) })
			if len(rows) == 0 {
				t.Errorf("the crash lab wrote no table")
			}
			columns[k.Release] = rows
			order = append(order, k.Release)
		})
	}
	if *matrixNative {
		t.Run("native", func(t *testing.T) {
			rel := hostRelease(t)
			table := filepath.Join(bins.dir, "lab-table-native.md")
			cmd := exec.Command(bins.crashlab, "-test.count=1", "-test.timeout=9m", "-test.run", labSelection)
			cmd.Dir = filepath.Join(root, "internal", "crashlab")
			cmd.Env = append(os.Environ(), "TCPWATCH_LAB_BIN="+bins.tcpwatch, "TCPWATCH_LAB_TABLE="+table)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("crash lab on the host: %v\n%s", err, tail(out, 8000))
			}
			if b, err := os.ReadFile(table); err == nil {
				columns[rel+" (native)"] = parseLabTable(string(b))
				order = append(order, rel+" (native)")
			}
		})
	}
	if *matrixTable != "" && len(order) > 0 {
		if err := os.WriteFile(*matrixTable, []byte(matrixMarkdown(order, columns)), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// labJob runs the crash lab's scenarios matching run, one at a time (in
// an emulated guest, scenarios run side by side delay each other's
// timers), with the prebuilt binary and the emulation's allowances.
func labJob(root string, b binaries, table, run string) Job {
	return Job{Name: "crashlab", Dir: filepath.Join(root, "internal", "crashlab"),
		Env:     []string{"TCPWATCH_LAB_BIN=" + b.tcpwatch, "TCPWATCH_LAB_TABLE=" + table, "TCPWATCH_LAB_EMULATED=1"},
		Argv:    []string{b.crashlab, "-test.count=1", "-test.parallel=1", "-test.timeout=9m", "-test.run", run},
		Timeout: 10 * time.Minute}
}

// retryLab judges the crash lab's run in a guest. A guest under software
// emulation on a shared machine is sometimes starved of CPU for a few
// hundred milliseconds, and a timer then fires that much late; so the
// scenarios that failed are run once more in a fresh guest, and only a
// scenario that fails twice fails the test (a kernel whose rules the
// model gets wrong fails every time). The retry's rows replace the
// failed ones in the table.
func retryLab(t *testing.T, k Kernel, r Result, root string, b binaries, rows map[string]labRow) {
	if r.Exit == 0 {
		return
	}
	failed := failedTests(r.Stdout)
	if len(failed) == 0 {
		t.Fatalf("crash lab: exit status %d, no failed scenario named (a panic or a timeout?)\n%s\n%s", r.Exit, tail(r.Stdout, 8000), tail(r.Stderr, 4000))
	}
	t.Logf("crash lab on %s: %s failed; retrying them once in a fresh guest. First run:\n%s", k.Release, strings.Join(failed, ", "), failures(r.Stdout))
	share, sb := shareWith(t, b)
	table := filepath.Join(share, "lab-table.md")
	g, err := Run(context.Background(), Config{Kernel: k, Share: share, Source: root}, []Job{labJob(root, sb, table, "^("+strings.Join(failed, "|")+")$")})
	if err != nil {
		t.Fatalf("retry: %v\nconsole:\n%s", err, tail(g.Console, 4000))
	}
	if rr := g.Results[0]; rr.Exit != 0 {
		t.Errorf("crash lab on %s: failed twice: exit status %d\n%s\n%s", k.Release, rr.Exit, failures(rr.Stdout), tail(rr.Stderr, 4000))
	} else {
		t.Logf("crash lab on %s: %s passed on the retry", k.Release, strings.Join(failed, ", "))
	}
	if bt, err := os.ReadFile(table); err == nil {
		for name, row := range parseLabTable(string(bt)) {
			rows[name] = row
		}
	}
}

// failedTests lists the top-level tests a test binary's output reports as
// failed.
func failedTests(out []byte) []string {
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if name, ok := strings.CutPrefix(line, "--- FAIL: "); ok {
			if f := strings.Fields(name); len(f) > 0 {
				names = append(names, f[0])
			}
		}
	}
	return names
}

func hostRelease(t *testing.T) string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// checkJob judges one job's result; the smoke tests also check what the
// binary printed.
func checkJob(t *testing.T, r Result) {
	if r.Exit != 0 {
		t.Errorf("%s: exit status %d\nstdout:\n%s\nstderr:\n%s", r.Job.Name, r.Exit, failures(r.Stdout), tail(r.Stderr, 4000))
		return
	}
	if testing.Verbose() {
		t.Logf("%s: stderr: %s", r.Job.Name, tail(r.Stderr, 2000))
	}
	switch r.Job.Name {
	case "demo --once --json":
		dying := 0
		sc := bufio.NewScanner(bytes.NewReader(r.Stdout))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for n := 1; sc.Scan(); n++ {
			var row map[string]any
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("line %d: %v: %q", n, err, sc.Text())
			}
			_, event := row["event"]
			_, peer := row["peer"]
			if event || peer {
				continue // the contract is the connections' (README, "JSON output": events and hosts have their own)
			}
			for _, k := range jsonContract {
				if _, ok := row[k]; !ok {
					t.Errorf("line %d: no %q", n, k)
				}
			}
			if row["health"] == "retransmitting" && row["abort_in_s"] != nil {
				dying++
			}
		}
		if dying < 2 {
			t.Errorf("want the demo's two retransmitting connections with a countdown, got %d:\n%s", dying, r.Stdout)
		}
	case "--once":
		if !bytes.Contains(r.Stdout, []byte("retries2=")) {
			t.Errorf("no kernel settings line in the snapshot:\n%s", r.Stdout)
		}
	case "--version":
		if len(bytes.TrimSpace(r.Stdout)) == 0 {
			t.Error("empty version")
		}
	}
}

// failures picks out of a verbose test log what says why it failed: the
// test's own messages and the FAIL lines (the rest is thousands of seed
// corpus names), or its tail if it failed otherwise (a panic, a timeout).
func failures(out []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(out), "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "--- FAIL") || strings.Contains(l, "_test.go:") || strings.HasPrefix(l, "panic:") {
			b.WriteString(line + "\n")
		}
	}
	if b.Len() == 0 {
		return tail(out, 12000)
	}
	return tail(b.Bytes(), 20000)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return append([]byte("…"), b[len(b)-n:]...)
	}
	return b
}

// labRow is one scenario of the crash lab's table.
type labRow struct{ predicted, actual, outcome string }

// parseLabTable reads the crash lab's markdown table (scenario, predicted
// at the first sample, actual, error, worst error, outcome).
func parseLabTable(s string) map[string]labRow {
	rows := map[string]labRow{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Split(strings.Trim(line, "| "), " | ")
		if len(f) != 6 || f[0] == "scenario" || strings.HasPrefix(f[0], "---") {
			continue
		}
		rows[f[0]] = labRow{predicted: f[1], actual: f[2], outcome: f[5]}
	}
	return rows
}

// matrixMarkdown puts one column per kernel: predicted / actual, or the
// outcome for the scenarios that predict no abort.
func matrixMarkdown(order []string, cols map[string]map[string]labRow) string {
	names := map[string]bool{}
	for _, c := range cols {
		for n := range c {
			names[n] = true
		}
	}
	var scen []string
	for n := range names {
		scen = append(scen, n)
	}
	sort.Strings(scen)
	var b strings.Builder
	b.WriteString("| scenario |")
	for _, k := range order {
		fmt.Fprintf(&b, " %s |", k)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(order)) + "\n")
	for _, s := range scen {
		fmt.Fprintf(&b, "| %s |", s)
		for _, k := range order {
			r, ok := cols[k][s]
			switch {
			case !ok:
				b.WriteString(" not run |")
			case r.predicted == "—":
				fmt.Fprintf(&b, " %s |", r.outcome)
			default:
				fmt.Fprintf(&b, " %s / %s |", r.predicted, r.actual)
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\n(%s, %s)\n", time.Now().UTC().Format("2006-01-02"), runtime.Version())
	return b.String()
}
