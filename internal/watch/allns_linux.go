package watch

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/netns"
	"github.com/tcpwatch/tcpwatch/model"
)

// retryAtMost is the longest wait before a namespace that could not be
// opened is tried again: the wait starts at rediscoverEvery and doubles
// with each failure, so that a namespace that cannot be opened at all (no
// privilege) costs an open a minute, and one whose failure passed is
// watched within seconds.
const retryAtMost = time.Minute

// retry is when a namespace that could not be opened is tried again.
type retry struct {
	at   time.Time
	wait time.Duration
}

// rediscoverEvery is how often the namespaces are listed again: a pod
// started or deleted shows within that, and listing costs a stat of every
// process's /proc/PID/ns/net (a few milliseconds on a host of a thousand
// processes), too much for every poll.
const rediscoverEvery = 2 * time.Second

// maxParallel bounds how many namespaces are dumped at once. The kernel
// does most of a dump's work, on the calling thread: more dumps at once
// than cores only make them queue, and tcpwatch must leave the host's
// cores to the host.
const maxParallel = 8

// allNS is the poller of every network namespace of the host
// (Config.AllNetNS). Each namespace is a source of its own: its sock_diag
// socket opened inside it, its kernel parameters read inside it, its own
// tracker. A connection's prediction therefore uses its own namespace's
// sysctls, and the model knows nothing of namespaces. Owners, socket
// options, notices and the filter are the Watcher's, shared: socket inodes
// and /proc are host-wide.
//
// tcpwatch never moves: the socket of a namespace is created by a thread
// that enters it and is discarded (inetdiag.Dial), and the namespace's
// sysctls and counters are read the same way (netns.Do). Each namespace
// is held open by a file descriptor for as long as it is watched, so that
// a process-held namespace stays reachable when the process that named
// it exits; holding it also keeps it (and its sockets) alive until the
// next discovery sees it gone, which is when its connections end with
// EventNetNSGone rather than as aborts or resets.
type allNS struct {
	w *Watcher

	// The seams: listing, labelling and opening namespaces.
	discover func() (netns.Found, error)
	pods     func() map[string]netns.Pod
	label    func(ns *netns.Namespace, pods map[string]netns.Pod) netns.Label
	open     func(ns *netns.Namespace) (nsHandle, error)
	parallel int

	members map[netns.ID]*member
	order   []*member // as discovery orders them: the host first
	// orderMu guards order against Destroy, which runs beside the loop.
	orderMu sync.Mutex
	// failed are namespaces that could not be opened (the reason is in
	// the notices), tried again with backoff while they live: a failure
	// may pass (descriptors or memory short, a pod being set up), and a
	// namespace never retried would stay unwatched for its whole life.
	failed map[netns.ID]*retry
	listed bool // a discovery succeeded once
	// sharedSaid: the notice about namespaces sharing the host's socket
	// table was given.
	sharedSaid bool
	lastFound  time.Time // when the namespaces were last listed
	// pending are the EventNetNSGone of namespaces found gone since the
	// last snapshot; events those kept so far, every namespace's, tagged.
	pending []model.Event
	events  []model.Event

	noticeMu sync.Mutex // the Watcher's notices, from concurrent sources
	optsMu   sync.Mutex // the Watcher's owner index and options cache
}

// nsHandle is an opened namespace: its dump and reader, and what closing
// it releases.
type nsHandle struct {
	dump dumper
	ns   nsReader
	conn *inetdiag.Conn // for destroying sockets (nil with fakes)
	hold func() error   // closes the file that holds the namespace (nil if none)
	// sharedTable: the namespace uses the host's established-socket hash
	// table (ehash_linux.go).
	sharedTable bool
}

// member is one watched namespace.
type member struct {
	ns     netns.Namespace
	label  netns.Label
	info   *model.NetNS // shared by its rows and events; replaced, never modified
	infoAt time.Time    // the source's lastParam when info was made
	h      nsHandle
	src    *source
	// last is the last successful poll: its connections are those that
	// end with EventNetNSGone if the namespace goes. held keeps their
	// sockets' buffer while later polls fail (a failed poll releases it
	// to the pool otherwise).
	last model.Poll
	held *buffer
	// The current poll's result.
	sp  sourcePoll
	err error
}

