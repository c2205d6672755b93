//go:build linux

package loadgen_test

// Two ways to poll a very large host, measured side by side on the same
// sockets: a whole dump with tcp_info every interval, or a sweep without
// it (the inet_diag message alone: state, timer, expiry, retransmits or
// probes, queues) and exact look-ups, with tcp_info, of the few sockets
// that are or may be dying. Needs root; one size per process (see
// bench_linux_test.go; the one-shots' memory needs /usr/bin/time):
//
//	go test -run '^$' -bench 'Sweep/conns=50000$' -count 5 -timeout 60m ./internal/loadgen
//	go test -run '^$' -bench 'Sweep/conns=500000$' -count 3 -timeout 120m ./internal/loadgen
//
// 500,000 connections are a million sockets in 56 worker processes; the
// kernel holds them in about 3 GiB.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

var sweepSizes = []int{50000, 500000}

// BenchmarkSweep: the bare dump (the kernel's bytes, discarded) without
// extensions and with tcp_info; inetdiag's Dump of both; ss with and
// without -i; tcpwatch's one-shots and ss with their peak memory; and
// look-ups of 1 % and 0.1 % of the sockets (their
// "sockets" are the look-ups, and the per-socket figures per look-up).
func BenchmarkSweep(b *testing.B) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	for _, n := range sweepSizes {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			f := benchFixture(b, n)
			all := dumpAll(b, f.NetNSPath())
			if len(all) < 2*n {
				b.Fatalf("dump found %d sockets, want at least %d", len(all), 2*n)
			}
			for _, ext := range []struct {
				name string
				ext  inetdiag.Extensions
			}{{"none", inetdiag.ExtNone}, {"info", inetdiag.ExtInfo}} {
				b.Run("bare-"+ext.name, func(b *testing.B) {
					d := openBare(b, f.NetNSPath())
					d.ext = ext.ext &^ inetdiag.ExtShutdown // the kernel's own "none": no bit at all
					sockets := 0
					b.ReportAllocs()
					before := takeUsage(b, false)
					for b.Loop() {
						if sockets, err = d.dump(); err != nil {
							b.Fatal(err)
						}
					}
					reportPerSocket(b, sockets, before)
				})
				b.Run("dump-"+ext.name, func(b *testing.B) {
					c, err := inetdiag.Dial(&inetdiag.Config{NetNS: f.NetNSPath()})
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					req := inetdiag.Request{States: inetdiag.AllStates, Ext: ext.ext}
					buf, err := c.Dump(req, nil)
					if err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					before := takeUsage(b, false)
					for b.Loop() {
						if buf, err = c.Dump(req, buf[:0]); err != nil {
							b.Fatal(err)
						}
					}
					reportPerSocket(b, len(buf), before)
				})
			}
			for _, args := range [][]string{{"ss", "-tinoHn"}, {"ss", "-tnoHn"}} {
				b.Run("ss"+args[1], func(b *testing.B) {
					before := takeUsage(b, true)
					for b.Loop() {
						cmd := exec.Command("ip", append([]string{"netns", "exec", f.NetNS()}, args...)...)
						cmd.Stdout = devnull
						var stderr bytes.Buffer
						cmd.Stderr = &stderr
						if err := cmd.Run(); err != nil {
							b.Fatalf("%v: %v: %s", cmd.Args, err, stderr.Bytes())
						}
					}
					reportPerSocket(b, len(all), before)
				})
			}
			// One-shots: wall time and peak RSS, the largest of the
			// iterations. The RSS is measured by GNU time (Debian's
			// "time"): the ru_maxrss of a child started from here would
			// count this process's memory, which the child shares until
			// it executes its program.
			bin := buildBinary(b)
			timeOut := filepath.Join(b.TempDir(), "rss")
			for _, oc := range []struct {
				name string
				args []string
			}{
				{"once-json", []string{bin, "--once", "--json", "--netns", f.NetNS()}},
				{"once-table", []string{bin, "--once", "--netns", f.NetNS()}},
				{"ss-tinoHn-rss", []string{"ip", "netns", "exec", f.NetNS(), "ss", "-tinoHn"}},
			} {
				b.Run(oc.name, func(b *testing.B) {
					var peak int64
					for b.Loop() {
						cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", timeOut}, oc.args...)...)
						cmd.Stdout = devnull
						var stderr bytes.Buffer
						cmd.Stderr = &stderr
						if err := cmd.Run(); err != nil {
							b.Fatalf("%v: %v: %s", cmd.Args, err, stderr.Bytes())
						}
						out, err := os.ReadFile(timeOut)
						if err != nil {
							b.Fatal(err)
						}
						kib, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
						if err != nil {
							b.Fatalf("GNU time wrote %q: %v", out, err)
						}
						peak = max(peak, kib)
					}
					b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
				})
			}
			for _, per := range []int{100, 1000} { // 1 %, 0.1 %
				b.Run(fmt.Sprintf("lookup-1of%d", per), func(b *testing.B) {
					c, err := inetdiag.Dial(&inetdiag.Config{NetNS: f.NetNSPath()})
					if err != nil {
						b.Fatal(err)
					}
					defer c.Close()
					var targets []inetdiag.Target
					for i := 0; i < len(all); i += per {
						targets = append(targets, inetdiag.Target{Family: all[i].Family, ID: all[i].ID})
					}
					found := 0
					fn := func(_ int, s *inetdiag.Socket, err error) {
						if err != nil {
							b.Fatalf("look-up: %v", err)
						}
						found++
					}
					b.ReportAllocs()
					before := takeUsage(b, false)
					for b.Loop() {
						found = 0
						if err := c.Lookup(targets, inetdiag.ExtInfo, nil, fn); err != nil {
							b.Fatal(err)
						}
					}
					if found != len(targets) {
						b.Fatalf("%d of %d found", found, len(targets))
					}
					reportPerSocket(b, len(targets), before)
				})
			}
		})
	}
}
