//go:build linux

package inetdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// recvBufferSize is the receive buffer handed to recvmsg. The kernel sizes
// each dump datagram to what the reader offered last, capped just below
// 32 KiB (netlink_recvmsg: max_recvmsg_len), so 32 KiB takes the most
// sockets per system call; a bigger buffer would not be filled.
const recvBufferSize = 32 << 10

// maxDumpRetries bounds how often a dump the kernel marked inconsistent
// (NLM_F_DUMP_INTR) is restarted before the error is reported.
const maxDumpRetries = 3

// ErrDumpInterrupted means the kernel marked a dump inconsistent
// (NLM_F_DUMP_INTR) on every attempt.
var ErrDumpInterrupted = errors.New("inetdiag: dump interrupted by concurrent changes (NLM_F_DUMP_INTR)")

// ErrDestroyUnsupported means the kernel was built without
// CONFIG_INET_DIAG_DESTROY.
var ErrDestroyUnsupported = errors.New("inetdiag: the kernel cannot destroy sockets (built without CONFIG_INET_DIAG_DESTROY)")

// errBadRequestFamily: a request for a family other than inet and inet6.
var errBadRequestFamily = errors.New("not AF_INET or AF_INET6")

// Config configures a Conn.
type Config struct {
	// NetNS is the path of a network namespace to watch, such as
	// /run/netns/NAME or /proc/PID/ns/net. Empty means the caller's.
	// Only the netlink socket is created there; the calling program and
	// its threads stay where they are.
	NetNS string
}

// Conn is a sock_diag netlink socket. A Conn is not safe for concurrent
// dumps; use one per goroutine.
type Conn struct {
	nl *netlink.Conn
	// Dump replies are read straight from the descriptor into buf, which
	// every dump reuses: netlink.Conn's receive path copies each datagram
	// into a fresh buffer, which at 10^5 sockets is tens of megabytes of
	// garbage per poll.
	rc     syscall.RawConn
	buf    []byte
	iov    unix.Iovec
	hdr    unix.Msghdr
	n      int
	rerr   error
	readFn func(fd uintptr) bool
}

// Dial opens a sock_diag socket, in the network namespace of cfg if given.
func Dial(cfg *Config) (*Conn, error) {
	var nc netlink.Config
	nc.MessageBufferSize = recvBufferSize
	if cfg != nil && cfg.NetNS != "" {
		f, err := os.Open(cfg.NetNS)
		if err != nil {
			return nil, fmt.Errorf("inetdiag: open network namespace: %w", err)
		}
		defer f.Close()
		nc.NetNS = int(f.Fd())
	}
	c, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, &nc)
	if err != nil {
		if cfg != nil && cfg.NetNS != "" {
			return nil, fmt.Errorf("inetdiag: dial sock_diag in %s: %w", cfg.NetNS, err)
		}
		return nil, fmt.Errorf("inetdiag: dial sock_diag: %w", err)
	}
	rc, err := c.SyscallConn()
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("inetdiag: dial sock_diag: %w", err)
	}
	conn := &Conn{nl: c, rc: rc, buf: make([]byte, recvBufferSize)}
	conn.iov.Base = &conn.buf[0]
	conn.iov.SetLen(len(conn.buf))
	conn.hdr.Iov = &conn.iov
	conn.hdr.SetIovlen(1)
	conn.readFn = conn.recvmsg // bound once: a method value allocates
	return conn, nil
}

// Close closes the netlink socket.
func (c *Conn) Close() error { return c.nl.Close() }

// Request says which sockets a dump returns and what it includes.
type Request struct {
	// Family restricts the dump to FamilyInet or FamilyInet6; zero dumps
	// both.
	Family Family
	// States selects TCP states; zero means AllStates.
	States StateMask
	// Ext selects the optional attributes; zero means ExtDefault.
	Ext Extensions
	// Filter is compiled to bytecode and run by the kernel.
	Filter Filter
}

