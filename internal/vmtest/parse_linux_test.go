package vmtest

import (
	"reflect"
	"strings"
	"testing"
)

func TestFailedTests(t *testing.T) {
	out := strings.Join([]string{
		"--- FAIL: TestLabOrphan (10.44s)",
		"    scenarios2_linux_test.go:152: orphan json sample ... misses the real abort",
		"--- FAIL: TestLabRetransmitRetries2 (0.02s)",
		"    --- FAIL: TestLabRetransmitRetries2/retries2=5_IPv6 (16.93s)",
		"--- PASS: TestLabSynSent (9.66s)",
		"FAIL",
	}, "\n")
	want := []string{"TestLabOrphan", "TestLabRetransmitRetries2"}
	if got := failedTests([]byte(out)); !reflect.DeepEqual(got, want) {
		t.Errorf("failedTests = %q, want %q (top-level tests only)", got, want)
	}
	if got := failedTests([]byte("panic: boom\nFAIL\n")); len(got) != 0 {
		t.Errorf("failedTests of a panic = %q, want none", got)
	}
}

func TestParseLabTable(t *testing.T) {
	in := "| scenario | predicted at the first sample | actual abort | error | worst error of all samples | outcome |\n" +
		"|---|---|---|---|---|---|\n" +
		"| retries2=3 IPv4 | 6.75 s | 6.68 s | +0.07 s | 0.072 s | ETIMEDOUT |\n" +
		"| peer rebooted | — | — | — | — | ECONNRESET at once |\n" +
		"not a row\n"
	got := parseLabTable(in)
	want := map[string]labRow{
		"retries2=3 IPv4": {predicted: "6.75 s", actual: "6.68 s", outcome: "ETIMEDOUT"},
		"peer rebooted":   {predicted: "—", actual: "—", outcome: "ECONNRESET at once"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseLabTable = %+v, want %+v", got, want)
	}
	md := matrixMarkdown([]string{"6.1", "6.12"}, map[string]map[string]labRow{"6.1": got, "6.12": {}})
	for _, s := range []string{"| peer rebooted | ECONNRESET at once | not run |", "| retries2=3 IPv4 | 6.75 s / 6.68 s | not run |"} {
		if !strings.Contains(md, s) {
			t.Errorf("matrix lacks %q:\n%s", s, md)
		}
	}
}
