package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/model"
)

// inNS puts a row in a namespace.
func inNS(r model.Row, ns *model.NetNS) model.Row {
	r.NetNS = ns
	return r
}

// TestNetNSColumnAndSelection: with namespaces on the rows the table has
// a NETNS column, without them it has none; the same cookie in two
// namespaces is two connections, and the selection follows the one it
// is on; the detail view names the namespace and explains with its own
// tcp_retries2.
func TestNetNSColumnAndSelection(t *testing.T) {
	m, _ := newTestModel(Config{}, 160, 40)
	feed(m, must(snapshotOf(mixedRows()...)))
	if strings.Contains(screenText(m), "NETNS") {
		t.Errorf("a NETNS column with one namespace:\n%s", screenText(m))
	}

	short := model.DefaultParams()
	short.Retries2 = 5
	pod := &model.NetNS{Inode: 4026532890, Name: "payments/api-7f9c", Pod: "payments/api-7f9c", Params: short}
	host := &model.NetNS{Inode: 4026531840, Name: "host", Params: model.DefaultParams()}
	// The same dying connection (same cookie, same four-tuple) in both.
	rows := func(podFirst bool) []model.Row {
		a := inNS(withAbort(dyingRow(), 10, 20*time.Minute), host)
		b := inNS(withAbort(dyingRow(), 10, 30*time.Second), pod)
		if podFirst {
			a = inNS(withAbort(dyingRow(), 10, 20*time.Second), host)
		}
		return []model.Row{a, b, inNS(okRow("10.0.3.7:22", "10.0.0.5:50122", 0x11, "sshd", 700), host)}
	}
	feed(m, must(snapshotOf(rows(false)...)))
	view := screenText(m)
	if !strings.Contains(view, "NETNS") || !strings.Contains(view, "payments/api-7f9c") || !strings.Contains(view, "host") {
		t.Fatalf("no NETNS column with the namespaces' labels:\n%s", view)
	}
	// The pod's row aborts sooner: it is first. Select the host's (the
	// second), then a poll in which the host's aborts sooner moves it
	// first: the cursor follows it, not the cookie's other row.
	press(m, "j")
	if r := m.table.selected(); r == nil || r.NetNS != host {
		t.Fatalf("selected %+v, want the host's row", r)
	}
	feed(m, must(snapshotOf(rows(true)...)))
	if r := m.table.selected(); r == nil || r.NetNS != host || m.table.sel.cursor != 0 {
		t.Errorf("after the reorder the cursor is on %+v at %d, want the host's row at 0", r, m.table.sel.cursor)
	}
	press(m, "j", "enter") // the pod's row
	view = screenText(m)
	for _, want := range []string{"netns payments/api-7f9c", "net:[4026532890]"} {
		if !strings.Contains(view, want) {
			t.Errorf("detail view lacks %q:\n%s", want, view)
		}
	}
	// Where a prediction does not name a parameter, the explanation
	// falls back on the row's namespace's, not the snapshot's (host's).
	r := rows(false)[1]
	if got := (&detailView{}).params(&r).Retries2; got != 5 {
		t.Errorf("the detail view explains the pod's row with tcp_retries2=%d, want its namespace's 5", got)
	}
}

// TestNamespaceHeader: with namespaces on the rows the header counts them
// and names those with dying connections, most dying first; with one
// namespace it says nothing of them.
func TestNamespaceHeader(t *testing.T) {
	m, _ := newTestModel(Config{}, 160, 40)
	feed(m, must(snapshotOf(mixedRows()...)))
	if strings.Contains(screenText(m), "namespace") {
		t.Errorf("a namespace line with one namespace:\n%s", screenText(m))
	}
	pod := &model.NetNS{Inode: 2, Name: "payments/api-7f9c"}
	billing := &model.NetNS{Inode: 3, Name: "billing"}
	host := &model.NetNS{Inode: 1, Name: "host"}
	feed(m, must(snapshotOf(
		inNS(withAbort(dyingRow(), 10, 20*time.Minute), billing),
		inNS(withAbort(dyingRow(), 11, 30*time.Second), pod),
		inNS(withAbort(dyingRow(), 12, 40*time.Second), pod),
		inNS(okRow("10.0.3.7:22", "10.0.0.5:50122", 0x13, "sshd", 700), host),
	)))
	view := screenText(m)
	line := ""
	for _, l := range strings.Split(view, "\n") {
		if strings.Contains(l, "namespaces with connections") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no namespace line:\n%s", view)
	}
	pi, bi := strings.Index(line, "payments/api-7f9c: 2 dying"), strings.Index(line, "billing: 1 dying")
	if !strings.Contains(line, "3 namespaces") || pi < 0 || bi < 0 || pi > bi || strings.Contains(line, "host:") {
		t.Errorf("namespace line %q: want 3 namespaces, payments 2 dying before billing 1, nothing for host", line)
	}
}

// TestOtherNetNSHint: watching one namespace on a host with others, the
// title line points at --all-netns; without others it says nothing.
func TestOtherNetNSHint(t *testing.T) {
	for _, n := range []int{0, 1, 37} {
		m, _ := newTestModel(Config{}, 160, 40)
		snap := must(snapshotOf(mixedRows()...))
		snap.OtherNetNS = n
		feed(m, snap)
		view := screenText(m)
		switch {
		case n == 0 && strings.Contains(view, "--all-netns"):
			t.Errorf("a hint without other namespaces:\n%s", view)
		case n == 1 && !strings.Contains(view, "1 other namespace: --all-netns"):
			t.Errorf("no hint for 1 other namespace:\n%s", view)
		case n == 37 && !strings.Contains(view, "37 other namespaces: --all-netns"):
			t.Errorf("no hint for 37 other namespaces:\n%s", view)
		}
	}
}
