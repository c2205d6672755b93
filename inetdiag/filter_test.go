package inetdiag

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// testSock is a socket for the filter tables: a family and an id, named so
// that expectations read as lists of names.
type testSock struct {
	name string
	fam  Family
	id   SockID
}

func sock(name string, fam Family, src, dst string) testSock {
	return testSock{name, fam, SockID{Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst)}}
}

// filterSocks covers both families, listeners (peer port 0), v4-mapped
// addresses, the loopback and the extreme ports.
var filterSocks = []testSock{
	sock("A", FamilyInet, "10.1.0.1:1001", "10.2.0.1:41001"),
	sock("B", FamilyInet, "10.2.0.1:2002", "0.0.0.0:0"),
	sock("C", FamilyInet, "192.168.1.5:80", "10.2.3.4:55000"),
	sock("D", FamilyInet6, "[fd00::1]:3003", "[fd00:1::1]:41003"),
	sock("E", FamilyInet6, "[::]:5005", "[::]:0"),
	sock("F", FamilyInet6, "[::ffff:10.1.0.1]:5005", "[::ffff:10.2.0.1]:41005"),
	sock("G", FamilyInet6, "[fd00:1::1]:41004", "[fd00::1]:4004"),
	sock("H", FamilyInet6, "[::1]:6000", "[::1]:1"),
	sock("I", FamilyInet, "10.255.255.255:65535", "11.0.0.0:65535"),
	sock("J", FamilyInet, "0.0.0.0:0", "0.0.0.0:0"),
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// filterCases are filters with the sockets of filterSocks they must match,
// worked out by hand from the kernel's rules (net/ipv4/inet_diag.c): an IPv4
// prefix also matches v4-mapped addresses of IPv6 sockets, an IPv6 prefix
// never matches an IPv4 socket, and a prefix of length 0 still requires the
// family.
var filterCases = []struct {
	name   string
	f      Filter
	ss     string // Filter.String(), in ss(8) syntax
	match  string // names of the matching sockets
	hasErr bool
}{
	{name: "zero", f: Filter{}, ss: "", match: "ABCDEFGHIJ"},
	{name: "sport", f: SrcPort(1001), ss: "sport = :1001", match: "A"},
	{name: "dport", f: DstPort(41001), ss: "dport = :41001", match: "A"},
	{name: "sport 0", f: SrcPort(0), ss: "sport = :0", match: "J"},
	{name: "dport 0", f: DstPort(0), ss: "dport = :0", match: "BEJ"},
	{name: "either port", f: Port(5005), ss: "( sport = :5005 or dport = :5005 )", match: "EF"},
	{name: "either port 65535", f: Port(65535), ss: "( sport = :65535 or dport = :65535 )", match: "I"},
	{name: "sport range", f: SrcPortRange(1000, 3003), ss: "( sport >= :1000 and sport <= :3003 )", match: "ABD"},
	{name: "sport range of one", f: SrcPortRange(80, 80), ss: "sport = :80", match: "C"},
	{name: "dport range", f: DstPortRange(41000, 41005), ss: "( dport >= :41000 and dport <= :41005 )", match: "ADF"},
	{name: "dport range of one", f: DstPortRange(1, 1), ss: "dport = :1", match: "H"},
	{name: "either port range", f: PortRange(4004, 5005),
		ss: "( ( sport >= :4004 and sport <= :5005 ) or ( dport >= :4004 and dport <= :5005 ) )", match: "EFG"},
	{name: "full port range", f: SrcPortRange(0, 65535), ss: "( sport >= :0 and sport <= :65535 )", match: "ABCDEFGHIJ"},
	{name: "src v4 /8", f: SrcPrefix(pfx("10.0.0.0/8")), ss: "src 10.0.0.0/8", match: "ABFI"},
	{name: "src v4 /16", f: SrcPrefix(pfx("10.1.0.0/16")), ss: "src 10.1.0.0/16", match: "AF"},
	{name: "src v4 unmasked", f: SrcPrefix(pfx("10.1.2.3/16")), ss: "src 10.1.0.0/16", match: "AF"},
	{name: "dst v4 /16", f: DstPrefix(pfx("10.2.0.0/16")), ss: "dst 10.2.0.0/16", match: "ACF"},
	{name: "dst v4 /32", f: DstPrefix(pfx("10.2.0.1/32")), ss: "dst 10.2.0.1/32", match: "AF"},
	{name: "dst v4 /24", f: DstPrefix(pfx("10.2.3.0/24")), ss: "dst 10.2.3.0/24", match: "C"},
	{name: "src v4 /1", f: SrcPrefix(pfx("128.0.0.0/1")), ss: "src 128.0.0.0/1", match: "C"},
	{name: "src v4 /0", f: SrcPrefix(pfx("0.0.0.0/0")), ss: "src 0.0.0.0/0", match: "ABCFIJ"},
	{name: "src v4 0/8 does not match ::1 or ::", f: SrcPrefix(pfx("0.0.0.0/8")), ss: "src 0.0.0.0/8", match: "J"},
	{name: "src v6 /64", f: SrcPrefix(pfx("fd00::/64")), ss: "src fd00::/64", match: "D"},
	{name: "src v6 /16", f: SrcPrefix(pfx("fd00::/16")), ss: "src fd00::/16", match: "DG"},
	{name: "src v6 /31", f: SrcPrefix(pfx("fd00::/31")), ss: "src fd00::/31", match: "DG"},
	{name: "src v6 /32", f: SrcPrefix(pfx("fd00::/32")), ss: "src fd00::/32", match: "D"},
	{name: "dst v6 /64", f: DstPrefix(pfx("fd00:1::/64")), ss: "dst fd00:1::/64", match: "D"},
	{name: "src v6 /128", f: SrcPrefix(pfx("::1/128")), ss: "src ::1/128", match: "H"},
	{name: "src v6 /0", f: SrcPrefix(pfx("::/0")), ss: "src ::/0", match: "DEFGH"},
	{name: "src v4-mapped v6 prefix", f: SrcPrefix(pfx("::ffff:10.1.0.0/112")), ss: "src ::ffff:10.1.0.0/112", match: "F"},
	{name: "and not", f: And(SrcPrefix(pfx("10.0.0.0/8")), Not(SrcPort(1001))),
		ss: "( src 10.0.0.0/8 and not sport = :1001 )", match: "BFI"},
	{name: "or", f: Or(DstPort(41003), SrcPrefix(pfx("fd00:1::/64"))),
		ss: "( dport = :41003 or src fd00:1::/64 )", match: "DG"},
	{name: "not or", f: Not(Or(SrcPort(1001), DstPrefix(pfx("fd00::/48")))),
		ss: "not ( sport = :1001 or dst fd00::/48 )", match: "BCDEFHIJ"},
	{name: "and of or", f: And(Port(5005), DstPrefix(pfx("10.0.0.0/8"))),
		ss: "( ( sport = :5005 or dport = :5005 ) and dst 10.0.0.0/8 )", match: "F"},
	{name: "or of and and not", f: Or(And(SrcPortRange(1, 2999), DstPortRange(40000, 65535)), Not(DstPrefix(pfx("::/0")))),
		ss: "( ( ( sport >= :1 and sport <= :2999 ) and ( dport >= :40000 and dport <= :65535 ) ) or not dst ::/0 )", match: "ABCIJ"},
	{name: "double not", f: Not(Not(SrcPort(80))), ss: "not not sport = :80", match: "C"},
	{name: "and of three nots", f: And(Not(SrcPrefix(pfx("10.0.0.0/8"))), Not(SrcPrefix(pfx("fd00::/16"))), Not(DstPort(0))),
		ss: "( not src 10.0.0.0/8 and not src fd00::/16 and not dport = :0 )", match: "CH"},
	{name: "or of three", f: Or(SrcPort(1), DstPort(1), SrcPort(2)),
		ss: "( sport = :1 or dport = :1 or sport = :2 )", match: "H"},
	{name: "deep", f: And(Or(Not(SrcPort(1001)), DstPort(41001)), Or(SrcPrefix(pfx("10.0.0.0/8")), SrcPrefix(pfx("fd00::/16")))),
		ss: "( ( not sport = :1001 or dport = :41001 ) and ( src 10.0.0.0/8 or src fd00::/16 ) )", match: "ABDFGI"},
	{name: "range and v6 prefix", f: And(PortRange(3000, 4999), SrcPrefix(pfx("fd00::/16"))),
		ss: "( ( ( sport >= :3000 and sport <= :4999 ) or ( dport >= :3000 and dport <= :4999 ) ) and src fd00::/16 )", match: "DG"},
	{name: "or with not prefix", f: Or(DstPrefix(pfx("10.2.3.0/24")), Not(DstPrefix(pfx("10.0.0.0/8")))),
		ss: "( dst 10.2.3.0/24 or not dst 10.0.0.0/8 )", match: "BCDEGHIJ"},
	{name: "not of an and inside an or", f: Or(Not(And(SrcPrefix(pfx("10.0.0.0/8")), DstPortRange(41000, 41999))), SrcPort(1001)),
		ss: "( not ( src 10.0.0.0/8 and ( dport >= :41000 and dport <= :41999 ) ) or sport = :1001 )", match: "ABCDEGHIJ"},
	{name: "and with zero filters ignored", f: And(Filter{}, SrcPort(80), Filter{}), ss: "sport = :80", match: "C"},
	{name: "or with a zero filter matches all", f: Or(SrcPort(80), Filter{}), ss: "", match: "ABCDEFGHIJ"},
	{name: "prefix and port in one condition", f: Filter{op: opSrcCond, port: 5005, prefix: pfx("10.0.0.0/8")},
		ss: "src 10.0.0.0/8:5005", match: "F"},
	{name: "v6 prefix and port in one condition", f: Filter{op: opDstCond, port: 41003, prefix: pfx("fd00:1::/64")},
		ss: "dst fd00:1::/64:41003", match: "D"},
	{name: "not of zero", f: Not(Filter{}), hasErr: true},
}

// TestFilterKernelEquivalence compiles each filter, checks that the kernel's
// audit accepts the program, and that the kernel's interpreter and
// Filter.Match both give the hand-worked answer for every socket.
func TestFilterKernelEquivalence(t *testing.T) {
	for _, tc := range filterCases {
		t.Run(tc.name, func(t *testing.T) {
			bc, err := tc.f.Bytecode()
			if tc.hasErr {
				if err == nil {
					t.Fatalf("Bytecode() = % x, want an error", bc)
				}
				return
			}
			if err != nil {
				t.Fatalf("Bytecode: %v", err)
			}
			if tc.f.IsZero() != (bc == nil) {
				t.Fatalf("IsZero = %v but bytecode = % x", tc.f.IsZero(), bc)
			}
			if bc != nil {
				if err := kernelAudit(bc, false); err != nil {
					t.Fatalf("audit: %v\nbytecode % x", err, bc)
				}
			}
			for _, s := range filterSocks {
				want := strings.Contains(tc.match, s.name)
				if got := tc.f.Match(s.fam, s.id); got != want {
					t.Errorf("Match(%s %s -> %s) = %v, want %v", s.fam, s.id.Src, s.id.Dst, got, want)
				}
				if bc == nil {
					continue
				}
				got, err := kernelRun(bc, entryFor(s.fam, s.id))
				if err != nil {
					t.Fatalf("run: %v", err)
				}
				if got != want {
					t.Errorf("kernel run on %s %s -> %s = %v, want %v\nbytecode % x", s.fam, s.id.Src, s.id.Dst, got, want, bc)
				}
			}
		})
	}
}

func TestFilterString(t *testing.T) {
	for _, tc := range filterCases {
		if tc.hasErr {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.String(); got != tc.ss {
				t.Errorf("String() = %q, want %q", got, tc.ss)
			}
		})
	}
}

