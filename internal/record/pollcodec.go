package record

import (
	"maps"
	"slices"
	"time"

	"github.com/tcpwatch/tcpwatch/model"
)

// partState is what the codec remembers of a namespace's last record: the
// base of the next one.
type partState struct {
	time    time.Time
	name    string
	params  model.Params
	known   bool // name and params were stored (the part was in a record)
	ctr     model.Counters
	after   model.Counters
	options []Option
	owners  map[uint32]Owner
	base    sockBase
}

// codecState is the base of the next record of a segment. Encoder and
// decoder keep the same one: a keyframe starts from an empty state, and
// each record moves it on.
type codecState struct {
	parts   map[NamespaceID]*partState
	notices []string
	known   bool // notices were stored
}

// reset forgets everything, as a keyframe does, but keeps the memory of
// the parts' sockets and owners for the parts that come back.
func (st *codecState) reset() {
	if st.parts == nil {
		st.parts = map[NamespaceID]*partState{}
	}
	for _, ps := range st.parts {
		clear(ps.owners)
		ps.base.reset()
		*ps = partState{owners: ps.owners, base: ps.base}
	}
	st.notices, st.known = nil, false
}

// prune drops the parts a keyframe did not have, and their memory.
func (st *codecState) prune(p *Poll) []NamespaceID {
	var gone []NamespaceID
	for ns := range st.parts {
		if !slices.ContainsFunc(p.Parts, func(pt Part) bool { return pt.NS == ns }) {
			delete(st.parts, ns)
			gone = append(gone, ns)
		}
	}
	return gone
}

func (st *codecState) part(ns NamespaceID) *partState {
	ps := st.parts[ns]
	if ps == nil {
		ps = &partState{owners: map[uint32]Owner{}}
		st.parts[ns] = ps
	}
	return ps
}

// Flags of a poll record.
const (
	pollSlowed  = 1 << 0
	pollNotices = 1 << 1 // the notices follow (they changed)
	pollState   = 1 << 2 // a State blob follows
)

// Flags of a part.
const (
	partName     = 1 << 0 // the name follows
	partParams   = 1 << 1 // the params follow
	partCounters = 1 << 2 // Counters is set: its change follows
	partAfter    = 1 << 3 // CountersAfter is set: its change follows
	partOptions  = 1 << 4 // the option answers follow (they changed)
)

// encoder turns polls into records. It keeps the state of the segment
// being written, which commit moves on. Encoding a delta spends the state
// (see sockEncoder.encode): if its record is not committed, the encoder
// is stale and the next record must be a keyframe.
type encoder struct {
	st    codecState
	stale bool
	socks map[NamespaceID]*sockEncoder
	raw   wbuf
	// ownerSet and ownerDel are the owner changes of each part of the
	// record being encoded, kept for commit.
	ownerSet [][]uint32
	ownerDel [][]uint32
}

func newEncoder() *encoder {
	e := &encoder{socks: map[NamespaceID]*sockEncoder{}}
	e.st.reset()
	return e
}

// encode returns the raw record of p, relative to the current state or,
// for a keyframe, to nothing; the result is valid until the next call.
// It moves the part's sockets on as it goes (copying them aside first
// would cost as much as encoding): until commit, the encoder is stale, and
// if the record is not written the next one must be a keyframe.
func (e *encoder) encode(p *Poll, key bool) []byte {
	st := &e.st
	if key {
		st.reset()
	}
	e.stale = true
	w := &e.raw
	w.b = w.b[:0]
	w.dur(p.Uncertainty)
	w.dur(p.Interval)
	w.dur(p.Cost)
	var flags byte
	if p.Slowed {
		flags |= pollSlowed
	}
	notices := !st.known || !slices.Equal(st.notices, p.Notices)
	if notices {
		flags |= pollNotices
	}
	if p.State != nil {
		flags |= pollState
	}
	w.byte1(flags)
	if notices {
		w.uvarint(uint64(len(p.Notices)))
		for _, n := range p.Notices {
			w.str(n)
		}
	}
	if p.State != nil {
		w.bytes(p.State)
	}
	w.uvarint(uint64(len(p.Parts)))
	e.ownerSet, e.ownerDel = resize(e.ownerSet, len(p.Parts)), resize(e.ownerDel, len(p.Parts))
	for i := range p.Parts {
		e.encodePart(w, i, &p.Parts[i], st.part(p.Parts[i].NS), p.Time)
	}
	return w.b
}