func (r Request) families() ([]Family, error) {
	switch r.Family {
	case 0:
		return []Family{FamilyInet, FamilyInet6}, nil
	case FamilyInet, FamilyInet6:
		return []Family{r.Family}, nil
	}
	return nil, fmt.Errorf("inetdiag: dump: family %d: %w", r.Family, errBadRequestFamily)
}

// Dump appends every matching socket to dst and returns the extended
// slice. Reusing dst across polls avoids allocating per socket. A dump the
// kernel marks inconsistent is restarted (a bounded number of times).
func (c *Conn) Dump(req Request, dst []Socket) ([]Socket, error) {
	bc, err := req.Filter.Bytecode()
	if err != nil {
		return dst, fmt.Errorf("inetdiag: dump: %w", err)
	}
	fams, err := req.families()
	if err != nil {
		return dst, err
	}
	for _, fam := range fams {
		start := len(dst)
		for attempt := 0; ; attempt++ {
			dst = dst[:start]
			var intr bool
			intr, err = c.dumpFamily(fam, req, bc, func(b []byte) error {
				if len(dst) < cap(dst) {
					dst = dst[:len(dst)+1]
				} else {
					dst = append(dst, Socket{})
				}
				if err := DecodeSocket(&dst[len(dst)-1], b); err != nil {
					dst = dst[:len(dst)-1]
					return err
				}
				return nil
			})
			if err != nil {
				return dst[:start], err
			}
			if !intr {
				break
			}
			if attempt+1 >= maxDumpRetries {
				return dst[:start], fmt.Errorf("inetdiag: dump %s: %w (%d attempts)", fam, ErrDumpInterrupted, maxDumpRetries)
			}
		}
	}
	return dst, nil
}

// DumpFunc calls fn for every matching socket as it is decoded; s is
// reused between calls, so copy what you keep. It does not restart an
// interrupted dump (fn has already seen part of it): it returns an error
// wrapping ErrDumpInterrupted after the whole dump was delivered.
func (c *Conn) DumpFunc(req Request, fn func(s *Socket) error) error {
	bc, err := req.Filter.Bytecode()
	if err != nil {
		return fmt.Errorf("inetdiag: dump: %w", err)
	}
	fams, err := req.families()
	if err != nil {
		return err
	}
	var s Socket
	var anyIntr bool
	for _, fam := range fams {
		intr, err := c.dumpFamily(fam, req, bc, func(b []byte) error {
			if err := DecodeSocket(&s, b); err != nil {
				return err
			}
			return fn(&s)
		})
		if err != nil {
			return err
		}
		anyIntr = anyIntr || intr
	}
	if anyIntr {
		return fmt.Errorf("inetdiag: dump: %w", ErrDumpInterrupted)
	}
	return nil
}

