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
//     since the earliest of those waits began;
//   - partial: some connections to it stall while another one still hears
//     from it — a stuck application or one path, not a dead host: never
//     reported as dead;
//   - alive otherwise. A zero-window peer is alive: it answers the probes.
//
// "Received" is the kernel's own record of the last segment from the peer
// (tcpi_last_data_recv and tcpi_last_ack_recv, jiffy resolution), and the
// tracker remembers it across polls, also for connections that have
// vanished since, so that a host's silence outlives its aborted
// connections.

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

// PeerGroup counts a peer's connections of one local process, remote port
// and health: the blast radius, in the terms an operator acts on.
type PeerGroup struct {
	PID        int
	Comm       string
	RemotePort uint16
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
	// Conns counts its connections, Dying those the kernel counts down,
	// and NeverNotice those that would not notice the host's death within
	// PeerConfig.NoticeWithin: idle without keepalive, or with a keepalive
	// that takes longer — the ones that leave applications hanging.
	Conns, Dying, NeverNotice int
	// FirstAbort and LastAbort are the earliest and latest predicted
	// aborts among its connections (zero when none is predicted).
	FirstAbort, LastAbort time.Time
	// Groups is the blast radius by process, remote port and health, the
	// largest first.
	Groups []PeerGroup
	// Rows are the indices of its connections in the rows given to
	// Update.
	Rows []int
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
}

// PeerTracker follows remote hosts across polls: what each last said and
// what it was judged.
type PeerTracker struct {
	cfg   PeerConfig
	hosts map[netip.Addr]*peerMemory
}

type peerMemory struct {
	lastRx   time.Time // latest receive seen from the host, on any connection
	status   PeerStatus
	lastSeen time.Time // last poll with a connection to it
}

// NewPeerTracker returns a tracker that remembers nothing yet.
func NewPeerTracker(cfg PeerConfig) *PeerTracker {
	if cfg.NoticeWithin == 0 {
		cfg.NoticeWithin = time.Hour
	}
	if cfg.Forget == 0 {
		cfg.Forget = 15 * time.Minute
	}
	return &PeerTracker{cfg: cfg, hosts: map[netip.Addr]*peerMemory{}}
}

// PeerAddr is the host a row's connection goes to.
func PeerAddr(r *Row) netip.Addr { return r.Sock.ID.Dst.Addr().Unmap() }

