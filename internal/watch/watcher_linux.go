package watch

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/netns"
	"github.com/tcpwatch/tcpwatch/internal/record"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
	"github.com/tcpwatch/tcpwatch/sockowner"
)

// OwnerPolicy says which connections get their owning process resolved.
type OwnerPolicy int

// Owner policies.
const (
	// OwnersFlagged resolves unhealthy connections and, on small hosts,
	// everything (see Config.OwnerLimit); a filter on process names gets
	// the rows it must test resolved too.
	OwnersFlagged OwnerPolicy = iota
	// OwnersAll resolves every connection, whatever it costs (one-shot
	// and JSON output).
	OwnersAll
	// OwnersNone never reads /proc.
	OwnersNone
)

// DefaultOwnerLimit is Config.OwnerLimit's default.
const DefaultOwnerLimit = 2000

// Config configures a Watcher.
type Config struct {
	// NetNS is the path of the namespace to watch ("" = ours).
	NetNS string
	// NetNSName is how to call it on screen.
	NetNSName string
	// AllNetNS watches every network namespace of the host instead (see
	// allNS); Roots are where it finds them (zero: netns.DefaultRoots).
	AllNetNS bool
	Roots    netns.Roots
	// Query is the filter in force from the first poll (see SetQuery).
	Query  query.Query
	Owners OwnerPolicy
	// OwnerLimit: with OwnersFlagged, every connection is resolved when
	// there are at most this many (default DefaultOwnerLimit).
	OwnerLimit int
	// Tracker configures the model's tracker (its Params are read from
	// the namespace).
	Tracker model.Config
	// ProcRoot is /proc unless tests say otherwise.
	ProcRoot string
	// Clock returns the current time (tests may inject one).
	Clock func() time.Time
	// CountOtherNetNS makes a single-namespace watcher count the host's
	// other network namespaces now and then, for the interface's hint
	// that --all-netns would show them (Snapshot.OtherNetNS).
	CountOtherNetNS bool
	// Record, if set, receives every poll's input (see recorder).
	Record *record.Writer
	// SweepEvery, if positive, makes Loop dump everything at most this
	// often and only look up the suspects in between, whatever dumps
	// cost; if negative, every poll dumps (slow polls stretch the
	// interval). By default (zero) the polls split so when dumps exceed
	// the poll budget (see tiers).
	SweepEvery time.Duration
}

// Watcher polls one namespace. Poll and Loop must not run concurrently;
// Query and SetQuery may be called from any goroutine.
type Watcher struct {
	cfg  Config
	src  *source
	conn *inetdiag.Conn // the source's socket, for destroying sockets (nil with a fake dumper)
	all  *allNS         // with Config.AllNetNS, the namespaces (then src is nil)
	host string
	// rowBufs are the snapshots' rows, sweeps' and refreshes' alike: a
	// row array is free again as soon as its snapshot is released. (Kept
	// with the sockets they point to, a sweep's rows stayed until the
	// next sweep, 16 MB idle at 10^5 sockets beside the refreshes' own.)
	rowBufs bufPool

	mu    sync.Mutex // guards query, gen and shown
	query query.Query
	gen   uint64 // counts SetQuery calls: a new filter needs a new sweep
	// shown are the socket inodes of the rows an interface shows, whose
	// owners are resolved whatever the policy (SetShown).
	shown    map[uint32]bool
	shownGen uint64 // counts SetShown calls
	// whole are the cookies of the rows on screen, whose sockets are
	// kept whole (all of tcp_info) for a detail view. Read for every
	// socket of a dump, so not under mu: SetShown swaps in a new set.
	whole atomic.Pointer[map[uint64]bool]
	// refreshSetup says the last Refresh made or copied every row of its
	// sweep (see tiers.setup).
	refreshSetup bool
	// refreshScreen is what the last Refresh spent naming the processes
	// of rows on screen (see tiers.refreshed).
	refreshScreen time.Duration

	// Owners and options, host-wide (nil with OwnersNone).
	index      *sockowner.Index
	opts       *sockowner.OptionsCache
	optsDenied atomic.Bool
	// wanted is the inodes whose owners a poll asks for, kept between
	// polls: up to every socket of the host (400 KB at 10^5) when every
	// owner is resolved.
	wanted []uint32
	// ownerStats is what the owner index did at the last resolveOwners
	// (zero when it was not asked).
	ownerStats sockowner.Stats

	notices notices
	rec     *recorder          // nil unless recording
	peers   *model.PeerTracker // remote hosts, judged over every row (peers_linux.go)
	// lastPeers are the last poll's verdicts, which a refresh keeps for
	// the hosts it does not judge again.
	lastPeers []model.Peer
	other     otherNetNS // the host's other namespaces, for a hint
	// recall asks the consumer for the last snapshot back before a poll
	// of a large host (see SetRecall); nil: nobody to ask.
	recall func(ctx context.Context)
	// wait sleeps between the polls of Loop; tests replace it.
	wait func(ctx context.Context, d time.Duration) bool
}

// New opens the sock_diag socket and reads the namespace's parameters.
func New(cfg Config) (*Watcher, error) {
	if cfg.AllNetNS {
		return newAllWatcher(cfg)
	}
	conn, err := inetdiag.Dial(&inetdiag.Config{NetNS: cfg.NetNS})
	if err != nil {
		return nil, err
	}
	hz := detectHZ()
	w, err := newWatcher(cfg, conn, procNS{path: cfg.NetNS, hz: hz}, hz)
	if err != nil {
		conn.Close()
		return nil, err
	}
	w.conn = conn
	return w, nil
}

