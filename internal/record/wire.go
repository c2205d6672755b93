package record

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// wbuf is an append-only byte buffer with the varint forms the format uses.
type wbuf struct{ b []byte }

func (w *wbuf) byte1(v byte)        { w.b = append(w.b, v) }
func (w *wbuf) uvarint(v uint64)    { w.b = binary.AppendUvarint(w.b, v) }
func (w *wbuf) varint(v int64)      { w.b = binary.AppendUvarint(w.b, zigzag(v)) }
func (w *wbuf) raw(p []byte)        { w.b = append(w.b, p...) }
func (w *wbuf) bytes(p []byte)      { w.uvarint(uint64(len(p))); w.raw(p) }
func (w *wbuf) str(s string)        { w.uvarint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *wbuf) dur(d time.Duration) { w.varint(int64(d)) }
func (w *wbuf) boolean(v bool) {
	if v {
		w.byte1(1)
	} else {
		w.byte1(0)
	}
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// rbuf reads what wbuf wrote. Its error is sticky: after the first problem
// every read returns zero, and err says what and where (the offset within
// the record), so decoders check it once at the end of a section.
type rbuf struct {
	b   []byte
	off int
	err error
}

func (r *rbuf) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("byte %d: %s", r.off, fmt.Sprintf(format, args...))
	}
}

func (r *rbuf) left() int { return len(r.b) - r.off }

func (r *rbuf) byte1() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *rbuf) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.off += n
	return v
}

func (r *rbuf) varint() int64 { return unzigzag(r.uvarint()) }

func (r *rbuf) dur() time.Duration { return time.Duration(r.varint()) }

func (r *rbuf) boolean() bool {
	switch r.byte1() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail("boolean not 0 or 1")
	return false
}

// count reads a number of items that each take at least minBytes bytes of
// what is left, so that a forged count cannot make the caller allocate
// more than the record's own size.
func (r *rbuf) count(minBytes int) int {
	v := r.uvarint()
	if r.err != nil {
		return 0
	}
	if minBytes < 1 {
		minBytes = 1
	}
	if v > uint64(r.left()/minBytes) {
		r.fail("count %d exceeds the %d bytes left", v, r.left())
		return 0
	}
	return int(v)
}

// int reads a signed value that must fit an int.
func (r *rbuf) int() int {
	v := r.varint()
	if v < math.MinInt || v > math.MaxInt {
		r.fail("value %d does not fit an int", v)
		return 0
	}
	return int(v)
}

// next returns the next n bytes (not copied).
func (r *rbuf) next(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.left() {
		r.fail("%d bytes wanted, %d left", n, r.left())
		return nil
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p
}

// bytes reads a length-prefixed byte string (not copied).
func (r *rbuf) bytes() []byte { return r.next(r.count(1)) }

func (r *rbuf) str() string { return string(r.bytes()) }

// sub reads a length-prefixed section as a reader of its own; its offsets
// are reported relative to the section.
func (r *rbuf) sub() rbuf { return rbuf{b: r.bytes(), err: r.err} }

// end reports trailing bytes as an error: a section must be read whole, or
// writer and reader disagree about the format.
func (r *rbuf) end(what string) {
	if r.err == nil && r.left() != 0 {
		r.fail("%d bytes left over after the %s", r.left(), what)
	}
}

// inherit takes the first error of the sections subs (read apart from r)
// as r's own, prefixed with what; it reports whether there was one.
func (r *rbuf) inherit(what string, subs ...*rbuf) bool {
	if r.err != nil {
		return true
	}
	for _, s := range subs {
		if s.err != nil {
			r.err = fmt.Errorf("%s: %w", what, s.err)
			return true
		}
	}
	return false
}
