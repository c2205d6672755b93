package model

// The socket options that decide an abort but that inet_diag does not
// export (SO_KEEPALIVE, TCP_KEEPIDLE/INTVL/CNT, TCP_USER_TIMEOUT,
// TCP_SYNCNT, TCP_RTO_MAX_MS: read by the caller with getsockopt), and
// the inputs a prediction lists for the operator to check.

import (
	"strconv"
	"time"
)

// SockOpts are the per-socket settings that decide an abort but that
// inet_diag does not export. They can only be read from the owning process
// (pidfd_getfd + getsockopt); when they cannot, predictions fall back to
// the namespace's sysctls and say so.
type SockOpts struct {
	// Known is true when the options were read from the socket itself.
	Known bool

	KeepAlive bool          // SO_KEEPALIVE
	KeepIdle  time.Duration // TCP_KEEPIDLE (effective value)
	KeepIntvl time.Duration // TCP_KEEPINTVL (effective value)
	KeepCnt   int           // TCP_KEEPCNT (effective value)
	// UserTimeout is TCP_USER_TIMEOUT; zero means unset, and then
	// tcp_retries2 (or the keepalive count) decides.
	UserTimeout time.Duration
	// RTOMax is TCP_RTO_MAX_MS (6.15+); zero means the namespace's value.
	RTOMax time.Duration
	// SynCnt is TCP_SYNCNT; zero means tcp_syn_retries.
	SynCnt int
}

// Source says where a prediction input came from.
type Source string

// Input sources.
const (
	FromSocket   Source = "socket"   // read from the socket with getsockopt
	FromSysctl   Source = "sysctl"   // the namespace's sysctl, the socket's own value unknown
	FromKernel   Source = "kernel"   // a kernel constant
	FromInferred Source = "inferred" // deduced from what inet_diag shows
	FromDiag     Source = "diag"     // read from inet_diag/tcp_info
)

// InputName names a prediction input. The names are what the detail view
// prints and looks up: use the constants, so that renaming one is a
// compile error rather than a silent fallback.
type InputName string

// Input names: the sysctl or socket option as the kernel spells it, or what
// was observed.
const (
	InputRetries2          InputName = "tcp_retries2"
	InputOrphanRetries     InputName = "tcp_orphan_retries"
	InputSynRetries        InputName = "tcp_syn_retries"
	InputSynLinearTimeouts InputName = "tcp_syn_linear_timeouts"
	InputUserTimeout       InputName = "TCP_USER_TIMEOUT"
	InputKeepIdle          InputName = "TCP_KEEPIDLE"
	InputKeepIntvl         InputName = "TCP_KEEPINTVL"
	InputKeepCnt           InputName = "TCP_KEEPCNT"
	InputRTOMax            InputName = "rto_max"
	// InputProbe0Limit is the zero-window-in-flight limit, 2 × TCP_RTO_MAX.
	InputProbe0Limit InputName = "TCP_RTO_MAX × 2"
	InputLastAck     InputName = "last ACK"
	// InputClockStart says how the start of the kernel's clock was found.
	InputClockStart InputName = "clock start"
)

// Input is one value a prediction used, for the operator to check.
type Input struct {
	Name   InputName
	Value  string
	Source Source
}

// Input returns the prediction's input called name, if it has one.
func (p *Prediction) Input(name InputName) (Input, bool) {
	for _, in := range p.Inputs {
		if in.Name == name {
			return in, true
		}
	}
	return Input{}, false
}

// optInput describes a setting read from the socket if known, else taken
// from the sysctl.
func optInput(name InputName, v string, known bool) Input {
	if known {
		return Input{Name: name, Value: v, Source: FromSocket}
	}
	return Input{Name: name, Value: v, Source: FromSysctl}
}

// secs formats a duration in seconds, as the inputs print them.
func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

// confidence is Exact when the settings were read from the socket.
func confidence(known bool) Confidence {
	if known {
		return Exact
	}
	return Assumed
}

// rtoMax is the socket's effective rto_max.
func (tr *Tracker) rtoMax(c *Conn) time.Duration {
	if o := c.Opts(); o.Known && o.RTOMax > 0 {
		return o.RTOMax
	}
	return tr.cfg.Params.RTOMax
}
