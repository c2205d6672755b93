//go:build linux

package loadgen_test

// Dump cost at scale: inetdiag's Dump against the bare system calls and
// against ss(8), on 10k and 50k loopback connections (20k and 100k
// sockets); BenchmarkDumpOverBare alternates Dump and the bare dump in
// one loop and reports their ratio, the steadier figure on a shared
// machine. Needs root. Each size builds its fixture once per process; to
// keep only one fixture alive (the kernel's established-socket hash table
// is shared by all namespaces, so a second fixture would slow every dump),
// run one size per process:
//
//	go test -run '^$' -bench '/conns=10000$' -benchmem -count 5 -timeout 30m ./internal/loadgen
//	go test -run '^$' -bench '/conns=50000$' -benchmem -count 5 -timeout 30m ./internal/loadgen
//
// (-bench . works too; the fixture is then rebuilt whenever the size
// changes.)

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/loadgen"
)

var benchSizes = []int{10000, 50000}

// benchReq is the request every benchmark makes: all states, both
// families, tcp_info, both memory views, congestion control, shutdown.
var benchReq = inetdiag.Request{States: inetdiag.AllStates, Ext: inetdiag.ExtDefault}

var benchFx struct {
	mu sync.Mutex
	n  int
	f  *loadgen.Fixture
}

// benchFixture returns a fixture of n connections, building it (and
// closing one of another size) if needed.
func benchFixture(b testing.TB, n int) *loadgen.Fixture {
	b.Helper()
	needRoot(b)
	benchFx.mu.Lock()
	defer benchFx.mu.Unlock()
	if benchFx.f != nil && benchFx.n == n {
		return benchFx.f
	}
	if benchFx.f != nil {
		if err := benchFx.f.Close(); err != nil {
			b.Fatal(err)
		}
		benchFx.f = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	f, err := loadgen.Start(ctx, loadgen.Config{Conns: n, NetNS: nsName()})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("fixture: %d connections in %d workers, started in %v", n, f.Workers(), time.Since(start).Round(time.Millisecond))
	benchFx.f, benchFx.n = f, n
	return f
}

func closeBenchFixture() {
	benchFx.mu.Lock()
	defer benchFx.mu.Unlock()
	if benchFx.f != nil {
		if err := benchFx.f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		benchFx.f = nil
	}
}

// usage is what the per-socket metrics are computed from: Go's allocation
// counters and the CPU time of this process (user and system apart, to
// tell decoding from the kernel's work) or of its children (ss).
type usage struct {
	mem      runtime.MemStats
	cpu      unix.Rusage
	children bool
}

func takeUsage(b *testing.B, children bool) *usage {
	b.Helper()
	u := &usage{children: children}
	who := unix.RUSAGE_SELF
	if children {
		who = unix.RUSAGE_CHILDREN
	} else {
		runtime.ReadMemStats(&u.mem)
	}
	if err := unix.Getrusage(who, &u.cpu); err != nil {
		b.Fatal(err)
	}
	return u
}

// reportPerSocket adds the per-socket metrics; call it after the loop.
func reportPerSocket(b *testing.B, sockets int, before *usage) {
	b.Helper()
	after := takeUsage(b, before.children)
	if sockets == 0 || b.N == 0 {
		b.Fatal("no sockets dumped")
	}
	per := float64(b.N) * float64(sockets)
	b.ReportMetric(float64(sockets), "sockets")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/per, "ns/socket")
	tv := func(t unix.Timeval) float64 { return float64(t.Nano()) }
	b.ReportMetric((tv(after.cpu.Utime)-tv(before.cpu.Utime))/per, "usr-ns/socket")
	b.ReportMetric((tv(after.cpu.Stime)-tv(before.cpu.Stime))/per, "sys-ns/socket")
	if !before.children {
		b.ReportMetric(float64(after.mem.TotalAlloc-before.mem.TotalAlloc)/per, "B/socket")
		b.ReportMetric(float64(after.mem.Mallocs-before.mem.Mallocs)/per, "allocs/socket")
	}
}

