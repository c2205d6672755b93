package watch

import (
	"strings"
	"testing"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// TestKernelNoticeOnOldKernel: on 6.1, whose namespace lacks three sysctls
// and whose tcp_info has no tcpi_total_rto_time, tcpwatch says one line
// about the kernel, once, and nothing more about it when old sockets show
// up; on 6.12 and 6.18 the short tcp_info of a socket is still worth a
// line of its own.
func TestKernelNoticeOnOldKernel(t *testing.T) {
	for _, tt := range []struct {
		release   string
		missing   []string
		wantLines int // lines that speak of the kernel or its tcp_info
	}{
		{"6.1.0-57-amd64", []string{"tcp_syn_linear_timeouts", "tcp_rto_min_us", "tcp_rto_max_ms"}, 1},
		{"6.12.117+deb12-amd64", []string{"tcp_rto_max_ms"}, 2}, // 6.12 should send the long tcp_info: a short one is news
		{"6.18.44", nil, 1}, // only the tcp_info line: a 6.18 kernel should send the long one
	} {
		t.Run(tt.release, func(t *testing.T) {
			saved := kernelRelease
			kernelRelease = func() string { return tt.release }
			t.Cleanup(func() { kernelRelease = saved })
			old := okSock(2)
			old.Info.Len = inetdiag.TCPInfoLen6_7 - 8
			params := model.DefaultParams()
			params.Missing = tt.missing
			ns := &fakeNS{params: params}
			d := &fakeDumper{socks: func(int) []inetdiag.Socket { return []inetdiag.Socket{okSock(1), old} }}
			clock := newFakeClock()
			w, err := newWatcher(Config{Owners: OwnersNone, Clock: clock.Now}, d, ns, 250)
			if err != nil {
				t.Fatal(err)
			}
			var last []string
			for i := 0; i < 3; i++ {
				snap := mustPoll(t, w)
				last = append([]string(nil), snap.Notices...)
				snap.Release()
			}
			n := 0
			for _, s := range last {
				if strings.HasPrefix(s, "kernel") {
					n++
				}
				if strings.Contains(s, "using the built-in default") {
					t.Errorf("%s: %q: the kernel's missing knobs are its age, not a fault", tt.release, s)
				}
			}
			if n != tt.wantLines {
				t.Errorf("%s: %d lines about the kernel, want %d: %q", tt.release, n, tt.wantLines, last)
			}
		})
	}
}
