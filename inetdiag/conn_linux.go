//go:build linux

package inetdiag

import (
	"errors"
	"fmt"
	"os"

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
	return &Conn{nl: c}, nil
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

func (r Request) families() []Family {
	if r.Family != 0 {
		return []Family{r.Family}
	}
	return []Family{FamilyInet, FamilyInet6}
}

// Dump appends every matching socket to dst and returns the extended
// slice. Reusing dst across polls avoids allocating per socket. A dump the
// kernel marks inconsistent is restarted (a bounded number of times).
func (c *Conn) Dump(req Request, dst []Socket) ([]Socket, error) {
	bc, err := req.Filter.Bytecode()
	if err != nil {
		return dst, fmt.Errorf("inetdiag: dump: %w", err)
	}
	for _, fam := range req.families() {
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
	var s Socket
	var anyIntr bool
	for _, fam := range req.families() {
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

// dumpFamily sends one dump request and hands each reply payload to fn.
// It reports whether the kernel flagged the dump as interrupted.
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
	var intr bool
	for m, err := range c.nl.ReceiveIter() {
		if err != nil {
			return false, fmt.Errorf("inetdiag: dump %s: %w", fam, err)
		}
		if m.Header.Sequence != sent.Header.Sequence {
			// A late reply to an earlier request: not ours.
			continue
		}
		if m.Header.Flags&netlink.DumpInterrupted != 0 {
			intr = true
		}
		if m.Header.Type != unix.SOCK_DIAG_BY_FAMILY {
			continue
		}
		if err := fn(m.Data); err != nil {
			return false, fmt.Errorf("inetdiag: dump %s: %w", fam, err)
		}
	}
	return intr, nil
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
