package model

// A tracker's memory as bytes: what a flight recording keeps at each of
// its keyframes so that a replay can start there and go on exactly as the
// live run did — the same health, predictions and events, poll after poll.
//
// The state is taken right after an Update, and restored together with
// the sockets of that same poll: what the tracker keeps of each sample
// for the next poll (lastSample) is rebuilt from them rather than stored,
// which is most of the bytes of an idle connection. Times are stored as
// nanoseconds from the poll's time, so an idle connection costs a few
// bytes. The encoding is versioned, and decoding checks every length
// against what is left, so a damaged blob gives an error, never a panic or
// a huge allocation.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// stateVersion numbers the encoding; RestoreTracker refuses newer ones.
const stateVersion = 1

// ErrStateVersion means a tracker state was written by a newer tcpwatch.
var ErrStateVersion = errors.New("model: tracker state of a newer version")

// MarshalState encodes the tracker's memory as it is after the last
// Update, whose poll time was now.
func (tr *Tracker) MarshalState(now time.Time) []byte {
	w := &stateWriter{}
	w.uvarint(stateVersion)
	w.time(now) // absolute: the reference is still zero
	w.ref = now
	w.config(&tr.cfg)
	w.uvarint(uint64(tr.polls))
	w.bool(tr.counters != nil)
	if tr.counters != nil {
		w.uvarint(tr.counters.EstabResets)
		w.uvarint(tr.counters.AbortOnTimeout)
	}
	w.varint(int64(tr.uncertainty))
	w.uvarint(uint64(len(tr.events)))
	for i := range tr.events {
		w.event(&tr.events[i])
	}
	keys := make([]uint64, 0, len(tr.conns))
	for k := range tr.conns {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.uvarint(uint64(len(keys)))
	for _, k := range keys {
		w.uvarint(k)
		w.conn(tr.conns[k])
	}
	return w.b
}

// RestoreTracker rebuilds a tracker from MarshalState's bytes and the
// sockets of the poll the state was taken after (the connections point
// into socks, as they did after that Update). It returns that poll as
// Update returned it, without its events (they are the last of
// Tracker.Events).
func RestoreTracker(b []byte, socks []inetdiag.Socket) (*Tracker, Poll, error) {
	r := &stateReader{b: b}
	if v := r.uvarint(); r.err == nil && v > stateVersion {
		return nil, Poll{}, fmt.Errorf("%w: %d (this one reads %d)", ErrStateVersion, v, stateVersion)
	}
	now := r.timeAbs()
	r.ref = now
	var cfg Config
	r.config(&cfg)
	tr := &Tracker{cfg: cfg, conns: map[uint64]*Conn{}}
	tr.polls = int(r.small(math.MaxInt32))
	if r.bool() {
		tr.counters = &Counters{EstabResets: r.uvarint(), AbortOnTimeout: r.uvarint()}
	}
	tr.uncertainty = time.Duration(r.varint())
	n := r.count(1 << 20)
	tr.events = make([]Event, 0, min(n, uint64(len(b))))
	for i := uint64(0); i < n && r.err == nil; i++ {
		var e Event
		r.event(&e)
		tr.events = append(tr.events, e)
	}
	n = r.count(1 << 26)
	for i := uint64(0); i < n && r.err == nil; i++ {
		k := r.uvarint()
		c := &Conn{}
		r.conn(c)
		c.poll = tr.polls
		tr.conns[k] = c
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%d bytes after the end", len(r.b))
	}
	if r.err != nil {
		return nil, Poll{}, fmt.Errorf("model: restore tracker: %w", r.err)
	}
	poll := Poll{Time: now, Conns: make([]*Conn, 0, len(socks))}
	for i := range socks {
		s := &socks[i]
		c := tr.conns[s.ID.Cookie]
		if c == nil || c.Sock != nil {
			continue // not tracked, or the second copy of a socket seen twice
		}
		c.Sock, c.last = s, lastOf(s)
		poll.Conns = append(poll.Conns, c)
	}
	if len(poll.Conns) != len(tr.conns) {
		return nil, Poll{}, fmt.Errorf("model: restore tracker: %d connections, %d of them among the %d sockets given", len(tr.conns), len(poll.Conns), len(socks))
	}
	return tr, poll, nil
}

// stateWriter appends the encoding.
type stateWriter struct {
	b   []byte
	ref time.Time
}

func (w *stateWriter) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *stateWriter) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *stateWriter) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}
func (w *stateWriter) str(s string) { w.uvarint(uint64(len(s))); w.b = append(w.b, s...) }