// newAllWatcher is New for Config.AllNetNS: the namespaces are listed and
// opened before it returns, and one that cannot be opened is a notice.
func newAllWatcher(cfg Config) (*Watcher, error) {
	hz := detectHZ()
	roots := cfg.Roots
	if roots == (netns.Roots{}) {
		roots = netns.DefaultRoots
	}
	w := newBase(cfg, hz)
	a := newAllNS(w)
	a.discover = func() (netns.Found, error) { return netns.Discover(roots) }
	a.pods = func() map[string]netns.Pod { return netns.ReadPods(roots.Pods) }
	a.label = func(ns *netns.Namespace, pods map[string]netns.Pod) netns.Label {
		return netns.LabelOf(roots, ns, pods)
	}
	a.open = func(ns *netns.Namespace) (nsHandle, error) { return openNS(ns, hz) }
	if err := a.start(); err != nil {
		return nil, err
	}
	return w, nil
}

// newAllNS attaches an allNS without seams to w.
func newAllNS(w *Watcher) *allNS {
	a := &allNS{
		w: w, parallel: min(max(runtime.GOMAXPROCS(0), 2), maxParallel),
		members: map[netns.ID]*member{}, failed: map[netns.ID]*retry{},
	}
	w.all = a
	return a
}

// start lists and opens the namespaces: not one opened is an error.
func (a *allNS) start() error {
	if err := a.rediscover(a.w.cfg.Clock()); err != nil {
		return err
	}
	if len(a.order) == 0 {
		return fmt.Errorf("watch: no network namespace could be opened (entering them needs CAP_SYS_ADMIN, finding them CAP_SYS_PTRACE)")
	}
	return nil
}

// notice adds a notice; sources polled at once call it.
func (a *allNS) notice(s string) {
	a.noticeMu.Lock()
	defer a.noticeMu.Unlock()
	a.w.notices.add(s)
}

// options is the Watcher's option source for sources polled at once.
func (a *allNS) options(s *inetdiag.Socket) (model.SockOpts, bool) {
	a.optsMu.Lock()
	defer a.optsMu.Unlock()
	return a.w.options(s)
}

// poll is Watcher.Poll over every namespace: the namespaces listed again
// if due, each dumped and fed to its tracker (at most parallel at once),
// the rows merged in the namespaces' order and tagged, then the owners,
// the filter, the notices and the snapshot as for one namespace. A
// namespace whose dump fails costs a notice, not the poll.
func (a *allNS) poll() (*model.Snapshot, error) { return a.tick(false) }

// refresh is Watcher.refresh over every namespace: each one's suspects
// looked up (see source.refresh); the namespaces are not listed again.
func (a *allNS) refresh() (*model.Snapshot, error) { return a.tick(true) }

// canRefresh reports whether every namespace answers look-ups.
func (a *allNS) canRefresh() bool {
	for _, m := range a.order {
		if _, ok := m.src.dump.(lookuper); !ok {
			return false
		}
	}
	return len(a.order) > 0
}

// tick is a poll (a sweep) or a refresh of every namespace.
func (a *allNS) tick(refresh bool) (*model.Snapshot, error) {
	w := a.w
	q := w.Query()
	start := w.cfg.Clock()
	if !refresh && (!a.listed || start.Sub(a.lastFound) >= rediscoverEvery) {
		if err := a.rediscover(start); err != nil {
			a.notice(err.Error())
		}
	}
	a.pollMembers(start, q.Request(), !q.IsZero(), refresh)

	rb := w.takeRows()
	rows := rb.rows[:0]
	events := a.pending
	a.pending = nil
	polls := make([]sourcePoll, 0, len(a.order))
	listen := map[uint16]bool{}
	var sampled time.Time
	var uncertainty time.Duration // the widest of the namespaces' readings
	var earliest time.Time        // the earliest moment any of them read
	var firstErr error
	for _, m := range a.order {
		if m.err != nil {
			if firstErr == nil {
				firstErr = m.err
			}
			a.notice(fmt.Sprintf("network namespace %s: %v", m.label.Name, m.err))
			continue
		}
		sp := m.sp
		m.sp = sourcePoll{}
		if sp.buf == nil {
			continue // not swept yet: nothing to refresh
		}
		polls = append(polls, sp)
		info := m.currentInfo()
		n := len(rows)
		rows = sp.poll.AppendRows(rows, nil)
		for i := n; i < len(rows); i++ {
			rows[i].NetNS = info
		}
		for _, e := range sp.poll.Events {
			e.NetNS = info
			events = append(events, e)
		}
		socks := sp.sweptSocks()
		for i := range socks {
			if s := &socks[i]; s.State == inetdiag.StateListen {
				listen[s.ID.Src.Port()] = true
			}
		}
		if sp.time.After(sampled) {
			sampled = sp.time
		}
		uncertainty = max(uncertainty, sp.uncertainty)
		if first := sp.time.Add(-sp.uncertainty); earliest.IsZero() || first.Before(earliest) {
			earliest = first
		}
	}
	release := func() {
		for i := range polls {
			polls[i].release()
		}
		rb.release()
	}
	if len(polls) == 0 && firstErr != nil {
		release()
		return nil, fmt.Errorf("watch: every namespace failed: %w", firstErr)
	}
	if sampled.IsZero() {
		sampled = start
	}
	w.resolveOwners(rows, sampled, q)
	// The peers are judged at the latest sample time: the rows read
	// earlier, in other namespaces, are within sampled-earliest of it.
	if !earliest.IsZero() {
		uncertainty = max(uncertainty, sampled.Sub(earliest))
	}
	peers, peerEvents := w.judgeAllPeers(refresh, earliest, sampled, uncertainty, a.hostParams().Jiffy(), rows, events)
	rows = filterRows(rows, q)
	rb.rows, rb.rowsEpoch = rows, 0
	w.noticeLimits()
	a.keep(events)

	snap := model.NewSnapshot(release)
	snap.Time = sampled
	snap.PollCost = w.cfg.Clock().Sub(start)
	snap.Params = a.hostParams()
	snap.Rows = rows
	snap.Events = events
	snap.AllEvents = append([]model.Event(nil), a.events...)
	snap.Host = w.host
	snap.NetNS = fmt.Sprintf("all (%d)", len(a.order))
	snap.Notices = w.notices.all()
	snap.Listening = listen
	snap.Refresh = refresh
	return w.withPeers(snap, peers, peerEvents), nil
}

