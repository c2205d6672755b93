package inetdiag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// rawMsg describes struct inet_diag_msg field by field, to be laid out by
// hand in tests (not with the package's own marshalling code).
type rawMsg struct {
	family, state, timer, retrans byte
	sport, dport                  uint16 // written big-endian
	src, dst                      [16]byte
	ifindex                       uint32
	cookie                        uint64 // two host-order u32, low word first
	expires, rqueue, wqueue       uint32
	uid, inode                    uint32
}

func (m rawMsg) bytes() []byte {
	b := make([]byte, 72)
	ne := binary.NativeEndian
	b[0], b[1], b[2], b[3] = m.family, m.state, m.timer, m.retrans
	b[4], b[5] = byte(m.sport>>8), byte(m.sport)
	b[6], b[7] = byte(m.dport>>8), byte(m.dport)
	copy(b[8:24], m.src[:])
	copy(b[24:40], m.dst[:])
	ne.PutUint32(b[40:], m.ifindex)
	ne.PutUint32(b[44:], uint32(m.cookie))
	ne.PutUint32(b[48:], uint32(m.cookie>>32))
	ne.PutUint32(b[52:], m.expires)
	ne.PutUint32(b[56:], m.rqueue)
	ne.PutUint32(b[60:], m.wqueue)
	ne.PutUint32(b[64:], m.uid)
	ne.PutUint32(b[68:], m.inode)
	return b
}

