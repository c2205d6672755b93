//go:build linux

package inetdiag

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// transport is what a dump needs of the socket: a request out, datagrams
// in. The reply parser works on bytes, so tests replace the socket with a
// script of datagrams to drive Dump's retries and errors without a kernel.
type transport interface {
	// send sends a request and returns the sequence number it was given.
	send(m netlink.Message) (seq uint32, err error)
	// sendBatch sends the requests in one datagram, numbered one after
	// the other from first.
	sendBatch(ms []netlink.Message) (first uint32, err error)
	// recv returns the next datagram, valid until the next call.
	recv() ([]byte, error)
}

// sockTransport is the transport of a netlink socket. Dump replies are
// read straight from the descriptor into buf, which every dump reuses:
// netlink.Conn's receive path copies each datagram into a fresh buffer,
// which at 10^5 sockets is tens of megabytes of garbage per poll.
type sockTransport struct {
	nl     *netlink.Conn
	rc     syscall.RawConn
	buf    []byte
	iov    unix.Iovec
	hdr    unix.Msghdr
	n      int
	rerr   error
	readFn func(fd uintptr) bool
}

func newSockTransport(nl *netlink.Conn) (*sockTransport, error) {
	rc, err := nl.SyscallConn()
	if err != nil {
		return nil, err
	}
	t := &sockTransport{nl: nl, rc: rc, buf: make([]byte, recvBufferSize)}
	t.iov.Base = &t.buf[0]
	t.iov.SetLen(len(t.buf))
	t.hdr.Iov = &t.iov
	t.hdr.SetIovlen(1)
	t.readFn = t.recvmsg // bound once: a method value allocates
	return t, nil
}

func (t *sockTransport) send(m netlink.Message) (uint32, error) {
	sent, err := t.nl.Send(m)
	if err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	return sent.Header.Sequence, nil
}

func (t *sockTransport) sendBatch(ms []netlink.Message) (uint32, error) {
	sent, err := t.nl.SendMessages(ms)
	if err != nil {
		return 0, fmt.Errorf("send: %w", err)
	}
	return consecutive(sent)
}

// consecutive returns the sequence number of the first message, checking
// that the others follow it one by one.
func consecutive(ms []netlink.Message) (uint32, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	first := ms[0].Header.Sequence
	for k := range ms {
		if ms[k].Header.Sequence != first+uint32(k) {
			return 0, fmt.Errorf("send: %w", errSequence)
		}
	}
	return first, nil
}

// recv reads one datagram into t.buf, waiting through the runtime's poller
// (the socket is non-blocking), and returns the bytes received.
func (t *sockTransport) recv() ([]byte, error) {
	if err := t.rc.Read(t.readFn); err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	if t.rerr != nil {
		return nil, fmt.Errorf("receive: %w", t.rerr)
	}
	if t.hdr.Flags&unix.MSG_TRUNC != 0 {
		return nil, fmt.Errorf("receive: %w: datagram larger than %d bytes", errTruncated, len(t.buf))
	}
	if t.n == 0 {
		return nil, errors.New("receive: empty datagram")
	}
	return t.buf[:t.n], nil
}

// recvmsg is the syscall.RawConn read callback: it returns false to wait
// for readability. recvmsg(2) is called directly, with no source address,
// because the x/sys/unix wrappers allocate one per call.
func (t *sockTransport) recvmsg(fd uintptr) bool {
	for {
		t.hdr.Flags = 0
		n, _, errno := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&t.hdr)), 0)
		switch errno {
		case 0:
			t.n, t.rerr = int(n), nil
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		t.n, t.rerr = 0, os.NewSyscallError("recvmsg", errno)
		return true
	}
}