// pollMembers polls every namespace, at most a.parallel at once; each
// result is left in its member.
func (a *allNS) pollMembers(start time.Time, req inetdiag.Request, filtered, refresh bool) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(a.parallel, len(a.order)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(a.order) {
					return
				}
				if refresh {
					a.order[i].refresh(start, a.options)
				} else {
					a.order[i].poll(start, req, filtered, a.options)
				}
			}
		}()
	}
	wg.Wait()
}

// poll is one poll of the member's source. The buffer of its last
// successful poll is held through failures (see member.last).
func (m *member) poll(start time.Time, req inetdiag.Request, filtered bool, opts model.OptionSource) {
	if m.held == nil && m.src.prev != nil {
		m.src.prev.refs.Add(1)
		m.held = m.src.prev
	}
	m.sp, m.err = m.src.poll(start, req, filtered, opts)
	if m.err == nil {
		m.last = m.sp.poll
		if m.held != nil {
			m.held.release()
			m.held = nil
		}
	}
}

// refresh is one refresh of the member's source; a namespace not swept
// successfully since it was found (or since its last failure) has nothing
// to refresh and gives no rows until its next sweep.
func (m *member) refresh(start time.Time, opts model.OptionSource) {
	m.sp, m.err = sourcePoll{}, nil
	if !m.src.canRefresh() {
		return
	}
	m.sp, m.err = m.src.refresh(start, opts)
	if m.err == nil {
		m.last = m.sp.poll
	}
}

// currentInfo is the member's namespace as its rows carry it, made anew
// when its source read its parameters again.
func (m *member) currentInfo() *model.NetNS {
	if m.info == nil || !m.infoAt.Equal(m.src.lastParam) {
		m.info = &model.NetNS{
			Inode: m.ns.ID.Inode, Name: m.label.Name, Pod: m.label.Pod, Container: m.label.Container,
			Params: m.src.tracker.Params(),
		}
		m.infoAt = m.src.lastParam
	}
	return m.info
}

// keep adds a poll's events to those kept, within the tracker's limit.
func (a *allNS) keep(events []model.Event) {
	a.events = append(a.events, events...)
	limit := a.w.cfg.Tracker.EventLimit
	if limit <= 0 {
		limit = 1000 // model.Config's default
	}
	if over := len(a.events) - limit; over > 0 {
		a.events = append(a.events[:0], a.events[over:]...)
	}
}

// hostParams are the parameters of the host's namespace (the snapshot's
// Params, which a display shows when no namespace is selected).
func (a *allNS) hostParams() model.Params {
	for _, m := range a.order {
		if m.ns.Host {
			return m.src.tracker.Params()
		}
	}
	if len(a.order) > 0 {
		return a.order[0].src.tracker.Params()
	}
	return model.DefaultParams()
}

// close closes every namespace's socket and file.
func (a *allNS) close() error {
	var first error
	for _, m := range a.order {
		if err := m.close(); err != nil && first == nil {
			first = err
		}
	}
	a.orderMu.Lock()
	a.order, a.members = nil, map[netns.ID]*member{}
	a.orderMu.Unlock()
	return first
}

func (m *member) close() error {
	err := m.src.close()
	if m.h.hold != nil {
		if herr := m.h.hold(); err == nil {
			err = herr
		}
	}
	return err
}