// dumpFamily sends one dump request and hands each reply payload to fn,
// which must not keep it (the buffer is reused). It reports whether the
// kernel flagged the dump as interrupted. If fn fails, the rest of the
// dump is read and dropped so that the Conn stays usable, and fn's error
// is returned.
func (c *Conn) dumpFamily(fam Family, req Request, bytecode []byte, fn func([]byte) error) (bool, error) {
	states := req.States
	if states == 0 {
		states = AllStates
	}
	ext := req.Ext
	if ext == 0 {
		ext = ExtDefault
	}
	msg := netlink.Message{
		Header: netlink.Header{
			Type:  unix.SOCK_DIAG_BY_FAMILY,
			Flags: netlink.Request | netlink.Dump,
		},
		Data: marshalRequest(fam, ext, states, SockID{Cookie: NoCookie}, bytecode),
	}
	sent, err := c.nl.Send(msg)
	if err != nil {
		return false, fmt.Errorf("inetdiag: dump %s: send: %w", fam, err)
	}
	seq := sent.Header.Sequence
	ne := binary.NativeEndian
	var intr bool
	var fnErr error
	for {
		b, err := c.recv()
		if err != nil {
			return false, fmt.Errorf("inetdiag: dump %s: %w", fam, err)
		}
		for len(b) > 0 {
			if len(b) < unix.NLMSG_HDRLEN {
				return false, fmt.Errorf("inetdiag: dump %s: %w: %d trailing bytes", fam, errTruncated, len(b))
			}
			l := int(ne.Uint32(b[0:]))
			typ := ne.Uint16(b[4:])
			flags := ne.Uint16(b[6:])
			mseq := ne.Uint32(b[8:])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return false, fmt.Errorf("inetdiag: dump %s: %w: length %d, %d bytes left", fam, errTruncated, l, len(b))
			}
			p := b[unix.NLMSG_HDRLEN:l]
			b = b[min(align4(l), len(b)):]
			if mseq != seq {
				continue // a late reply to an earlier request: not ours
			}
			if flags&unix.NLM_F_DUMP_INTR != 0 {
				intr = true
			}
			switch typ {
			case unix.SOCK_DIAG_BY_FAMILY:
				if fnErr == nil {
					fnErr = fn(p)
				}
			case unix.NLMSG_DONE:
				// A dump that failed part way ends with the errno here.
				if len(p) >= 4 {
					if code := int32(ne.Uint32(p)); code < 0 {
						return false, fmt.Errorf("inetdiag: dump %s: %w", fam, unix.Errno(-code))
					}
				}
				if fnErr != nil {
					return false, fmt.Errorf("inetdiag: dump %s: %w", fam, fnErr)
				}
				return intr, nil
			case unix.NLMSG_ERROR:
				if len(p) < 4 {
					return false, fmt.Errorf("inetdiag: dump %s: %w: error message of %d bytes", fam, errTruncated, len(p))
				}
				if code := int32(ne.Uint32(p)); code != 0 {
					return false, fmt.Errorf("inetdiag: dump %s: %w", fam, unix.Errno(-code))
				}
				// Zero is an acknowledgement; the dump goes on.
			}
		}
	}
}

// errTruncated reports a netlink message cut short or a length that
// overruns its datagram.
var errTruncated = errors.New("truncated netlink message")

// recv reads one datagram into c.buf, waiting through the runtime's poller
// (the socket is non-blocking), and returns the bytes received.
func (c *Conn) recv() ([]byte, error) {
	if err := c.rc.Read(c.readFn); err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	if c.rerr != nil {
		return nil, fmt.Errorf("receive: %w", c.rerr)
	}
	if c.hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil, fmt.Errorf("receive: %w: datagram larger than %d bytes", errTruncated, len(c.buf))
	}
	if c.n == 0 {
		return nil, errors.New("receive: empty datagram")
	}
	return c.buf[:c.n], nil
}

// recvmsg is the syscall.RawConn read callback: it returns false to wait
// for readability. recvmsg(2) is called directly, with no source address,
// because the x/sys/unix wrappers allocate one per call.
func (c *Conn) recvmsg(fd uintptr) bool {
	for {
		c.hdr.Flags = 0
		n, _, errno := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&c.hdr)), 0)
		switch errno {
		case 0:
			c.n, c.rerr = int(n), nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		c.n, c.rerr = 0, os.NewSyscallError("recvmsg", errno)
		return true
	}
}

// Destroy asks the kernel to close the socket (SOCK_DESTROY, as ss -K
// does): the local application gets ECONNABORTED and the peer an RST. The
// cookie in id makes sure a new socket on the same four-tuple is not hit.
// It needs CAP_NET_ADMIN in the socket's network namespace.
func (c *Conn) Destroy(fam Family, id SockID) error {
	msg := netlink.Message{
		Header: netlink.Header{
			Type:  unix.SOCK_DESTROY,
			Flags: netlink.Request | netlink.Acknowledge,
		},
		Data: marshalRequest(fam, 0, AllStates, id, nil),
	}
	_, err := c.nl.Execute(msg)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("inetdiag: destroy %s -> %s: %w", id.Src, id.Dst, ErrDestroyUnsupported)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("inetdiag: destroy %s -> %s: needs CAP_NET_ADMIN: %w", id.Src, id.Dst, err)
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ESTALE):
		return fmt.Errorf("inetdiag: destroy %s -> %s: socket no longer exists: %w", id.Src, id.Dst, err)
	}
	return fmt.Errorf("inetdiag: destroy %s -> %s: %w", id.Src, id.Dst, err)
}