// bcop builds struct inet_diag_bc_op {u8 code; u8 yes; u16 no;} by hand,
// independently of filter.go's op.
func bcop(code, yes byte, no uint16) []byte {
	b := []byte{code, yes, 0, 0}
	binary.NativeEndian.PutUint16(b[2:], no)
	return b
}

// TestFilterBytecodeLayout checks a few programs byte for byte against the
// layout ss(8) uses (misc/ss.c, ssfilter_bytecompile), so that a compiler
// change that the interpreter would still accept is noticed.
func TestFilterBytecodeLayout(t *testing.T) {
	hostcond := func(fam, plen byte, port int32, addr ...byte) []byte {
		b := []byte{fam, plen, 0, 0, 0, 0, 0, 0}
		binary.NativeEndian.PutUint32(b[4:], uint32(port))
		return append(b, addr...)
	}
	tests := []struct {
		name string
		f    Filter
		want []byte
	}{
		{"dport >= :P", Filter{op: opDstGE, port: 1024}, cat(bcop(bcDGE, 8, 12), bcop(0, 0, 1024))},
		{"sport <= :P", Filter{op: opSrcLE, port: 80}, cat(bcop(bcSLE, 8, 12), bcop(0, 0, 80))},
		{"src v4 prefix", SrcPrefix(pfx("10.1.0.0/16")),
			cat(bcop(bcSCond, 16, 20), hostcond(afInet, 16, -1, 10, 1, 0, 0))},
		{"dst v6 prefix", DstPrefix(pfx("fd00::/8")),
			cat(bcop(bcDCond, 28, 32), hostcond(afInet6, 8, -1, v6s("fd00::")...))},
		{"sport = :P", SrcPort(443), cat(bcop(bcSCond, 12, 16), hostcond(afUnspec, 0, 443))},
		{"not", Not(SrcPort(443)), cat(bcop(bcSCond, 12, 16), hostcond(afUnspec, 0, 443), bcop(bcJmp, 4, 8))},
		{"or", Or(SrcPort(1), DstPort(2)), cat(
			bcop(bcSCond, 12, 16), hostcond(afUnspec, 0, 1),
			bcop(bcJmp, 4, 16),
			bcop(bcDCond, 12, 16), hostcond(afUnspec, 0, 2))},
		{"and", And(SrcPort(1), DstPort(2)), cat(
			bcop(bcSCond, 12, 16+12), hostcond(afUnspec, 0, 1),
			bcop(bcDCond, 12, 16), hostcond(afUnspec, 0, 2))},
		{"range", SrcPortRange(10, 20), cat(
			bcop(bcSGE, 8, 12+8), bcop(0, 0, 10),
			bcop(bcSLE, 8, 12), bcop(0, 0, 20))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.f.Bytecode()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("bytecode\n got % x\nwant % x", got, tt.want)
			}
		})
	}
}

