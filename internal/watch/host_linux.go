package watch

import (
	"bufio"
	"compress/gzip"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// detectHZ finds the kernel's tick rate in its configuration
// (/proc/config.gz or /boot/config-RELEASE). It returns 0 when unknown.
func detectHZ() int {
	if f, err := os.Open("/proc/config.gz"); err == nil {
		defer f.Close()
		if zr, err := gzip.NewReader(f); err == nil {
			if hz := configHZ(zr); hz > 0 {
				return hz
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		rel := unix.ByteSliceToString(u.Release[:])
		if f, err := os.Open("/boot/config-" + rel); err == nil {
			defer f.Close()
			return configHZ(f)
		}
	}
	return 0
}

func configHZ(r io.Reader) int {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CONFIG_HZ="); ok {
			if hz, err := strconv.Atoi(v); err == nil && hz > 0 {
				return hz
			}
		}
	}
	return 0
}

// hasCap reports whether the process has capability c in its effective
// set.
func hasCap(c uint) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<c) != 0
		}
	}
	return false
}

// HasNetAdmin reports whether the process may destroy sockets
// (CAP_NET_ADMIN).
func HasNetAdmin() bool { return hasCap(unix.CAP_NET_ADMIN) }

// hasOwnerCaps reports whether the process may read other users' socket
// owners and options: CAP_DAC_READ_SEARCH lists their /proc/PID/fd,
// CAP_SYS_PTRACE lets pidfd_getfd copy a descriptor to read its options.
func hasOwnerCaps() bool {
	return hasCap(unix.CAP_SYS_PTRACE) && hasCap(unix.CAP_DAC_READ_SEARCH)
}
