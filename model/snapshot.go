package model

import (
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// Row is an immutable view of one connection at one poll: what a display,
// a JSON writer or a metrics exporter needs, copied out of the tracker so
// that it can be read while the next poll runs. There is one per socket,
// in two to four arrays at once (see watch's buffers): a field costs
// 10^5 times its size several times over, so a row holds only what is
// read of it (the socket options a prediction used are in its Inputs).
type Row struct {
	// Sock is the sample. It points into the poll's socket buffer, which
	// the snapshot keeps alive.
	Sock        *inetdiag.Socket
	Health      Health
	HealthSince Instant
	FirstSeen   Instant
	Prediction  *Prediction // never modified once made
	Exposure    *Exposure   // nil unless established
	// PID and Comm name the owning process (0 and "" when unknown).
	PID  int
	Comm string
	// History is a copy of the connection's recent samples, nil unless
	// the connection has been troubled (most rows: a pointer rather than
	// a 24-byte slice in each of 10^5 rows).
	History *History
	// NetNS is the row's namespace when several are watched (nil when
	// one is); the connection is then identified by Key.
	NetNS *NetNS
	// Sampled is when the kernel read Sock. Between two sweeps of a
	// large host (see Tracker.Refresh) a healthy connection's sample is
	// the last sweep's, older than the snapshot; the ages in its tcp_info
	// (last ACK, last data) are as of Sampled. Zero means the snapshot's
	// time.
	Sampled Instant
}

// SampledAt is when the row's sample was read: Sampled, or now (the
// snapshot's time) when it is not set.
func (r *Row) SampledAt(now time.Time) time.Time {
	if r.Sampled.IsZero() {
		return now
	}
	return r.Sampled.Time()
}

// HasInfo reports whether the kernel sent tcp_info with the sample (it
// does not for TIME-WAIT and request sockets): without it the row's
// tcp_info fields are zero, not facts.
func (r *Row) HasInfo() bool { return r.Sock.Info.Has(inetdiag.TCPInfoLen2_6) }

// Retransmits is the RTO count of the connection's current episode
// (icsk_retransmits): from tcp_info, or without it from idiag_retrans,
// which carries the same count while the retransmission timer is pending.
func (r *Row) Retransmits() int {
	if r.HasInfo() {
		return int(r.Sock.Info.Retransmits)
	}
	if r.Sock.Timer == inetdiag.TimerRetransmit {
		return int(r.Sock.Retrans)
	}
	return 0
}

// Probes is the count of unanswered keepalive or zero-window probes
// (icsk_probes_out): from tcp_info, or without it from idiag_retrans,
// which carries it while the keepalive or persist timer is pending.
func (r *Row) Probes() int {
	if r.HasInfo() {
		return int(r.Sock.Info.Probes)
	}
	if r.Sock.Timer == inetdiag.TimerKeepalive || r.Sock.Timer == inetdiag.TimerProbe0 {
		return int(r.Sock.Retrans)
	}
	return 0
}

// Local and Remote are the row's endpoints as every output prints them
// (see Endpoint).
func (r *Row) Local() string  { return Endpoint(r.Sock.ID.Src) }
func (r *Row) Remote() string { return Endpoint(r.Sock.ID.Dst) }

// Snapshot is the immutable result of one poll.
type Snapshot struct {
	Time time.Time
	// PollCost is how long the dump and the update took; Interval is the
	// polling interval in force (longer than asked when polls are slow:
	// then Slowed is true).
	PollCost time.Duration
	Interval time.Duration
	Slowed   bool
	// SweepEvery is set on a large host whose full dumps (sweeps) cost
	// more than the poll budget: they run that often, and the polls in
	// between (Refresh set) look up only the connections that are or may
	// be dying, whose rows are fresh; the others' rows are the last
	// sweep's (see Row.Sampled). SweepCost is what the last sweep took.
	SweepEvery time.Duration
	SweepCost  time.Duration
	Refresh    bool
	Params     Params
	Rows       []Row
	// RowsEpoch, when not zero, names the rows' contents but those at
	// Fresh: two snapshots of one epoch and the same Fresh (ascending
	// indices) have as many rows, in the same order, alike but for the
	// rows at Fresh. A refresh's rows are the last sweep's but its
	// suspects' (see SweepEvery) and the rows whose owners were found
	// since, so that a consumer that goes over every row (Summarizer, the
	// interface's table) keeps what it made of the others for the epoch
	// and goes over the fresh alone. Zero promises nothing (a sweep, rows
	// filtered, several namespaces, a recording).
	RowsEpoch uint64
	Fresh     []int
	// Events are those of this poll; AllEvents those kept so far.
	Events    []Event
	AllEvents []Event
	// Host and NetNS name what is watched.
	Host, NetNS string
	// Notices are things the operator should know once (missing
	// privileges, unknown kernel features).
	Notices []string
	// Listening is the set of local ports with a listener, to tell
	// services from clients.
	Listening map[uint16]bool
	// Peers are the remote hosts of every connection of the poll, the
	// most urgent first, judged before any user-space filter (see
	// PeerTracker).
	Peers []Peer
	// OtherNetNS is how many other network namespaces the host has when
	// one is watched and the poller was asked to count them (0: none, or
	// not counted), so that the interface can point at --all-netns.
	OtherNetNS int
	// Paused is set by displays that froze the view.
	Paused bool

	release func()
}

// NewSnapshot returns a snapshot whose Release calls release once (it
// hands the socket buffer back for reuse).
func NewSnapshot(release func()) *Snapshot { return &Snapshot{release: release} }

// WithRows returns a copy of s with rows in place of its own, tied to
// none of its buffers: s may be released while the copy is in use. (The
// interface draws copies of the rows in view so, while it gives the
// snapshot back before a poll.) It promises nothing of its rows'
// epoch.
func (s *Snapshot) WithRows(rows []Row) *Snapshot {
	c := *s
	c.Rows, c.RowsEpoch, c.Fresh, c.release = rows, 0, nil, nil
	return &c
}

// Release tells the producer that the consumer is done with the snapshot:
// its rows must not be read afterwards. Calling it is optional (the
// garbage collector reclaims an unreleased snapshot) and idempotent.
func (s *Snapshot) Release() {
	if s != nil && s.release != nil {
		f := s.release
		s.release = nil
		f()
	}
}

// Counts summarizes a snapshot by TCP state and by health. The tallies
// are arrays indexed by the enums (both fit a byte): a map cost a few
// milliseconds per 10^5 rows, and every view counts on every poll.
type Counts struct {
	Total    int
	ByState  [256]int // indexed by inetdiag.State
	ByHealth [healthCount]int
}

// Count tallies the rows that have a socket sample.
func (s *Snapshot) Count() Counts {
	var c Counts
	for i := range s.Rows {
		c.Add(&s.Rows[i])
	}
	return c
}

// Add counts one row (a row without a socket sample counts for nothing),
// for a writer that sees the rows one at a time.
func (c *Counts) Add(r *Row) {
	if r.Sock == nil {
		return
	}
	c.Total++
	c.ByState[r.Sock.State]++
	if r.Health < healthCount {
		c.ByHealth[r.Health]++
	}
}

// Health returns how many rows have health h.
func (c *Counts) Health(h Health) int {
	if h < healthCount {
		return c.ByHealth[h]
	}
	return 0
}

// States returns the states that occur, in the kernel's order.
func (c *Counts) States() []inetdiag.State {
	var out []inetdiag.State
	for st, n := range c.ByState {
		if n > 0 {
			out = append(out, inetdiag.State(st))
		}
	}
	return out
}

// PortExposure counts connections of one service port that would never
// notice a dead peer.
type PortExposure struct {
	Port  uint16
	Never int
}

// ServicePort guesses which side of a connection is the service: the local
// port if something listens on it, else the remote port.
func (s *Snapshot) ServicePort(r *Row) uint16 {
	return ServicePortOf(s.Listening, r.Sock.ID.Src.Port(), r.Sock.ID.Dst.Port())
}

// ServicePortOf is ServicePort for a connection from local port src to
// remote port dst, given the ports that have a listener.
func ServicePortOf(listening map[uint16]bool, src, dst uint16) uint16 {
	if listening[src] {
		return src
	}
	return dst
}

// NeverExposure returns the total number of established connections that
// would never notice a dead peer, and the ports that have most of them.
func (s *Snapshot) NeverExposure(top int) (int, []PortExposure) {
	sum := s.Summarize()
	return sum.Never, TopPorts(sum.NeverByPort, top)
}

// portSet is a set of ports as a bitmap.
type portSet [1 << 16 / 64]uint64

func (ps *portSet) add(p uint16)      { ps[p/64] |= 1 << (p % 64) }
func (ps *portSet) has(p uint16) bool { return ps[p/64]&(1<<(p%64)) != 0 }

// TopPorts lists the ports of a count by port, the most first (then by
// port), at most top of them (0: all).
func TopPorts(byPort map[uint16]int, top int) []PortExposure {
	out := make([]PortExposure, 0, len(byPort))
	for p, n := range byPort {
		out = append(out, PortExposure{Port: p, Never: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Never != out[j].Never {
			return out[i].Never > out[j].Never
		}
		return out[i].Port < out[j].Port
	})
	if top > 0 && len(out) > top {
		out = out[:top]
	}
	return out
}

// Endpoint formats an address and port for every output of tcpwatch (the
// interface, the --once table, the JSON, events, metrics labels): IPv6 in
// brackets, a wildcard port as "*" (as ss prints it), and an IPv4-mapped
// IPv6 address (a dual-stack socket, as Java opens them) as the IPv4
// address it stands for: it is the same host, so it reads, filters and
// groups the same. The socket's family still says inet6.
func Endpoint(ap netip.AddrPort) string {
	a := ap.Addr()
	if a.Is4In6() {
		a = a.Unmap()
	}
	if ap.Port() == 0 {
		if a.Is6() {
			return "[" + a.String() + "]:*"
		}
		return a.String() + ":*"
	}
	return netip.AddrPortFrom(a, ap.Port()).String()
}

// Rows builds the rows of a poll. owner resolves the owning process of a
// socket (it may be nil).
func (p Poll) Rows(owner func(s *inetdiag.Socket) (int, string)) []Row {
	return p.AppendRows(nil, owner)
}

// AppendRows appends the rows of a poll to dst, so that a poller can reuse
// the rows of a snapshot its consumers have released (18 MB a poll at
// 10^5 sockets).
func (p Poll) AppendRows(dst []Row, owner func(s *inetdiag.Socket) (int, string)) []Row {
	n := len(dst)
	dst = slices.Grow(dst, len(p.Conns))[:n+len(p.Conns)]
	rows := dst[n:]
	for i, c := range p.Conns {
		rows[i] = RowOf(c)
		if owner != nil {
			rows[i].PID, rows[i].Comm = owner(c.Sock)
		}
	}
	return dst
}

// RowOf is the row of a connection as the tracker last saw it, without
// its owner.
func RowOf(c *Conn) Row {
	r := Row{Sock: c.Sock, Health: c.Health, HealthSince: c.HealthSince, FirstSeen: c.FirstSeen,
		Sampled: c.LastSeen, Prediction: c.Prediction,
		// The tracker replaces a connection's Exposure, never modifies
		// it: the row can share it.
		Exposure: c.Exposure}
	if len(c.History) > 0 {
		r.History = &History{Samples: append([]Sample(nil), c.History...)}
	}
	return r
}

// History is a copy of a connection's recent samples, oldest first.
type History struct{ Samples []Sample }

// Samples is the row's history, nil when none is kept.
func (r *Row) Samples() []Sample {
	if r.History == nil {
		return nil
	}
	return r.History.Samples
}
