package inetdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
)

// The netlink reply format (include/uapi/linux/netlink.h and
// sock_diag.h), spelled out rather than taken from x/sys/unix so that the
// reply parser builds, and is tested and fuzzed, on any platform; a Linux
// test compares them with x/sys/unix.
const (
	nlmsgHdrLen      = 16   // NLMSG_HDRLEN: struct nlmsghdr, aligned
	nlmsgError       = 0x2  // NLMSG_ERROR
	nlmsgDone        = 0x3  // NLMSG_DONE
	nlmFDumpIntr     = 0x10 // NLM_F_DUMP_INTR
	sockDiagByFamily = 20   // SOCK_DIAG_BY_FAMILY
)

// errTruncated reports a netlink message cut short or a length that
// overruns its datagram.
var errTruncated = errors.New("truncated netlink message")

// replyParser reads the replies to one dump request, one datagram at a
// time, without a socket: the receive path hands it what recvmsg(2)
// returned, tests and fuzzing hand it bytes. It keeps what must outlive a
// datagram: whether the kernel marked the dump inconsistent, and the first
// error of the callback (after which the rest of the dump is read and
// dropped, so that the socket stays usable for the next request).
type replyParser struct {
	// seq is the request's sequence number: a reply carrying another one
	// (a late answer to an earlier request) is skipped.
	seq uint32
	// intr: some reply carried NLM_F_DUMP_INTR (the socket tables changed
	// while the kernel walked them; sockets may be missing or doubled).
	intr bool
	// fnErr is the callback's first error; it is not called again after
	// it.
	fnErr error
}

// parse walks the netlink messages of one datagram b and hands fn the
// payload of every SOCK_DIAG_BY_FAMILY reply of the request (a struct
// inet_diag_msg and its attributes), which fn must not keep: the
// datagram's buffer is reused. (fn is an argument, not a field: a field
// would make the callback, and what it captures, escape to the heap with
// the parser's error.) It returns done when
// the dump ended in it (NLMSG_DONE of the request), and n, how many bytes
// of b it read: all of them unless done, when what follows NLMSG_DONE is
// ignored. Its errors are errTruncated (a header or a length that does not
// fit b), the errno the kernel ended the dump with (syscall.Errno), or, at
// the end of the dump, fn's error; none of them is wrapped with the
// request, which the caller names.
func (p *replyParser) parse(b []byte, fn func([]byte) error) (n int, done bool, err error) {
	ne := binary.NativeEndian
	for n < len(b) {
		rest := b[n:]
		if len(rest) < nlmsgHdrLen {
			return n, false, fmt.Errorf("%w: %d trailing bytes", errTruncated, len(rest))
		}
		l := int(ne.Uint32(rest[0:]))
		typ := ne.Uint16(rest[4:])
		flags := ne.Uint16(rest[6:])
		seq := ne.Uint32(rest[8:])
		if l < nlmsgHdrLen || l > len(rest) {
			return n, false, fmt.Errorf("%w: length %d, %d bytes left", errTruncated, l, len(rest))
		}
		payload := rest[nlmsgHdrLen:l]
		// The last message of a datagram may lack its alignment padding.
		n += min(align4(l), len(rest))
		if seq != p.seq {
			continue // a late reply to an earlier request: not ours
		}
		if flags&nlmFDumpIntr != 0 {
			p.intr = true
		}
		switch typ {
		case sockDiagByFamily:
			if p.fnErr == nil {
				p.fnErr = fn(payload)
			}
		case nlmsgDone:
			// A dump that failed part way ends with the errno here.
			if len(payload) >= 4 {
				if code := int32(ne.Uint32(payload)); code < 0 {
					return n, true, syscall.Errno(-code)
				}
			}
			return n, true, p.fnErr
		case nlmsgError:
			if len(payload) < 4 {
				return n, false, fmt.Errorf("%w: error message of %d bytes", errTruncated, len(payload))
			}
			if code := int32(ne.Uint32(payload)); code != 0 {
				return n, true, syscall.Errno(-code)
			}
			// Zero is an acknowledgement; the dump goes on.
		}
	}
	return n, false, nil
}
