//go:build linux

package loadgen_test

// Readings of a process's CPU time, memory and descriptors from /proc, and
// the tcpwatch binary the scale and churn tests run.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat (USER_HZ, which
// the kernel fixes at 100 for user space whatever its own tick rate).
const userHZ = 100

// procCPU returns the user and system CPU time process pid ("self" or a
// number) has used so far.
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, fmt.Errorf("cpu time: %w", err)
	}
	// The command name may hold spaces and parentheses: the fields
	// start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0, fmt.Errorf("cpu time: malformed /proc/%s/stat", pid)
	}
	f := strings.Fields(string(b[i+2:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("cpu time: /proc/%s/stat has %d fields", pid, len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu time: /proc/%s/stat: %w", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// procStatus returns a size line of /proc/PID/status (VmRSS, VmHWM...) in
// bytes.
func procStatus(pid, key string) (int64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, key+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: unexpected line %q", key, line)
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		return v << 10, nil
	}
	return 0, fmt.Errorf("%s: not in /proc/%s/status", key, pid)
}

// fdCount returns the number of open descriptors of process pid.
func fdCount(pid string) (int, error) {
	ents, err := os.ReadDir("/proc/" + pid + "/fd")
	if err != nil {
		return 0, fmt.Errorf("descriptors: %w", err)
	}
	return len(ents), nil
}

// buildBinary builds the tcpwatch command into a temporary directory.
func buildBinary(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "tcpwatch")
	cmd := exec.Command("go", "build", "-o", out, "github.com/tcpwatch/tcpwatch")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// durStats summarizes repeated measurements.
type durStats struct{ med, min, max time.Duration }

func statsOf(ds []time.Duration) durStats {
	if len(ds) == 0 {
		return durStats{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return durStats{med: med, min: s[0], max: s[len(s)-1]}
}

// String prints the median and the range in milliseconds.
func (d durStats) String() string {
	return fmt.Sprintf("%s [%s–%s]", ms(d.med), ms(d.min), ms(d.max))
}

func ms(d time.Duration) string {
	v := float64(d) / 1e6
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f ms", v)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