// TestFilterTooLarge checks that a filter whose program cannot fit in a
// netlink attribute is refused instead of truncated.
func TestFilterTooLarge(t *testing.T) {
	var fs []Filter
	for i := range 3000 {
		fs = append(fs, DstPrefix(netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, byte(i >> 8), byte(i)}), 48)))
	}
	f := Or(fs...)
	if bc, err := f.Bytecode(); err == nil {
		t.Fatalf("Bytecode of %d conditions returned %d bytes and no error", len(fs), len(bc))
	}
	// Just under the limit must still work and pass the audit.
	small := Or(fs[:2000]...)
	bc, err := small.Bytecode()
	if err != nil {
		t.Fatalf("2000 conditions: %v", err)
	}
	if err := kernelAudit(bc, false); err != nil {
		t.Fatalf("2000 conditions: %v", err)
	}
}

// TestKernelInterpreterRejects makes sure the test interpreter's audit is
// not vacuous: programs the kernel refuses are refused here too.
func TestKernelInterpreterRejects(t *testing.T) {
	tests := []struct {
		name string
		bc   []byte
	}{
		{"empty", nil},
		{"short", []byte{0, 4}},
		{"unknown op", bcop(99, 4, 8)},
		{"jump into the middle of an op", cat(bcop(bcSGE, 8, 20), bcop(0, 0, 1), bcop(bcJmp, 4, 8), bcop(bcDGE, 8, 12), bcop(0, 0, 1))},
		{"no not a multiple of 4", cat(bcop(bcJmp, 4, 6), bcop(bcNop, 4, 0))},
		{"yes too small for a port op", cat(bcop(bcSGE, 4, 12), bcop(0, 0, 1))},
		{"port op without its port", bcop(bcSGE, 8, 12)},
		{"hostcond bad family", cat(bcop(bcSCond, 12, 16), []byte{7, 0, 0, 0, 0, 0, 0, 0})},
		{"hostcond prefix too long", cat(bcop(bcSCond, 16, 20), []byte{afInet, 33, 0, 0, 0xff, 0xff, 0xff, 0xff}, []byte{10, 0, 0, 0})},
		{"hostcond address missing", cat(bcop(bcSCond, 12, 16), []byte{afInet6, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})},
		{"jump beyond len+4", cat(bcop(bcJmp, 4, 12))},
		{"yes beyond the end", bcop(bcNop, 8, 0)},
		{"mark needs CAP_NET_ADMIN", cat(bcop(kbcMarkCond, 12, 16), u32s(1, 1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := kernelAudit(tt.bc, false); err == nil {
				t.Fatalf("audit accepted % x", tt.bc)
			}
		})
	}
	// And accepts what the kernel accepts, with the expected result.
	accept := cat(bcop(bcNop, 4, 0), bcop(bcDGE, 8, 12), bcop(0, 0, 100))
	if err := kernelAudit(accept, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dport uint16
		want  bool
	}{{99, false}, {100, true}, {65535, true}} {
		got, err := kernelRun(accept, kernelEntry{family: afInet, dport: c.dport})
		if err != nil || got != c.want {
			t.Errorf("dport %d: run = %v, %v; want %v", c.dport, got, err, c.want)
		}
	}
}

// fuzzBytes hands out fuzz input as small numbers; when it runs out it
// yields zeros, so every input builds some filter.
type fuzzBytes struct{ b []byte }

func (r *fuzzBytes) u8() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *fuzzBytes) u16() uint16 { return uint16(r.u8())<<8 | uint16(r.u8()) }

