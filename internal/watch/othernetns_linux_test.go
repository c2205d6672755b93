package watch

import (
	"errors"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/netns"
)

// TestOtherNetNS: asked to, a single-namespace watcher counts the host's
// other namespaces on its first poll and again only every 10 s; a failed
// listing turns the hint off; not asked, it never lists them.
func TestOtherNetNS(t *testing.T) {
	for _, ask := range []bool{true, false} {
		clock := newFakeClock()
		w := fakeWatcher(t, Config{CountOtherNetNS: ask}, &fakeDumper{socks: always(okSock(1))}, &fakeNS{}, clock)
		calls := 0
		var fail error
		w.other.discover = func() (netns.Found, error) {
			calls++
			return netns.Found{Namespaces: make([]netns.Namespace, 4)}, fail
		}
		var got []int
		for i, step := range []time.Duration{0, time.Second, 9 * time.Second, time.Second, 10 * time.Second} {
			clock.advance(step)
			if i == 4 {
				fail = errors.New("proc unreadable")
			}
			snap := mustPoll(t, w)
			got = append(got, snap.OtherNetNS)
			snap.Release()
		}
		want, wantCalls := []int{3, 3, 3, 3, 0}, 3
		if !ask {
			want, wantCalls = []int{0, 0, 0, 0, 0}, 0
		}
		if calls != wantCalls || len(got) != len(want) {
			t.Fatalf("asked %v: %d listings, counts %v; want %d listings", ask, calls, got, wantCalls)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("asked %v: poll %d: %d other namespaces, want %d (all: %v)", ask, i, got[i], want[i], got)
			}
		}
	}
}
