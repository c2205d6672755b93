//go:build linux

package inetdiag

import (
	"errors"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// maxDumpRetries bounds how often a dump the kernel marked inconsistent
// (NLM_F_DUMP_INTR) is restarted before the error is reported.
const maxDumpRetries = 3

// ErrDumpInterrupted means the kernel marked a dump inconsistent
// (NLM_F_DUMP_INTR) on every attempt.
var ErrDumpInterrupted = errors.New("inetdiag: dump interrupted by concurrent changes (NLM_F_DUMP_INTR)")

// errBadRequestFamily: a request for a family other than inet and inet6.
var errBadRequestFamily = errors.New("not AF_INET or AF_INET6")

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
	// Full, if set, says which sockets are kept whole besides their
	// compact form (see FullFunc); nil keeps none.
	Full FullFunc
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
				if err := decodeSocket(&dst[len(dst)-1], b, req.Full); err != nil {
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
			if err := decodeSocket(&s, b, req.Full); err != nil {
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
	seq, err := c.tr.send(msg)
	if err != nil {
		return false, fmt.Errorf("inetdiag: dump %s: %w", fam, err)
	}
	p := replyParser{seq: seq}
	for {
		b, err := c.tr.recv()
		if err != nil {
			return false, fmt.Errorf("inetdiag: dump %s: %w", fam, err)
		}
		_, done, err := p.parse(b, fn)
		if err != nil {
			return false, fmt.Errorf("inetdiag: dump %s: %w", fam, err)
		}
		if done {
			return p.intr, nil
		}
	}
}