// nla builds one netlink attribute with its padding.
func nla(typ uint16, payload []byte) []byte {
	b := nlaNoPad(typ, payload)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// nlaNoPad builds one netlink attribute without trailing padding, as the
// last attribute of a message may be.
func nlaNoPad(typ uint16, payload []byte) []byte {
	b := make([]byte, 4, 4+len(payload))
	binary.NativeEndian.PutUint16(b[0:], uint16(4+len(payload)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	return append(b, payload...)
}

func u32s(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.NativeEndian.PutUint32(b[4*i:], v)
	}
	return b
}

func u64b(v uint64) []byte {
	b := make([]byte, 8)
	binary.NativeEndian.PutUint64(b, v)
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func v4(a, b, c, d byte) (r [16]byte) { r[0], r[1], r[2], r[3] = a, b, c, d; return r }

func v6(s string) [16]byte { return netip.MustParseAddr(s).As16() }

// TestRawMsgLayout pins the hand layout used by the tests to the offsets of
// include/uapi/linux/inet_diag.h, so that a mistake there cannot hide a
// mistake in the decoder.
func TestRawMsgLayout(t *testing.T) {
	m := rawMsg{family: 2, state: 3, timer: 4, retrans: 5, sport: 0x0102, dport: 0x0304,
		src: v4(6, 7, 8, 9), dst: v4(10, 11, 12, 13), ifindex: 0x0e, cookie: 0x1000000f,
		expires: 0x11, rqueue: 0x12, wqueue: 0x13, uid: 0x14, inode: 0x15}
	b := m.bytes()
	ne := binary.NativeEndian
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"family@0", uint64(b[0]), 2}, {"state@1", uint64(b[1]), 3}, {"timer@2", uint64(b[2]), 4}, {"retrans@3", uint64(b[3]), 5},
		{"sport@4 be16", uint64(binary.BigEndian.Uint16(b[4:])), 0x0102},
		{"dport@6 be16", uint64(binary.BigEndian.Uint16(b[6:])), 0x0304},
		{"src@8", uint64(b[8]), 6}, {"dst@24", uint64(b[24]), 10},
		{"if@40", uint64(ne.Uint32(b[40:])), 0x0e},
		{"cookie[0]@44", uint64(ne.Uint32(b[44:])), 0x1000000f}, {"cookie[1]@48", uint64(ne.Uint32(b[48:])), 0},
		{"expires@52", uint64(ne.Uint32(b[52:])), 0x11}, {"rqueue@56", uint64(ne.Uint32(b[56:])), 0x12},
		{"wqueue@60", uint64(ne.Uint32(b[60:])), 0x13}, {"uid@64", uint64(ne.Uint32(b[64:])), 0x14},
		{"inode@68", uint64(ne.Uint32(b[68:])), 0x15},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

func TestDecodeSocket(t *testing.T) {
	info := patternInfo(TCPInfoLen6_18)
	var wantInfo TCPInfo
	decodeTCPInfo(&wantInfo, info)

	tests := []struct {
		name  string
		msg   rawMsg
		attrs []byte
		want  Socket // Info is filled from full.Info
		full  Full
		has   []Attr
	}{
		{
			name: "ipv4 established, every attribute",
			msg: rawMsg{family: 2, state: 1, timer: 1, retrans: 3, sport: 44321, dport: 443,
				src: v4(10, 1, 2, 3), dst: v4(192, 0, 2, 200), ifindex: 0x01020304, cookie: 0x1122334455667788,
				expires: 1234, rqueue: 0xa0a0, wqueue: 0x0b0b0b, uid: 1000, inode: 0x7fff0001},
			attrs: cat(
				nla(uint16(AttrPad), nil),
				nla(uint16(AttrInfo), info),
				nla(uint16(AttrMemInfo), u32s(1, 2, 3, 4)),
				nla(uint16(AttrSKMemInfo), u32s(11, 12, 13, 14, 15, 16, 17, 18, 19)),
				nla(uint16(AttrTOS), []byte{0x10}),
				nla(uint16(AttrMark), u32s(0xdeadbeef)),
				nla(uint16(AttrCgroupID), u64b(0x0102030405060708)),
				nla(uint16(AttrClassID), u32s(0x10001)),
				nla(uint16(AttrSockOpt), []byte{0x05, 0x01}),
				nla(99, []byte{1, 2, 3, 4, 5}), // unknown: skipped
				nla(uint16(AttrShutdown), []byte{2}),
				nlaNoPad(uint16(AttrCong), []byte("cubic\x00")), // last, unpadded
			),
			want: Socket{
				Family: FamilyInet, State: StateEstablished, Timer: TimerRetransmit, Retrans: 3,
				Expires: 1234 * time.Millisecond,
				ID: SockID{
					Src:       netip.MustParseAddrPort("10.1.2.3:44321"),
					Dst:       netip.MustParseAddrPort("192.0.2.200:443"),
					Interface: 0x01020304, Cookie: 0x1122334455667788,
				},
				RecvQ: 0xa0a0, SendQ: 0x0b0b0b, UID: 1000, Inode: 0x7fff0001,
				Shutdown: 2,
			},
			full: Full{
				Info:  wantInfo,
				Mem:   MemInfo{1, 2, 3, 4},
				SKMem: SKMemInfo{11, 12, 13, 14, 15, 16, 17, 18, 19},
				Cong:  "cubic",
				TOS:   0x10, Mark: 0xdeadbeef, CgroupID: 0x0102030405060708, ClassID: 0x10001,
				SockOpt: binary.NativeEndian.Uint16([]byte{0x05, 0x01}),
			},
			has: []Attr{AttrPad, AttrInfo, AttrMemInfo, AttrSKMemInfo, AttrTOS, AttrMark, AttrCgroupID, AttrClassID, AttrSockOpt, AttrShutdown, AttrCong},
		},
		{
			name: "ipv6 listener, old kernel tcp_info, v6only",
			msg: rawMsg{family: 10, state: 10, sport: 8443, src: v6("fd00::1"), dst: v6("::"),
				cookie: 7, rqueue: 0, wqueue: 4096, uid: 0, inode: 99},
			attrs: cat(
				nla(uint16(AttrInfo), info[:TCPInfoLen4_1]),
				nla(uint16(AttrTClass), []byte{0xb8}),
				nla(uint16(AttrSKV6Only), []byte{1}),
				nla(uint16(AttrCong), []byte("my_cc_algo\x00\x00\x00")), // not in the known list
				nlaNoPad(uint16(AttrShutdown), []byte{0}),
			),
			want: Socket{
				Family: FamilyInet6, State: StateListen,
				ID: SockID{
					Src:    netip.MustParseAddrPort("[fd00::1]:8443"),
					Dst:    netip.MustParseAddrPort("[::]:0"),
					Cookie: 7,
				},
				SendQ: 4096, Inode: 99,
			},
			full: Full{
				Info: func() TCPInfo { var ti TCPInfo; decodeTCPInfo(&ti, info[:TCPInfoLen4_1]); return ti }(),
				Cong: "my_cc_algo", TClass: 0xb8, V6Only: true,
			},
			has: []Attr{AttrInfo, AttrTClass, AttrSKV6Only, AttrCong, AttrShutdown},
		},
		{
			name: "ipv6 socket with v4-mapped addresses",
			msg: rawMsg{family: 10, state: 8, timer: 2, sport: 80, dport: 51000,
				src: v6("::ffff:10.1.0.1"), dst: v6("::ffff:10.2.0.1"), cookie: 1 << 40, expires: 7000},
			attrs: nlaNoPad(uint16(AttrShutdown), []byte{1}),
			want: Socket{
				Family: FamilyInet6, State: StateCloseWait, Timer: TimerKeepalive, Expires: 7 * time.Second,
				ID: SockID{
					Src:    netip.AddrPortFrom(netip.AddrFrom16(v6("::ffff:10.1.0.1")), 80),
					Dst:    netip.AddrPortFrom(netip.AddrFrom16(v6("::ffff:10.2.0.1")), 51000),
					Cookie: 1 << 40,
				},
				Shutdown: 1,
			},
			has: []Attr{AttrShutdown},
		},
		{
			name: "time-wait, no attributes",
			msg: rawMsg{family: 2, state: 6, timer: 3, sport: 1, dport: 65535,
				src: v4(127, 0, 0, 1), dst: v4(127, 0, 0, 2), cookie: NoCookie - 1, expires: 59999},
			want: Socket{
				Family: FamilyInet, State: StateTimeWait, Timer: TimerTimeWait, Expires: 59999 * time.Millisecond,
				ID: SockID{
					Src:    netip.MustParseAddrPort("127.0.0.1:1"),
					Dst:    netip.MustParseAddrPort("127.0.0.2:65535"),
					Cookie: NoCookie - 1,
				},
			},
		},
		{
			name:  "nested and byte-order flags are ignored in the type",
			msg:   rawMsg{family: 2, state: 1},
			attrs: cat(nla(0x8000|uint16(AttrTOS), []byte{7}), nla(0x4000|uint16(AttrMark), u32s(5)), nla(0x3fff, nil)),
			want: Socket{Family: FamilyInet, State: StateEstablished,
				ID: SockID{Src: netip.AddrPortFrom(netip.IPv4Unspecified(), 0), Dst: netip.AddrPortFrom(netip.IPv4Unspecified(), 0)}},
			full: Full{TOS: 7, Mark: 5},
			has:  []Attr{AttrTOS, AttrMark},
		},
		{
			name:  "longer attributes than known keep their known prefix",
			msg:   rawMsg{family: 2, state: 1},
			attrs: cat(nla(uint16(AttrMemInfo), u32s(1, 2, 3, 4, 5)), nla(uint16(AttrInfo), patternInfo(400))),
			want: Socket{Family: FamilyInet, State: StateEstablished,
				ID: SockID{Src: netip.AddrPortFrom(netip.IPv4Unspecified(), 0), Dst: netip.AddrPortFrom(netip.IPv4Unspecified(), 0)}},
			full: Full{
				Mem: MemInfo{1, 2, 3, 4},
				Info: func() TCPInfo {
					var ti TCPInfo
					decodeTCPInfo(&ti, patternInfo(400))
					return ti
				}()},
			has: []Attr{AttrMemInfo, AttrInfo},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := append(tt.msg.bytes(), tt.attrs...)
			tt.want.Info = tt.full.Info.Core()
			// Decode into a dirty Socket and Full: nothing of them may
			// survive.
			var s Socket
			var full Full
			if err := DecodeSocketFull(&s, &full, dirtySocketBytes()); err != nil {
				t.Fatal(err)
			}
			if err := DecodeSocketFull(&s, &full, b); err != nil {
				t.Fatalf("DecodeSocketFull: %v", err)
			}
			if s.Full != &full {
				t.Fatalf("Full = %p, want the Full given (%p)", s.Full, &full)
			}
			if full != tt.full {
				t.Errorf("decoded in full\n got %+v\nwant %+v", full, tt.full)
			}
			got := s
			got.attrsSeen, got.Full = 0, nil
			if got != tt.want {
				t.Errorf("decoded\n got %+v\nwant %+v", got, tt.want)
			}
			// The compact decoder, which reads only the core of tcp_info,
			// agrees with the core of the whole.
			var compact Socket
			if err := DecodeSocketFull(&compact, &full, dirtySocketBytes()); err != nil {
				t.Fatal(err)
			}
			if err := DecodeSocket(&compact, b); err != nil {
				t.Fatalf("DecodeSocket: %v", err)
			}
			if compact.Full != nil || compact.attrsSeen != s.attrsSeen {
				t.Errorf("compact decode: Full %p, attributes %#x (whole: %#x)", compact.Full, compact.attrsSeen, s.attrsSeen)
			}
			compact.attrsSeen = 0
			if compact != tt.want {
				t.Errorf("decoded compact\n got %+v\nwant %+v", compact, tt.want)
			}
			want := map[Attr]bool{}
			for _, a := range tt.has {
				want[a] = true
			}
			for a := Attr(0); a < attrMax+2; a++ {
				if s.Has(a) != want[a] {
					t.Errorf("Has(%d) = %v, want %v", a, s.Has(a), want[a])
				}
			}
			if want[AttrInfo] != (s.Info.Len > 0) {
				t.Errorf("Info.Len = %d with Has(AttrInfo) = %v", s.Info.Len, s.Has(AttrInfo))
			}
		})
	}
}

// dirtySocketBytes is a reply with every field and attribute set, to check
// that decoding another reply into the same Socket clears it.
func dirtySocketBytes() []byte {
	m := rawMsg{family: 10, state: 1, timer: 4, retrans: 9, sport: 1, dport: 2, src: v6("fd00::9"), dst: v6("fd00::8"),
		ifindex: 3, cookie: 4, expires: 5, rqueue: 6, wqueue: 7, uid: 8, inode: 9}
	return cat(m.bytes(),
		nla(uint16(AttrInfo), patternInfo(TCPInfoLen6_18)),
		nla(uint16(AttrMemInfo), u32s(1, 2, 3, 4)),
		nla(uint16(AttrSKMemInfo), u32s(1, 2, 3, 4, 5, 6, 7, 8, 9)),
		nla(uint16(AttrCong), []byte("bbr\x00")),
		nla(uint16(AttrShutdown), []byte{3}),
		nla(uint16(AttrTOS), []byte{1}), nla(uint16(AttrTClass), []byte{1}), nla(uint16(AttrSKV6Only), []byte{1}),
		nla(uint16(AttrMark), u32s(1)), nla(uint16(AttrClassID), u32s(1)), nla(uint16(AttrCgroupID), u64b(1)),
		nla(uint16(AttrSockOpt), []byte{1, 1}),
	)
}

func TestDecodeSocketMalformed(t *testing.T) {
	ok4 := rawMsg{family: 2, state: 1}.bytes()
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShortMessage},
		{"one byte", []byte{2}, ErrShortMessage},
		{"71 bytes", ok4[:71], ErrShortMessage},
		{"family 0", rawMsg{family: 0}.bytes(), ErrBadFamily},
		{"family AF_UNIX", rawMsg{family: 1}.bytes(), ErrBadFamily},
		{"family 255", rawMsg{family: 255}.bytes(), ErrBadFamily},
		{"1 trailing byte", cat(ok4, []byte{8}), ErrBadAttribute},
		{"3 trailing bytes", cat(ok4, []byte{8, 0, 0}), ErrBadAttribute},
		{"attribute length 0", cat(ok4, []byte{0, 0, 8, 0}), ErrBadAttribute},
		{"attribute length 3", cat(ok4, setLen(nla(uint16(AttrShutdown), []byte{1}), 3)), ErrBadAttribute},
		{"attribute longer than the message", cat(ok4, setLen(nla(uint16(AttrInfo), patternInfo(104)), 112)), ErrBadAttribute},
		{"attribute longer than the message by one", cat(ok4, setLen(nlaNoPad(uint16(AttrTOS), []byte{1}), 6)), ErrBadAttribute},
		{"good attribute then truncated header", cat(ok4, nla(uint16(AttrTOS), []byte{1}), []byte{5, 0}), ErrBadAttribute},
		{"short MEMINFO", cat(ok4, nla(uint16(AttrMemInfo), u32s(1, 2, 3)[:11])), ErrBadAttribute},
		{"MEMINFO 15 bytes", cat(ok4, nla(uint16(AttrMemInfo), make([]byte, 15))), ErrBadAttribute},
		{"short SKMEMINFO", cat(ok4, nla(uint16(AttrSKMemInfo), make([]byte, 35))), ErrBadAttribute},
		{"empty SHUTDOWN", cat(ok4, nla(uint16(AttrShutdown), nil)), ErrBadAttribute},
		{"empty TOS", cat(ok4, nla(uint16(AttrTOS), nil)), ErrBadAttribute},
		{"empty TCLASS", cat(ok4, nla(uint16(AttrTClass), nil)), ErrBadAttribute},
		{"empty SKV6ONLY", cat(ok4, nla(uint16(AttrSKV6Only), nil)), ErrBadAttribute},
		{"short MARK", cat(ok4, nla(uint16(AttrMark), []byte{1, 2, 3})), ErrBadAttribute},
		{"short CLASS_ID", cat(ok4, nla(uint16(AttrClassID), []byte{1, 2})), ErrBadAttribute},
		{"short CGROUP_ID", cat(ok4, nla(uint16(AttrCgroupID), make([]byte, 7))), ErrBadAttribute},
		{"short SOCKOPT", cat(ok4, nla(uint16(AttrSockOpt), []byte{1})), ErrBadAttribute},
		{"bad attribute after good ones", cat(ok4, nla(uint16(AttrInfo), patternInfo(280)), nla(uint16(AttrMark), nil)), ErrBadAttribute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Socket
			err := DecodeSocket(&s, tt.b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeSocket = %v, want an error wrapping %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "inetdiag: ") {
				t.Errorf("error %q does not name the package", err)
			}
		})
	}
}

