//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRecordingSurvivesKill9: a recording whose writer is killed with
// SIGKILL loses at most the last second: the replay reads it without
// failing and gives the live run's polls up to within a second of the
// kill, byte for byte.
func TestRecordingSurvivesKill9(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	dir := filepath.Join(t.TempDir(), "rec")
	var live bytes.Buffer
	cmd := exec.Command(binary(t, termBin), "--json", "--record", dir, "-i", "200ms", "-p", strconv.Itoa(port))
	cmd.Stdout = &live // read after Wait, when the copy is done
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Let it record a few seconds (more than one flush interval), then
	// kill it without warning.
	time.Sleep(3 * time.Second)
	killed := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	got, stderr, rc := replayOut(t, dir, "--json")
	if rc != 0 {
		t.Fatalf("replay of a killed recording: status %d\n%s", rc, stderr)
	}
	rp := polls(t, got)
	livePolls := polls(t, strings.TrimSuffix(live.String(), lastLineIfPartial(live.String())))
	if len(rp) < 5 {
		t.Fatalf("%d polls replayed of about 15 recorded (stderr: %s)", len(rp), stderr)
	}
	last, err := time.Parse(time.RFC3339Nano, jsonTime(t, rp[len(rp)-1][0]))
	if err != nil {
		t.Fatal(err)
	}
	if lost := killed.Sub(last); lost > time.Second+200*time.Millisecond+300*time.Millisecond {
		t.Errorf("the last replayed poll is %v before the kill: more than the last second (and a poll interval) lost", lost)
	}
	// The polls both have are the same, byte for byte.
	n := min(len(rp), len(livePolls))
	for i := range n {
		if strings.Join(rp[i], "\n") != strings.Join(livePolls[i], "\n") {
			t.Fatalf("poll %d differs:\nreplay: %s\nlive:   %s", i, strings.Join(rp[i], "\n"), strings.Join(livePolls[i], "\n"))
		}
	}
	t.Logf("killed at %s; %d polls printed live, %d replayed, the last %v before the kill; replay said: %q",
		killed.Format("15:04:05.000"), len(livePolls), len(rp), killed.Sub(last).Round(time.Millisecond), strings.TrimSpace(stderr))
}

// lastLineIfPartial returns the text after the last newline: a line the
// kill cut short.
func lastLineIfPartial(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// jsonTime is the "time" of one NDJSON line.
func jsonTime(t *testing.T, line string) string {
	t.Helper()
	var o struct{ Time string }
	if err := json.Unmarshal([]byte(line), &o); err != nil {
		t.Fatalf("not JSON: %q: %v", line, err)
	}
	return o.Time
}
