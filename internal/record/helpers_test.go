package record

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// reply builds a SOCK_DIAG_BY_FAMILY reply payload as the kernel sends
// it: struct inet_diag_msg and the given attributes.
type reply struct {
	fam                              inetdiag.Family
	state, timer, retrans            uint8
	src, dst                         netip.AddrPort
	ifindex                          uint32
	cookie                           uint64
	expiresMS, rq, wq, uid, inode    uint32
	info                             []byte // tcp_info (nil: not sent)
	mem                              []byte // 16 bytes (nil: not sent)
	skmem                            []byte // 36 bytes (nil: not sent)
	cong                             string // "" not sent
	shutdown, tos, tclass            int    // -1: not sent
	mark, classID, cgroupID, sockOpt int64  // -1: not sent
}

func (r *reply) bytes() []byte {
	ne := binary.NativeEndian
	b := make([]byte, 72)
	b[0], b[1], b[2], b[3] = byte(r.fam), r.state, r.timer, r.retrans
	binary.BigEndian.PutUint16(b[4:], r.src.Port())
	binary.BigEndian.PutUint16(b[6:], r.dst.Port())
	putIP := func(dst []byte, a netip.Addr) {
		if r.fam == inetdiag.FamilyInet {
			v := a.Unmap().As4()
			copy(dst, v[:])
		} else {
			v := a.As16()
			copy(dst, v[:])
		}
	}
	putIP(b[8:24], r.src.Addr())
	putIP(b[24:40], r.dst.Addr())
	ne.PutUint32(b[40:], r.ifindex)
	ne.PutUint32(b[44:], uint32(r.cookie))
	ne.PutUint32(b[48:], uint32(r.cookie>>32))
	ne.PutUint32(b[52:], r.expiresMS)
	ne.PutUint32(b[56:], r.rq)
	ne.PutUint32(b[60:], r.wq)
	ne.PutUint32(b[64:], r.uid)
	ne.PutUint32(b[68:], r.inode)
	attr := func(typ inetdiag.Attr, p []byte) {
		b = ne.AppendUint16(b, uint16(4+len(p)))
		b = ne.AppendUint16(b, uint16(typ))
		b = append(b, p...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	if r.mem != nil {
		attr(inetdiag.AttrMemInfo, r.mem)
	}
	if r.info != nil {
		attr(inetdiag.AttrInfo, r.info)
	}
	if r.cong != "" {
		attr(inetdiag.AttrCong, append([]byte(r.cong), 0))
	}
	for _, a := range []struct {
		typ inetdiag.Attr
		v   int
	}{{inetdiag.AttrTOS, r.tos}, {inetdiag.AttrTClass, r.tclass}, {inetdiag.AttrShutdown, r.shutdown}} {
		if a.v >= 0 {
			attr(a.typ, []byte{byte(a.v)})
		}
	}
	if r.skmem != nil {
		attr(inetdiag.AttrSKMemInfo, r.skmem)
	}
	for _, a := range []struct {
		typ inetdiag.Attr
		v   int64
		n   int
	}{{inetdiag.AttrMark, r.mark, 4}, {inetdiag.AttrClassID, r.classID, 4}, {inetdiag.AttrCgroupID, r.cgroupID, 8}, {inetdiag.AttrSockOpt, r.sockOpt, 2}} {
		if a.v >= 0 {
			p := make([]byte, 8)
			ne.PutUint64(p, uint64(a.v))
			attr(a.typ, p[:a.n])
		}
	}
	return b
}

// decode turns the reply into a socket through inetdiag's own decoder, as
// a dump kept whole does, in the codec's flat form (which tests can copy
// and change as a value).
func (r *reply) decode(t testing.TB) rsock {
	t.Helper()
	var s inetdiag.Socket
	if err := inetdiag.DecodeSocketFull(&s, new(inetdiag.Full), r.bytes()); err != nil {
		t.Fatalf("DecodeSocket: %v", err)
	}
	return flat(&s)
}

// flat is s in the codec's form.
func flat(s *inetdiag.Socket) rsock {
	var r rsock
	r.from(s)
	return r
}

// socket is r as a socket kept whole, with a Full of its own.
func (r rsock) socket() inetdiag.Socket {
	var s inetdiag.Socket
	r.to(&s, new(inetdiag.Full))
	return s
}

// socketsOf is rs as sockets kept whole.
func socketsOf(rs ...rsock) []inetdiag.Socket {
	out := make([]inetdiag.Socket, len(rs))
	for i := range rs {
		out[i] = rs[i].socket()
	}
	return out
}

// randomReply returns a reply with random content: random lengths of
// tcp_info (older and newer kernels), random optional attributes.
func randomReply(rng *rand.Rand, cookie uint64) *reply {
	r := &reply{
		fam: inetdiag.FamilyInet, state: uint8(1 + rng.IntN(12)), timer: uint8(rng.IntN(6)), retrans: uint8(rng.IntN(4)),
		src:       netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(4)), byte(rng.IntN(256))}), uint16(rng.IntN(65536))),
		dst:       netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, 1, byte(rng.IntN(256))}), 443),
		cookie:    cookie,
		expiresMS: uint32(rng.IntN(200000)), rq: uint32(rng.IntN(1000)), wq: uint32(rng.IntN(100000)),
		uid: uint32(rng.IntN(2000)), inode: uint32(rng.Uint32()),
		shutdown: rng.IntN(4), tos: -1, tclass: -1, mark: -1, classID: -1, cgroupID: -1, sockOpt: -1,
	}
	if rng.IntN(3) == 0 {
		r.fam = inetdiag.FamilyInet6
		r.src = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), r.src.Port())
		r.dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 1, 0xd, 0xb8, 15: byte(rng.IntN(256))}), 8443)
		r.tclass = rng.IntN(256)
	}
	if rng.IntN(4) != 0 {
		lens := []int{inetdiag.TCPInfoLen2_6, inetdiag.TCPInfoLen4_19, inetdiag.TCPInfoLen6_7, inetdiag.TCPInfoLen6_18, 300, 13}
		r.info = make([]byte, lens[rng.IntN(len(lens))])
		for i := range r.info {
			r.info[i] = byte(rng.Uint32())
		}
		r.mem = make([]byte, 16)
		r.skmem = make([]byte, 36)
		for i := range r.skmem {
			r.skmem[i] = byte(rng.Uint32())
		}
		r.cong = []string{"cubic", "bbr", "reno", "x-custom"}[rng.IntN(4)]
		r.cgroupID = int64(rng.Uint32())
		if rng.IntN(2) == 0 {
			r.sockOpt = int64(rng.IntN(1 << 16))
			r.mark = int64(rng.Uint32())
			r.tos = rng.IntN(256)
		}
	}
	return r
}

