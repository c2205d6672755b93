package model

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// This file answers the question behind the sockets: which remote host is
// gone, since when, and what will break. It groups a poll's connections by
// remote host and gives each host a verdict from evidence only:
//
//   - unresponsive: at least one connection to it waits for an answer
//     that never came (an unanswered retransmission, keepalive probe,
//     window probe or SYN), and no connection to it has received anything
//     since the earliest of those waits began — which also means that
//     every waiting connection has heard nothing since its own wait
//     began, since none began before the earliest;
//   - partial: some connections to it stall while another one still hears
//     from it — a stuck application or one path, not a dead host: never
//     reported as dead;
//   - alive otherwise. A zero-window peer is alive: it answers the probes.
//
// "Received" is the kernel's own record of the last segment from the peer
// (tcpi_last_data_recv and tcpi_last_ack_recv, jiffy resolution), and the
// tracker remembers it across polls, also for connections that have
// vanished since, so that a host's silence outlives its aborted
// connections. peers_verdict.go weighs the evidence.

// PeerStatus is the verdict on a remote host.
type PeerStatus uint8

// Peer verdicts, the most urgent last.
const (
	PeerAlive PeerStatus = iota
	PeerPartial
	PeerUnresponsive
)

// String returns the JSON name of the verdict.
func (s PeerStatus) String() string {
	switch s {
	case PeerAlive:
		return "alive"
	case PeerPartial:
		return "partial"
	case PeerUnresponsive:
		return "unresponsive"
	}
	return "UNKNOWN_" + strconv.Itoa(int(s))
}

// PeerGroup counts a peer's connections of one local process, port and
// health: the blast radius, in the terms an operator acts on. A
// connection to the host's service is counted by its remote port
// (RemotePort, e.g. 5432); one the host made to a local listener by the
// local port it reached (LocalPort, RemotePort 0): its remote port is the
// client's ephemeral one, which would make a group of every connection.
type PeerGroup struct {
	PID        int
	Comm       string
	RemotePort uint16
	LocalPort  uint16
	Health     Health
	Count      int
}

// Peer is one remote host and what its connections say about it.
type Peer struct {
	// Addr is the host's address; an IPv4-mapped IPv6 address is the
	// IPv4 host it stands for.
	Addr   netip.Addr
	Status PeerStatus
	// Reasons say what the verdict rests on, in a sentence each.
	Reasons []string
	// SilentSince is the last moment anything was received from the host
	// over any connection (zero if nothing ever was), give or take
	// SilentUncertainty. For an unresponsive host, its death lies between
	// SilentSince and StalledSince.
	SilentSince       time.Time
	SilentUncertainty time.Duration
	// StalledSince is when the earliest unanswered transmission among its
	// connections was sent (zero when none stalls).
	StalledSince time.Time
	// Conns counts its connections (TIME-WAIT ones are closed already and
	// not counted), Dying those the kernel counts down, and NeverNotice
	// those that would not notice the host's death within
	// PeerConfig.NoticeWithin: idle without keepalive, or with a
	// keepalive that takes longer — the ones that leave applications
	// hanging.
	Conns, Dying, NeverNotice int
	// ByHealth counts its connections by health.
	ByHealth [healthCount]int
	// FirstAbort and LastAbort are the earliest and latest predicted
	// aborts among its connections (zero when none is predicted).
	FirstAbort, LastAbort time.Time
	// Groups is the blast radius by process, remote port and health, the
	// largest first.
	Groups []PeerGroup
	// NeverNoticeConns are the never-noticing connections of an
	// unresponsive host (nil for the others): the ones worth destroying,
	// so that their applications see an error and reconnect. Successive
	// verdicts may share it: it is never modified.
	NeverNoticeConns []ConnRef
}

// ConnRef is what destroying a socket needs: its family and identity.
// The cookie in ID makes a destroy miss a socket that reused the
// four-tuple since.
type ConnRef struct {
	Family inetdiag.Family
	ID     inetdiag.SockID
}

// Health returns how many of the peer's connections have health h.
func (p *Peer) Health(h Health) int {
	if h < healthCount {
		return p.ByHealth[h]
	}
	return 0
}

// Processes names the local processes with connections to the peer
// ("comm[pid]", "?" when unknown), those with the most connections first.
func (p *Peer) Processes() []string {
	type proc struct {
		pid  int
		comm string
	}
	count := map[proc]int{}
	var order []proc
	for _, g := range p.Groups {
		k := proc{g.PID, g.Comm}
		if _, ok := count[k]; !ok {
			order = append(order, k)
		}
		count[k] += g.Count
	}
	slices.SortStableFunc(order, func(a, b proc) int { return cmp.Compare(count[b], count[a]) })
	out := make([]string, len(order))
	for i, k := range order {
		if k.pid == 0 {
			out[i] = "?"
		} else {
			out[i] = k.comm + "[" + strconv.Itoa(k.pid) + "]"
		}
	}
	return out
}

