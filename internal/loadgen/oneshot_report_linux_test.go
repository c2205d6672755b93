//go:build linux

package loadgen_test

// The one-shots against ss on the same sockets, in one run: wall time,
// CPU and peak RSS of `tcpwatch --once --json`, `tcpwatch --once`,
// `ss -tinopHn` and `ss -tinoHn`, each round running every command once
// in turn so that all see the same machine load. Peak RSS comes from GNU
// time (Debian's "time"): the ru_maxrss of a child started from here
// would count this process's memory, which the child shares until it
// executes its program. Needs root:
//
//	go test -v -run '^TestOneShotReport$' -timeout 30m ./internal/loadgen -oneshot=20000 -oneshot.runs=3
//
// At 10^6 sockets (-oneshot=500000) -oneshot.ssp=false leaves out ss -p,
// which takes minutes there. -oneshot.base=BIN runs another tcpwatch binary's one-shots beside this
// tree's (to compare versions in the same run).

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/loadgen"
)

var (
	oneShotConns = flag.Int("oneshot", 0, "TestOneShotReport: fixture size in connections (20000 = 40k sockets; root); 0 runs a small smoke version")
	oneShotRuns  = flag.Int("oneshot.runs", 3, "TestOneShotReport: rounds (the report gives medians)")
	oneShotBase  = flag.String("oneshot.base", "", "TestOneShotReport: also run this tcpwatch binary's one-shots (to compare versions)")
	oneShotOut   = flag.String("oneshot.out", "", "TestOneShotReport: append the markdown report to this file")
	oneShotSSP   = flag.Bool("oneshot.ssp", true, "TestOneShotReport: run ss -p too (it slows down more than linearly: minutes at 10^6 sockets)")
)

// oneShotRun is one measured execution.
type oneShotRun struct {
	wall, usr, sys time.Duration
	rssKiB         int64
}

func TestOneShotReport(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		t.Skip("needs GNU time (/usr/bin/time, Debian's \"time\") for the children's peak RSS")
	}
	n, runs := *oneShotConns, max(*oneShotRuns, 1)
	if n == 0 {
		n, runs = 500, 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	f, err := loadgen.Start(ctx, loadgen.Config{Conns: n, NetNS: nsName()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	sockets := 0
	for _, c := range count(t, f.NetNSPath()) {
		sockets += c
	}
	bin := buildBinary(t)
	ns := f.NetNS()
	type cmd struct {
		name string
		args []string
		runs []oneShotRun
	}
	cmds := []*cmd{
		{name: "`tcpwatch --once --json`", args: []string{bin, "--once", "--json", "--netns", ns}},
		{name: "`tcpwatch --once` (table)", args: []string{bin, "--once", "--netns", ns}},
		{name: "`ss -tinoHn`", args: []string{"ip", "netns", "exec", ns, "ss", "-tinoHn"}},
	}
	if *oneShotSSP {
		cmds = append(cmds, &cmd{name: "`ss -tinopHn` (process names)", args: []string{"ip", "netns", "exec", ns, "ss", "-tinopHn"}})
	}
	if *oneShotBase != "" {
		cmds = append(cmds,
			&cmd{name: "base `--once --json`", args: []string{*oneShotBase, "--once", "--json", "--netns", ns}},
			&cmd{name: "base `--once` (table)", args: []string{*oneShotBase, "--once", "--netns", ns}})
	}
	timeOut := filepath.Join(t.TempDir(), "time")
	for range runs {
		for _, c := range cmds {
			c.runs = append(c.runs, runTimed(t, timeOut, c.args))
		}
	}
	if err := f.Err(); err != nil {
		t.Errorf("fixture: %v", err)
	}

	load, _ := os.ReadFile("/proc/loadavg")
	var md strings.Builder
	fmt.Fprintf(&md, "### One-shots, %d sockets, %s\n\n%s, %d CPUs, medians of %d (range), load average at the end: %s\n\n",
		sockets, time.Now().Format("2006-01-02 15:04"), runtime.Version(), runtime.NumCPU(), runs, strings.TrimSpace(string(load)))
	md.WriteString("| command | wall | user + system CPU | peak RSS |\n|---|---|---|---|\n")
	for _, c := range cmds {
		var wall, cpu []time.Duration
		var rss []int64
		for _, r := range c.runs {
			wall, cpu, rss = append(wall, r.wall), append(cpu, r.usr+r.sys), append(rss, r.rssKiB)
		}
		sort.Slice(rss, func(i, j int) bool { return rss[i] < rss[j] })
		fmt.Fprintf(&md, "| %s | %s | %s | %.1f MiB [%.1f–%.1f] |\n", c.name, statsOf(wall), ms(statsOf(cpu).med),
			float64(rss[len(rss)/2])/1024, float64(rss[0])/1024, float64(rss[len(rss)-1])/1024)
	}
	t.Log("\n" + md.String())
	if *oneShotOut != "" {
		fh, err := os.OpenFile(*oneShotOut, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		if _, err := io.WriteString(fh, md.String()+"\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// runTimed runs args under GNU time, its output discarded, and returns
// what time measured.
func runTimed(t *testing.T, timeOut string, args []string) oneShotRun {
	t.Helper()
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%U %S %M", "-o", timeOut}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // Stdout nil: /dev/null
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start) // GNU time's %e has 10 ms steps
	if err != nil {
		t.Fatalf("%v: %v: %s", cmd.Args, err, stderr.Bytes())
	}
	out, err := os.ReadFile(timeOut)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) != 3 {
		t.Fatalf("GNU time wrote %q", out)
	}
	var v [2]float64
	for i := range v {
		if v[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			t.Fatalf("GNU time wrote %q: %v", out, err)
		}
	}
	kib, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		t.Fatalf("GNU time wrote %q: %v", out, err)
	}
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	return oneShotRun{wall: wall, usr: sec(v[0]), sys: sec(v[1]), rssKiB: kib}
}
