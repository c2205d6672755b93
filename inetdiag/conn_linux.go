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
	// tr carries the dumps: the socket itself (sockTransport), or in
	// tests a script of datagrams.
	tr transport

	// Reused by Lookup: the requests of a batch, which of them were
	// answered, and the batch size (0: defaultLookupBatch; tests and
	// benchmarks change it).
	lookupMsgs  []netlink.Message
	lookupSeen  []bool
	lookupBatch int
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
	tr, err := newSockTransport(c)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("inetdiag: dial sock_diag: %w", err)
	}
	return &Conn{nl: c, tr: tr}, nil
}

// Close closes the netlink socket.
func (c *Conn) Close() error { return c.nl.Close() }

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