// Update judges the hosts of one poll's rows at time now (the poll's
// sample time); u is how far the kernel's readings may be from now (the
// poll's uncertainty). It returns every host, the most urgent first, and
// an event for each host that became unresponsive or answered again.
func (pt *PeerTracker) Update(now time.Time, u time.Duration, jiffy time.Duration, rows []Row) ([]Peer, []Event) {
	byAddr := map[netip.Addr]*Peer{}
	var order []*Peer
	for i := range rows {
		r := &rows[i]
		if r.Sock == nil || !r.Sock.ID.Dst.Addr().IsValid() || r.Sock.ID.Dst.Port() == 0 {
			continue // listeners and unconnected sockets have no peer
		}
		a := PeerAddr(r)
		p := byAddr[a]
		if p == nil {
			p = &Peer{Addr: a}
			byAddr[a] = p
			order = append(order, p)
		}
		p.Rows = append(p.Rows, i)
	}
	var events []Event
	peers := make([]Peer, 0, len(order))
	for _, p := range order {
		mem := pt.hosts[p.Addr]
		if mem == nil {
			mem = &peerMemory{}
			pt.hosts[p.Addr] = mem
		}
		pt.judge(p, mem, now, u, jiffy, rows)
		if p.Status != mem.status && (p.Status == PeerUnresponsive || mem.status == PeerUnresponsive) {
			kind := EventPeerUnresponsive
			if p.Status != PeerUnresponsive {
				kind = EventPeerAnswering
			}
			events = append(events, Event{Time: now, Kind: kind, Peer: p.Addr, LastSeen: p.SilentSince})
		}
		mem.status, mem.lastSeen = p.Status, now
		peers = append(peers, *p)
	}
	for a, mem := range pt.hosts {
		if _, ok := byAddr[a]; ok {
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
	return peers, events
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

// judge fills in a host's verdict, silence and blast radius.
func (pt *PeerTracker) judge(p *Peer, mem *peerMemory, now time.Time, u, jiffy time.Duration, rows []Row) {
	p.SilentUncertainty = u + jiffy
	var stalled []int
	var heard time.Time // the latest receive on this poll's connections
	heardRow := -1
	groups := map[PeerGroup]int{}
	for _, i := range p.Rows {
		r := &rows[i]
		p.Conns++
		if r.Health.Dying() {
			p.Dying++
		}
		if at, ok := lastReceived(r, now); ok && at.After(heard) {
			heard, heardRow = at, i
		}
		if _, _, ok := stallStart(r, now); ok {
			stalled = append(stalled, i)
		}
		if pr := r.Prediction; pr != nil {
			if p.FirstAbort.IsZero() || pr.At.Before(p.FirstAbort) {
				p.FirstAbort = pr.At
			}
			if pr.At.After(p.LastAbort) {
				p.LastAbort = pr.At
			}
		}
		if neverNotices(r, pt.cfg.NoticeWithin) {
			p.NeverNotice++
		}
		groups[PeerGroup{PID: r.PID, Comm: r.Comm, RemotePort: r.Sock.ID.Dst.Port(), Health: r.Health}]++
	}
	for g, n := range groups {
		g.Count = n
		p.Groups = append(p.Groups, g)
	}
	slices.SortFunc(p.Groups, func(a, b PeerGroup) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Health, b.Health); c != 0 {
			return c
		}
		if c := cmp.Compare(a.RemotePort, b.RemotePort); c != 0 {
			return c
		}
		return cmp.Compare(a.PID, b.PID)
	})
	if heard.After(mem.lastRx) {
		mem.lastRx = heard
	}
	p.SilentSince = mem.lastRx
	if len(stalled) == 0 {
		p.Status = PeerAlive
		return
	}
	first := -1
	var stallLatest time.Time
	for _, i := range stalled {
		at, latest, _ := stallStart(&rows[i], now)
		if first < 0 || at.Before(p.StalledSince) {
			p.StalledSince, stallLatest, first = at, latest, i
		}
	}
	// A receive that, even read as early as the readings' resolution
	// allows, comes after the earliest stall shows the host was alive
	// after it.
	if mem.lastRx.Add(-p.SilentUncertainty).After(stallLatest) {
		p.Status = PeerPartial
		who := "a connection"
		if heardRow >= 0 {
			who = rows[heardRow].Local() + " → " + rows[heardRow].Remote()
		}
		p.Reasons = append(p.Reasons,
			plural(len(stalled), "connection")+" stall, but "+who+" heard from it at "+mem.lastRx.Format("15:04:05.000")+
				", after "+rows[first].Local()+" → "+rows[first].Remote()+" began waiting at "+p.StalledSince.Format("15:04:05.000")+
				": the host is up; an application or one path is stuck")
		return
	}
	p.Status = PeerUnresponsive
	p.Reasons = append(p.Reasons,
		plural(len(stalled), "connection")+" wait for answers that never came, the first since "+p.StalledSince.Format("15:04:05.000")+
			", and none of its "+plural(p.Conns, "connection")+" has received anything since")
	if !p.SilentSince.IsZero() {
		p.Reasons = append(p.Reasons, "last heard from at "+p.SilentSince.Format("15:04:05.000"))
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// lastReceived is when the connection last received a segment from its
// peer (keepalive_time_elapsed: the later of the last data and the last
// ACK), if the kernel says so.
func lastReceived(r *Row, now time.Time) (time.Time, bool) {
	if !r.HasInfo() || !isSynchronized(r.Sock.State) && r.Sock.State != inetdiag.StateFinWait2 {
		// A SYN never answered has received nothing.
		return time.Time{}, false
	}
	return lastRx(r.Sock, now), true
}

// stallStart is when a stalled connection sent the first transmission
// that its peer never answered — the first retransmission (retrans_stamp)
// of an RTO episode or a SYN, the first unanswered keepalive probe, or for
// zero-window probes the last answer — as a best estimate and the latest
// it can be. It reports false for a connection that is not waiting for an
// answer.
func stallStart(r *Row, now time.Time) (best, latest time.Time, ok bool) {
	pr := r.Prediction
	switch r.Health {
	case HealthRetransmitting, HealthOrphanRetrying, HealthSynSent:
		if pr != nil {
			return pr.Clock, pr.ClockLatest, true
		}
		return r.HealthSince, r.HealthSince, true
	case HealthKeepaliveProbing:
		if pr != nil && len(pr.Schedule) > 0 {
			// The pending firing was armed one interval after the last
			// probe; the probes before it went out an interval apart.
			f := pr.Schedule[0]
			back := -time.Duration(r.Probes()) * f.Interval
			return f.At.Add(back), f.Latest.Add(back), true
		}
		return r.HealthSince, r.HealthSince, true
	case HealthZeroWindow:
		if pr == nil || pr.Reason != ReasonZeroWindowProbes {
			return time.Time{}, time.Time{}, false // probes answered: alive
		}
		if at, ok := lastReceived(r, now); ok {
			return at, at, true
		}
		return r.HealthSince, r.HealthSince, true
	}
	return time.Time{}, time.Time{}, false
}

// neverNotices reports whether a connection would not notice its peer's
// death within d: idle without keepalive, or with one slower than d.
func neverNotices(r *Row, d time.Duration) bool {
	e := r.Exposure
	if e == nil || r.Prediction != nil {
		return false
	}
	return e.Never || e.After > d
}
