package sockowner

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Errors of ReadOptions; test with errors.Is. They are wrapped with the
// process, descriptor and errno involved.
var (
	// ErrPermission: the caller may not duplicate the owner's descriptors
	// (pidfd_getfd needs ptrace attach rights: root, or CAP_SYS_PTRACE, or
	// the same user without Yama restrictions). Fall back to the sysctls
	// and present the values as assumed.
	ErrPermission = errors.New("sockowner: not permitted to read the owner's descriptors (needs CAP_SYS_PTRACE)")
	// ErrGone: the process has exited or the descriptor was closed.
	ErrGone = errors.New("sockowner: process or descriptor gone")
	// ErrCookieMismatch: the descriptor now refers to another socket (or
	// to something that is not a socket): the number was reused since the
	// owner was found. Refresh the index and try again.
	ErrCookieMismatch = errors.New("sockowner: descriptor refers to a different socket")
	// ErrWouldModify: the owner is in a different cgroup-v1 net_cls or
	// net_prio group than the caller. Receiving a socket descriptor makes
	// the kernel re-tag the socket with the receiver's class ID and
	// priority index (__receive_sock), which would change how the
	// owner's traffic is classified, so the descriptor is not duplicated.
	ErrWouldModify = errors.New("sockowner: duplicating the descriptor would re-tag the socket's net_cls/net_prio cgroup")
	// ErrUnsupported: the kernel lacks pidfd_open or pidfd_getfd (Linux
	// 5.6 and later have both).
	ErrUnsupported = errors.New("sockowner: kernel lacks pidfd_getfd (needs Linux 5.6)")
)

// Option names one per-socket value that ReadOptions may report.
type Option uint16

// Options ReadOptions asks for. An option is absent from Options.Present
// when the kernel does not know it (ENOPROTOOPT: TCP_RTO_MAX_MS and
// TCP_RTO_MIN_US before Linux 6.15).
const (
	OptKeepAlive          Option = 1 << iota // SO_KEEPALIVE
	OptKeepIdle                              // TCP_KEEPIDLE
	OptKeepIntvl                             // TCP_KEEPINTVL
	OptKeepCnt                               // TCP_KEEPCNT
	OptUserTimeout                           // TCP_USER_TIMEOUT
	OptSynCnt                                // TCP_SYNCNT
	OptRTOMax                                // TCP_RTO_MAX_MS (Linux 6.15)
	OptRTOMin                                // TCP_RTO_MIN_US (Linux 6.15)
	OptThinLinearTimeouts                    // TCP_THIN_LINEAR_TIMEOUTS
)

// Options are the per-socket settings that shape the kernel's abort
// deadlines, as getsockopt reports them.
//
// Several values are effective values, not what the application set:
// TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT and TCP_SYNCNT return the
// per-socket value when one was set and otherwise the sysctl of the socket's
// network namespace (tcp_keepalive_time, tcp_keepalive_intvl,
// tcp_keepalive_probes, tcp_syn_retries) as it is now; TCP_RTO_MAX_MS and
// TCP_RTO_MIN_US return the socket's limit, copied from the sysctl when the
// socket was created unless set since (a route's "rto_min lock" still
// overrides RTOMin, and is not visible here). A value equal to the sysctl
// therefore does not tell whether the application set it. The kernel keeps
// the RTO limits in jiffies, so they read back rounded up to the tick (a
// TCP_RTO_MIN_US of 50000 reads 52 ms at HZ=250).
type Options struct {
	// Cookie is the socket's SO_COOKIE, equal to the inet_diag cookie
	// the options were asked for.
	Cookie uint64
	// Present says which of the fields below the kernel answered.
	Present Option

	KeepAlive bool          // SO_KEEPALIVE is on
	KeepIdle  time.Duration // idle time before the first probe (effective)
	KeepIntvl time.Duration // interval between probes (effective)
	KeepCnt   int           // unanswered probes before the abort (effective)
	// UserTimeout is TCP_USER_TIMEOUT; zero means not set (the
	// retransmission and keepalive counts apply instead).
	UserTimeout time.Duration
	SynCnt      int           // SYN retransmissions before a connect fails (effective)
	RTOMax      time.Duration // the socket's RTO ceiling
	RTOMin      time.Duration // the socket's RTO floor
	// ThinLinearTimeouts is TCP_THIN_LINEAR_TIMEOUTS: thin streams
	// retransmit without backoff for the first few timeouts.
	ThinLinearTimeouts bool
}