func resize(s [][]uint32, n int) [][]uint32 {
	for len(s) < n {
		s = append(s, nil)
	}
	return s[:n]
}

func (e *encoder) encodePart(w *wbuf, i int, pt *Part, ps *partState, now time.Time) {
	w.uvarint(uint64(pt.NS))
	var flags byte
	if !ps.known || ps.name != pt.Name {
		flags |= partName
	}
	if !ps.known || !paramsEqual(&ps.params, &pt.Params) {
		flags |= partParams
	}
	if pt.Counters != nil {
		flags |= partCounters
	}
	if pt.CountersAfter != nil {
		flags |= partAfter
	}
	if !ps.known || !slices.Equal(ps.options, pt.Options) {
		flags |= partOptions
	}
	w.byte1(flags)
	if flags&partName != 0 {
		w.str(pt.Name)
	}
	if flags&partParams != 0 {
		putParams(w, &pt.Params)
	}
	if pt.Counters != nil {
		putCounters(w, &ps.ctr, pt.Counters)
	}
	if pt.CountersAfter != nil {
		putCounters(w, &ps.after, pt.CountersAfter)
	}
	if flags&partOptions != 0 {
		w.uvarint(uint64(len(pt.Options)))
		for j := range pt.Options {
			putOption(w, &pt.Options[j])
		}
	}
	e.ownerSet[i], e.ownerDel[i] = putOwners(w, ps.owners, pt.Owners, e.ownerSet[i][:0], e.ownerDel[i][:0])
	se := e.socks[pt.NS]
	if se == nil {
		se = newSockEncoder()
		e.socks[pt.NS] = se
	}
	var elapsed time.Duration
	if ps.known {
		elapsed = elapsedFor(now, ps.time)
	}
	se.encode(w, &ps.base, pt.Socks, elapsed)
}

// commit makes p, just encoded with the same key, the base of the next
// record.
func (e *encoder) commit(p *Poll, key bool) {
	e.stale = false
	st := &e.st
	if key {
		for _, ns := range st.prune(p) {
			delete(e.socks, ns)
		}
	}
	st.notices, st.known = slices.Clone(p.Notices), true
	for i := range p.Parts {
		pt := &p.Parts[i]
		ps := st.part(pt.NS)
		ps.time, ps.name, ps.known = p.Time, pt.Name, true
		if !paramsEqual(&ps.params, &pt.Params) {
			ps.params = cloneParams(pt.Params)
		}
		if pt.Counters != nil {
			ps.ctr = *pt.Counters
		}
		if pt.CountersAfter != nil {
			ps.after = *pt.CountersAfter
		}
		if !slices.Equal(ps.options, pt.Options) {
			ps.options = slices.Clone(pt.Options)
		}
		for _, ino := range e.ownerSet[i] {
			ps.owners[ino] = pt.Owners[ino]
		}
		for _, ino := range e.ownerDel[i] {
			delete(ps.owners, ino)
		}
	}
}

