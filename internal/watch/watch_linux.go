// Package watch is tcpwatch's poller: it dumps the sockets of a network
// namespace through inetdiag, reads the namespace's sysctls and counters,
// resolves owners and socket options for the connections that need them,
// feeds the model's tracker and publishes immutable snapshots. Data flows
// one way: kernel → inetdiag → model → snapshot consumers (interface, JSON,
// metrics).
package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
	"github.com/tcpwatch/tcpwatch/sockowner"
)

// OwnerPolicy says which connections get their owning process resolved.
type OwnerPolicy int

// Owner policies.
const (
	// OwnersFlagged resolves unhealthy connections and, on small hosts,
	// everything (see Config.OwnerLimit).
	OwnersFlagged OwnerPolicy = iota
	// OwnersAll resolves every connection, whatever it costs (one-shot
	// and JSON output).
	OwnersAll
	// OwnersNone never reads /proc.
	OwnersNone
)

// Config configures a Watcher.
type Config struct {
	// NetNS is the path of the namespace to watch ("" = ours).
	NetNS string
	// NetNSName is how to call it on screen.
	NetNSName string
	Query     query.Query
	Owners    OwnerPolicy
	// OwnerLimit: with OwnersFlagged, every connection is resolved when
	// there are at most this many (default 2000).
	OwnerLimit int
	Tracker    model.Config
	// ProcRoot is /proc unless tests say otherwise.
	ProcRoot string
	// Clock returns the current time (tests may inject one).
	Clock func() time.Time
}

// Watcher polls one namespace.
type Watcher struct {
	cfg     Config
	conn    *inetdiag.Conn
	tracker *model.Tracker
	index   *sockowner.Index
	opts    *sockowner.OptionsCache
	hz      int
	host    string

	mu    sync.Mutex // guards query
	query query.Query

	bufs       bufPool
	prev       *buffer
	lastLen    int // sockets in the last dump
	lastParam  time.Time
	notices    []string
	noticed    map[string]bool
	optsDenied atomic.Bool
}

// buffer holds one poll's sockets and the rows made of them, shared by
// the tracker's connections (until the next dump) and the snapshot
// consumer (until Release). When a consumer releases its snapshot before
// the next poll (the exporter, the JSON writer) the next dump reuses the
// same memory: one buffer, 58 MB at 10^5 sockets, instead of two.
type buffer struct {
	socks []inetdiag.Socket
	rows  []model.Row
	refs  atomic.Int32
	pool  *bufPool
}