// PeerConfig tunes a PeerTracker.
type PeerConfig struct {
	// NoticeWithin: a connection that would take longer than this to
	// notice the host's death (or never) counts as never noticing
	// (default 1 h: a keepalive of hours is no guard).
	NoticeWithin time.Duration
	// Forget drops what is remembered of a host after it has had no
	// connection for this long (default 15 min).
	Forget time.Duration
	// EventLimit bounds the peer events kept (default 100).
	EventLimit int
	// Settle is how long the earliest stall must have lasted, with
	// nothing heard from the host since, before the host is judged
	// unresponsive (default 1 s): a live host's other connections hear
	// from it within a round trip, a delayed ACK or their application's
	// rhythm, and a verdict of death must not flicker on a host that is
	// merely between two of those.
	Settle time.Duration
	// SkipLoopback leaves out connections to a loopback address: with
	// rows from many network namespaces a remote address is taken as one
	// host across them (as on a cluster network, where addresses are
	// unique), but every namespace has its own 127.0.0.1.
	SkipLoopback bool
}

// PeerTracker follows remote hosts across polls: what each last said and
// what it was judged.
type PeerTracker struct {
	cfg    PeerConfig
	hosts  map[netip.Addr]*peerMemory
	events []Event
}

type peerMemory struct {
	lastRx   time.Time // latest receive seen from the host, on any connection
	status   PeerStatus
	lastSeen time.Time // last poll with a connection to it
	never    neverCache
	// neverSeen is how many of its connections the last verdict found
	// never noticing: the next tally's list is sized from it.
	neverSeen int
}

// newTally starts host a's tally with room for as many never-noticing
// connections as its last verdict counted, and an eighth more: gathered
// by append, 10^5 of them to one host allocated 4.5 MB at every sweep.
func (pt *PeerTracker) newTally(a netip.Addr) *hostTally {
	t := newTally()
	if m := pt.hosts[a]; m != nil && m.neverSeen > 0 {
		t.never = make([]*inetdiag.Socket, 0, m.neverSeen+m.neverSeen/8)
	}
	return t
}

// NewPeerTracker returns a tracker that remembers nothing yet.
func NewPeerTracker(cfg PeerConfig) *PeerTracker {
	if cfg.NoticeWithin == 0 {
		cfg.NoticeWithin = time.Hour
	}
	if cfg.Forget == 0 {
		cfg.Forget = 15 * time.Minute
	}
	if cfg.EventLimit == 0 {
		cfg.EventLimit = 100
	}
	if cfg.Settle == 0 {
		cfg.Settle = time.Second
	}
	return &PeerTracker{cfg: cfg, hosts: map[netip.Addr]*peerMemory{}}
}

// PeerAddr is the host a row's connection goes to.
func PeerAddr(r *Row) netip.Addr { return r.Sock.ID.Dst.Addr().Unmap() }

// hasPeer reports whether a row is a connection to a remote host that
// counts: listeners and unconnected sockets have none, and a TIME-WAIT
// socket is a connection already closed.
func hasPeer(r *Row) bool {
	if r.Sock == nil || !r.Sock.ID.Dst.Addr().IsValid() || r.Sock.ID.Dst.Port() == 0 {
		return false
	}
	switch r.Sock.State {
	case inetdiag.StateListen, inetdiag.StateTimeWait, inetdiag.StateClose:
		return false
	}
	return true
}

// Update judges the hosts of one poll's rows at time now (the poll's
// sample time); u is how far the kernel's readings may be from now (the
// poll's uncertainty) and jiffy their resolution. It returns every host,
// the most urgent first, and an event for each host that became
// unresponsive or answered again. rows must be every connection of the
// poll, not a filtered view: a verdict rests on all of a host's
// connections.
func (pt *PeerTracker) Update(now time.Time, u time.Duration, jiffy time.Duration, rows []Row) ([]Peer, []Event) {
	return pt.update(now, u, jiffy, nil, rows, nil, nil)
}

// UpdateSome judges again only the hosts in only, and returns them among
// the others' verdicts of before (last, the previous call's result),
// which stand: it is Update for the polls between two sweeps (see
// Tracker.Refresh), where only the connections that are or may be dying
// have new samples, so only their hosts' verdicts can change. rows are
// those connections; base is what every other connection of the sweep
// adds to its host (see NewBase), so that a host is judged on all its
// connections at the cost of the refreshed ones. Without a base, rows
// are every connection of the poll. A host of last whose connections are
// all gone is dropped.
func (pt *PeerTracker) UpdateSome(now time.Time, u, jiffy time.Duration, base *PeerBase, rows []Row, only map[netip.Addr]bool, last []Peer) ([]Peer, []Event) {
	if only == nil {
		only = map[netip.Addr]bool{}
	}
	return pt.update(now, u, jiffy, base, rows, only, last)
}

// host is the address a row's connection is judged under, false for a row
// that is not judged (no peer, or loopback when skipped).
func (pt *PeerTracker) host(r *Row) (netip.Addr, bool) {
	if !hasPeer(r) {
		return netip.Addr{}, false
	}
	a := PeerAddr(r)
	return a, !(pt.cfg.SkipLoopback && a.IsLoopback())
}