// newWatcher is New with the namespace's dump and reader given (and the
// kernel's tick rate they use, 0 if unknown): the seam through which tests
// run the poller on fakes.
func newWatcher(cfg Config, d dumper, ns nsReader, hz int) (*Watcher, error) {
	w := newBase(cfg, hz)
	src, err := newSource(d, ns, w.cfg.Tracker, w.cfg.Clock, w.notices.add)
	if err != nil {
		return nil, err
	}
	src.keep = w.keepWhole
	w.src = src
	return w, nil
}

// newBase is a Watcher without its source: the owners, options, notices
// and filter that every namespace it watches shares.
func newBase(cfg Config, hz int) *Watcher {
	if cfg.OwnerLimit == 0 {
		cfg.OwnerLimit = DefaultOwnerLimit
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Record != nil {
		cfg.Clock = wallClock(cfg.Clock)
	}
	w := &Watcher{cfg: cfg, query: cfg.Query, wait: sleep}
	w.host, _ = os.Hostname()
	w.rec = newRecorder(cfg.Record)
	if hz == 0 {
		w.notices.add("kernel tick rate unknown (no /proc/config.gz): timer lateness assumes HZ=250")
	}
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
	// A non-root process with both capabilities (the systemd unit's and
	// the DaemonSet's set) reads other users' descriptors like root.
	if os.Geteuid() != 0 && !hasOwnerCaps() {
		w.notices.add("not root: process names only for your own processes, socket options assumed from sysctls (~)")
	}
	return w
}

// Close releases the netlink socket.
func (w *Watcher) Close() error {
	if w.all != nil {
		return w.all.close()
	}
	return w.src.close()
}

// Conn returns the sock_diag connection (for destroying sockets).
func (w *Watcher) Conn() *inetdiag.Conn { return w.conn }

// Tracker returns the tracker (tests inspect it).
// With Config.AllNetNS there is one per namespace, and it returns nil.
func (w *Watcher) Tracker() *model.Tracker {
	if w.src == nil {
		return nil
	}
	return w.src.tracker
}

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
	w.gen++
	w.mu.Unlock()
	return nil
}

// SetShown says which sockets' rows are on screen, by inode and by
// cookie: from the next poll on their processes are resolved, whatever
// the owner policy and limit, so that the rows a user looks at always
// carry their process; and their sockets are kept whole, so that a
// detail view opened on one shows all of its tcp_info at once (every
// other socket is stored compact).
func (w *Watcher) SetShown(inodes []uint32, cookies []uint64) {
	m := make(map[uint32]bool, len(inodes))
	for _, ino := range inodes {
		m[ino] = true
	}
	c := make(map[uint64]bool, len(cookies))
	for _, k := range cookies {
		c[k] = true
	}
	w.mu.Lock()
	w.shown = m
	w.shownGen++
	w.mu.Unlock()
	w.whole.Store(&c)
}

// SetRecall gives Loop a way to ask for the snapshot it sent last back
// before each poll of a host whose sweeps cost more than the poll budget
// (polled in two tiers, or about to be). Such a snapshot points into the
// last sweep's socket buffer (20 MB at 10^5 sockets, 200 MB at 10^6) and
// has a row array of its own (10 MB, 100 MB): held while the next poll
// runs, it makes the watcher keep two of each, the next sweep dumping
// beside it and the next refresh writing its rows beside them. Given
// back, the sweep dumps into the same buffer, and a refresh patches the
// same rows (only the suspects' change). recall returns once the
// consumer has released it, or declined, or taken too long (the poll
// then works beside it, as without a recall). The interface, which holds
// each snapshot until the next, is the consumer that needs one; the
// exporter and the JSON writer release theirs first anyway. Call it
// before Loop.
func (w *Watcher) SetRecall(recall func(ctx context.Context)) { w.recall = recall }

// takeRows returns the row array for the next snapshot, which the
// snapshot alone holds. Any other left free is dropped (see
// bufPool.dropFree): with a recall it is the one the interface gave back
// before the last poll, idle from then on, 10 MB at 10^5 rows.
func (w *Watcher) takeRows() *buffer {
	b := w.rowBufs.get(1)
	w.rowBufs.dropFree()
	return b
}

// keepWhole says whether a dump keeps s whole: every socket of a
// recorded poll (a recording holds all that the kernel sent), else those
// on screen.
func (w *Watcher) keepWhole(s *inetdiag.Socket) bool {
	if w.rec != nil {
		return true
	}
	m := w.whole.Load()
	return m != nil && len(*m) > 0 && (*m)[s.ID.Cookie]
}

// shownGeneration counts the SetShown calls so far.
func (w *Watcher) shownGeneration() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.shownGen
}

// shownSet is the set SetShown gave last.
func (w *Watcher) shownSet() map[uint32]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.shown
}

// queryGen is the filter's generation (see Watcher.gen).
func (w *Watcher) queryGen() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gen
}

// canRefresh reports whether the next poll could look up suspects rather
// than dump: never while recording (a recording holds dumps, which replay
// feeds to the model as they were), and only where every namespace's
// socket answers look-ups and has been swept.
func (w *Watcher) canRefresh() bool {
	if w.rec != nil || w.cfg.SweepEvery < 0 {
		return false
	}
	if w.all != nil {
		return w.all.canRefresh()
	}
	return w.src.canRefresh()
}