// Pools of ports and addresses, so that random filters and random sockets
// meet often enough for matches to happen.
var (
	fuzzPorts = []uint16{0, 1, 80, 443, 1001, 5005, 41001, 65534, 65535}
	fuzzAddrs = []string{"10.1.0.1", "10.2.0.1", "10.1.255.255", "0.0.0.0", "255.255.255.255", "192.168.0.1",
		"::", "::1", "fd00::1", "fd00:1::1", "fd00::ffff", "::ffff:10.1.0.1", "::ffff:10.2.0.1", "::ffff:0.0.0.0", "2001:db8::1"}
)

func (r *fuzzBytes) port() uint16 {
	c := r.u8()
	if c < 200 {
		return fuzzPorts[int(c)%len(fuzzPorts)]
	}
	return r.u16()
}

func (r *fuzzBytes) addr() netip.Addr {
	c := r.u8()
	if c < 200 {
		return netip.MustParseAddr(fuzzAddrs[int(c)%len(fuzzAddrs)])
	}
	if c&1 == 0 {
		return netip.AddrFrom4([4]byte{r.u8(), r.u8(), r.u8(), r.u8()})
	}
	var a [16]byte
	for i := range a {
		a[i] = r.u8()
	}
	return netip.AddrFrom16(a)
}

