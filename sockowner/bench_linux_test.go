package sockowner

import (
	"flag"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	benchProcs   = flag.Int("sockowner.procs", 2000, "processes BenchmarkIndexLookup starts")
	benchSockets = flag.Int("sockowner.sockets", 4, "sockets each of those processes holds")
)

// spawnHolders starts n sleep processes holding perProc sockets each (ends of
// AF_UNIX socket pairs: the index sees socket:[INODE] links whatever the
// family, and no address is touched) and returns their socket inodes. The
// processes are killed when the benchmark ends.
func spawnHolders(b *testing.B, n, perProc int) []uint32 {
	b.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		b.Skip("no sleep(1) to hold sockets")
	}
	var cmds []*exec.Cmd
	b.Cleanup(func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	})
	inodes := make([]uint32, 0, n*perProc)
	files := make([]*os.File, 0, perProc)
	for i := 0; i < n; i++ {
		files = files[:0]
		for len(files) < perProc {
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			for _, fd := range fds {
				var st unix.Stat_t
				if err := unix.Fstat(fd, &st); err != nil {
					b.Fatal(err)
				}
				inodes = append(inodes, uint32(st.Ino))
				files = append(files, os.NewFile(uintptr(fd), "socket"))
			}
		}
		cmd := exec.Command(sleep, "3600")
		cmd.ExtraFiles = files
		err := cmd.Start()
		for _, f := range files {
			f.Close() // the child has its copies; the benchmark keeps none
		}
		if err != nil {
			b.Fatalf("starting holder %d: %v", i, err)
		}
		cmds = append(cmds, cmd)
	}
	return inodes
}

// BenchmarkIndexLookup resolves the owners of 50 shown sockets among the
// sockets of many processes (-sockowner.procs, default 2000), comparing a
// warm index with a cold one and with the full scan that ss -p does.
func BenchmarkIndexLookup(b *testing.B) {
	inodes := spawnHolders(b, *benchProcs, *benchSockets)
	// 50 sockets spread over the processes, as a screen of connections
	// from many applications would be.
	var shown []uint32
	for i := 0; i < 50; i++ {
		shown = append(shown, inodes[i*len(inodes)/50])
	}
	unlimited := func() *Index {
		idx := New("/proc")
		idx.MaxPids, idx.MaxScanTime = 0, 0
		return idx
	}
	report := func(b *testing.B, total Stats) {
		n := float64(b.N)
		b.ReportMetric(float64(total.PidsScanned)/n, "pids/op")
		b.ReportMetric(float64(total.LinksRead)/n, "links/op")
		b.ReportMetric(float64(total.Unresolved)/n, "unresolved/op")
	}
	add := func(total *Stats, st Stats) {
		total.PidsScanned += st.PidsScanned
		total.LinksRead += st.LinksRead
		total.Unresolved += st.Unresolved
	}
	now := time.Now()

	b.Run("warm-50", func(b *testing.B) {
		idx := unlimited()
		if st, err := idx.Refresh(shown, now); err != nil || st.Unresolved != 0 {
			b.Fatalf("warm-up: %+v %v", st, err)
		}
		var total Stats
		for b.Loop() {
			st, _ := idx.Refresh(shown, now)
			add(&total, st)
		}
		report(b, total)
	})
	b.Run("cold-50", func(b *testing.B) {
		var total Stats
		for b.Loop() {
			st, _ := unlimited().Refresh(shown, now)
			add(&total, st)
		}
		report(b, total)
	})
	b.Run("cold-50-default-budget", func(b *testing.B) {
		var total Stats
		for b.Loop() {
			st, _ := New("/proc").Refresh(shown, now)
			add(&total, st)
		}
		report(b, total)
	})
	// An inode no process owns (a socket of another PID namespace) on a
	// warm index: the miss lists /proc but scans nothing until processes
	// are due again.
	b.Run("warm-50-plus-miss", func(b *testing.B) {
		idx := unlimited()
		want := append(append([]uint32(nil), shown...), 1<<32-1)
		idx.Refresh(want, now)
		var total Stats
		for b.Loop() {
			st, _ := idx.Refresh(want, now)
			add(&total, st)
		}
		report(b, total)
	})
	// What ss -p does on every poll: read every descriptor of every
	// process.
	b.Run("full-scan", func(b *testing.B) {
		var total Stats
		for b.Loop() {
			st, _ := unlimited().Refresh([]uint32{1<<32 - 1}, now)
			add(&total, st)
		}
		report(b, total)
	})
}
