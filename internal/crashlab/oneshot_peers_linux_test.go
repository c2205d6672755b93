package crashlab

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
)

// checkOneShotPeer runs the binary's one-shots in the lab's client
// namespace and checks that both show the dead host as the watcher
// judged it: unresponsive, with its connections, dying and never-noticing
// counts (a one-shot streams its rows and judges the suspect hosts over
// a second dump of their connections).
func checkOneShotPeer(t *testing.T, l *Lab, dead netip.Addr, conns, dying, never int) {
	t.Helper()
	run := func(args ...string) []byte {
		cmd := exec.Command(tcpwatchBin, append(args, "--netns", l.CliPath())...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("tcpwatch %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.Bytes()
	}
	var found bool
	sc := bufio.NewScanner(bytes.NewReader(run("--once", "--json")))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var p struct {
			Peer        string `json:"peer"`
			Status      string `json:"status"`
			Event       string `json:"event"`
			Connections int    `json:"connections"`
			Dying       int    `json:"dying"`
			NeverNotice int    `json:"never_notice"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("tcpwatch --once --json: bad line %q: %v", sc.Text(), err)
		}
		if p.Peer != dead.String() || p.Event != "" {
			continue
		}
		found = true
		if p.Status != "unresponsive" || p.Connections != conns || p.Dying != dying || p.NeverNotice != never {
			t.Errorf("--once --json: %s", sc.Bytes())
		}
	}
	if !found {
		t.Errorf("--once --json: no object for the dead host %s", dead)
	}
	table := string(run("--once"))
	if !strings.Contains(table, "\n"+dead.String()+"  ") || !strings.Contains(table, " unresponsive ") || !strings.Contains(table, "\n# "+dead.String()+": ") {
		t.Errorf("--once: no peers section for the dead host %s:\n%s", dead, table)
	}
}
