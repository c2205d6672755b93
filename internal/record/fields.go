package record

import (
	"math"
	"net/netip"
	"time"
)

// extra is a value of a Socket that is not a number: put writes cur's
// into the extra's column, get reads it into dst.
type extra struct {
	name string
	eq   func(a, b *rsock) bool
	put  func(w *wbuf, cur *rsock)
	get  func(r *rbuf, dst *rsock)
}

// extras follow the words in the mask. They are stored whole: addresses
// and the congestion control do not change for a socket, and the
// attribute set rarely.
var extras = []extra{
	{
		name: "ID.Src",
		eq:   func(a, b *rsock) bool { return a.s.ID.Src == b.s.ID.Src },
		put:  func(w *wbuf, cur *rsock) { putAddrPort(w, cur.s.ID.Src) },
		get:  func(r *rbuf, dst *rsock) { dst.s.ID.Src = getAddrPort(r) },
	},
	{
		name: "ID.Dst",
		eq:   func(a, b *rsock) bool { return a.s.ID.Dst == b.s.ID.Dst },
		put:  func(w *wbuf, cur *rsock) { putAddrPort(w, cur.s.ID.Dst) },
		get:  func(r *rbuf, dst *rsock) { dst.s.ID.Dst = getAddrPort(r) },
	},
	{
		name: "Cong",
		eq:   func(a, b *rsock) bool { return a.f.Cong == b.f.Cong },
		put:  func(w *wbuf, cur *rsock) { w.str(cur.f.Cong) },
		get:  func(r *rbuf, dst *rsock) { dst.f.Cong = internCong(r.bytes()) },
	},
	{
		// The attribute set (Socket.Has), applied last by getFields:
		// setAttrs rebuilds the socket.
		name: "attrs",
		eq:   func(a, b *rsock) bool { return attrsOf(&a.s) == attrsOf(&b.s) },
		put:  func(w *wbuf, cur *rsock) { w.uvarint(uint64(attrsOf(&cur.s))) },
		get: func(r *rbuf, dst *rsock) {
			m := r.uvarint()
			if m > math.MaxUint32 {
				r.fail("attribute set %#x", m)
				return
			}
			if err := setAttrs(&dst.s, uint32(m)); err != nil && r.err == nil {
				r.err = err
			}
		},
	},
}

// nColumns is the number of value columns, and of bits in a mask.
var nColumns = nWords + len(extras)

// maskBytes is the size of a socket's changed-field mask.
var maskBytes = (nColumns + 7) / 8

// columnName names column c in errors.
func columnName(c int) string {
	if c < nWords {
		return words[c].name
	}
	return extras[c-nWords].name
}

// putWord writes word i of cur (cw) relative to base (bw). Unsigned words
// store their change zigzagged (counters grow by small steps), or, with a
// zero base and no pair (a socket stored whole), the value as it is.
// Arithmetic wraps at 64 bits, so every value round-trips exactly.
func putWord(w *wbuf, i int, bw, cw *[nWords]uint64) {
	wd := &words[i]
	var pd uint64 // the pair's change
	if wd.pair >= 0 {
		pd = cw[wd.pair] - bw[wd.pair]
	}
	switch wd.kind {
	case wordDur:
		if pred := time.Duration(bw[i] + pd); pred != 0 {
			putDur(w, pred, time.Duration(cw[i]), wd.unit)
		} else {
			putAbsDur(w, time.Duration(cw[i]), wd.unit)
		}
	case wordInt:
		w.varint(int64(cw[i] - bw[i]))
	default:
		if bw[i] == 0 && wd.pair < 0 {
			w.uvarint(cw[i])
		} else {
			w.varint(int64(cw[i] - bw[i] - pd))
		}
	}
}

// getWord reads what putWord wrote; cw holds the words decoded so far
// (every pair is an earlier word) and bw the base's.
func getWord(r *rbuf, i int, bw, cw *[nWords]uint64) {
	wd := &words[i]
	var pd uint64
	if wd.pair >= 0 {
		pd = cw[wd.pair] - bw[wd.pair]
	}
	switch wd.kind {
	case wordDur:
		if pred := time.Duration(bw[i] + pd); pred != 0 {
			cw[i] = uint64(getDur(r, pred, wd.unit))
		} else {
			cw[i] = uint64(getAbsDur(r, wd.unit))
		}
	case wordInt:
		cw[i] = bw[i] + uint64(r.varint())
	default:
		if bw[i] == 0 && wd.pair < 0 {
			cw[i] = r.uvarint()
		} else {
			cw[i] = bw[i] + uint64(r.varint()) + pd
		}
	}
}

// checkWords reports the first word that does not fit its field: damage,
// which must not be truncated into a plausible value.
func checkWords(r *rbuf, cw *[nWords]uint64) {
	for i := range cw {
		wd := &words[i]
		switch {
		case wd.kind == wordUint && cw[i] > wd.max:
			r.fail("%s: %d out of range", wd.name, cw[i])
			return
		case wd.kind == wordInt && int64(cw[i]) != int64(int(int64(cw[i]))):
			r.fail("%s: %d does not fit an int", wd.name, int64(cw[i]))
			return
		}
	}
}

