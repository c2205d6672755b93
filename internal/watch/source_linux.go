package watch

import (
	"fmt"
	"slices"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// dumper is the sock_diag dump of one network namespace: an
// *inetdiag.Conn opened inside it, or a fake in tests.
type dumper interface {
	// Dump appends the sockets the request selects to dst.
	Dump(req inetdiag.Request, dst []inetdiag.Socket) ([]inetdiag.Socket, error)
	Close() error
}

// paramsEvery is how often a source reads its sysctls again: they may be
// changed while tcpwatch runs, and reading a dozen files every poll would
// be a waste.
const paramsEvery = 10 * time.Second

// source is one network namespace as the poller sees it: its dump, its
// kernel state (parameters, counters, socket count), the tracker of its
// connections and the buffers its dumps fill. Everything that is per
// namespace lives here, and nothing else does (owners, options, notices
// and the filter belong to the Watcher), so that watching several
// namespaces is one source each.
type source struct {
	dump    dumper
	ns      nsReader
	tracker *model.Tracker
	clock   func() time.Time
	notice  func(string)
	// keep says which sockets are kept whole (Socket.Full) besides their
	// compact form; nil keeps none.
	keep func(*inetdiag.Socket) bool

	lastParam time.Time // when the sysctls were last read
	// bufs are the sweeps' buffers, lookBufs the refreshes' look-ups: a
	// look-up drawing a sweep's idle buffer would drop its memory at
	// release (a few sockets in room for 10^5), and the next sweep would
	// have to allocate it again (20 MB of garbage at 10^5 sockets, each
	// sweep).
	bufs     bufPool
	lookBufs bufPool
	grown    int        // times takeBuffer sized a buffer (tests)
	prev     *buffer    // the last dump, which the tracker's connections point into
	lastLen  int        // sockets in the last dump
	sweep    sweepState // for the refreshes between sweeps (refresh_linux.go)
	// ledger balances RTO firings against the suspects' between sweeps;
	// unexplained says the last refresh found some no suspect fired (a
	// sweep is wanted: see tiers.early).
	ledger      model.RTOLedger
	unexplained bool
	// infoLenSaid: the kernel notice already said that tcp_info has no
	// tcpi_total_rto_time.
	infoLenSaid bool
}

// newSource reads the namespace's parameters once (a namespace whose
// sysctls cannot be read is an error) and starts its tracker.
func newSource(d dumper, ns nsReader, tcfg model.Config, clock func() time.Time, notice func(string)) (*source, error) {
	p, err := ns.Params()
	if err != nil {
		return nil, err
	}
	// One line about the kernel, once: what it predates and how that is
	// modelled (the short tcp_info of a kernel before 6.7 included).
	rel := kernelRelease()
	if n := model.KernelNotice(rel, p.Missing); n != "" {
		notice(n)
	}
	tcfg.Params = p
	return &source{dump: d, ns: ns, tracker: model.NewTracker(tcfg), clock: clock, notice: notice, lastParam: clock(),
		infoLenSaid: model.PredatesRTOStats(rel)}, nil
}

// sourcePoll is one poll of a source: its dump and what the tracker made
// of it.
type sourcePoll struct {
	// buf holds the dump's sockets (and will hold the rows): the
	// snapshot made of this poll releases it.
	buf *buffer
	// time is when the kernel read the sockets (the middle of the dump),
	// uncertainty half the dump's duration.
	time        time.Time
	uncertainty time.Duration
	poll        model.Poll
	// counters and countersAfter are those given to the tracker.
	counters, countersAfter *model.Counters
	// refresh is set for the look-ups between two sweeps: then buf holds
	// the sockets looked up, and shared the sweep's that the other rows
	// point into (one reference each for the snapshot).
	refresh bool
	shared  *buffer
	// rows holds the snapshot's rows (Watcher.rowBufs; nil until the
	// Watcher makes them): the snapshot alone holds it, so that a row
	// array lives as long as its snapshot, not as long as the tracker
	// points into the sockets.
	rows *buffer
	// listening is the swept sockets' listening ports when already
	// known (a refresh's), else nil.
	listening map[uint16]bool
}

// release lets go of the poll's buffers (the snapshot's references).
func (sp *sourcePoll) release() {
	sp.buf.release()
	if sp.shared != nil {
		sp.shared.release()
	}
	if sp.rows != nil {
		sp.rows.release()
	}
}

// sweptSocks are the sockets of the dump the poll's rows come from.
func (sp *sourcePoll) sweptSocks() []inetdiag.Socket {
	if sp.shared != nil {
		return sp.shared.socks
	}
	return sp.buf.socks
}

// poll takes one dump and feeds it to the tracker: the parameters are
// refreshed if due, the counters read on both sides of the dump, and the
// dump goes into a buffer released by earlier polls if there is one.
// start is when the poll began; filtered, whether the query filters at
// all (the namespace's socket count then says nothing of the dump's
// size); opts reads the options of the connections the tracker
// flags.
// dumpExtensions is what the poller asks the kernel for besides the
// inet_diag message: tcp_info, which every rule of the model reads, and
// nothing else. The memory, socket-memory and congestion attributes that
// inetdiag.ExtDefault adds are shown by no view, and cost the kernel's
// dump a fifth of its time (86–92 ms against 71–73 ms at 40k sockets).
// The shutdown state comes with every reply anyway.
const dumpExtensions = inetdiag.ExtInfo

func (s *source) poll(start time.Time, req inetdiag.Request, filtered bool, opts model.OptionSource) (sourcePoll, error) {
	s.refreshParams(start)
	counters, cerr := s.ns.Counters()
	if cerr != nil {
		s.notice("TCP counters unreadable: resets and normal closes between polls cannot be told apart")
	}
	buf := s.takeBuffer(filtered)
	dumpStart := s.clock()
	req.Ext = dumpExtensions
	req.Full = buf.fullFor(s.keep)
	socks, err := s.dump.Dump(req, buf.socks[:0])
	end := s.clock()
	if err != nil {
		s.dropBuffer(buf)
		return sourcePoll{}, fmt.Errorf("watch: %w", err)
	}
	buf.socks = socks
	s.lastLen = len(socks)
	s.noticeInfoLen(socks)
	var after *model.Counters
	if counters != nil {
		after, _ = s.ns.Counters()
	}
	// The kernel read each socket somewhere between dumpStart and end:
	// take the middle as the sample time, half the span as its
	// uncertainty.
	sp := sourcePoll{buf: buf, time: dumpStart.Add(end.Sub(dumpStart) / 2), uncertainty: end.Sub(dumpStart) / 2, counters: counters, countersAfter: after}
	sp.poll = s.tracker.Update(model.PollInput{
		Time: sp.time, Uncertainty: sp.uncertainty, Socks: socks, Options: opts,
		Counters: counters, CountersAfter: after,
	})
	s.prev = buf
	s.noteSweep(sp.poll)
	s.ledger.Swept(after)
	s.unexplained = false
	return sp, nil
}

// refreshParams reads the sysctls again when they are paramsEvery old: an
// operator may change them while we run. A failed reading keeps the
// parameters in force until the next attempt.
func (s *source) refreshParams(now time.Time) {
	if now.Sub(s.lastParam) < paramsEvery {
		return
	}
	if p, err := s.ns.Params(); err == nil {
		s.tracker.SetParams(p)
	}
	s.lastParam = now
}

// takeBuffer returns the buffer the next dump fills, held by bufHolders.
// The last dump is released first: the tracker reads nothing of it any
// more (its connections keep what the next update compares), so once the
// consumer has released it too, the dump reuses its memory.
func (s *source) takeBuffer(filtered bool) *buffer {
	if s.prev != nil {
		s.prev.release()
		s.prev = nil
	}
	buf := s.bufs.get(bufHolders)
	s.bufs.dropFree()
	if cap(buf.socks) == 0 || cap(buf.socks) < s.lastLen {
		// A new buffer, or one too small: size it once.
		buf.socks = slices.Grow(buf.socks[:0], s.expectSockets(filtered))
		s.grown++
	}
	return buf
}

// dropBuffer gives back the buffer of a dump that failed: nobody holds it.
func (s *source) dropBuffer(buf *buffer) {
	buf.refs.Store(1)
	buf.release()
}

// expectSockets is how many sockets a new buffer, or one too small for the
// last dump, should have room for. A buffer grown by append from nothing to 10^5
// sockets (22 MB) leaves about four times that in garbage on the way,
// which set the peak memory of a whole run: size it once instead, from
// the last dump (plus room to grow), or for the first dump of an
// unfiltered query from the kernel's socket counts. The room is a
// thirty-second, not an eighth: the buffer is kept for good, and an
// eighth of 10^5 sockets was 2.4 MB idle in it; a host that outgrows it
// costs one larger buffer, once.
func (s *source) expectSockets(filtered bool) int {
	if s.lastLen > 0 {
		return s.lastLen + s.lastLen/32 + 16
	}
	if filtered {
		return 0 // a filter may keep few of them
	}
	n, err := s.ns.Sockets()
	if err != nil {
		return 0
	}
	return n + n/32 + 16
}

// noticeInfoLen tells once that the kernel's tcp_info is older than 6.7
// (no tcpi_total_rto_time): the model then reconstructs when the
// retransmissions started, with wider windows.
func (s *source) noticeInfoLen(socks []inetdiag.Socket) {
	if s.infoLenSaid {
		return
	}
	for i := range socks {
		if socks[i].Info.Len > 0 && socks[i].Info.Len < inetdiag.TCPInfoLen6_7 {
			s.notice(fmt.Sprintf("kernel sends a %d-byte tcp_info (no tcpi_total_rto_time, 6.7+): the start of the retransmission clock is reconstructed and windows are wider", socks[i].Info.Len))
			return
		}
	}
}

// close closes the namespace's socket.
func (s *source) close() error { return s.dump.Close() }
