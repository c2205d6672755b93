package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// demoBinary is the binary TestMain built (main_linux_test.go).
func demoBinary(t *testing.T) string { return binary(t, termBin) }

// demoNamespaces lists the namespaces a demo run with that pid created.
func demoNamespaces(t *testing.T, pid int) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && strings.HasPrefix(f[0], "tw-demo-") && strings.Contains(f[0], "-"+itoa(pid)+"-") {
			ns = append(ns, f[0])
		}
	}
	return ns
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestDemoOnce: the demo shows a dying connection with a countdown at
// once, and removes everything it built when it exits.
func TestDemoOnce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the demo builds network namespaces")
	}
	cmd := exec.Command(demoBinary(t), "demo", "--once", "--json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("tcpwatch demo --once --json: %v\n%s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "died at") {
		t.Errorf("no banner on stderr: %q", errb.String())
	}
	var dying, reasons int
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var c struct {
			Health      string   `json:"health"`
			AbortInS    *float64 `json:"abort_in_s"`
			AbortReason *string  `json:"abort_reason"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if c.Health == "retransmitting" && c.AbortInS != nil && *c.AbortInS > 0 {
			dying++
			if *c.AbortReason == "tcp_retries2" || *c.AbortReason == "user_timeout" {
				reasons++
			}
		}
	}
	if dying < 2 || reasons < 2 {
		t.Errorf("want the database and api connections retransmitting with a countdown, got %d (%d with a reason):\n%s", dying, reasons, out.String())
	}
	if ns := demoNamespaces(t, cmd.Process.Pid); len(ns) > 0 {
		t.Errorf("namespaces left behind: %v", ns)
	}
}

// TestDemoCleansUpOnSignal: SIGTERM and SIGINT (Ctrl-C) in the middle of a
// demo still remove its namespaces.
func TestDemoCleansUpOnSignal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the demo builds network namespaces")
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(demoBinary(t), "demo", "--json")
			cmd.Stdout = nil
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(15 * time.Second)
			for len(demoNamespaces(t, cmd.Process.Pid)) < 2 {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("the demo never built its namespaces: %s", errb.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(1500 * time.Millisecond)
			cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("the demo did not exit after %v", sig)
			}
			if ns := demoNamespaces(t, cmd.Process.Pid); len(ns) > 0 {
				t.Errorf("after %v: namespaces left behind: %v", sig, ns)
			}
		})
	}
}