// BenchmarkDump measures inetdiag: Dial once, then Dump into a reused
// slice.
func BenchmarkDump(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			f := benchFixture(b, n)
			c, err := inetdiag.Dial(&inetdiag.Config{NetNS: f.NetNSPath()})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			buf, err := c.Dump(benchReq, nil) // sizes buf
			if err != nil {
				b.Fatal(err)
			}
			if len(buf) < 2*n {
				b.Fatalf("dump found %d sockets, want at least %d", len(buf), 2*n)
			}
			b.ReportAllocs()
			before := takeUsage(b, false)
			for b.Loop() {
				buf, err = c.Dump(benchReq, buf[:0])
				if err != nil {
					b.Fatal(err)
				}
			}
			reportPerSocket(b, len(buf), before)
		})
	}
}

// BenchmarkDumpFunc is BenchmarkDump with DumpFunc: each socket is decoded
// into the same Socket and handed to a callback instead of being stored,
// which spares writing ~600 bytes per socket to memory.
func BenchmarkDumpFunc(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			f := benchFixture(b, n)
			c, err := inetdiag.Dial(&inetdiag.Config{NetNS: f.NetNSPath()})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var sockets, established int
			count := func(s *inetdiag.Socket) error {
				sockets++
				if s.State == inetdiag.StateEstablished {
					established++
				}
				return nil
			}
			if err := c.DumpFunc(benchReq, count); err != nil {
				b.Fatal(err)
			}
			if established < 2*n {
				b.Fatalf("dump found %d established sockets, want at least %d", established, 2*n)
			}
			b.ReportAllocs()
			before := takeUsage(b, false)
			for b.Loop() {
				sockets = 0
				if err := c.DumpFunc(benchReq, count); err != nil {
					b.Fatal(err)
				}
			}
			reportPerSocket(b, sockets, before)
		})
	}
}

// BenchmarkBareDump is the floor: the same requests, the replies read
// into one 32 KiB buffer and dropped after finding the end of the dump.
func BenchmarkBareDump(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			f := benchFixture(b, n)
			d := openBare(b, f.NetNSPath())
			sockets, err := d.dump()
			if err != nil {
				b.Fatal(err)
			}
			if sockets < 2*n {
				b.Fatalf("dump found %d sockets, want at least %d", sockets, 2*n)
			}
			b.ReportAllocs()
			before := takeUsage(b, false)
			for b.Loop() {
				if sockets, err = d.dump(); err != nil {
					b.Fatal(err)
				}
			}
			reportPerSocket(b, sockets, before)
		})
	}
}

// openBare opens a raw sock_diag socket in the namespace at path, closed
// at the end of the benchmark.
func openBare(b testing.TB, path string) *bareDumper {
	b.Helper()
	var fd int
	err := loadgen.RunInNetNS(path, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		b.Fatal(err)
	}
	return &bareDumper{fd: fd, buf: make([]byte, 32<<10), ext: benchReq.Ext}
}

// BenchmarkDumpOverBare alternates one Dump and one bare dump per
// iteration and reports the ratio of their times: on a shared machine the
// ratio is steadier than two separately measured means.
func BenchmarkDumpOverBare(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			f := benchFixture(b, n)
			d := openBare(b, f.NetNSPath())
			c, err := inetdiag.Dial(&inetdiag.Config{NetNS: f.NetNSPath()})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			buf, err := c.Dump(benchReq, nil)
			if err != nil {
				b.Fatal(err)
			}
			var tDump, tBare time.Duration
			i := 0
			for b.Loop() {
				for k := range 2 {
					t0 := time.Now()
					if (i+k)%2 == 0 {
						buf, err = c.Dump(benchReq, buf[:0])
						tDump += time.Since(t0)
					} else {
						_, err = d.dump()
						tBare += time.Since(t0)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				i++
			}
			b.ReportMetric(float64(tDump)/float64(tBare), "dump/bare")
			b.ReportMetric(float64(tDump.Nanoseconds())/float64(b.N), "dump-ns/op")
			b.ReportMetric(float64(tBare.Nanoseconds())/float64(b.N), "bare-ns/op")
		})
	}
}

