package watch

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSharedTableNotice: the notice comes once there are ten namespaces
// sharing the host's socket table, names how many, and is given once.
func TestSharedTableNotice(t *testing.T) {
	for _, tc := range []struct {
		shared, own int
		want        bool
	}{{9, 5, false}, {10, 0, true}, {12, 3, true}} {
		t.Run(fmt.Sprintf("%d shared %d own", tc.shared, tc.own), func(t *testing.T) {
			clock := newFakeClock()
			h := newFakeHostNS()
			h.shared = map[uint64]bool{}
			h.add(1, "host", paramsWith(15), &fakeDumper{})
			for i := range tc.shared + tc.own {
				ino := uint64(100 + i)
				h.add(ino, fmt.Sprintf("ns%d", i), paramsWith(15), &fakeDumper{})
				h.shared[ino] = i < tc.shared
			}
			w := mustAllWatcher(t, h, clock)
			for range 2 {
				clock.advance(rediscoverEvery)
				mustPoll(t, w).Release()
			}
			var said []string
			for _, n := range w.notices.all() {
				if strings.Contains(n, "share the host's TCP socket table") {
					said = append(said, n)
				}
			}
			if tc.want != (len(said) == 1) || len(said) > 1 {
				t.Fatalf("notices %q, want one: %v", said, tc.want)
			}
			if tc.want && !strings.HasPrefix(said[0], fmt.Sprintf("%d namespaces", tc.shared)) {
				t.Errorf("notice %q does not count the %d sharing", said[0], tc.shared)
			}
		})
	}
}

// TestSharesHostTable reads the real thing: a namespace made while
// tcp_child_ehash_entries is 0 shares the host's table, one made while it
// is 1024 has its own, and the host's own namespace is not "sharing".
func TestSharesHostTable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and sets net.ipv4.tcp_child_ehash_entries")
	}
	const knob = "/proc/sys/net/ipv4/tcp_child_ehash_entries"
	old, err := os.ReadFile(knob)
	if err != nil {
		t.Skipf("kernel without per-namespace socket tables (5.19+): %v", err)
	}
	t.Cleanup(func() { os.WriteFile(knob, old, 0o644) })
	mk := func(name, entries string) string {
		if err := os.WriteFile(knob, []byte(entries), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
		return "/run/netns/" + name
	}
	shared := mk(fmt.Sprintf("tw-ehash-s-%d", os.Getpid()), "0")
	own := mk(fmt.Sprintf("tw-ehash-o-%d", os.Getpid()), "1024")
	if err := os.WriteFile(knob, old, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       bool
	}{{"made with 0", shared, true}, {"made with 1024", own, false}, {"the host's", "", false}} {
		got, err := sharesHostTable(tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: shares %v, want %v", tc.name, got, tc.want)
		}
	}
}