// decodePoll reads a record into a new Poll and moves st on. The Poll's
// slices and maps are its own.
func decodePoll(raw []byte, t time.Time, key bool, st *codecState) (*Poll, error) {
	if key {
		st.reset()
	}
	r := &rbuf{b: raw}
	p := &Poll{Time: t, Keyframe: key}
	p.Uncertainty, p.Interval, p.Cost = r.dur(), r.dur(), r.dur()
	flags := r.byte1()
	if flags&^(pollSlowed|pollNotices|pollState) != 0 {
		r.fail("poll flags %#x", flags)
	}
	p.Slowed = flags&pollSlowed != 0
	if flags&pollNotices != 0 {
		n := r.count(1)
		st.notices, st.known = make([]string, 0, n), true
		for range n {
			st.notices = append(st.notices, r.str())
		}
	} else if !st.known {
		r.fail("notices not stored in the keyframe")
	}
	p.Notices = slices.Clone(st.notices)
	if flags&pollState != 0 {
		p.State = slices.Clone(r.bytes())
		if p.State == nil {
			p.State = []byte{}
		}
	}
	n := r.count(2)
	p.Parts = make([]Part, n)
	seen := make(map[NamespaceID]bool, n)
	for i := range p.Parts {
		decodePart(r, &p.Parts[i], st, t, seen)
	}
	r.end("poll")
	if r.err != nil {
		return nil, r.err
	}
	if key {
		st.prune(p)
	}
	return p, nil
}

func decodePart(r *rbuf, pt *Part, st *codecState, now time.Time, seen map[NamespaceID]bool) {
	pt.NS = NamespaceID(r.uvarint())
	if r.err != nil {
		return
	}
	if seen[pt.NS] {
		r.fail("namespace %d twice in one poll", pt.NS)
		return
	}
	seen[pt.NS] = true
	ps := st.part(pt.NS)
	flags := r.byte1()
	if flags&^(partName|partParams|partCounters|partAfter|partOptions) != 0 {
		r.fail("part flags %#x", flags)
	}
	if !ps.known && flags&(partName|partParams|partOptions) != partName|partParams|partOptions {
		r.fail("namespace %d first seen without its name, parameters and options", pt.NS)
		return
	}
	if flags&partName != 0 {
		ps.name = r.str()
	}
	pt.Name = ps.name
	if flags&partParams != 0 {
		ps.params = getParams(r)
	}
	pt.Params = cloneParams(ps.params)
	if flags&partCounters != 0 {
		getCounters(r, &ps.ctr)
		c := ps.ctr
		pt.Counters = &c
	}
	if flags&partAfter != 0 {
		getCounters(r, &ps.after)
		c := ps.after
		pt.CountersAfter = &c
	}
	if flags&partOptions != 0 {
		n := r.count(3)
		ps.options = make([]Option, n)
		for j := range ps.options {
			ps.options[j] = getOption(r)
		}
	}
	pt.Options = slices.Clone(ps.options)
	getOwners(r, ps.owners)
	pt.Owners = maps.Clone(ps.owners)
	var elapsed time.Duration
	if ps.known {
		elapsed = elapsedFor(now, ps.time)
	}
	pt.Socks = decodeSocks(r, &ps.base, elapsed)
	if r.err != nil {
		return
	}
	ps.time, ps.known = now, true
}

func paramsEqual(a, b *model.Params) bool {
	eq := func(x, y *int) bool { return *x == *y }
	deq := func(x, y *time.Duration) bool { return *x == *y }
	return slices.EqualFunc(paramInts(a), paramInts(b), eq) && slices.EqualFunc(paramDurs(a), paramDurs(b), deq) &&
		slices.Equal(a.Missing, b.Missing)
}

// paramInts and paramDurs list every field of Params but Missing, in the
// order they are stored; TestParamsRoundTrip fails when model adds one.
func paramInts(p *model.Params) []*int {
	return []*int{&p.Retries1, &p.Retries2, &p.OrphanRetries, &p.SynRetries, &p.SynackRetries, &p.SynLinearTimeouts, &p.KeepaliveProbes, &p.HZ}
}

func paramDurs(p *model.Params) []*time.Duration {
	return []*time.Duration{&p.KeepaliveTime, &p.KeepaliveIntvl, &p.RTOMinSysctl, &p.RTOMax}
}

func cloneParams(p model.Params) model.Params {
	p.Missing = slices.Clone(p.Missing)
	return p
}

func putParams(w *wbuf, p *model.Params) {
	for _, v := range paramInts(p) {
		w.varint(int64(*v))
	}
	for _, d := range paramDurs(p) {
		w.dur(*d)
	}
	w.uvarint(uint64(len(p.Missing)))
	for _, m := range p.Missing {
		w.str(m)
	}
}

