package inetdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
)

// ErrNotFound means the kernel has no socket with the id a look-up named:
// it was closed, or the cookie names an earlier socket on the same
// addresses and ports (the kernel answers ENOENT for both).
var ErrNotFound = errors.New("inetdiag: no such socket")

// Target names one socket for Lookup, as a dump reported it: its family
// and id. The cookie is what makes the look-up exact: without it
// (NoCookie) the kernel falls back to the listener of the local port
// when the connection is gone, which Lookup then reports as ErrNotFound
// because its addresses differ.
type Target struct {
	Family Family
	ID     SockID
}

// marshalLookup builds the request of an exact look-up of t: struct
// inet_diag_req_v2 naming the socket, sent without NLM_F_DUMP, so that
// the kernel answers with that socket alone (inet_diag_cmd_exact) or with
// an error. The state mask is not used by the kernel for a look-up; it
// selects every state so that the request reads the same as a dump's.
func marshalLookup(t Target, ext Extensions) []byte {
	return marshalRequest(t.Family, ext, AllStates, t.ID, nil)
}

// parseLookupDatagram walks the netlink messages of one datagram b that
// answers a batch of n look-ups whose requests carry the sequence
// numbers first, first+1, … first+n-1, and calls fn once per answer: with
// k, the look-up's index in the batch, and either the payload of its
// reply (struct inet_diag_msg and attributes; valid until the next
// datagram) or the errno the kernel answered with. Messages of other
// requests (late answers to an earlier batch or dump), acknowledgements
// and other types are skipped. It returns how many answers it handed to
// fn, or errTruncated for a header or a length that does not fit b, in
// which case the answers before it were handed on. fn's error stops the
// walk and is returned.
func parseLookupDatagram(b []byte, first uint32, n int, fn func(k int, payload []byte, errno syscall.Errno) error) (answers int, err error) {
	ne := binary.NativeEndian
	for off := 0; off < len(b); {
		rest := b[off:]
		if len(rest) < nlmsgHdrLen {
			return answers, fmt.Errorf("%w: %d trailing bytes", errTruncated, len(rest))
		}
		l := int(ne.Uint32(rest[0:]))
		typ := ne.Uint16(rest[4:])
		seq := ne.Uint32(rest[8:])
		if l < nlmsgHdrLen || l > len(rest) {
			return answers, fmt.Errorf("%w: length %d, %d bytes left", errTruncated, l, len(rest))
		}
		payload := rest[nlmsgHdrLen:l]
		off += min(align4(l), len(rest))
		k := int64(seq - first) // wraps: the batch may straddle 2^32
		if k >= int64(n) {
			continue // not an answer to this batch
		}
		switch typ {
		case sockDiagByFamily:
			answers++
			if err := fn(int(k), payload, 0); err != nil {
				return answers, err
			}
		case nlmsgError:
			if len(payload) < 4 {
				return answers, fmt.Errorf("%w: error message of %d bytes", errTruncated, len(payload))
			}
			code := int32(ne.Uint32(payload))
			if code == 0 {
				continue // an acknowledgement: the answer came before it
			}
			answers++
			errno := syscall.Errno(-int64(code))
			if code > 0 {
				errno = syscall.Errno(code) // never sent by Linux; kept non-zero
			}
			if err := fn(int(k), nil, errno); err != nil {
				return answers, err
			}
		}
	}
	return answers, nil
}