// putAbsDur writes a duration that has no prediction (a socket stored
// whole): a whole, non-negative number of units as such, anything else
// exactly in nanoseconds after an escape.
func putAbsDur(w *wbuf, d, unit time.Duration) {
	if d >= 0 && d%unit == 0 {
		w.uvarint(uint64(d/unit) << 1)
		return
	}
	w.uvarint(1)
	w.dur(d)
}

func getAbsDur(r *rbuf, unit time.Duration) time.Duration {
	t := r.uvarint()
	switch {
	case t&1 == 0:
		if t>>1 > uint64(math.MaxInt64/unit) {
			r.fail("duration of %d units", t>>1)
			return 0
		}
		return time.Duration(t>>1) * unit
	case t == 1:
		return r.dur()
	}
	r.fail("duration token %d", t)
	return 0
}

// Modes of a duration token (its two low bits).
const (
	durDelta    = 0 // (cur-pred)/unit follows in the token
	durAbsolute = 1 // cur/unit follows in the token
	durRaw      = 2 // the token is 2; cur-pred in nanoseconds follows
)

// putDur writes cur relative to its prediction pred as one token: the
// difference in units, or the value itself in units when that is smaller
// (a "time since last ACK" that restarted from zero), or, for a value
// that is not a whole number of units away, the exact difference in
// nanoseconds. The kernel's values are whole units; the fallback keeps any
// value exact.
func putDur(w *wbuf, pred, cur, unit time.Duration) {
	d := cur - pred // wraps: decoding adds it back with the same wrap
	if d%unit != 0 {
		w.uvarint(durRaw)
		w.varint(int64(d))
		return
	}
	qd := int64(d / unit)
	if cur%unit == 0 {
		if qa := int64(cur / unit); absLess(qa, qd) {
			w.uvarint(zigzag(qa)<<2 | durAbsolute)
			return
		}
	}
	w.uvarint(zigzag(qd)<<2 | durDelta)
}

func getDur(r *rbuf, pred, unit time.Duration) time.Duration {
	t := r.uvarint()
	q := time.Duration(unzigzag(t >> 2))
	switch t & 3 {
	case durDelta:
		return pred + q*unit
	case durAbsolute:
		return q * unit
	case durRaw:
		if t != durRaw {
			r.fail("raw duration token %d", t)
		}
		return pred + r.dur()
	}
	r.fail("duration token %d has an unknown mode", t)
	return pred
}

func absLess(a, b int64) bool {
	abs := func(v int64) uint64 {
		if v < 0 {
			return uint64(-v)
		}
		return uint64(v)
	}
	return abs(a) < abs(b)
}

// Address kinds: the invalid (zero) address, IPv4, IPv6, IPv6 with a zone.
const (
	addrNone   = 0
	addrV4     = 4
	addrV6     = 6
	addrV6Zone = 7
)

func putAddrPort(w *wbuf, ap netip.AddrPort) {
	a := ap.Addr()
	switch {
	case a.Is4():
		w.byte1(addrV4)
		v := a.As4()
		w.raw(v[:])
	case a.Is6() && a.Zone() != "":
		w.byte1(addrV6Zone)
		v := a.As16()
		w.raw(v[:])
		w.str(a.Zone())
	case a.Is6():
		w.byte1(addrV6)
		v := a.As16()
		w.raw(v[:])
	default:
		w.byte1(addrNone)
	}
	w.uvarint(uint64(ap.Port()))
}

func getAddrPort(r *rbuf) netip.AddrPort {
	var a netip.Addr
	switch k := r.byte1(); k {
	case addrNone:
	case addrV4:
		a = netip.AddrFrom4([4]byte(pad(r.next(4), 4)))
	case addrV6, addrV6Zone:
		a = netip.AddrFrom16([16]byte(pad(r.next(16), 16)))
		if k == addrV6Zone {
			a = a.WithZone(r.str())
		}
	default:
		r.fail("address kind %d", k)
	}
	port := r.uvarint()
	if port > 0xffff {
		r.fail("port %d", port)
	}
	return netip.AddrPortFrom(a, uint16(port))
}

// pad returns b, or n zero bytes when a read failed (the error is sticky).
func pad(b []byte, n int) []byte {
	if len(b) != n {
		return make([]byte, n)
	}
	return b
}

// knownCong avoids a string allocation per decoded socket for the names
// every host uses.
var knownCong = []string{"cubic", "reno", "bbr", "bbr2", "bbr3", "dctcp", "htcp", "vegas", "westwood", "illinois", "bic", "hybla", "scalable", "lp", "veno", "yeah", "highspeed", "nv", "cdg"}

func internCong(b []byte) string {
	for _, k := range knownCong {
		if string(b) == k {
			return k
		}
	}
	return string(b)
}
