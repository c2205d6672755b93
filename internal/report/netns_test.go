package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tcpwatch/tcpwatch/model"
)

// TestNetNSFields: with namespaces on the rows (--all-netns) every
// connection and event names its namespace in the JSON, and the table
// gains a NetNS column; without them neither changes.
func TestNetNSFields(t *testing.T) {
	snap := fixture()
	var plain bytes.Buffer
	if err := WriteJSON(&plain, snap); err != nil {
		t.Fatal(err)
	}
	for i, o := range decodeLines(t, plain.Bytes()) {
		for _, k := range []string{"netns", "netns_inode", "pod", "container"} {
			if _, ok := o[k]; ok {
				t.Errorf("object %d has %q without namespaces", i, k)
			}
		}
	}
	var table bytes.Buffer
	if err := WriteTable(&table, snap); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(table.String(), "NetNS") {
		t.Errorf("a NetNS column without namespaces:\n%s", table.String())
	}

	pod := &model.NetNS{Inode: 4026532890, Name: "payments/api-7f9c", Pod: "payments/api-7f9c", Container: "containerd:0a1b2c3d4e5f"}
	host := &model.NetNS{Inode: 4026531840, Name: "host"}
	blue := &model.NetNS{Inode: 4026532999, Name: "sleep [12]"}
	snap.Rows[0].NetNS, snap.Rows[1].NetNS, snap.Rows[2].NetNS = pod, host, blue
	snap.Events[0].NetNS = pod
	var js bytes.Buffer
	if err := WriteJSON(&js, snap); err != nil {
		t.Fatal(err)
	}
	objs := decodeLines(t, js.Bytes())
	want := []map[string]any{
		{"netns": "payments/api-7f9c", "netns_inode": 4026532890.0, "pod": "payments/api-7f9c", "container": "containerd:0a1b2c3d4e5f"},
		{"netns": "host", "netns_inode": 4026531840.0},
		{"netns": "sleep [12]", "netns_inode": 4026532999.0},
		{"netns": "payments/api-7f9c", "netns_inode": 4026532890.0, "pod": "payments/api-7f9c", "container": "containerd:0a1b2c3d4e5f"},
	}
	for i, w := range want {
		for k, v := range w {
			if objs[i][k] != v {
				t.Errorf("object %d: %s = %v, want %v", i, k, objs[i][k], v)
			}
		}
		if _, ok := w["pod"]; !ok {
			if _, has := objs[i]["pod"]; has {
				t.Errorf("object %d: pod present though unknown", i)
			}
		}
	}
	table.Reset()
	if err := WriteTable(&table, snap); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "host's tcp_retries2=15") {
		t.Errorf("the table's header does not say its parameters are the host's:\n%s", table.String())
	}
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	var head []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "#") {
			head = strings.Fields(l)
			break
		}
	}
	if len(head) == 0 || head[0] != "NetNS" {
		t.Fatalf("table header %q, want NetNS first", head)
	}
	got := map[string]bool{}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(l, "#") {
			got[f[0]] = true
		}
	}
	for _, n := range []string{"payments/api-7f9c", "host", "sleep_[12]"} {
		if !got[n] {
			t.Errorf("no table row in namespace %q:\n%s", n, table.String())
		}
	}
}
