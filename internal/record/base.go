package record

import "github.com/tcpwatch/tcpwatch/inetdiag"

// sockBase holds a part's base sockets: the sockets of the last record, in
// its order, as indexes into a slab that encoder and decoder reuse from
// one record to the next. A socket that did not change stays in its slot
// (its clocks moved on in place) and only its index moves: copying every
// socket of a 10^5-socket dump, 68 MB in the codec's flat form, cost as
// much again as comparing them.
type sockBase struct {
	slab  []rsock
	order []int32 // the last record's sockets
	next  []int32 // the record being built
	free  []int32
}

func (b *sockBase) len() int            { return len(b.order) }
func (b *sockBase) at(k int) *rsock     { return &b.slab[b.order[k]] }
func (b *sockBase) cookie(k int) uint64 { return b.slab[b.order[k]].s.ID.Cookie }
func (b *sockBase) keep(k int)          { b.next = append(b.next, b.order[k]) }
func (b *sockBase) drop(from, to int)   { b.free = append(b.free, b.order[from:to]...) }

// add stores a copy of s in a free slot, next in the record being built,
// and returns it. It may move the slab: pointers from at are void.
func (b *sockBase) add(s *rsock) *rsock {
	var i int32
	if n := len(b.free); n > 0 {
		i = b.free[n-1]
		b.free = b.free[:n-1]
	} else {
		i = int32(len(b.slab))
		b.slab = append(b.slab, rsock{})
	}
	b.slab[i] = *s
	b.next = append(b.next, i)
	return &b.slab[i]
}

// finish makes the record built the base, the sockets from `from` on
// (the last record's, never reached) gone.
func (b *sockBase) finish(from int) {
	b.drop(from, len(b.order))
	b.order, b.next = b.next, b.order[:0]
}

// reset empties the base, keeping its memory.
func (b *sockBase) reset() {
	b.order, b.next, b.free = b.order[:0], b.next[:0], b.free[:0]
	for i := range b.slab {
		b.free = append(b.free, int32(len(b.slab)-1-i))
	}
}

// rsock is a socket as the codec sees it: every value the kernel sent,
// in one flat value that compares and copies whole. s holds the compact
// socket's own fields (its Info and Full are unused, zero) and f the
// whole of tcp_info and the other attributes.
type rsock struct {
	s inetdiag.Socket
	f inetdiag.Full
}

// from sets r to s. The watcher keeps the sockets of a recorded poll
// whole; a socket without Full (a caller that did not ask) is recorded
// with the core of its tcp_info and the rest zero.
func (r *rsock) from(s *inetdiag.Socket) {
	r.s = *s
	r.s.Info, r.s.Full = inetdiag.TCPCore{}, nil
	if s.Full != nil {
		r.f = *s.Full
		return
	}
	r.f = inetdiag.Full{Info: s.Info.AsInfo()}
}

// to writes r into dst, kept whole in full.
func (r *rsock) to(dst *inetdiag.Socket, full *inetdiag.Full) {
	*full = r.f
	*dst = r.s
	dst.Info = full.Info.Core()
	dst.Full = full
}
