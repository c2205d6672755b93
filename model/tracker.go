package model

// Following connections across polls: a connection is keyed by its socket
// cookie (sock_gen_cookie, stable for the socket's life), remembered
// between dumps, and reported as an event when it vanishes (aborted,
// reset or closed, told apart with the namespace's counters from
// /proc/net/snmp and /proc/net/netstat, read by the caller). No kernel
// timer is modelled here: assess.go applies the rules.

import (
	"net/netip"
	"slices"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// Config tunes a Tracker.
type Config struct {
	Params Params
	// CloseWaitAfter is how long a connection may sit in CLOSE-WAIT before
	// it is flagged (default 5 s: applications close within milliseconds
	// of reading EOF; longer is a leak).
	CloseWaitAfter time.Duration
	// IdleAfter is how long an established connection must have carried
	// no data before it counts as idle (for "unguarded"; default 5 s).
	IdleAfter time.Duration
	// HistoryLen is how many samples are kept per troubled connection
	// (default 120).
	HistoryLen int
	// EventLimit bounds the events kept (default 1000).
	EventLimit int
}

func (c *Config) defaults() {
	if c.Params.Retries2 == 0 && c.Params.RTOMax == 0 {
		c.Params = DefaultParams()
	}
	if c.Params.RTOMax == 0 {
		c.Params.RTOMax = RTOMaxDefault
	}
	if c.CloseWaitAfter == 0 {
		c.CloseWaitAfter = 5 * time.Second
	}
	if c.IdleAfter == 0 {
		c.IdleAfter = 5 * time.Second
	}
	if c.HistoryLen == 0 {
		c.HistoryLen = 120
	}
	if c.EventLimit == 0 {
		c.EventLimit = 1000
	}
}

// OptionSource returns the per-socket options of a socket, or false when
// they cannot be read (no privilege, orphaned socket, process gone). The
// tracker asks only for connections that need them (those it flags), so a
// poll of 10^5 healthy sockets costs nothing here.
type OptionSource func(s *inetdiag.Socket) (SockOpts, bool)

// Sample is one point of a connection's history, for sparklines.
type Sample struct {
	T           time.Time
	RTT         time.Duration
	SendQ       uint32
	Unacked     uint32
	Retransmits uint8
	Backoff     uint8
	Probes      uint8
}

// Conn is a connection tracked across polls, keyed by its socket cookie.
type Conn struct {
	// Sock is the latest sample. It points into the slice given to the
	// last Update, and is valid as long as the caller keeps that slice
	// unchanged: the tracker itself never reads it after the Update
	// (it keeps what the next poll compares in last), so the slice may be
	// reused for the next dump.
	Sock *inetdiag.Socket
	// FirstSeen and LastSeen are the sample times of the first and latest
	// polls that saw the connection; StateSince is when it was first seen
	// in its current TCP state.
	FirstSeen, LastSeen, StateSince Instant
	Health                          Health
	// HealthSince is when the current health was first seen (for a
	// connection seen once, an estimate from tcp_info).
	HealthSince Instant
	// Prediction is nil when the kernel is not expected to abort.
	Prediction *Prediction
	// Exposure is set for established connections.
	Exposure *Exposure
	// opts are the socket's options when they were read (nil: never, as
	// for most of a host's connections, which no rule applies to: 56
	// bytes each are not spent on them). See Opts.
	opts *SockOpts
	// History holds recent samples of a connection that has been troubled.
	History []Sample

	// last is what the next poll needs of this one's sample.
	last lastSample
	// The episodes of the rules that follow a connection across polls:
	// retrans is nil outside a retransmission episode, probing nil for a
	// connection that never sent a keepalive or zero-window probe (most
	// of a host's: 112 bytes each are not spent on them).
	retrans *rtoEpisode
	probing *probeEpisodes
	// poll is the number of the last poll that saw the connection.
	poll int
}

// Opts returns the socket's options as last read; Known is false when
// they never were.
func (c *Conn) Opts() SockOpts {
	if c.opts == nil {
		return SockOpts{}
	}
	return *c.opts
}

// setOpts records options read from the socket.
func (c *Conn) setOpts(o SockOpts) {
	o.Known = true
	if c.opts == nil {
		c.opts = new(SockOpts)
	}
	*c.opts = o
}

// lastSample is what the tracker keeps of a connection's previous sample:
// the fields the next poll compares, and its identity for the event if it
// vanishes. Keeping these 72 bytes instead of the sample lets the caller
// dump into the same buffer again: at 10^5 sockets a second buffer of
// decoded sockets is 19 MB (192 bytes a socket, see inetdiag.Socket).
type lastSample struct {
	id            connID
	state         inetdiag.State
	timer         inetdiag.Timer
	retrans       uint8 // idiag_retrans
	caState       uint8
	retransmits   uint8
	infoLen       int32 // length of the tcp_info sent (0: none)
	rtoRecoveries uint16
	rtos          uint16 // tcpi_total_rto
	rtoTime       time.Duration
}

func lastOf(s *inetdiag.Socket) lastSample {
	return lastSample{
		id: connIDOf(s), state: s.State, timer: s.Timer, retrans: s.Retrans,
		caState: s.Info.CAState, retransmits: s.Info.Retransmits, infoLen: int32(s.Info.Len),
		rtoRecoveries: s.Info.TotalRTORecoveries, rtos: s.Info.TotalRTO, rtoTime: s.Info.TotalRTOTime.Duration(),
	}
}

// hasInfo and hasRTOStats say what the kernel sent (see inetdiag.TCPInfo).
func (l *lastSample) hasInfo() bool     { return l.infoLen >= inetdiag.TCPInfoLen2_6 }
func (l *lastSample) hasRTOStats() bool { return l.infoLen >= inetdiag.TCPInfoLen6_7 }

// EventID identifies the connection an event is about.
type EventID struct {
	Family        inetdiag.Family
	Local, Remote netip.AddrPort
	Cookie        uint64
	Inode         uint32
}

// Event is something that happened to a connection.
type Event struct {
	Time time.Time
	Kind EventKind
	ID   EventID
	// State and Health are what the connection was at its last sample.
	State  inetdiag.State
	Health Health
	// LastSeen is the last sample that saw it; a vanished connection
	// vanished in (LastSeen, Time].
	LastSeen time.Time
	// Predicted is the last prediction made for it, if any.
	Predicted *Prediction
	// Peer is the remote host a peer event is about (its ID is zero);
	// for those events LastSeen is when the host was last heard from.
	Peer netip.Addr
	// NetNS is the connection's namespace when several are watched.
	NetNS *NetNS
}

// Tracker follows connections across polls.
type Tracker struct {
	cfg    Config
	conns  map[uint64]*Conn
	events []Event
	polls  int
	// counters are the previous poll's, if given.
	counters *Counters
	// uncertainty is the current poll's.
	uncertainty time.Duration
	// gone is scratch for the cookies that vanished in a poll.
	gone []uint64
}

// NewTracker returns an empty tracker.
func NewTracker(cfg Config) *Tracker {
	cfg.defaults()
	return &Tracker{cfg: cfg, conns: make(map[uint64]*Conn)}
}

// Params returns the kernel parameters the tracker predicts with.
func (tr *Tracker) Params() Params { return tr.cfg.Params }

// SetParams replaces the kernel parameters (they are re-read periodically:
// an operator may change a sysctl while tcpwatch runs).
func (tr *Tracker) SetParams(p Params) { tr.cfg.Params = p }

// Events returns the events kept, oldest first. The slice is reused by
// the next Update: copy it to keep it.
func (tr *Tracker) Events() []Event { return tr.events }

// Len returns the number of connections tracked.
func (tr *Tracker) Len() int { return len(tr.conns) }

// Poll is the result of one Update.
type Poll struct {
	Time   time.Time
	Conns  []*Conn // in the order of the dump
	Events []Event // new in this poll
	// Firings (Refresh only) counts the RTO firings that the connections
	// refreshed show since their previous samples (RTOLedger).
	Firings int
}

// Counters are the namespace's TCP counters (/proc/net/snmp and
// /proc/net/netstat), which tell a reset from a normal close when a
// connection vanishes between two polls.
type Counters struct {
	// EstabResets counts connections that went from ESTABLISHED or
	// CLOSE-WAIT straight to CLOSED (an RST, or an abort).
	EstabResets uint64
	// AbortOnTimeout counts connections the kernel aborted on a timeout.
	AbortOnTimeout uint64
	// Timeouts counts RTO firings (TCPTimeouts: every firing of the
	// retransmission timer outside a zero window, and SYN-ACK timeouts of
	// request sockets), SynRetrans the SYN and SYN-ACK retransmissions
	// among them (TCPSynRetrans): between two sweeps they tell that a
	// connection the last sweep saw healthy has begun to retransmit
	// (RTOLedger). HasTimeouts is false when the kernel did not list them.
	// Recordings do not keep them.
	Timeouts, SynRetrans uint64
	HasTimeouts          bool
}

// PollInput is one poll's data.
type PollInput struct {
	// Time is when the dump was taken (use the middle of a long dump) and
	// Uncertainty how far the kernel's reading may be from it (half the
	// dump's duration): every prediction's window is widened by it.
	Time        time.Time
	Uncertainty time.Duration
	// Socks are the dumped sockets. Conn.Sock and the rows point into
	// them; the tracker reads nothing of them after Update returns, so the
	// same slice may be reused for the next dump once the rows' consumers
	// are done with it.
	Socks []inetdiag.Socket
	// Options, if set, reads per-socket options for flagged connections.
	Options OptionSource
	// Counters, if set, are the namespace's counters read just before the
	// dump, and CountersAfter (optional) just after it. A connection seen
	// in one dump and gone from the next died between the first's
	// Counters and the second's CountersAfter: comparing those two never
	// misses its reset, whenever it happened.
	Counters      *Counters
	CountersAfter *Counters
}

// Update feeds one poll.
func (tr *Tracker) Update(in PollInput) Poll {
	now, socks, opts := in.Time, in.Socks, in.Options
	tr.uncertainty = in.Uncertainty
	resetsKnown, resets := tr.takeCounters(in)
	tr.polls++
	poll := Poll{Time: now, Conns: make([]*Conn, 0, len(socks))}
	// Connections are stamped with the poll's number rather than kept in
	// a set of the poll's cookies: at 10^5 sockets the set's lookups and
	// inserts were half the cost of an update.
	for i := range socks {
		if c := tr.observe(&poll, &socks[i], now, opts, true); c != nil {
			poll.Conns = append(poll.Conns, c)
		}
	}
	// Connections that vanished, in cookie order: the map's order is
	// random, and a replay must give the very same list of events.
	gone := tr.gone[:0]
	for key, c := range tr.conns {
		if c.poll != tr.polls {
			gone = append(gone, key)
		}
	}
	slices.Sort(gone)
	for _, key := range gone {
		tr.emit(&poll, tr.vanished(key, tr.conns[key], now, resetsKnown, resets))
		delete(tr.conns, key)
	}
	tr.gone = gone[:0]
	tr.trimEvents()
	return poll
}

// trimEvents drops the oldest events beyond the limit, once per poll:
// trimming per event moved the whole kept list for every connection that
// vanished.
func (tr *Tracker) trimEvents() {
	if over := len(tr.events) - tr.cfg.EventLimit; over > 0 {
		tr.events = append(tr.events[:0], tr.events[over:]...)
	}
}

// takeCounters keeps the poll's counters for the next and reports whether
// resets can be told from closes since the last poll, and whether any
// happened.
func (tr *Tracker) takeCounters(in PollInput) (known, resets bool) {
	if in.Counters == nil {
		return false, false
	}
	after := in.CountersAfter
	if after == nil {
		after = in.Counters
	}
	if tr.counters != nil {
		known = true
		resets = after.EstabResets != tr.counters.EstabResets
	}
	c := *in.Counters
	tr.counters = &c
	return known, resets
}

// observe feeds one sample of a socket to its connection (made if new and
// create is set) and returns the connection, or nil when the socket was
// already seen in this poll or is unknown and not to be made.
func (tr *Tracker) observe(poll *Poll, s *inetdiag.Socket, now time.Time, opts OptionSource, create bool) *Conn {
	key := s.ID.Cookie
	c, ok := tr.conns[key]
	if ok && c.poll == tr.polls {
		// A socket seen twice in one dump (it moved between hash
		// buckets while the dump ran): keep the first.
		return nil
	}
	var prev *lastSample
	if ok {
		prev = &c.last // replaced only once this call is done with it
		if !create {
			poll.Firings += firingsSince(prev, s) // a refresh's (RTOLedger)
		}
	} else {
		if !create {
			return nil
		}
		c = &Conn{FirstSeen: InstantOf(now), StateSince: InstantOf(now)}
		tr.conns[key] = c
	}
	c.poll = tr.polls
	if prev != nil && prev.state != s.State {
		c.StateSince = InstantOf(now)
	}
	c.Sock = s
	before := c.Health
	tr.assess(c, prev, now, opts)
	if prev != nil && before.Dying() && !c.Health.Dying() && c.Health != HealthZeroWindow {
		tr.emit(poll, Event{Time: now, Kind: EventRecovered, ID: idOf(s), State: s.State, Health: before, LastSeen: c.LastSeen.Time()})
	}
	c.LastSeen = InstantOf(now)
	c.last = lastOf(s)
	return c
}

func (tr *Tracker) emit(p *Poll, e Event) {
	p.Events = append(p.Events, e)
	tr.events = append(tr.events, e)
}

func idOf(s *inetdiag.Socket) EventID {
	return EventID{Family: s.Family, Local: s.ID.Src, Remote: s.ID.Dst, Cookie: s.ID.Cookie, Inode: s.Inode}
}

// vanished classifies a connection that is gone from the dump.
func (tr *Tracker) vanished(cookie uint64, c *Conn, now time.Time, resetsKnown, resets bool) Event {
	// c.Sock is not read: its buffer may hold the new dump by now.
	e := Event{Time: now, ID: c.last.id.eventID(cookie), State: c.last.state, Health: c.Health, LastSeen: c.LastSeen.Time(), Predicted: c.Prediction}
	switch {
	case c.Prediction != nil && (c.Health.Dying() || c.Health == HealthZeroWindow):
		// Gone while the kernel was counting down. If that happened before
		// the predicted window could have started, something else (an
		// RST, a destroy) ended it.
		tol := 500*time.Millisecond + c.Prediction.Earliest.Sub(c.Prediction.Made)*3/100
		if now.Before(c.Prediction.Earliest.Add(-tol)) {
			e.Kind = EventReset
		} else {
			e.Kind = EventAborted
		}
	case e.State == inetdiag.StateEstablished || e.State == inetdiag.StateCloseWait:
		// Gone from a synchronized state within one poll: an RST, unless
		// the counters show no reset happened (then a passive close ran
		// its course between two polls).
		e.Kind = EventReset
		if resetsKnown && !resets {
			e.Kind = EventClosed
		}
	case e.State == inetdiag.StateSynSent:
		e.Kind = EventReset // refused (RST) or given up
	default:
		e.Kind = EventClosed
	}
	return e
}
