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
//
// and opSkip, a flag on the others: first drop some base sockets (they
// vanished). The ops column holds only the operations other than a plain
// opSame, and the gaps column the count of plain opSames before each; the
// sockets after the last one are plain opSames.
//
// The kernel dumps a namespace's sockets in hash-table order, which stays
// put from one poll to the next: the encoder walks the base with a cursor
// and finds most sockets right under it. Nothing in the format needs
// cookies to be unique or the order to be stable; both only make records
// smaller.
const (
	opSame   = 0
	opDelta  = 1
	opNew    = 2
	opSkip   = 0x80
	opsKnown = opSkip | 3
)

// lookAhead is how far past the cursor the encoder looks for a socket's
// cookie before it stores the socket whole: far enough to step over the
// sockets that vanished since the last poll.
const lookAhead = 64

// maxResidualStep is the largest change of residual from one socket to
// the next that the encoder takes for a clock tick rather than a clock
// that restarted: 64 ms is 16 ticks at HZ=250 and 6 at HZ=100.
const maxResidualStep = 64 * time.Millisecond

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// jiffyUnit is the unit of the kernel's "time since" and "time until"
// fields, and of the per-socket residual.
const jiffyUnit = time.Millisecond

// advance moves s's clocks on by d, as they move on an idle socket: the
// "time since" fields of tcp_info grow and the timer's "time until"
// shrinks. A zero stays zero: Linux never sets LastAckSent, and a socket
// without a timer has no expiry.
func advance(s *rsock, d time.Duration) {
	if s.s.Expires != 0 {
		s.s.Expires -= d
	}
	in := &s.f.Info
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
// is the same for every clock of a socket and, since the kernel reads
// neighbouring sockets of a dump within the same tick, for runs of
// sockets: stored as its change from the socket before, in a column of
// its own, it costs zstd next to nothing. The first clock of base that is
// running gives it; ok is false when none is (no residual is stored).
func residual(base, cur *rsock, elapsed time.Duration) (r time.Duration, ok bool) {
	// The order is hasClock's.
	b, c := &base.f.Info, &cur.f.Info
	switch {
	case b.LastAckRecv != 0:
		return c.LastAckRecv - b.LastAckRecv - elapsed, true
	case b.LastDataRecv != 0:
		return c.LastDataRecv - b.LastDataRecv - elapsed, true
	case b.LastDataSent != 0:
		return c.LastDataSent - b.LastDataSent - elapsed, true
	case b.LastAckSent != 0:
		return c.LastAckSent - b.LastAckSent - elapsed, true
	case base.s.Expires != 0:
		return base.s.Expires - elapsed - cur.s.Expires, true
	}
	return 0, false
}

// hasClock reports whether any of s's clocks is running (see advance).
func hasClock(s *rsock) bool {
	in := &s.f.Info
	return s.s.Expires != 0 || in.LastDataSent != 0 || in.LastAckSent != 0 || in.LastDataRecv != 0 || in.LastAckRecv != 0
}

// clocksMatched counts the clocks of cur that advance(base, d) predicts.
func clocksMatched(base, cur *rsock, d time.Duration) int {
	b := *base
	advance(&b, d)
	bi, ci := &b.f.Info, &cur.f.Info
	n := 0
	for _, eq := range []bool{
		b.s.Expires == cur.s.Expires, bi.LastDataSent == ci.LastDataSent, bi.LastAckSent == ci.LastAckSent,
		bi.LastDataRecv == ci.LastDataRecv, bi.LastAckRecv == ci.LastAckRecv,
	} {
		if eq {
			n++
		}
	}
	return n
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
	ops, gaps, skips, resid, masks wbuf
	cols                           []wbuf
	mask                           []byte
	zero, cur                      rsock
	bw, cw                         [nWords]uint64
}

func newSockEncoder() *sockEncoder {
	return &sockEncoder{cols: make([]wbuf, nColumns), mask: make([]byte, maskBytes)}
}

// encode appends socks, relative to base, to w, and makes them the base
// of the next record. elapsed is elapsedFor the two polls' times.
func (e *sockEncoder) encode(w *wbuf, base *sockBase, socks []inetdiag.Socket, elapsed time.Duration) {
	e.ops.b, e.gaps.b, e.skips.b, e.resid.b, e.masks.b = e.ops.b[:0], e.gaps.b[:0], e.skips.b[:0], e.resid.b[:0], e.masks.b[:0]
	for f := range e.cols {
		e.cols[f].b = e.cols[f].b[:0]
	}
	base.next = base.next[:0]
	cursor, sames := 0, uint64(0)
	var prevR time.Duration
	op := func(o byte) {
		e.gaps.uvarint(sames)
		e.ops.byte1(o)
		sames = 0
	}
	for i := range socks {
		s := &e.cur
		s.from(&socks[i])
		j := find(base, cursor, s.s.ID.Cookie)
		if j < 0 {
			op(opNew)
			e.putFields(&e.zero, s)
			base.add(s)
			continue
		}
		var skip byte
		if j > cursor {
			skip = opSkip
			e.skips.uvarint(uint64(j - cursor))
			base.drop(cursor, j)
		}
		cursor = j + 1
		base.keep(j)
		b := base.at(j)
		if r, ok := residual(b, s, elapsed); ok {
			// A residual is a tick or two. A socket whose clocks
			// restarted (traffic) gives one of no use: its neighbour's,
			// kept, keeps the run going, and its clocks are stored as
			// fields.
			if r != prevR && (absDur(r-prevR) > maxResidualStep || clocksMatched(b, s, elapsed+prevR) >= clocksMatched(b, s, elapsed+r)) {
				r = prevR
			}
			putDur(&e.resid, prevR, r, jiffyUnit)
			prevR = r
			advance(b, elapsed+r)
		}
		if *b == *s {
			if skip != 0 {
				op(opSame | skip)
			} else {
				sames++
			}
			continue
		}
		op(opDelta | skip)
		e.putFields(b, s)
		*b = *s
	}
	base.finish(cursor)
	w.uvarint(uint64(len(socks)))
	w.bytes(e.ops.b)
	w.bytes(e.gaps.b)
	w.bytes(e.skips.b)
	w.bytes(e.resid.b)
	w.bytes(e.masks.b)
	for f := range e.cols {
		w.bytes(e.cols[f].b)
	}
}

// find returns the index of the first socket with cookie in base[from :
// from+lookAhead], or -1.
func find(base *sockBase, from int, cookie uint64) int {
	for j := from; j < base.len() && j < from+lookAhead; j++ {
		if base.cookie(j) == cookie {
			return j
		}
	}
	return -1
}

// putFields writes the mask of the columns where cur differs from base
// and their values.
func (e *sockEncoder) putFields(base, cur *rsock) {
	clear(e.mask)
	flatten(base, &e.bw)
	flatten(cur, &e.cw)
	for i := range e.cw {
		if e.bw[i] != e.cw[i] {
			e.mask[i/8] |= 1 << (i % 8)
			putWord(&e.cols[i], i, &e.bw, &e.cw)
		}
	}
	for x := range extras {
		if !extras[x].eq(base, cur) {
			c := nWords + x
			e.mask[c/8] |= 1 << (c % 8)
			extras[x].put(&e.cols[c], cur)
		}
	}
	e.masks.raw(e.mask)
}

// decodeSocks reads what encode wrote, relative to the same base.
func decodeSocks(r *rbuf, base *sockBase, elapsed time.Duration) []inetdiag.Socket {
	n := r.uvarint()
	ops, gaps, skips, resid, masks := r.sub(), r.sub(), r.sub(), r.sub(), r.sub()
	cols := make([]rbuf, nColumns)
	for f := range cols {
		cols[f] = r.sub()
	}
	if r.err != nil {
		return nil
	}
	// Every socket is a base socket or has a mask: a count beyond that is
	// damage, and must not size an allocation.
	if limit := uint64(base.len() + masks.left()/maskBytes); n > limit {
		r.fail("%d sockets, at most %d possible", n, limit)
		return nil
	}
	out := make([]inetdiag.Socket, n)
	fulls := make([]inetdiag.Full, n)
	base.next = base.next[:0]
	cursor := 0
	var prevR time.Duration
	// The words of a socket and its base, and a zero socket: one
	// allocation, not one a socket.
	zero, dst := new(rsock), new(rsock)
	ws := new([2][nWords]uint64)
	// sames counts the plain opSames before the pending operation.
	sames, pending, havePending := uint64(0), byte(0), false
	for i := range out {
		if !havePending && ops.left() > 0 {
			sames, pending, havePending = gaps.uvarint(), ops.byte1(), true
		}
		op := byte(opSame)
		if havePending {
			if sames > 0 {
				sames--
			} else {
				op, havePending = pending, false
			}
		}
		if op&^opsKnown != 0 || op&^opSkip > opNew {
			r.fail("socket %d: operation %#x", i, op)
			return nil
		}
		if op&opSkip != 0 {
			k := skips.uvarint()
			if k == 0 || k > uint64(base.len()-cursor) {
				r.fail("socket %d: skip of %d, %d base sockets left", i, k, base.len()-cursor)
				return nil
			}
			base.drop(cursor, cursor+int(k))
			cursor += int(k)
		}
		switch op &^ opSkip {
		case opSame, opDelta:
			if cursor >= base.len() {
				r.fail("socket %d: no base socket left", i)
				return nil
			}
			slot := base.at(cursor)
			base.keep(cursor)
			cursor++
			if hasClock(slot) {
				prevR = getDur(&resid, prevR, jiffyUnit)
				advance(slot, elapsed+prevR)
			}
			if op&^opSkip == opDelta {
				getFields(&masks, cols, slot, slot, ws)
			}
			slot.to(&out[i], &fulls[i])
		case opNew:
			*dst = *zero
			getFields(&masks, cols, zero, dst, ws)
			base.add(dst)
			dst.to(&out[i], &fulls[i])
		}
		if r.inherit("socket "+itoa(i), &ops, &gaps, &skips, &resid, &masks) {
			return nil
		}
	}
	if havePending {
		r.fail("operations for more than the %d sockets", n)
		return nil
	}
	for f := range cols {
		cols[f].end("column")
		if r.inherit("column "+columnName(f), &cols[f]) {
			return nil
		}
	}
	for _, s := range []*rbuf{&ops, &gaps, &skips, &resid, &masks} {
		s.end("sockets")
	}
	if r.inherit("sockets", &ops, &gaps, &skips, &resid, &masks) {
		return nil
	}
	base.finish(cursor)
	return out
}

// getFields reads a mask and the values it announces into dst, which
// holds base on entry (dst may be base).
func getFields(masks *rbuf, cols []rbuf, base, dst *rsock, ws *[2][nWords]uint64) {
	m := masks.next(maskBytes)
	if len(m) != maskBytes {
		return
	}
	for c := nColumns; c < maskBytes*8; c++ {
		if m[c/8]&(1<<(c%8)) != 0 {
			masks.fail("mask bit %d set, %d columns", c, nColumns)
			return
		}
	}
	bw, cw := &ws[0], &ws[1]
	flatten(base, bw)
	*cw = *bw
	for i := range nWords {
		if m[i/8]&(1<<(i%8)) != 0 {
			getWord(&cols[i], i, bw, cw)
		}
	}
	checkWords(masks, cw)
	unflatten(cw, dst)
	for x := range extras {
		if c := nWords + x; m[c/8]&(1<<(c%8)) != 0 {
			extras[x].get(&cols[c], dst)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