// setLen overwrites the nla_len of an attribute.
func setLen(a []byte, n uint16) []byte {
	binary.NativeEndian.PutUint16(a, n)
	return a
}

// TestDecodeSocketInfoEmpty: a zero-length INFO attribute is valid and
// leaves every tcp_info field absent.
func TestDecodeSocketInfoEmpty(t *testing.T) {
	var s Socket
	if err := DecodeSocketFull(&s, new(Full), cat(rawMsg{family: 2, state: 1}.bytes(), nla(uint16(AttrInfo), nil))); err != nil {
		t.Fatal(err)
	}
	if !s.Has(AttrInfo) || s.Info.Len != 0 || s.Full.Info.Len != 0 {
		t.Fatalf("Has(AttrInfo) = %v, Info.Len = %d; want true, 0", s.Has(AttrInfo), s.Info.Len)
	}
	for _, f := range tcpInfoFields {
		if _, ok := f.Value(&s.Full.Info); ok {
			t.Errorf("%s present in an empty tcp_info", f.Name)
		}
	}
}

func TestMarshalRequest(t *testing.T) {
	ne := binary.NativeEndian
	// want builds the expected request by hand from the documented
	// layout of struct inet_diag_req_v2 (56 bytes):
	//   u8 sdiag_family @0, u8 sdiag_protocol @1, u8 idiag_ext @2, u8 pad @3,
	//   u32 idiag_states @4, struct inet_diag_sockid id @8:
	//     be16 sport @8, be16 dport @10, be32 src[4] @12, be32 dst[4] @28,
	//     u32 if @44, u32 cookie[2] @48 (low word first)
	// followed by an optional nlattr {u16 len = 4 + program length,
	// u16 type = INET_DIAG_REQ_BYTECODE (1)}, the program, and zero padding
	// to 4 bytes.
	type want struct {
		family, ext         byte
		states              uint32
		sport, dport        [2]byte
		src, dst            []byte
		ifindex, ck0, ck1   uint32
		bytecode            []byte
		bytecodeAttrPresent bool
	}
	build := func(w want) []byte {
		b := make([]byte, 56)
		b[0], b[1], b[2], b[3] = w.family, 6, w.ext, 0
		ne.PutUint32(b[4:], w.states)
		copy(b[8:], w.sport[:])
		copy(b[10:], w.dport[:])
		copy(b[12:28], w.src)
		copy(b[28:44], w.dst)
		ne.PutUint32(b[44:], w.ifindex)
		ne.PutUint32(b[48:], w.ck0)
		ne.PutUint32(b[52:], w.ck1)
		if w.bytecodeAttrPresent {
			hdr := make([]byte, 4)
			ne.PutUint16(hdr[0:], uint16(4+len(w.bytecode)))
			ne.PutUint16(hdr[2:], 1)
			b = append(b, hdr...)
			b = append(b, w.bytecode...)
			for len(b)%4 != 0 {
				b = append(b, 0)
			}
		}
		return b
	}
	tests := []struct {
		name     string
		family   Family
		ext      Extensions
		states   StateMask
		id       SockID
		bytecode []byte
		want     want
	}{
		{
			name: "ipv4 exact socket", family: FamilyInet, ext: ExtDefault, states: AllStates,
			id: SockID{Src: netip.MustParseAddrPort("10.0.0.1:80"), Dst: netip.MustParseAddrPort("10.0.0.2:443"),
				Interface: 7, Cookie: 0x1122334455667788},
			want: want{family: 2, ext: 0xcb, states: 0xffe, sport: [2]byte{0, 80}, dport: [2]byte{0x01, 0xbb},
				src: []byte{10, 0, 0, 1}, dst: []byte{10, 0, 0, 2}, ifindex: 7, ck0: 0x55667788, ck1: 0x11223344},
		},
		{
			name: "ipv6 dump with unaligned bytecode", family: FamilyInet6, ext: ExtInfo, states: StateBit(StateListen),
			id:       SockID{Cookie: NoCookie},
			bytecode: []byte{1, 2, 3, 4, 5, 6},
			want: want{family: 10, ext: 0x02, states: 1 << 10, ck0: 0xffffffff, ck1: 0xffffffff,
				bytecode: []byte{1, 2, 3, 4, 5, 6}, bytecodeAttrPresent: true},
		},
		{
			name: "ipv6 addresses and aligned bytecode", family: FamilyInet6, ext: 0, states: 1 << 1,
			id:       SockID{Src: netip.MustParseAddrPort("[fd00::1]:65535"), Dst: netip.MustParseAddrPort("[::ffff:10.1.0.1]:1"), Cookie: 1},
			bytecode: []byte{7, 28, 32, 0},
			want: want{family: 10, states: 2, sport: [2]byte{0xff, 0xff}, dport: [2]byte{0, 1},
				src: v6s("fd00::1"), dst: v6s("::ffff:10.1.0.1"), ck0: 1,
				bytecode: []byte{7, 28, 32, 0}, bytecodeAttrPresent: true},
		},
		{
			// An IPv6 socket holds IPv4 peers v4-mapped; an IPv4 socket
			// has 4-byte addresses, whichever form the caller used.
			name: "plain IPv4 addresses for an IPv6 socket", family: FamilyInet6, states: 1 << 1,
			id: SockID{Src: netip.MustParseAddrPort("10.0.0.1:80"), Dst: netip.MustParseAddrPort("10.0.0.2:81")},
			want: want{family: 10, states: 2, sport: [2]byte{0, 80}, dport: [2]byte{0, 81},
				src: v6s("::ffff:10.0.0.1"), dst: v6s("::ffff:10.0.0.2")},
		},
		{
			name: "v4-mapped addresses for an IPv4 socket", family: FamilyInet, states: 1 << 1,
			id: SockID{Src: netip.MustParseAddrPort("[::ffff:10.0.0.1]:80"), Dst: netip.MustParseAddrPort("[::ffff:10.0.0.2]:81")},
			want: want{family: 2, states: 2, sport: [2]byte{0, 80}, dport: [2]byte{0, 81},
				src: []byte{10, 0, 0, 1}, dst: []byte{10, 0, 0, 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := marshalRequest(tt.family, tt.ext, tt.states, tt.id, tt.bytecode)
			if w := build(tt.want); !bytes.Equal(got, w) {
				t.Errorf("marshalRequest\n got % x\nwant % x", got, w)
			}
			if len(got)%4 != 0 {
				t.Errorf("request length %d is not a multiple of 4", len(got))
			}
		})
	}
	// The extension bits follow 1<<(attribute-1).
	for _, c := range []struct {
		ext  Extensions
		attr Attr
	}{{ExtMemInfo, AttrMemInfo}, {ExtInfo, AttrInfo}, {ExtVegasInfo, AttrVegasInfo}, {ExtCong, AttrCong},
		{ExtTOS, AttrTOS}, {ExtTClass, AttrTClass}, {ExtSKMemInfo, AttrSKMemInfo}, {ExtShutdown, AttrShutdown}} {
		if c.ext != 1<<(c.attr-1) {
			t.Errorf("extension for attribute %d = %#x", c.attr, c.ext)
		}
	}
}

func v6s(s string) []byte { a := v6(s); return a[:] }

// FuzzDecodeSocket decodes any bytes as a reply. It must never panic; an
// error must wrap one of the package's sentinels; a success must agree with
// an independent walk of the message.
func FuzzDecodeSocket(f *testing.F) {
	f.Add(dirtySocketBytes())
	f.Add(rawMsg{family: 2, state: 1}.bytes())
	f.Add(cat(rawMsg{family: 10, state: 10}.bytes(), nlaNoPad(uint16(AttrCong), []byte("cubic"))))
	f.Add(cat(rawMsg{family: 2, state: 1}.bytes(), nla(uint16(AttrInfo), patternInfo(TCPInfoLen4_19)), nla(uint16(AttrInfo), nil)))
	f.Add(cat(rawMsg{family: 2, state: 1}.bytes(), []byte{8, 0, 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s, compact Socket
		var full Full
		err := DecodeSocketFull(&s, &full, b)
		cerr := DecodeSocket(&compact, b)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("decoding in full: %v; compact: %v", err, cerr)
		}
		if err != nil {
			if !errors.Is(err, ErrShortMessage) && !errors.Is(err, ErrBadFamily) && !errors.Is(err, ErrBadAttribute) {
				t.Fatalf("error %v wraps none of the sentinels", err)
			}
			return
		}
		checkDecoded(t, &s, b)
		// The compact form is the core of the whole, read on its own.
		whole := s
		whole.Full = nil
		if compact != whole {
			t.Fatalf("compact decode\n got %+v\nwant %+v", compact, whole)
		}
	})
}

// walkAttrs calls fn with the raw type and the payload of every attribute
// after struct inet_diag_msg, and reports whether they all parsed.
func walkAttrs(msg []byte, fn func(typ uint16, payload []byte)) bool {
	ne := binary.NativeEndian
	for off := 72; off < len(msg); {
		if off+4 > len(msg) {
			return false
		}
		l := int(ne.Uint16(msg[off:]))
		if l < 4 || off+l > len(msg) {
			return false
		}
		fn(ne.Uint16(msg[off+2:]), msg[off+4:off+l])
		off += (l + 3) &^ 3
	}
	return true
}

// checkDecoded re-reads a reply that DecodeSocket accepted, without the
// package's code, and compares.
func checkDecoded(t *testing.T, s *Socket, b []byte) {
	if s.Full == nil {
		t.Fatal("checkDecoded needs a socket decoded in full")
	}
	t.Helper()
	ne, be := binary.NativeEndian, binary.BigEndian
	if len(b) < 72 {
		t.Fatalf("accepted a %d-byte reply", len(b))
	}
	var src, dst netip.Addr
	switch b[0] {
	case 2:
		src, dst = netip.AddrFrom4([4]byte(b[8:12])), netip.AddrFrom4([4]byte(b[24:28]))
	case 10:
		src, dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
	default:
		t.Fatalf("accepted family %d", b[0])
	}
	hdr := Socket{
		Family: Family(b[0]), State: State(b[1]), Timer: Timer(b[2]), Retrans: b[3],
		ID: SockID{
			Src: netip.AddrPortFrom(src, be.Uint16(b[4:])), Dst: netip.AddrPortFrom(dst, be.Uint16(b[6:])),
			Interface: ne.Uint32(b[40:]), Cookie: uint64(ne.Uint32(b[44:])) | uint64(ne.Uint32(b[48:]))<<32,
		},
		Expires: time.Duration(ne.Uint32(b[52:])) * time.Millisecond,
		RecvQ:   ne.Uint32(b[56:]), SendQ: ne.Uint32(b[60:]), UID: ne.Uint32(b[64:]), Inode: ne.Uint32(b[68:]),
	}
	got := Socket{Family: s.Family, State: s.State, Timer: s.Timer, Retrans: s.Retrans, ID: s.ID,
		Expires: s.Expires, RecvQ: s.RecvQ, SendQ: s.SendQ, UID: s.UID, Inode: s.Inode}
	if got != hdr {
		t.Fatalf("header\n got %+v\nwant %+v", got, hdr)
	}

	// The last attribute of each type wins, as in the decoder.
	last := map[uint16][]byte{}
	if !walkAttrs(b, func(typ uint16, p []byte) { last[typ&0x3fff] = p }) {
		t.Fatalf("accepted a reply whose attributes do not parse: % x", b[72:])
	}
	for a := Attr(0); a < 64; a++ {
		_, seen := last[uint16(a)]
		if want := seen && a < attrMax; s.Has(a) != want {
			t.Fatalf("Has(%d) = %v, want %v", a, s.Has(a), want)
		}
	}
	if p, ok := last[uint16(AttrInfo)]; ok {
		if int(s.Info.Len) != len(p) {
			t.Fatalf("Info.Len = %d, INFO attribute has %d bytes", s.Info.Len, len(p))
		}
		for _, f := range tcpInfoFields {
			v, ok := f.Value(&s.Full.Info)
			if ok != (f.Offset+f.Size <= len(p)) || ok && v != wantValue(f, rawField(f, p)) {
				t.Fatalf("tcp_info %s = %d, %v from %d bytes", f.Name, v, ok, len(p))
			}
		}
	} else if s.Full.Info != (TCPInfo{}) || s.Info != (TCPCore{}) {
		t.Fatalf("no INFO attribute, but Info = %+v", s.Full.Info)
	}
	wantCong := ""
	if p, ok := last[uint16(AttrCong)]; ok {
		wantCong = string(p)
		if i := bytes.IndexByte(p, 0); i >= 0 {
			wantCong = string(p[:i])
		}
	}
	if s.Full.Cong != wantCong {
		t.Fatalf("Cong = %q, want %q", s.Full.Cong, wantCong)
	}
	u8 := func(a Attr) uint8 {
		if p, ok := last[uint16(a)]; ok {
			return p[0]
		}
		return 0
	}
	u32 := func(a Attr, i int) uint32 {
		if p, ok := last[uint16(a)]; ok {
			return ne.Uint32(p[4*i:])
		}
		return 0
	}
	if s.Shutdown != u8(AttrShutdown) || s.Full.TOS != u8(AttrTOS) || s.Full.TClass != u8(AttrTClass) || s.Full.V6Only != (u8(AttrSKV6Only) != 0) {
		t.Fatalf("u8 attributes: shutdown %d tos %d tclass %d v6only %v", s.Shutdown, s.Full.TOS, s.Full.TClass, s.Full.V6Only)
	}
	if s.Full.Mark != u32(AttrMark, 0) || s.Full.ClassID != u32(AttrClassID, 0) {
		t.Fatalf("mark %d class id %d", s.Full.Mark, s.Full.ClassID)
	}
	if want := (MemInfo{u32(AttrMemInfo, 0), u32(AttrMemInfo, 1), u32(AttrMemInfo, 2), u32(AttrMemInfo, 3)}); s.Full.Mem != want {
		t.Fatalf("Mem = %+v, want %+v", s.Full.Mem, want)
	}
	k := func(i int) uint32 { return u32(AttrSKMemInfo, i) }
	if want := (SKMemInfo{k(0), k(1), k(2), k(3), k(4), k(5), k(6), k(7), k(8)}); s.Full.SKMem != want {
		t.Fatalf("SKMem = %+v, want %+v", s.Full.SKMem, want)
	}
	if p, ok := last[uint16(AttrCgroupID)]; ok && s.Full.CgroupID != ne.Uint64(p) || !ok && s.Full.CgroupID != 0 {
		t.Fatalf("CgroupID = %d", s.Full.CgroupID)
	}
	if p, ok := last[uint16(AttrSockOpt)]; ok && s.Full.SockOpt != ne.Uint16(p) || !ok && s.Full.SockOpt != 0 {
		t.Fatalf("SockOpt = %d", s.Full.SockOpt)
	}
}