func getParams(r *rbuf) model.Params {
	var p model.Params
	for _, v := range paramInts(&p) {
		*v = r.int()
	}
	for _, d := range paramDurs(&p) {
		*d = r.dur()
	}
	if n := r.count(1); n > 0 {
		p.Missing = make([]string, n)
		for i := range p.Missing {
			p.Missing[i] = r.str()
		}
	}
	return p
}

// putCounters stores c as its change from the last stored value.
func putCounters(w *wbuf, last, c *model.Counters) {
	w.varint(int64(c.EstabResets - last.EstabResets))
	w.varint(int64(c.AbortOnTimeout - last.AbortOnTimeout))
}

func getCounters(r *rbuf, c *model.Counters) {
	c.EstabResets += uint64(r.varint())
	c.AbortOnTimeout += uint64(r.varint())
}

// Bits of an option answer's flags.
const (
	optOK        = 1 << 0
	optKnown     = 1 << 1
	optKeepAlive = 1 << 2
)

func putOption(w *wbuf, o *Option) {
	w.uvarint(o.Cookie)
	var f byte
	if o.OK {
		f |= optOK
	}
	if o.Opts.Known {
		f |= optKnown
	}
	if o.Opts.KeepAlive {
		f |= optKeepAlive
	}
	w.byte1(f)
	s := &o.Opts
	w.dur(s.KeepIdle)
	w.dur(s.KeepIntvl)
	w.varint(int64(s.KeepCnt))
	w.dur(s.UserTimeout)
	w.dur(s.RTOMax)
	w.varint(int64(s.SynCnt))
}

func getOption(r *rbuf) Option {
	o := Option{Cookie: r.uvarint()}
	f := r.byte1()
	if f&^(optOK|optKnown|optKeepAlive) != 0 {
		r.fail("option flags %#x", f)
	}
	o.OK, o.Opts.Known, o.Opts.KeepAlive = f&optOK != 0, f&optKnown != 0, f&optKeepAlive != 0
	s := &o.Opts
	s.KeepIdle, s.KeepIntvl, s.KeepCnt = r.dur(), r.dur(), r.int()
	s.UserTimeout, s.RTOMax, s.SynCnt = r.dur(), r.dur(), r.int()
	return o
}

// putOwners stores how cur differs from last: the owners set or changed,
// then the inodes that lost theirs, each list in inode order (stored as
// steps). It returns both lists of inodes, appended to set and del.
func putOwners(w *wbuf, last, cur map[uint32]Owner, set, del []uint32) ([]uint32, []uint32) {
	for ino, o := range cur {
		if old, ok := last[ino]; !ok || old != o {
			set = append(set, ino)
		}
	}
	for ino := range last {
		if _, ok := cur[ino]; !ok {
			del = append(del, ino)
		}
	}
	slices.Sort(set)
	slices.Sort(del)
	w.uvarint(uint64(len(set)))
	prev := uint32(0)
	for _, ino := range set {
		o := cur[ino]
		w.uvarint(uint64(ino - prev))
		w.varint(int64(o.PID))
		w.str(o.Comm)
		prev = ino
	}
	w.uvarint(uint64(len(del)))
	prev = 0
	for _, ino := range del {
		w.uvarint(uint64(ino - prev))
		prev = ino
	}
	return set, del
}

func getOwners(r *rbuf, owners map[uint32]Owner) {
	n := r.count(3)
	ino := uint64(0)
	for range n {
		ino += r.uvarint()
		pid := r.int()
		comm := r.str()
		if ino > 0xffffffff {
			r.fail("inode %d", ino)
		}
		if r.err != nil {
			return
		}
		owners[uint32(ino)] = Owner{PID: pid, Comm: comm}
	}
	n = r.count(1)
	ino = 0
	for range n {
		ino += r.uvarint()
		if ino > 0xffffffff {
			r.fail("inode %d", ino)
		}
		if r.err != nil {
			return
		}
		delete(owners, uint32(ino))
	}
}