func (r *fuzzBytes) prefix() netip.Prefix {
	a := r.addr()
	return netip.PrefixFrom(a, int(r.u8())%(a.BitLen()+1))
}

// filter builds a random filter tree of limited depth.
func (r *fuzzBytes) filter(depth int) Filter {
	c := r.u8()
	if depth >= 4 {
		c %= 8
	}
	switch c % 12 {
	case 0:
		return SrcPort(r.port())
	case 1:
		return DstPort(r.port())
	case 2:
		return Port(r.port())
	case 3:
		lo, hi := r.port(), r.port()
		return SrcPortRange(min(lo, hi), max(lo, hi))
	case 4:
		lo, hi := r.port(), r.port()
		return DstPortRange(min(lo, hi), max(lo, hi))
	case 5:
		lo, hi := r.port(), r.port()
		return PortRange(min(lo, hi), max(lo, hi))
	case 6:
		return SrcPrefix(r.prefix())
	case 7:
		return DstPrefix(r.prefix())
	case 8:
		return Not(r.filter(depth + 1))
	case 9, 10:
		kids := make([]Filter, 2+int(r.u8())%2)
		for i := range kids {
			kids[i] = r.filter(depth + 1)
		}
		if c%12 == 9 {
			return And(kids...)
		}
		return Or(kids...)
	default:
		// A condition with both a prefix and a port, as String and
		// compile support it.
		op := opSrcCond
		if r.u8()&1 == 1 {
			op = opDstCond
		}
		return Filter{op: op, port: int32(r.port()), prefix: r.prefix().Masked()}
	}
}