func (b *buffer) release() {
	if b.refs.Add(-1) == 0 {
		if cap(b.socks) > 4*len(b.socks)+1024 {
			b.socks = nil // a past peak: do not keep its memory
		}
		if cap(b.rows) > 4*len(b.rows)+1024 {
			b.rows = nil
		}
		b.socks, b.rows = b.socks[:0], b.rows[:0]
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

// New opens the sock_diag socket and reads the namespace's parameters.
func New(cfg Config) (*Watcher, error) {
	if cfg.OwnerLimit == 0 {
		cfg.OwnerLimit = 2000
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	conn, err := inetdiag.Dial(&inetdiag.Config{NetNS: cfg.NetNS})
	if err != nil {
		return nil, err
	}
	w := &Watcher{cfg: cfg, conn: conn, query: cfg.Query, noticed: map[string]bool{}}
	w.host, _ = os.Hostname()
	w.hz = detectHZ()
	if w.hz == 0 {
		w.notice("kernel tick rate unknown (no /proc/config.gz): timer lateness assumes HZ=250")
	}
	p, err := readParams(cfg.NetNS, w.hz)
	if err != nil {
		conn.Close()
		return nil, err
	}
	for _, m := range p.Missing {
		w.notice(fmt.Sprintf("kernel has no %s: using the built-in default", m))
	}
	cfg.Tracker.Params = p
	w.tracker = model.NewTracker(cfg.Tracker)
	w.lastParam = cfg.Clock()
	if cfg.Owners != OwnersNone {
		w.index = sockowner.New(cfg.ProcRoot)
		if cfg.Owners == OwnersAll {
			// Every socket, every poll: unbounded scans, but a cached owner
			// is trusted for a few seconds rather than re-read each time.
			w.index.MaxPids, w.index.MaxScanTime = 0, 0
			w.index.RevalidateAfter = sockowner.DefaultRescanAfter
		}
		w.opts = sockowner.NewOptionsCache(sockowner.DefaultOptionsMaxAge)
	}
	if os.Geteuid() != 0 {
		w.notice("not root: process names only for your own processes, socket options assumed from sysctls (~)")
	}
	return w, nil
}

// Close releases the netlink socket.
func (w *Watcher) Close() error { return w.conn.Close() }

// Conn returns the sock_diag connection (for destroying sockets).
func (w *Watcher) Conn() *inetdiag.Conn { return w.conn }

// Tracker returns the tracker (tests inspect it).
func (w *Watcher) Tracker() *model.Tracker { return w.tracker }

// Query returns the filter in force.
func (w *Watcher) Query() query.Query {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.query
}

// SetQuery changes the filter from the next poll on.
func (w *Watcher) SetQuery(q query.Query) error {
	if _, err := q.Request().Filter.Bytecode(); err != nil {
		return err
	}
	w.mu.Lock()
	w.query = q
	w.mu.Unlock()
	return nil
}

func (w *Watcher) notice(s string) {
	if !w.noticed[s] {
		w.noticed[s] = true
		w.notices = append(w.notices, s)
	}
}

// Poll dumps the sockets once and returns the snapshot.
func (w *Watcher) Poll() (*model.Snapshot, error) {
	w.mu.Lock()
	q := w.query
	w.mu.Unlock()
	start := w.cfg.Clock()
	if start.Sub(w.lastParam) >= 10*time.Second {
		// Sysctls may change while we run.
		if p, err := readParams(w.cfg.NetNS, w.hz); err == nil {
			w.tracker.SetParams(p)
		}
		w.lastParam = start
	}
	counters, cerr := readCounters(w.cfg.NetNS)
	if cerr != nil {
		w.notice("TCP counters unreadable: resets and normal closes between polls cannot be told apart")
	}
	if w.prev != nil {
		// The tracker reads nothing of the last dump any more (its
		// connections keep what the next update compares): once the
		// consumer has released it too, the dump below reuses its memory.
		w.prev.release()
		w.prev = nil
	}
	buf := w.bufs.get()
	buf.refs.Store(2) // the tracker's connections until the next dump, the snapshot until Release
	if cap(buf.socks) == 0 || cap(buf.socks) < w.lastLen {
		// A new buffer, or one too small: size it once.
		buf.socks = slices.Grow(buf.socks[:0], w.expectSockets(q))
	}
	dumpStart := w.cfg.Clock()
	socks, err := w.conn.Dump(q.Request(), buf.socks[:0])
	end := w.cfg.Clock()
	if err != nil {
		buf.refs.Store(1)
		buf.release()
		return nil, fmt.Errorf("watch: %w", err)
	}
	buf.socks = socks
	w.lastLen = len(socks)
	// The kernel read each socket somewhere between dumpStart and end:
	// take the middle as the sample time, half the span as its uncertainty.
	now := dumpStart.Add(end.Sub(dumpStart) / 2)
	for i := range socks {
		if socks[i].Info.Len > 0 && socks[i].Info.Len < inetdiag.TCPInfoLen6_7 {
			w.notice(fmt.Sprintf("kernel sends a %d-byte tcp_info (no tcpi_total_rto_time, 6.7+): the start of the retransmission clock is reconstructed and windows are wider", socks[i].Info.Len))
			break
		}
	}
	var after *model.Counters
	if counters != nil {
		after, _ = readCounters(w.cfg.NetNS)
	}
	poll := w.tracker.Update(model.PollInput{Time: now, Uncertainty: end.Sub(dumpStart) / 2, Socks: socks, Options: w.options, Counters: counters, CountersAfter: after})
	w.prev = buf
	rows := poll.AppendRows(buf.rows[:0], nil)
	w.resolveOwners(rows, now)
	if !q.IsZero() && (q.Unhealth || q.Dying || len(q.Healths) > 0 || len(q.Comms) > 0) {
		kept := rows[:0]
		for i := range rows {
			if q.MatchRow(&rows[i]) {
				kept = append(kept, rows[i])
			}
		}
		rows = kept
	}
	buf.rows = rows
	if w.index != nil && w.index.Partial() && os.Geteuid() == 0 {
		// (Without root, the notice given at start says it already.)
		w.notice("some processes' sockets are unreadable: process names limited")
	}
	if w.optsDenied.Load() {
		w.notice("socket options unreadable (needs CAP_SYS_PTRACE): predictions assume the sysctls (~)")
	}
	snap := model.NewSnapshot(buf.release)
	snap.Time = now
	snap.PollCost = w.cfg.Clock().Sub(start)
	snap.Params = w.tracker.Params()
	snap.Rows = rows
	snap.Events = poll.Events
	snap.AllEvents = append([]model.Event(nil), w.tracker.Events()...)
	snap.Host = w.host
	snap.NetNS = w.cfg.NetNSName
	snap.Notices = append([]string(nil), w.notices...)
	snap.Listening = map[uint16]bool{}
	for i := range socks {
		if socks[i].State == inetdiag.StateListen {
			snap.Listening[socks[i].ID.Src.Port()] = true
		}
	}
	return snap, nil
}

// expectSockets is how many sockets a new buffer, or one too small for the
// last dump, should have room for. A buffer grown by append from nothing to 10^5
// sockets (58 MB) leaves about four times that in garbage on the way,
// which set the peak memory of a whole run: size it once instead, from
// the last dump (plus room to grow), or for the first dump of an
// unfiltered query from the kernel's socket counts.
func (w *Watcher) expectSockets(q query.Query) int {
	if w.lastLen > 0 {
		return w.lastLen + w.lastLen/8 + 16
	}
	if !q.IsZero() {
		return 0 // a filter may keep few of them
	}
	n, err := countSockets(w.cfg.NetNS)
	if err != nil {
		return 0
	}
	return n + n/8 + 16
}

// options is the tracker's OptionSource: the owner from the index, then
// the options through pidfd_getfd (cached per cookie).
func (w *Watcher) options(s *inetdiag.Socket) (model.SockOpts, bool) {
	if w.index == nil || s.Inode == 0 {
		return model.SockOpts{}, false
	}
	now := w.cfg.Clock()
	owner, n := w.index.Owner(s.Inode)
	if n == 0 {
		if _, err := w.index.Refresh([]uint32{s.Inode}, now); err != nil {
			return model.SockOpts{}, false
		}
		owner, n = w.index.Owner(s.Inode)
		if n == 0 {
			return model.SockOpts{}, false
		}
	}
	o, err := w.opts.Get(owner, s.ID.Cookie, now)
	if err != nil {
		if errors.Is(err, sockowner.ErrPermission) {
			w.optsDenied.Store(true)
		}
		return model.SockOpts{}, false
	}
	so := model.SockOpts{
		KeepAlive: o.KeepAlive, KeepIdle: o.KeepIdle, KeepIntvl: o.KeepIntvl, KeepCnt: o.KeepCnt,
		UserTimeout: o.UserTimeout, SynCnt: o.SynCnt,
	}
	if o.Has(sockowner.OptRTOMax) {
		so.RTOMax = o.RTOMax
	}
	return so, true
}

// resolveOwners fills PID and Comm for the rows that need them.
func (w *Watcher) resolveOwners(rows []model.Row, now time.Time) {
	if w.index == nil {
		return
	}
	all := w.cfg.Owners == OwnersAll || len(rows) <= w.cfg.OwnerLimit
	wanted := make([]uint32, 0, 64)
	for i := range rows {
		r := &rows[i]
		if r.Sock.Inode != 0 && (all || r.Health.Unhealthy()) {
			wanted = append(wanted, r.Sock.Inode)
		}
	}
	if len(wanted) == 0 {
		return
	}
	if _, err := w.index.Refresh(wanted, now); err != nil {
		w.notice("cannot read /proc: no process names")
		return
	}
	for i := range rows {
		r := &rows[i]
		if r.Sock.Inode == 0 {
			continue
		}
		if o, n := w.index.Owner(r.Sock.Inode); n > 0 {
			r.PID, r.Comm = o.PID, o.Comm
		}
	}
	if w.opts != nil {
		w.opts.Prune(now.Add(-5 * time.Minute))
	}
}

// PollShare is the largest share of the time polls may take (1/PollShare):
// tcpwatch runs on hosts in trouble and must stay under a tenth of a core.
// A poll's wall time is most of its CPU but not all of it (the garbage
// collector, the exporter's scrapes, the interface's frames come on top:
// at 10^5 sockets a tenth for the polls measured 10.5 % in all), hence a
// twelfth. At 10^5 sockets the kernel alone spends about 0.18 s per dump,
// so such hosts are polled every two or three seconds (the countdowns tick
// every second anyway).
const PollShare = 12

// Loop polls every interval until ctx is done and sends each snapshot on
// out (closing it at the end). When polls take more than 1/PollShare of
// the interval, the interval is stretched to PollShare times their cost,
// and the snapshots say so, rather than falling behind or eating the host. It takes two slow polls in
// a row: the first one, which fills the process index, or a one-off stall
// must not stop the countdowns for seconds. Poll errors are sent to errs
// (if not nil) and the loop goes on.
func (w *Watcher) Loop(ctx context.Context, interval time.Duration, out chan<- *model.Snapshot, errs chan<- error) {
	defer close(out)
	effective := interval
	var prevCost time.Duration
	for {
		snap, err := w.Poll()
		if err != nil {
			if errs != nil {
				select {
				case errs <- err:
				default:
				}
			}
		} else {
			effective = interval
			cost := snap.PollCost
			if steady := min(cost, prevCost); steady*PollShare > interval {
				effective = steady * PollShare
			}
			prevCost = cost
			snap.Interval, snap.Slowed = effective, effective > interval
			select {
			case out <- snap:
			case <-ctx.Done():
				snap.Release()
				return
			}
		}
		t := time.NewTimer(effective)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