// time stores an instant relative to the reference (the poll's time): 0
// for the zero time, else 1 + the zigzag of the offset in nanoseconds.
func (w *stateWriter) time(t time.Time) {
	if t.IsZero() {
		w.uvarint(0)
		return
	}
	d := t.Sub(w.ref)
	if w.ref.IsZero() {
		d = time.Duration(t.UnixNano())
	}
	w.uvarint(1 + zigzag(int64(d)))
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

func (w *stateWriter) addrPort(ap netip.AddrPort) {
	b, _ := ap.MarshalBinary() // never fails
	w.str(string(b))
}

func (w *stateWriter) config(c *Config) {
	w.params(&c.Params)
	w.varint(int64(c.CloseWaitAfter))
	w.varint(int64(c.IdleAfter))
	w.varint(int64(c.HistoryLen))
	w.varint(int64(c.EventLimit))
}

func (w *stateWriter) params(p *Params) {
	for _, v := range [...]int64{int64(p.Retries1), int64(p.Retries2), int64(p.OrphanRetries), int64(p.SynRetries), int64(p.SynackRetries),
		int64(p.SynLinearTimeouts), int64(p.KeepaliveTime), int64(p.KeepaliveIntvl), int64(p.KeepaliveProbes), int64(p.RTOMinSysctl),
		int64(p.RTOMax), int64(p.HZ)} {
		w.varint(v)
	}
	w.uvarint(uint64(len(p.Missing)))
	for _, m := range p.Missing {
		w.str(m)
	}
}

func (w *stateWriter) event(e *Event) {
	w.time(e.Time)
	w.uvarint(uint64(e.Kind))
	w.uvarint(uint64(e.ID.Family))
	w.addrPort(e.ID.Local)
	w.addrPort(e.ID.Remote)
	w.uvarint(e.ID.Cookie)
	w.uvarint(uint64(e.ID.Inode))
	w.uvarint(uint64(e.State))
	w.uvarint(uint64(e.Health))
	w.time(e.LastSeen)
	w.prediction(e.Predicted)
	b, _ := e.Peer.MarshalBinary()
	w.str(string(b))
}

func (w *stateWriter) prediction(p *Prediction) {
	w.bool(p != nil)
	if p == nil {
		return
	}
	w.uvarint(uint64(p.Reason))
	w.uvarint(uint64(p.Confidence))
	for _, t := range [...]time.Time{p.At, p.Earliest, p.Latest, p.Clock, p.ClockEarliest, p.ClockLatest, p.Made} {
		w.time(t)
	}
	w.bool(p.MaySlip)
	w.varint(int64(p.Budget))
	w.varint(int64(p.Count))
	w.uvarint(uint64(len(p.Schedule)))
	for _, f := range p.Schedule {
		w.varint(int64(f.N))
		w.uvarint(uint64(f.Kind))
		w.time(f.At)
		w.time(f.Earliest)
		w.time(f.Latest)
		w.varint(int64(f.Interval))
		w.bool(f.Past)
		w.bool(f.Observed)
	}
	w.uvarint(uint64(len(p.Inputs)))
	for _, in := range p.Inputs {
		w.str(string(in.Name))
		w.str(in.Value)
		w.str(string(in.Source))
	}
	w.uvarint(uint64(len(p.Notes)))
	for _, n := range p.Notes {
		w.str(n)
	}
}

func (w *stateWriter) conn(c *Conn) {
	w.time(c.FirstSeen.Time())
	w.time(c.LastSeen.Time())
	w.time(c.StateSince.Time())
	w.uvarint(uint64(c.Health))
	w.time(c.HealthSince.Time())
	w.prediction(c.Prediction)
	w.bool(c.Exposure != nil)
	if e := c.Exposure; e != nil {
		w.bool(e.Never)
		w.varint(int64(e.After))
		w.uvarint(uint64(e.Reason))
		w.uvarint(uint64(e.Confidence))
	}
	w.bool(c.Opts().Known)
	if o := c.Opts(); o.Known {
		w.bool(o.KeepAlive)
		for _, v := range [...]int64{int64(o.KeepIdle), int64(o.KeepIntvl), int64(o.KeepCnt), int64(o.UserTimeout), int64(o.RTOMax), int64(o.SynCnt)} {
			w.varint(v)
		}
	}
	w.uvarint(uint64(len(c.History)))
	for _, s := range c.History {
		w.time(s.T)
		w.varint(int64(s.RTT))
		w.uvarint(uint64(s.SendQ))
		w.uvarint(uint64(s.Unacked))
		w.b = append(w.b, s.Retransmits, s.Backoff, s.Probes)
	}
	w.bool(c.retrans != nil)
	if e := c.retrans; e != nil {
		w.time(e.start)
		w.time(e.calm)
		w.varint(int64(e.calmRTOTime))
		w.uvarint(uint64(e.calmRecoveries))
		w.bool(e.calmKnown)
		w.bool(e.sawRecovery)
		w.time(e.clock.lo)
		w.time(e.clock.mid)
		w.time(e.clock.hi)
		w.str(e.clock.how)
		ns := make([]int, 0, len(e.firings))
		for n := range e.firings {
			ns = append(ns, n)
		}
		slices.Sort(ns)
		w.uvarint(uint64(len(ns)))
		for _, n := range ns {
			w.varint(int64(n))
			w.time(e.firings[n])
		}
		w.varint(int64(e.lastN))
	}
	// The probe episodes, zero when there are none (probing nil).
	e := c.probesSeen()
	w.time(e.keepalive.since)
	w.time(e.keepalive.pending)
	w.varint(int64(e.keepalive.probes))
	w.varint(int64(e.keepalive.intvl))
	w.time(e.zeroWindow.since)
	w.time(e.zeroWindow.calm)
}

// stateReader decodes with a sticky error: once something is wrong,
// every later read returns zero.
type stateReader struct {
	b   []byte
	ref time.Time
	err error
}

func (r *stateReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s at %d bytes from the end", what, len(r.b))
	}
}