// socket builds a socket id. The kernel reports IPv4 sockets with 4-byte
// addresses and IPv6 sockets with 16-byte ones; callers may also name an
// IPv4 address of either as plain or v4-mapped, which must not change the
// result (entryFor gives the kernel the form it keeps).
func (r *fuzzBytes) socket() testSock {
	fam := FamilyInet
	if r.u8()&1 == 1 {
		fam = FamilyInet6
	}
	addr := func() netip.Addr {
		a := r.addr()
		if fam == FamilyInet && !a.Unmap().Is4() {
			a = netip.AddrFrom4([4]byte(a.AsSlice()[12:16]))
		}
		if a.Unmap().Is4() {
			if r.u8()&1 == 1 {
				return netip.AddrFrom16(a.As16())
			}
			return a.Unmap()
		}
		return a
	}
	return testSock{"fuzz", fam, SockID{Src: netip.AddrPortFrom(addr(), r.port()), Dst: netip.AddrPortFrom(addr(), r.port())}}
}

// FuzzFilter builds random filter trees and sockets from the fuzz input and
// checks that the kernel's audit accepts the compiled program and that the
// kernel's interpreter agrees with Filter.Match.
func FuzzFilter(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 3, 1, 4})
	f.Add([]byte{9, 6, 0, 16, 8, 1, 7, 12, 120, 1, 3, 1, 5, 0, 2, 9, 9, 9, 9})
	f.Add([]byte{10, 1, 8, 9, 6, 250, 10, 1, 2, 3, 24, 11, 1, 4, 11, 40, 0, 7, 1, 13, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &fuzzBytes{b: data}
		flt := r.filter(0)
		if flt.IsZero() {
			t.Fatalf("the generator built the zero filter")
		}
		bc, err := flt.Bytecode()
		if err != nil {
			t.Fatalf("Bytecode(%s): %v", flt, err)
		}
		if err := kernelAudit(bc, false); err != nil {
			t.Fatalf("audit of %s: %v\n% x", flt, err, bc)
		}
		socks := slices.Clone(filterSocks)
		for range 4 {
			socks = append(socks, r.socket())
		}
		for _, s := range socks {
			got, err := kernelRun(bc, entryFor(s.fam, s.id))
			if err != nil {
				t.Fatalf("run %s: %v", flt, err)
			}
			if want := flt.Match(s.fam, s.id); got != want {
				t.Fatalf("filter %s on %s %s -> %s: kernel %v, Match %v\n% x", flt, s.fam, s.id.Src, s.id.Dst, got, want, bc)
			}
		}
	})
}
