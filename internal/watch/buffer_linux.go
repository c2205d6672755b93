package watch

import (
	"sync"
	"sync/atomic"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// buffer holds one poll's sockets, shared by the tracker's connections
// (until the next dump) and the snapshot consumer (until Release); or,
// drawn from a pool of its own (Watcher.rowBufs), a
// snapshot's rows, held by the snapshot alone. When a consumer releases
// its snapshot before the next poll (the exporter, the JSON writer) the
// next dump reuses the same memory: one buffer, 22 MB at 10^5 sockets,
// instead of two.
type buffer struct {
	socks []inetdiag.Socket
	// whole holds the sockets of socks kept whole (Socket.Full): those
	// on screen, or every one while recording.
	whole wholeSlab
	rows  []model.Row
	// rowsEpoch, when not 0, says rows are a whole refresh's rows, every
	// one but the suspects' as its sweep state's of that epoch are (see
	// sweepState.epoch): a refresh of the same epoch patches the
	// suspects' instead of copying 10^6 rows. Whoever fills rows
	// otherwise starts a new epoch, so a stale one never matches.
	rowsEpoch uint64
	refs      atomic.Int32
	pool      *bufPool
}

// bufHolders is how many hold a new buffer: the tracker's connections
// until the next dump, the snapshot until Release.
const bufHolders = 2

func (b *buffer) release() {
	if b.refs.Add(-1) == 0 {
		if cap(b.socks) > 4*len(b.socks)+1024 {
			b.socks = nil // a past peak: do not keep its memory
		}
		if cap(b.rows) > 4*len(b.rows)+1024 {
			b.rows, b.rowsEpoch = nil, 0
		}
		// rows keep their length for a refresh that patches them;
		// everyone else fills them from rows[:0].
		b.socks = b.socks[:0]
		b.whole.reset()
		b.pool.put(b)
	}
}

// bufPool keeps released socket buffers for the next polls. A sync.Pool
// would not do: the garbage collector empties it, and at 10^5 sockets
// (22 MB a buffer) every poll then dumped into a fresh slice grown from
// nothing, ~40 MB of garbage a poll.
type bufPool struct {
	mu   sync.Mutex
	free []*buffer
}

// maxFreeBufs: one buffer is being filled, and consumers hold one or two
// more until they release them.
const maxFreeBufs = 2

// get returns a free buffer that holders hold (see bufHolders).
func (p *bufPool) get(holders int32) *buffer {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b *buffer
	if n := len(p.free); n > 0 {
		b = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		b = &buffer{pool: p}
	}
	b.refs.Store(holders)
	return b
}

// dropFree lets the garbage collector have the free buffers. A poll
// calls it once it has its own: in the steady state no other is free
// then (a consumer that releases early leaves the one the poll took, one
// that holds its snapshot until the next holds the other), so one free
// now is memory left from a past peak (a paused interface holding two
// snapshots, a recall declined) that would stay idle beside the poll's:
// 20 MB of sockets at 10^5, 10 MB of rows.
func (p *bufPool) dropFree() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.free)
	p.free = p.free[:0]
}

func (p *bufPool) put(b *buffer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxFreeBufs {
		p.free = append(p.free, b)
	}
}

// wholeSlab is a buffer's storage for the sockets it keeps whole, in
// chunks so that a Full once handed out never moves (the buffer's
// sockets point to them) while the slab grows.
type wholeSlab struct {
	chunks [][]inetdiag.Full
	n      int
}

// wholeChunk is the size of a chunk: a screenful of rows fits in one,
// a recorded dump of 10^5 sockets takes a hundred.
const wholeChunk = 1024

// next returns a Full the buffer owns until reset.
func (w *wholeSlab) next() *inetdiag.Full {
	c := w.n / wholeChunk
	if c == len(w.chunks) {
		w.chunks = append(w.chunks, make([]inetdiag.Full, wholeChunk))
	}
	w.n++
	return &w.chunks[c][(w.n-1)%wholeChunk]
}

// reset makes every Full free again; chunks beyond twice what the last
// use took are dropped (a recording stopped, a past peak).
func (w *wholeSlab) reset() {
	used := (w.n + wholeChunk - 1) / wholeChunk
	if len(w.chunks) > 2*used+1 {
		clear(w.chunks[2*used+1:])
		w.chunks = w.chunks[:2*used+1]
	}
	w.n = 0
}

// fullFor is the inetdiag.FullFunc of a dump or look-up into b: the
// sockets keep selects are kept whole in b's slab (nil keep: none).
func (b *buffer) fullFor(keep func(*inetdiag.Socket) bool) inetdiag.FullFunc {
	if keep == nil {
		return nil
	}
	return func(s *inetdiag.Socket) *inetdiag.Full {
		if keep(s) {
			return b.whole.next()
		}
		return nil
	}
}