func (r *stateReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad number")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad number")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length and checks it against limit and against what is
// left (every element takes at least a byte).
func (r *stateReader) count(limit uint64) uint64 {
	n := r.uvarint()
	if n > limit || n > uint64(len(r.b)) {
		r.fail(fmt.Sprintf("length %d", n))
		return 0
	}
	return n
}

func (r *stateReader) bool() bool {
	if r.err != nil {
		return false
	}
	if len(r.b) == 0 || r.b[0] > 1 {
		r.fail("bad flag")
		return false
	}
	v := r.b[0] == 1
	r.b = r.b[1:]
	return v
}

func (r *stateReader) byte() uint8 {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("cut short")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *stateReader) str() string {
	n := r.count(1 << 20)
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// small reads a number that must fit a uint8-sized enum or count.
func (r *stateReader) small(max uint64) uint64 {
	v := r.uvarint()
	if v > max {
		r.fail(fmt.Sprintf("value %d over %d", v, max))
		return 0
	}
	return v
}

func (r *stateReader) time() time.Time {
	u := r.uvarint()
	if u == 0 || r.err != nil {
		return time.Time{}
	}
	return r.ref.Add(time.Duration(unzigzag(u - 1)))
}

// timeAbs reads the reference itself (stored from the zero reference).
func (r *stateReader) timeAbs() time.Time {
	u := r.uvarint()
	if u == 0 || r.err != nil {
		r.fail("no poll time")
		return time.Time{}
	}
	return time.Unix(0, unzigzag(u-1))
}

func (r *stateReader) addrPort() netip.AddrPort {
	var ap netip.AddrPort
	if b := r.str(); r.err == nil {
		if err := ap.UnmarshalBinary([]byte(b)); err != nil {
			r.fail("bad address")
		}
	}
	return ap
}

func (r *stateReader) config(c *Config) {
	r.params(&c.Params)
	c.CloseWaitAfter = time.Duration(r.varint())
	c.IdleAfter = time.Duration(r.varint())
	c.HistoryLen = int(r.varint())
	c.EventLimit = int(r.varint())
	if c.HistoryLen < 0 || c.HistoryLen > 1<<20 || c.EventLimit < 0 || c.EventLimit > 1<<20 {
		r.fail("bad limits")
	}
}

func (r *stateReader) params(p *Params) {
	p.Retries1, p.Retries2, p.OrphanRetries = int(r.varint()), int(r.varint()), int(r.varint())
	p.SynRetries, p.SynackRetries, p.SynLinearTimeouts = int(r.varint()), int(r.varint()), int(r.varint())
	p.KeepaliveTime, p.KeepaliveIntvl = time.Duration(r.varint()), time.Duration(r.varint())
	p.KeepaliveProbes, p.RTOMinSysctl = int(r.varint()), time.Duration(r.varint())
	p.RTOMax, p.HZ = time.Duration(r.varint()), int(r.varint())
	n := r.count(64)
	for i := uint64(0); i < n && r.err == nil; i++ {
		p.Missing = append(p.Missing, r.str())
	}
}

func (r *stateReader) event(e *Event) {
	e.Time = r.time()
	e.Kind = EventKind(r.small(math.MaxUint8))
	e.ID.Family = inetdiag.Family(r.small(math.MaxUint8))
	e.ID.Local = r.addrPort()
	e.ID.Remote = r.addrPort()
	e.ID.Cookie = r.uvarint()
	e.ID.Inode = uint32(r.small(math.MaxUint32))
	e.State = inetdiag.State(r.small(math.MaxUint8))
	e.Health = Health(r.small(math.MaxUint8))
	e.LastSeen = r.time()
	e.Predicted = r.prediction()
	if b := r.str(); r.err == nil {
		if err := e.Peer.UnmarshalBinary([]byte(b)); err != nil {
			r.fail("bad peer address")
		}
	}
}

func (r *stateReader) prediction() *Prediction {
	if !r.bool() {
		return nil
	}
	p := &Prediction{Reason: Reason(r.small(math.MaxUint8)), Confidence: Confidence(r.small(math.MaxUint8))}
	for _, t := range [...]*time.Time{&p.At, &p.Earliest, &p.Latest, &p.Clock, &p.ClockEarliest, &p.ClockLatest, &p.Made} {
		*t = r.time()
	}
	p.MaySlip = r.bool()
	p.Budget = time.Duration(r.varint())
	p.Count = int(r.varint())
	n := r.count(maxFirings * 4)
	for i := uint64(0); i < n && r.err == nil; i++ {
		f := Firing{N: int(r.varint()), Kind: FiringKind(r.small(math.MaxUint8))}
		f.At, f.Earliest, f.Latest = r.time(), r.time(), r.time()
		f.Interval = time.Duration(r.varint())
		f.Past, f.Observed = r.bool(), r.bool()
		p.Schedule = append(p.Schedule, f)
	}
	n = r.count(64)
	for i := uint64(0); i < n && r.err == nil; i++ {
		p.Inputs = append(p.Inputs, Input{Name: InputName(r.str()), Value: r.str(), Source: Source(r.str())})
	}
	n = r.count(64)
	for i := uint64(0); i < n && r.err == nil; i++ {
		p.Notes = append(p.Notes, r.str())
	}
	return p
}

func (r *stateReader) conn(c *Conn) {
	c.FirstSeen, c.LastSeen, c.StateSince = InstantOf(r.time()), InstantOf(r.time()), InstantOf(r.time())
	c.Health = Health(r.small(math.MaxUint8))
	c.HealthSince = InstantOf(r.time())
	c.Prediction = r.prediction()
	if r.bool() {
		c.Exposure = &Exposure{Never: r.bool(), After: time.Duration(r.varint()), Reason: Reason(r.small(math.MaxUint8)), Confidence: Confidence(r.small(math.MaxUint8))}
	}
	if r.bool() {
		var o SockOpts
		o.KeepAlive = r.bool()
		o.KeepIdle, o.KeepIntvl = time.Duration(r.varint()), time.Duration(r.varint())
		o.KeepCnt, o.UserTimeout = int(r.varint()), time.Duration(r.varint())
		o.RTOMax, o.SynCnt = time.Duration(r.varint()), int(r.varint())
		c.setOpts(o)
	}
	n := r.count(1 << 20)
	for i := uint64(0); i < n && r.err == nil; i++ {
		c.History = append(c.History, Sample{T: r.time(), RTT: time.Duration(r.varint()), SendQ: uint32(r.small(math.MaxUint32)),
			Unacked: uint32(r.small(math.MaxUint32)), Retransmits: r.byte(), Backoff: r.byte(), Probes: r.byte()})
	}
	if r.bool() {
		e := &rtoEpisode{start: r.time(), calm: r.time(), calmRTOTime: time.Duration(r.varint()),
			calmRecoveries: uint16(r.small(math.MaxUint16)), calmKnown: r.bool(), sawRecovery: r.bool()}
		e.clock.lo, e.clock.mid, e.clock.hi = r.time(), r.time(), r.time()
		e.clock.how = r.str()
		n := r.count(maxFirings * 4)
		e.firings = make(map[int]time.Time, n)
		for i := uint64(0); i < n && r.err == nil; i++ {
			k := int(r.varint())
			e.firings[k] = r.time()
		}
		e.lastN = int(r.varint())
		c.retrans = e
	}
	var e probeEpisodes
	e.keepalive.since, e.keepalive.pending = r.time(), r.time()
	e.keepalive.probes, e.keepalive.intvl = int(r.varint()), time.Duration(r.varint())
	e.zeroWindow.since, e.zeroWindow.calm = r.time(), r.time()
	if e != (probeEpisodes{}) {
		c.probing = &e // as the live tracker keeps them: none when all zero
	}
}
