//go:build linux

package inetdiag

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// defaultLookupBatch is how many look-ups go in one sendmsg(2). The
// kernel answers every request of a datagram before sendmsg returns, each
// answer a datagram of its own queued on the socket, so a batch must fit
// the socket's receive buffer (net.core.rmem_default, 208 KiB by
// default): an answer that does not is dropped and the next receive fails
// with ENOBUFS, which a batch of 256 gets. BenchmarkLookupBatch (1,000
// sockets, 2 shared vCPUs): 8.0–9.2 µs per look-up one per system call,
// 5.2–6.4 µs in batches of 8 or 32, no better beyond.
const defaultLookupBatch = 32

// Lookup asks the kernel for each socket of targets by its id, without
// a dump: one SOCK_DIAG_BY_FAMILY request per socket (no NLM_F_DUMP),
// several per system call. ext selects the attributes as for a dump
// (zero means ExtDefault), and full which sockets are kept whole (nil:
// none, see FullFunc). fn is called once per target, in the order the
// answers come (the order of targets on Linux), with the target's index
// and either the socket, which is reused between calls (copy what you
// keep), or the error of that look-up: ErrNotFound when the kernel has
// no such socket any more, or when it answered with another one (a
// listener, for a look-up without cookie). Lookup's own error is a
// failure of the socket; the targets fn was not called for are then
// unanswered.
func (c *Conn) Lookup(targets []Target, ext Extensions, full FullFunc, fn func(i int, s *Socket, err error)) error {
	if ext == 0 {
		ext = ExtDefault
	}
	for i := range targets {
		if f := targets[i].Family; f != FamilyInet && f != FamilyInet6 {
			return fmt.Errorf("inetdiag: look up target %d: family %d: %w", i, f, errBadRequestFamily)
		}
	}
	batch := c.lookupBatch
	if batch <= 0 {
		batch = defaultLookupBatch
	}
	var s Socket
	for start := 0; start < len(targets); start += batch {
		end := min(start+batch, len(targets))
		if err := c.lookupOnce(targets[start:end], start, ext, full, &s, fn); err != nil {
			return err
		}
	}
	return nil
}

// lookupOnce sends the look-ups of ts in one datagram and reads their
// answers; base is the index of ts[0] in the caller's targets.
func (c *Conn) lookupOnce(ts []Target, base int, ext Extensions, full FullFunc, s *Socket, fn func(int, *Socket, error)) error {
	msgs := c.lookupMsgs[:0]
	for i := range ts {
		msgs = append(msgs, netlink.Message{
			Header: netlink.Header{Type: unix.SOCK_DIAG_BY_FAMILY, Flags: netlink.Request},
			Data:   marshalLookup(ts[i], ext),
		})
	}
	c.lookupMsgs = msgs[:0]
	first, err := c.tr.sendBatch(msgs)
	if err != nil {
		return fmt.Errorf("inetdiag: look up: %w", err)
	}
	answered := append(c.lookupSeen[:0], make([]bool, len(ts))...)
	c.lookupSeen = answered[:0]
	left := len(ts)
	answer := func(k int, payload []byte, errno syscall.Errno) error {
		if answered[k] {
			return nil // the kernel answers once; a second answer is not believed
		}
		answered[k] = true
		left--
		i := base + k
		if errno != 0 {
			fn(i, nil, lookupError(errno))
			return nil
		}
		if err := decodeSocket(s, payload, full); err != nil {
			fn(i, nil, fmt.Errorf("inetdiag: look up %s -> %s: %w", ts[k].ID.Src, ts[k].ID.Dst, err))
			return nil
		}
		if !ts[k].matches(s) {
			fn(i, nil, ErrNotFound)
			return nil
		}
		fn(i, s, nil)
		return nil
	}
	for left > 0 {
		b, err := c.tr.recv()
		if err != nil {
			return fmt.Errorf("inetdiag: look up: %w (%d of %d unanswered)", err, left, len(ts))
		}
		if _, err := parseLookupDatagram(b, first, len(ts), answer); err != nil {
			return fmt.Errorf("inetdiag: look up: %w", err)
		}
	}
	return nil
}

// lookupError is the error fn is given for the errno of a look-up.
func lookupError(errno syscall.Errno) error {
	if errno == unix.ENOENT || errno == unix.ESTALE {
		return ErrNotFound
	}
	return fmt.Errorf("inetdiag: look up: %w", errno)
}

// matches reports whether s, the kernel's answer, is the socket t names:
// the same ports and addresses (as the kernel keeps them for the
// family) and, if t has one, the same cookie.
func (t *Target) matches(s *Socket) bool {
	id := &s.ID
	if t.ID.Cookie != NoCookie && t.ID.Cookie != id.Cookie {
		return false
	}
	return s.Family == t.Family &&
		id.Src.Port() == t.ID.Src.Port() && id.Dst.Port() == t.ID.Dst.Port() &&
		id.Src.Addr() == sockAddrOf(t.Family, t.ID.Src.Addr()) &&
		id.Dst.Addr() == sockAddrOf(t.Family, t.ID.Dst.Addr())
}

// errSequence: the netlink library numbered a batch's requests other
// than one after the other, which the answers' matching relies on.
var errSequence = errors.New("requests of a batch not numbered consecutively")
