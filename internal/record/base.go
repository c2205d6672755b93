package record

import "github.com/tcpwatch/tcpwatch/inetdiag"

// sockBase holds a part's base sockets: the sockets of the last record, in
// its order, as indexes into a slab that encoder and decoder reuse from
// one record to the next. A socket that did not change stays in its slot
// (its clocks moved on in place) and only its index moves: copying every
// socket of a 10^5-socket dump, 58 MB, cost as much again as comparing
// them.
type sockBase struct {
	slab  []inetdiag.Socket
	order []int32 // the last record's sockets
	next  []int32 // the record being built
	free  []int32
}

func (b *sockBase) len() int                  { return len(b.order) }
func (b *sockBase) at(k int) *inetdiag.Socket { return &b.slab[b.order[k]] }
func (b *sockBase) cookie(k int) uint64       { return b.slab[b.order[k]].ID.Cookie }
func (b *sockBase) keep(k int)                { b.next = append(b.next, b.order[k]) }
func (b *sockBase) drop(from, to int)         { b.free = append(b.free, b.order[from:to]...) }

// add stores a copy of s in a free slot, next in the record being built,
// and returns it. It may move the slab: pointers from at are void.
func (b *sockBase) add(s *inetdiag.Socket) *inetdiag.Socket {
	var i int32
	if n := len(b.free); n > 0 {
		i = b.free[n-1]
		b.free = b.free[:n-1]
	} else {
		i = int32(len(b.slab))
		b.slab = append(b.slab, inetdiag.Socket{})
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