// bareDumper sends inet_diag_req_v2 for AF_INET and AF_INET6 and reads
// the replies with recvfrom(2) into buf. It only walks the netlink
// headers, to find NLMSG_DONE and count the sockets.
type bareDumper struct {
	fd  int
	buf []byte
	seq uint32
	req [16 + 56]byte
	ext inetdiag.Extensions // the idiag_ext of the requests, as sent
}

func (d *bareDumper) dump() (int, error) {
	total := 0
	for _, fam := range []byte{unix.AF_INET, unix.AF_INET6} {
		n, err := d.dumpFamily(fam)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func (d *bareDumper) dumpFamily(fam byte) (int, error) {
	ne := binary.NativeEndian
	d.seq++
	r := d.req[:]
	clear(r)
	ne.PutUint32(r[0:], uint32(len(r)))
	ne.PutUint16(r[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(r[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(r[8:], d.seq)
	r[16] = fam
	r[17] = unix.IPPROTO_TCP
	r[18] = byte(d.ext)
	ne.PutUint32(r[20:], uint32(benchReq.States))
	ne.PutUint64(r[16+8+40:], ^uint64(0)) // cookie: INET_DIAG_NOCOOKIE
	if err := unix.Sendto(d.fd, r, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("sendto: %w", err)
	}
	sockets := 0
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(d.fd), uintptr(unsafe.Pointer(&d.buf[0])), uintptr(len(d.buf)), 0, 0, 0)
		if errno != 0 {
			if errno == unix.EINTR {
				continue
			}
			return sockets, fmt.Errorf("recvfrom: %w", errno)
		}
		b := d.buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(ne.Uint32(b[0:]))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return sockets, fmt.Errorf("bad message length %d", l)
			}
			switch ne.Uint16(b[4:]) {
			case unix.NLMSG_DONE:
				return sockets, nil
			case unix.NLMSG_ERROR:
				return sockets, errors.New("NLMSG_ERROR")
			case unix.SOCK_DIAG_BY_FAMILY:
				sockets++
			}
			b = b[min((l+3)&^3, len(b)):]
		}
	}
}

// BenchmarkSS runs "ip netns exec NS ss -tinoHn" with its output thrown
// away, as a user would to get the same data; exec-only runs "ip netns
// exec NS true" to show how much of that is the cost of starting the
// processes and entering the namespace.
func BenchmarkSS(b *testing.B) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			f := benchFixture(b, n)
			sockets := len(dumpAll(b, f.NetNSPath()))
			for _, bc := range []struct {
				name string
				args []string
			}{
				{name: "ss", args: []string{"ss", "-tinoHn"}},
				{name: "exec-only", args: []string{"true"}},
			} {
				b.Run(bc.name, func(b *testing.B) {
					before := takeUsage(b, true)
					for b.Loop() {
						cmd := exec.Command("ip", append([]string{"netns", "exec", f.NetNS()}, bc.args...)...)
						cmd.Stdout = devnull
						var stderr bytes.Buffer
						cmd.Stderr = &stderr
						if err := cmd.Run(); err != nil {
							b.Fatalf("%v: %v: %s", cmd.Args, err, stderr.Bytes())
						}
					}
					reportPerSocket(b, sockets, before)
				})
			}
		})
	}
}

func dumpAll(b *testing.B, path string) []inetdiag.Socket {
	b.Helper()
	c, err := inetdiag.Dial(&inetdiag.Config{NetNS: path})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s, err := c.Dump(benchReq, nil)
	if err != nil {
		b.Fatal(err)
	}
	return s
}