// Has reports whether the kernel answered for opt.
func (o *Options) Has(opt Option) bool { return o.Present&opt != 0 }

// sockopt is one getsockopt call of ReadOptions and where its answer goes.
type sockopt struct {
	opt         Option
	level, name int
	set         func(o *Options, v int)
}

var sockopts = [...]sockopt{
	{OptKeepAlive, unix.SOL_SOCKET, unix.SO_KEEPALIVE, func(o *Options, v int) { o.KeepAlive = v != 0 }},
	{OptKeepIdle, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, func(o *Options, v int) { o.KeepIdle = time.Duration(v) * time.Second }},
	{OptKeepIntvl, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, func(o *Options, v int) { o.KeepIntvl = time.Duration(v) * time.Second }},
	{OptKeepCnt, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, func(o *Options, v int) { o.KeepCnt = v }},
	{OptUserTimeout, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, func(o *Options, v int) { o.UserTimeout = time.Duration(uint32(v)) * time.Millisecond }},
	{OptSynCnt, unix.IPPROTO_TCP, unix.TCP_SYNCNT, func(o *Options, v int) { o.SynCnt = v }},
	{OptRTOMax, unix.IPPROTO_TCP, unix.TCP_RTO_MAX_MS, func(o *Options, v int) { o.RTOMax = time.Duration(uint32(v)) * time.Millisecond }},
	{OptRTOMin, unix.IPPROTO_TCP, unix.TCP_RTO_MIN_US, func(o *Options, v int) { o.RTOMin = time.Duration(uint32(v)) * time.Microsecond }},
	{OptThinLinearTimeouts, unix.IPPROTO_TCP, unix.TCP_THIN_LINEAR_TIMEOUTS, func(o *Options, v int) { o.ThinLinearTimeouts = v != 0 }},
}

// ReadOptions reads the options of the TCP socket that owner's descriptor
// refers to, which must be the socket with the given inet_diag cookie.
//
// It opens a pidfd of the owner, duplicates the descriptor with
// pidfd_getfd(2), checks SO_COOKIE against cookie (a mismatch means the
// descriptor number was reused: ErrCookieMismatch), and queries the options
// with getsockopt(2). The duplicate and the pidfd are closed before it
// returns, whatever happens: a duplicate held open would keep the
// connection alive after its owner closed it. It never sets an option.
//
// The caller needs ptrace attach rights over the owner (ErrPermission
// otherwise). The owner's PID is taken in the caller's PID namespace, so
// owners found under a /proc of another namespace must not be passed here.
func ReadOptions(owner Owner, cookie uint64) (Options, error) {
	// Receiving a descriptor re-tags the socket with the cgroup data of
	// the calling thread, so check and duplicate on the same thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := checkCgroups(owner.PID); err != nil {
		return Options{}, err
	}

	pidfd, err := unix.PidfdOpen(owner.PID, 0)
	if err != nil {
		return Options{}, fmt.Errorf("sockowner: pidfd_open pid %d: %w", owner.PID, classify(err))
	}
	defer unix.Close(pidfd)
	// The kernel always sets O_CLOEXEC on the duplicate, so a concurrent
	// fork+exec of the caller cannot inherit it either.
	fd, err := unix.PidfdGetfd(pidfd, owner.FD, 0)
	if err != nil {
		return Options{}, fmt.Errorf("sockowner: pidfd_getfd pid %d fd %d: %w", owner.PID, owner.FD, classify(err))
	}
	defer unix.Close(fd)

	var o Options
	got, err := getsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE)
	if err != nil {
		if errors.Is(err, unix.ENOTSOCK) {
			return Options{}, fmt.Errorf("%w: pid %d fd %d is not a socket", ErrCookieMismatch, owner.PID, owner.FD)
		}
		return Options{}, fmt.Errorf("sockowner: SO_COOKIE of pid %d fd %d: %w", owner.PID, owner.FD, err)
	}
	if got != cookie {
		return Options{}, fmt.Errorf("%w: pid %d fd %d has cookie %d, want %d", ErrCookieMismatch, owner.PID, owner.FD, got, cookie)
	}
	o.Cookie = got
	for _, so := range sockopts {
		v, err := unix.GetsockoptInt(fd, so.level, so.name)
		switch {
		case err == nil:
			o.Present |= so.opt
			so.set(&o, v)
		case errors.Is(err, unix.ENOPROTOOPT), errors.Is(err, unix.EOPNOTSUPP):
			// The kernel does not know this option: absent.
		default:
			return Options{}, fmt.Errorf("sockowner: getsockopt %d/%d of pid %d fd %d: %w", so.level, so.name, owner.PID, owner.FD, err)
		}
	}
	return o, nil
}

