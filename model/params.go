package model

// The kernel parameters a prediction depends on: the TCP sysctls of a
// network namespace (Documentation/networking/ip-sysctl.rst), the
// constants of include/net/tcp.h, tcp_model_timeout() (net/ipv4/tcp_timer.c)
// and the timer wheel's granularity (kernel/time/timer.c, calc_index).
// params_test.go checks them against the kernel's values.

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// Kernel constants (include/net/tcp.h) that are not sysctls.
const (
	// RTOMin is TCP_RTO_MIN: the base of the kernel's abort model, whatever
	// the socket's own minimum RTO.
	RTOMin = 200 * time.Millisecond
	// RTOMaxDefault is TCP_RTO_MAX, the cap of the backed-off RTO before
	// tcp_rto_max_ms (6.15) made it tunable.
	RTOMaxDefault = 120 * time.Second
	// TimeoutInit is TCP_TIMEOUT_INIT, the initial SYN and SYN-ACK RTO.
	TimeoutInit = time.Second
)

// Params are the kernel parameters of one network namespace that decide
// when a connection is aborted. Every TCP sysctl is per namespace, so they
// must be read from the namespace being watched.
type Params struct {
	Retries1          int
	Retries2          int
	OrphanRetries     int
	SynRetries        int
	SynackRetries     int
	SynLinearTimeouts int // tcp_syn_linear_timeouts (6.5+; 0 before)
	KeepaliveTime     time.Duration
	KeepaliveIntvl    time.Duration
	KeepaliveProbes   int
	RTOMinSysctl      time.Duration // tcp_rto_min_us (6.11+)
	RTOMax            time.Duration // tcp_rto_max_ms (6.15+), else 120 s
	// HZ is the kernel's tick rate; it sets the granularity of the timer
	// wheel, and so how late timers fire. 0 means unknown (250 assumed).
	HZ int

	// Missing lists the sysctls that could not be read (older kernels
	// lack some); their built-in defaults are in use.
	Missing []string
}

// DefaultParams returns the kernel's built-in defaults.
func DefaultParams() Params {
	return Params{
		Retries1:          3,
		Retries2:          15,
		OrphanRetries:     0,
		SynRetries:        6,
		SynackRetries:     5,
		SynLinearTimeouts: 4,
		KeepaliveTime:     7200 * time.Second,
		KeepaliveIntvl:    75 * time.Second,
		KeepaliveProbes:   9,
		RTOMinSysctl:      RTOMin,
		RTOMax:            RTOMaxDefault,
		HZ:                250,
	}
}

// Sysctls lists the files under /proc/sys/net/ipv4 that ParseParams reads.
var Sysctls = []string{
	"tcp_retries1", "tcp_retries2", "tcp_orphan_retries", "tcp_syn_retries", "tcp_synack_retries",
	"tcp_syn_linear_timeouts", "tcp_keepalive_time", "tcp_keepalive_intvl", "tcp_keepalive_probes",
	"tcp_rto_min_us", "tcp_rto_max_ms",
}