// roundTrip encodes each poll in turn (committing it, as the writer does)
// and decodes it with a decoder that saw the same records, and fails on
// any difference. key[i] makes poll i a keyframe. It returns the raw
// record sizes.
func roundTrip(t *testing.T, polls []*Poll, key func(i int) bool) []int {
	t.Helper()
	enc := newEncoder()
	var st codecState
	st.reset()
	sizes := make([]int, len(polls))
	for i, p := range polls {
		k := i == 0 || (key != nil && key(i))
		raw := enc.encode(p, k)
		sizes[i] = len(raw)
		enc.commit(p, k)
		got, err := decodePoll(append([]byte(nil), raw...), p.Time, k, &st)
		if err != nil {
			t.Fatalf("poll %d: decode: %v", i, err)
		}
		comparePolls(t, i, p, got)
	}
	return sizes
}

// comparePolls fails unless got is p as decoding must give it back.
func comparePolls(t *testing.T, i int, want, got *Poll) {
	t.Helper()
	if !got.Time.Equal(want.Time) || got.Uncertainty != want.Uncertainty || got.Interval != want.Interval ||
		got.Cost != want.Cost || got.Slowed != want.Slowed {
		t.Fatalf("poll %d: header: got %v %v %v %v %v, want %v %v %v %v %v", i,
			got.Time, got.Uncertainty, got.Interval, got.Cost, got.Slowed, want.Time, want.Uncertainty, want.Interval, want.Cost, want.Slowed)
	}
	if !slices.Equal(got.Notices, want.Notices) {
		t.Fatalf("poll %d: notices %q, want %q", i, got.Notices, want.Notices)
	}
	if (got.State == nil) != (want.State == nil) || string(got.State) != string(want.State) {
		t.Fatalf("poll %d: state %q, want %q", i, got.State, want.State)
	}
	if len(got.Parts) != len(want.Parts) {
		t.Fatalf("poll %d: %d parts, want %d", i, len(got.Parts), len(want.Parts))
	}
	for j := range want.Parts {
		comparePart(t, i, &want.Parts[j], &got.Parts[j])
	}
}

func comparePart(t *testing.T, i int, w, g *Part) {
	t.Helper()
	if g.NS != w.NS || g.Name != w.Name {
		t.Fatalf("poll %d: namespace %d %q, want %d %q", i, g.NS, g.Name, w.NS, w.Name)
	}
	if !paramsEqual(&g.Params, &w.Params) {
		t.Fatalf("poll %d: params %+v, want %+v", i, g.Params, w.Params)
	}
	if (g.Counters == nil) != (w.Counters == nil) || (g.Counters != nil && *g.Counters != *w.Counters) {
		t.Fatalf("poll %d: counters %v, want %v", i, g.Counters, w.Counters)
	}
	if (g.CountersAfter == nil) != (w.CountersAfter == nil) || (g.CountersAfter != nil && *g.CountersAfter != *w.CountersAfter) {
		t.Fatalf("poll %d: counters after %v, want %v", i, g.CountersAfter, w.CountersAfter)
	}
	if len(g.Options) != len(w.Options) {
		t.Fatalf("poll %d: %d options, want %d", i, len(g.Options), len(w.Options))
	}
	for k := range w.Options {
		if g.Options[k] != w.Options[k] {
			t.Fatalf("poll %d: option %d: %+v, want %+v", i, k, g.Options[k], w.Options[k])
		}
	}
	if len(g.Owners) != len(w.Owners) {
		t.Fatalf("poll %d: %d owners, want %d", i, len(g.Owners), len(w.Owners))
	}
	for ino, o := range w.Owners {
		if g.Owners[ino] != o {
			t.Fatalf("poll %d: owner of %d: %+v, want %+v", i, ino, g.Owners[ino], o)
		}
	}
	if len(g.Socks) != len(w.Socks) {
		t.Fatalf("poll %d: %d sockets, want %d", i, len(g.Socks), len(w.Socks))
	}
	for k := range w.Socks {
		if g.Socks[k].Full == nil {
			t.Fatalf("poll %d: socket %d decoded without Full", i, k)
		}
		if gf, wf := flat(&g.Socks[k]), flat(&w.Socks[k]); gf != wf || g.Socks[k].Info != gf.f.Info.Core() {
			t.Fatalf("poll %d: socket %d differs:\n got %+v\nwant %+v\n(attrs %#x, want %#x)", i, k, gf, wf, attrsOf(&g.Socks[k]), attrsOf(&w.Socks[k]))
		}
	}
}

// at returns a poll time: base plus ms milliseconds.
func at(ms int64) time.Time {
	return time.Unix(1_763_900_000, 0).Add(time.Duration(ms) * time.Millisecond)
}