// classify maps the errno of pidfd_open/pidfd_getfd to the package's errors,
// keeping the errno in the chain.
func classify(err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w (%w)", ErrPermission, err)
	case errors.Is(err, unix.ESRCH), errors.Is(err, unix.EBADF):
		return fmt.Errorf("%w (%w)", ErrGone, err)
	case errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("%w (%w)", ErrUnsupported, err)
	}
	return err
}

// getsockoptUint64 reads a 64-bit option such as SO_COOKIE, which x/sys/unix
// has no helper for.
func getsockoptUint64(fd, level, name int) (uint64, error) {
	var v uint64
	l := uint32(unsafe.Sizeof(v))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(name),
		uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return 0, e
	}
	if l != uint32(unsafe.Sizeof(v)) {
		return 0, fmt.Errorf("sockowner: getsockopt %d/%d returned %d bytes, want 8", level, name, l)
	}
	return v, nil
}

// checkCgroups refuses owners whose cgroup-v1 net_cls or net_prio group
// differs from the calling thread's (see ErrWouldModify). With those
// controllers unmounted (every cgroup-v2 host, most v1 hosts) every task is
// in the root group and there is nothing to compare.
//
// The check compares processes, not the socket's own tag: a socket that was
// tagged differently from its owner (passed in from another group, or
// created before the owner moved) would still be re-tagged.
func checkCgroups(pid int) error {
	self, err := os.ReadFile("/proc/thread-self/cgroup")
	if err != nil {
		return fmt.Errorf("sockowner: own cgroups: %w", err)
	}
	target, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("sockowner: cgroups of pid %d: %w (%w)", pid, ErrGone, err)
		}
		return fmt.Errorf("sockowner: cgroups of pid %d: %w", pid, err)
	}
	return compareNetCgroups(pid, self, target)
}

// compareNetCgroups compares the net_cls and net_prio groups of two
// /proc/PID/cgroup contents.
func compareNetCgroups(pid int, self, target []byte) error {
	mine, theirs := netCgroups(self), netCgroups(target)
	for _, ctrl := range [...]string{"net_cls", "net_prio"} {
		a, aok := mine[ctrl]
		b, bok := theirs[ctrl]
		if aok != bok || a != b {
			return fmt.Errorf("%w: pid %d is in %s group %q, this thread in %q", ErrWouldModify, pid, ctrl, b, a)
		}
	}
	return nil
}

// netCgroups extracts the paths of the cgroup-v1 hierarchies that carry
// net_cls or net_prio from /proc/PID/cgroup lines "ID:CONTROLLERS:PATH".
func netCgroups(data []byte) map[string]string {
	out := make(map[string]string, 2)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		id, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || id == "0" {
			continue // the cgroup-v2 line has no controllers
		}
		ctrls, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		for _, c := range strings.Split(ctrls, ",") {
			if c == "net_cls" || c == "net_prio" {
				out[c] = path
			}
		}
	}
	return out
}
