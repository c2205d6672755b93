package watch

import (
	"sync"
	"sync/atomic"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// buffer holds one poll's sockets and the rows made of them, shared by
// the tracker's connections (until the next dump) and the snapshot
// consumer (until Release). When a consumer releases its snapshot before
// the next poll (the exporter, the JSON writer) the next dump reuses the
// same memory: one buffer, 58 MB at 10^5 sockets, instead of two.
type buffer struct {
	socks []inetdiag.Socket
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
		b.pool.put(b)
	}
}

// bufPool keeps released socket buffers for the next polls. A sync.Pool
// would not do: the garbage collector empties it, and at 10^5 sockets
// (58 MB a buffer) every poll then dumped into a fresh slice grown from
// nothing, ~100 MB of garbage a poll.
type bufPool struct {
	mu   sync.Mutex
	free []*buffer
}

// maxFreeBufs: one buffer is being filled, and consumers hold one or two
// more until they release them.
const maxFreeBufs = 2

func (p *bufPool) get() *buffer {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b
	}
	return &buffer{pool: p}
}

func (p *bufPool) put(b *buffer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxFreeBufs {
		p.free = append(p.free, b)
	}
}