// update judges the hosts of rows (every connection of the poll), or with
// a base only those in only, from the base and rows.
func (pt *PeerTracker) update(now time.Time, u time.Duration, jiffy time.Duration, base *PeerBase, rows []Row, only map[netip.Addr]bool, last []Peer) ([]Peer, []Event) {
	tallies := map[netip.Addr]*hostTally{}
	var order []netip.Addr
	present := map[netip.Addr]bool{} // with only: the hosts not judged that still have a connection
	var listening map[uint16]bool    // the local ports with a listener: inbound connections reach them
	if base != nil {
		listening = base.listening
		for a := range base.hosts {
			if !only[a] {
				present[a] = true
			}
		}
	} else {
		listening = listeningPorts(rows)
	}
	tally := func(a netip.Addr) *hostTally {
		t := tallies[a]
		if t == nil {
			if b := base.of(a); b != nil {
				t = b.clone()
			} else {
				t = pt.newTally(a)
			}
			tallies[a] = t
			order = append(order, a)
		}
		return t
	}
	for i := range rows {
		r := &rows[i]
		a, ok := pt.host(r)
		if !ok {
			continue
		}
		if only != nil && !only[a] {
			present[a] = true
			continue
		}
		tally(a).add(r, now, listening, pt.cfg.NoticeWithin)
	}
	if base != nil {
		// A host to judge whose refreshed connections are all gone is
		// judged on the others.
		for _, a := range base.order {
			if only[a] {
				tally(a)
			}
		}
	}
	var events []Event
	peers := make([]Peer, 0, len(order))
	for _, a := range order {
		mem := pt.hosts[a]
		if mem == nil {
			mem = &peerMemory{}
			pt.hosts[a] = mem
		}
		p := Peer{Addr: a}
		pt.judge(&p, mem, now, u, jiffy, tallies[a])
		if p.Status != mem.status && (p.Status == PeerUnresponsive || mem.status == PeerUnresponsive) {
			kind := EventPeerUnresponsive
			if p.Status != PeerUnresponsive {
				kind = EventPeerAnswering
			}
			events = append(events, Event{Time: now, Kind: kind, Peer: a, LastSeen: p.SilentSince})
		}
		mem.status, mem.lastSeen = p.Status, now
		peers = append(peers, p)
	}
	for _, p := range last {
		if !only[p.Addr] && present[p.Addr] {
			peers = append(peers, p)
		}
	}
	for a, mem := range pt.hosts {
		if _, ok := tallies[a]; ok || present[a] {
			continue
		}
		if mem.status == PeerUnresponsive {
			// Its last connection is gone (aborted, or destroyed): the
			// host is no longer judged, which is not an answer.
			mem.status = PeerAlive
		}
		if now.Sub(mem.lastSeen) > pt.cfg.Forget {
			delete(pt.hosts, a)
		}
	}
	slices.SortStableFunc(peers, comparePeers)
	pt.keep(events)
	return peers, events
}

// keep adds a poll's events to those kept, dropping the oldest beyond the
// limit.
func (pt *PeerTracker) keep(events []Event) {
	pt.events = append(pt.events, events...)
	if over := len(pt.events) - pt.cfg.EventLimit; over > 0 {
		pt.events = append(pt.events[:0], pt.events[over:]...)
	}
}

// Events returns the peer events kept, oldest first. The slice is reused
// by the next Update: copy it to keep it.
func (pt *PeerTracker) Events() []Event { return pt.events }

// MergeEvents returns the events of a and b, each oldest first, as one
// list oldest first (a's first among events of the same time): the
// connection events and the peer events of a display's history.
func MergeEvents(a, b []Event) []Event {
	out := make([]Event, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if b[j].Time.Before(a[i].Time) {
			out = append(out, b[j])
			j++
		} else {
			out = append(out, a[i])
			i++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// comparePeers orders hosts by urgency: unresponsive before partial before
// alive, then the soonest abort, then the most connections.
func comparePeers(a, b Peer) int {
	if c := cmp.Compare(b.Status, a.Status); c != 0 {
		return c
	}
	switch {
	case !a.FirstAbort.IsZero() && b.FirstAbort.IsZero():
		return -1
	case a.FirstAbort.IsZero() && !b.FirstAbort.IsZero():
		return 1
	case !a.FirstAbort.Equal(b.FirstAbort):
		return a.FirstAbort.Compare(b.FirstAbort)
	}
	if c := cmp.Compare(b.Conns, a.Conns); c != 0 {
		return c
	}
	return a.Addr.Compare(b.Addr)
}

// FindPeer returns the peer with address a among peers, or nil.
func FindPeer(peers []Peer, a netip.Addr) *Peer {
	a = a.Unmap()
	for i := range peers {
		if peers[i].Addr == a {
			return &peers[i]
		}
	}
	return nil
}
