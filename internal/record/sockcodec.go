package record

import (
	"strconv"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// A part's sockets are stored as operations on the previous record's
// sockets (the base), in dump order:
//
//	opSame  the next base socket, with its clocks moved on (see advance)
//	opDelta the next base socket, moved on, with some fields changed
//	opNew   a socket stored whole (new, or not found in the base)
//	opSkip  drop some base sockets (they vanished), then another op
//
// The kernel dumps a namespace's sockets in hash-table order, which stays
// put from one poll to the next: the encoder walks the base with a cursor
// and finds most sockets right under it. Nothing in the format needs
// cookies to be unique or the order to be stable; both only make records
// smaller.
const (
	opSame  = 0
	opDelta = 1
	opNew   = 2
	opSkip  = 3
)

// lookAhead is how far past the cursor the encoder looks for a socket's
// cookie before it stores the socket whole: far enough to step over the
// sockets that vanished since the last poll.
const lookAhead = 64

// jiffyUnit is the unit of the kernel's "time since" and "time until"
// fields, and of the per-socket residual.
const jiffyUnit = time.Millisecond

// advance moves s's clocks on by d, as they move on an idle socket: the
// "time since" fields of tcp_info grow and the timer's "time until"
// shrinks. A zero stays zero: Linux never sets LastAckSent, and a socket
// without a timer has no expiry.
func advance(s *inetdiag.Socket, d time.Duration) {
	if s.Expires != 0 {
		s.Expires -= d
	}
	in := &s.Info
	if in.LastDataSent != 0 {
		in.LastDataSent += d
	}
	if in.LastAckSent != 0 {
		in.LastAckSent += d
	}
	if in.LastDataRecv != 0 {
		in.LastDataRecv += d
	}
	if in.LastAckRecv != 0 {
		in.LastAckRecv += d
	}
}

// residual is how far cur's clocks moved beyond elapsed since base: the
// kernel reads them off its jiffies counter, which advanced a tick more
// or less than the wall clock between two polls (0 or ±4 ms at HZ=250). It
// is the same for every field of a socket and, since the kernel reads
// neighbouring sockets of a dump within the same tick, for runs of
// sockets: stored in a column of its own, those runs cost zstd next to
// nothing.
func residual(base, cur *inetdiag.Socket, elapsed time.Duration) time.Duration {
	b, c := &base.Info, &cur.Info
	switch {
	case b.LastAckRecv != 0:
		return c.LastAckRecv - b.LastAckRecv - elapsed
	case b.LastDataRecv != 0:
		return c.LastDataRecv - b.LastDataRecv - elapsed
	case b.LastDataSent != 0:
		return c.LastDataSent - b.LastDataSent - elapsed
	case base.Expires != 0:
		return base.Expires - elapsed - cur.Expires
	}
	return 0
}

// elapsedFor is the time between two polls as the sockets' clocks should
// see it: rounded to their unit, so that the residual of an idle socket is
// a whole number of ticks.
func elapsedFor(now, prev time.Time) time.Duration {
	d := now.Sub(prev)
	if d >= 0 {
		return (d + jiffyUnit/2) / jiffyUnit * jiffyUnit
	}
	return -((-d + jiffyUnit/2) / jiffyUnit * jiffyUnit)
}

// sockEncoder encodes one part's sockets; its buffers are reused from one
// poll to the next.
type sockEncoder struct {
	ops, skips, resid, masks wbuf
	cols                     []wbuf
	mask                     []byte
}

func newSockEncoder() *sockEncoder {
	return &sockEncoder{cols: make([]wbuf, len(fields)), mask: make([]byte, maskBytes)}
}

// encode appends socks, relative to base, to w. elapsed is elapsedFor
// the two polls' times.
func (e *sockEncoder) encode(w *wbuf, base, socks []inetdiag.Socket, elapsed time.Duration) {
	e.ops.b, e.skips.b, e.resid.b, e.masks.b = e.ops.b[:0], e.skips.b[:0], e.resid.b[:0], e.masks.b[:0]
	for f := range e.cols {
		e.cols[f].b = e.cols[f].b[:0]
	}
	cursor := 0
	var zero inetdiag.Socket
	for i := range socks {
		s := &socks[i]
		j := find(base, cursor, s.ID.Cookie)
		if j < 0 {
			e.ops.byte1(opNew)
			e.putFields(&zero, s)
			continue
		}
		if j > cursor {
			e.ops.byte1(opSkip)
			e.skips.uvarint(uint64(j - cursor))
		}
		cursor = j + 1
		b := base[j]
		r := residual(&b, s, elapsed)
		advance(&b, elapsed+r)
		putDur(&e.resid, 0, r, jiffyUnit)
		if b == *s {
			e.ops.byte1(opSame)
			continue
		}
		e.ops.byte1(opDelta)
		e.putFields(&b, s)
	}
	w.uvarint(uint64(len(socks)))
	w.bytes(e.ops.b)
	w.bytes(e.skips.b)
	w.bytes(e.resid.b)
	w.bytes(e.masks.b)
	for f := range e.cols {
		w.bytes(e.cols[f].b)
	}
}

// find returns the index of the first socket with cookie in base[from :
// from+lookAhead], or -1.
func find(base []inetdiag.Socket, from int, cookie uint64) int {
	for j := from; j < len(base) && j < from+lookAhead; j++ {
		if base[j].ID.Cookie == cookie {
			return j
		}
	}
	return -1
}

// putFields writes the mask of the fields where cur differs from base and
// their values.
func (e *sockEncoder) putFields(base, cur *inetdiag.Socket) {
	clear(e.mask)
	for f := range fields {
		if !fields[f].eq(base, cur) {
			e.mask[f/8] |= 1 << (f % 8)
			fields[f].put(&e.cols[f], base, cur)
		}
	}
	e.masks.raw(e.mask)
}

// decodeSocks reads what encode wrote, relative to the same base.
func decodeSocks(r *rbuf, base []inetdiag.Socket, elapsed time.Duration) []inetdiag.Socket {
	n := r.uvarint()
	ops, skips, resid, masks := r.sub(), r.sub(), r.sub(), r.sub()
	cols := make([]rbuf, len(fields))
	for f := range cols {
		cols[f] = r.sub()
	}
	if r.err != nil {
		return nil
	}
	// Every socket is a base socket or has a mask: a count beyond that is
	// damage, and must not size an allocation.
	if limit := uint64(len(base) + masks.left()/maskBytes); n > limit || n > uint64(ops.left()) {
		r.fail("%d sockets, at most %d possible", n, min(limit, uint64(ops.left())))
		return nil
	}
	out := make([]inetdiag.Socket, n)
	cursor := 0
	for i := range out {
		op := ops.byte1()
		if op == opSkip {
			k := skips.uvarint()
			if k == 0 || k > uint64(len(base)-cursor) {
				r.fail("socket %d: skip of %d, %d base sockets left", i, k, len(base)-cursor)
				return nil
			}
			cursor += int(k)
			op = ops.byte1()
		}
		dst := &out[i]
		switch op {
		case opSame, opDelta:
			if cursor >= len(base) {
				r.fail("socket %d: no base socket left", i)
				return nil
			}
			*dst = base[cursor]
			cursor++
			advance(dst, elapsed+getDur(&resid, 0, jiffyUnit))
			if op == opDelta {
				getFields(&masks, cols, dst)
			}
		case opNew:
			getFields(&masks, cols, dst)
		default:
			r.fail("socket %d: operation %d", i, op)
			return nil
		}
		if r.inherit("socket "+itoa(i), &ops, &skips, &resid, &masks) {
			return nil
		}
	}
	for f := range cols {
		cols[f].end("column")
		if r.inherit("column "+fields[f].name, &cols[f]) {
			return nil
		}
	}
	for _, s := range []*rbuf{&ops, &skips, &resid, &masks} {
		s.end("sockets")
	}
	if r.inherit("sockets", &ops, &skips, &resid, &masks) {
		return nil
	}
	return out
}

func getFields(masks *rbuf, cols []rbuf, dst *inetdiag.Socket) {
	m := masks.next(maskBytes)
	if len(m) != maskBytes {
		return
	}
	for f := range len(m) * 8 {
		if m[f/8]&(1<<(f%8)) == 0 {
			continue
		}
		if f >= len(fields) {
			masks.fail("mask bit %d set, %d fields", f, len(fields))
			return
		}
		fields[f].get(&cols[f], dst)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