// ParseParams builds Params from the sysctls of a namespace. read returns
// the content of /proc/sys/net/ipv4/NAME; an fs.ErrNotExist error marks a
// sysctl the kernel does not have (the default is kept and the name is
// listed in Missing). Any other error, or a value that is not a number in
// the kernel's range, is returned: a wrong parameter would make every
// prediction wrong.
func ParseParams(read func(name string) ([]byte, error), hz int) (Params, error) {
	p := DefaultParams()
	if hz > 0 {
		p.HZ = hz
	}
	for _, name := range Sysctls {
		b, err := read(name)
		if errors.Is(err, fs.ErrNotExist) {
			p.Missing = append(p.Missing, name)
			// A kernel without the sysctl (before 6.5) has no linear SYN
			// timeouts at all: its SYN RTO doubles from the first one.
			// The other missing sysctls tune constants whose values the
			// defaults already are.
			if name == "tcp_syn_linear_timeouts" {
				p.SynLinearTimeouts = 0
			}
			continue
		}
		if err != nil {
			return p, fmt.Errorf("model: read sysctl %s: %w", name, err)
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v < 0 {
			return p, fmt.Errorf("model: sysctl %s: not a non-negative number: %q", name, strings.TrimSpace(string(b)))
		}
		switch name {
		case "tcp_retries1":
			p.Retries1 = int(v)
		case "tcp_retries2":
			p.Retries2 = int(v)
		case "tcp_orphan_retries":
			p.OrphanRetries = int(v)
		case "tcp_syn_retries":
			p.SynRetries = int(v)
		case "tcp_synack_retries":
			p.SynackRetries = int(v)
		case "tcp_syn_linear_timeouts":
			p.SynLinearTimeouts = int(v)
		case "tcp_keepalive_time":
			p.KeepaliveTime = time.Duration(v) * time.Second
		case "tcp_keepalive_intvl":
			p.KeepaliveIntvl = time.Duration(v) * time.Second
		case "tcp_keepalive_probes":
			p.KeepaliveProbes = int(v)
		case "tcp_rto_min_us":
			p.RTOMinSysctl = time.Duration(v) * time.Microsecond
		case "tcp_rto_max_ms":
			if v < 1000 || v > 120000 {
				return p, fmt.Errorf("model: sysctl tcp_rto_max_ms=%d outside the kernel's range 1000..120000", v)
			}
			p.RTOMax = time.Duration(v) * time.Millisecond
		}
	}
	return p, nil
}

// Jiffy is the length of one kernel tick.
func (p Params) Jiffy() time.Duration {
	hz := p.HZ
	if hz <= 0 {
		hz = 250
	}
	return time.Second / time.Duration(hz)
}

// RetransmitBudget is how long after the first retransmission the kernel
// gives up on a synchronized connection, from tcp_retries2 through
// tcp_model_timeout() (924.6 s for 15 with a 120 s rto_max).
func (p Params) RetransmitBudget() time.Duration {
	return ModelTimeout(p.Retries2, RTOMin, p.RTOMax)
}

// KeepaliveBudget is how long after the last received segment an idle
// connection with SO_KEEPALIVE and the namespace's settings is aborted if
// the peer is gone: idle + probes × interval (2h11m15s by default).
func (p Params) KeepaliveBudget() time.Duration {
	return p.KeepaliveTime + time.Duration(p.KeepaliveProbes)*p.KeepaliveIntvl
}

// ModelTimeout is the kernel's tcp_model_timeout(): the time budget that a
// retry count stands for, computed as if the RTO started at rtoBase and
// doubled up to rtoMax. tcp_retries2 is only an index into this budget.
func ModelTimeout(boundary int, rtoBase, rtoMax time.Duration) time.Duration {
	if boundary < 0 || rtoBase <= 0 {
		return 0
	}
	if rtoMax < rtoBase {
		// Not a kernel configuration (rto_max is at least 1 s): treat an
		// unset value as the built-in cap rather than shift by -1.
		rtoMax = max(rtoBase, RTOMaxDefault)
	}
	th := ilog2(int64(rtoMax / rtoBase))
	if boundary <= th {
		return time.Duration((int64(2)<<boundary)-1) * rtoBase
	}
	return time.Duration((int64(2)<<th)-1)*rtoBase + time.Duration(boundary-th)*rtoMax
}

func ilog2(v int64) int {
	n := -1
	for v > 0 {
		v >>= 1
		n++
	}
	return n
}

// WheelGranularity is the rounding of a timer armed d ahead on the kernel's
// timer wheel (kernel/time/timer.c, calc_index()): the timer fires after
// its expiry by up to this much (at least one jiffy). At HZ=250: < 252 ms →
// 4 ms, < 2.02 s → 32 ms, < 16.1 s → 256 ms, < 129 s → 2.048 s.
func (p Params) WheelGranularity(d time.Duration) time.Duration {
	j := p.Jiffy()
	jiffies := int64(d / j)
	lvl := uint(0)
	for start := int64(63); lvl < 8 && jiffies >= start; start <<= 3 {
		lvl++
	}
	return time.Duration(int64(1)<<(3*lvl)) * j
}
