package inetdiag

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// Bytecode operation codes (enum of include/uapi/linux/inet_diag.h).
const (
	bcNop   = 0
	bcJmp   = 1
	bcSGE   = 2
	bcSLE   = 3
	bcDGE   = 4
	bcDLE   = 5
	bcAuto  = 6
	bcSCond = 7
	bcDCond = 8
)

const (
	afUnspec = 0
	afInet   = 2
	afInet6  = 10
)

type filterOp uint8

const (
	opSrcCond filterOp = iota + 1 // source address prefix and/or port
	opDstCond
	opSrcGE
	opSrcLE
	opDstGE
	opDstLE
	opAnd
	opOr
	opNot
)

// Filter is a socket filter that the kernel runs during the dump
// (INET_DIAG_REQ_BYTECODE), so that sockets it rejects are never copied to
// user space. Build filters with the constructors (SrcPort, DstPrefix,
// Port, PortRange, And, Or, Not…); the zero Filter matches every socket.
//
// Filters compile to the bytecode ss(8) emits for the equivalent
// expression, which String returns (except that a port-only condition
// carries no address, where ss sends four zero bytes the kernel ignores).
type Filter struct {
	op     filterOp
	port   int32 // -1: any port
	prefix netip.Prefix
	kids   []Filter
}

// IsZero reports whether f is the empty filter, which matches everything.
func (f Filter) IsZero() bool { return f.op == 0 }

// SrcPort matches sockets whose local port is p (ss: "sport = :P").
func SrcPort(p uint16) Filter { return Filter{op: opSrcCond, port: int32(p)} }

// DstPort matches sockets whose remote port is p (ss: "dport = :P").
func DstPort(p uint16) Filter { return Filter{op: opDstCond, port: int32(p)} }

// Port matches sockets with p on either side.
func Port(p uint16) Filter { return Or(SrcPort(p), DstPort(p)) }

// SrcPortRange matches local ports in [lo, hi].
func SrcPortRange(lo, hi uint16) Filter {
	if lo == hi {
		return SrcPort(lo)
	}
	return And(Filter{op: opSrcGE, port: int32(lo)}, Filter{op: opSrcLE, port: int32(hi)})
}

// DstPortRange matches remote ports in [lo, hi].
func DstPortRange(lo, hi uint16) Filter {
	if lo == hi {
		return DstPort(lo)
	}
	return And(Filter{op: opDstGE, port: int32(lo)}, Filter{op: opDstLE, port: int32(hi)})
}

// PortRange matches sockets with a port in [lo, hi] on either side.
func PortRange(lo, hi uint16) Filter { return Or(SrcPortRange(lo, hi), DstPortRange(lo, hi)) }

// SrcPrefix matches sockets whose local address is in p. An IPv4 prefix
// also matches IPv4-mapped addresses of IPv6 sockets, as the kernel does.
func SrcPrefix(p netip.Prefix) Filter { return Filter{op: opSrcCond, port: -1, prefix: p.Masked()} }

// DstPrefix matches sockets whose remote address is in p.
func DstPrefix(p netip.Prefix) Filter { return Filter{op: opDstCond, port: -1, prefix: p.Masked()} }

// And matches sockets that match every filter. Zero filters are ignored.
func And(fs ...Filter) Filter { return combine(opAnd, fs) }

// Or matches sockets that match at least one filter. An Or with a zero
// filter among its arguments matches everything.
func Or(fs ...Filter) Filter {
	for _, f := range fs {
		if f.IsZero() {
			return Filter{}
		}
	}
	return combine(opOr, fs)
}

// Not matches sockets that f rejects. Not of the zero filter is rejected
// by Bytecode (it would match nothing).
func Not(f Filter) Filter { return Filter{op: opNot, kids: []Filter{f}} }

func combine(op filterOp, fs []Filter) Filter {
	var kids []Filter
	for _, f := range fs {
		if !f.IsZero() {
			kids = append(kids, f)
		}
	}
	switch len(kids) {
	case 0:
		return Filter{}
	case 1:
		return kids[0]
	}
	return Filter{op: op, kids: kids}
}

// String returns the filter in ss(8) syntax, e.g.
// "( sport = :443 or dport = :443 )".
func (f Filter) String() string {
	switch f.op {
	case 0:
		return ""
	case opSrcCond, opDstCond:
		side := "src"
		portSide := "sport"
		if f.op == opDstCond {
			side, portSide = "dst", "dport"
		}
		switch {
		case !f.prefix.IsValid():
			return fmt.Sprintf("%s = :%d", portSide, f.port)
		case f.port < 0:
			return fmt.Sprintf("%s %s", side, ssPrefix(f.prefix))
		default:
			return fmt.Sprintf("%s %s:%d", side, ssPrefix(f.prefix), f.port)
		}
	case opSrcGE:
		return fmt.Sprintf("sport >= :%d", f.port)
	case opSrcLE:
		return fmt.Sprintf("sport <= :%d", f.port)
	case opDstGE:
		return fmt.Sprintf("dport >= :%d", f.port)
	case opDstLE:
		return fmt.Sprintf("dport <= :%d", f.port)
	case opNot:
		return "not " + f.kids[0].String()
	case opAnd, opOr:
		word := " and "
		if f.op == opOr {
			word = " or "
		}
		parts := make([]string, len(f.kids))
		for i, k := range f.kids {
			parts[i] = k.String()
		}
		return "( " + strings.Join(parts, word) + " )"
	}
	return "?"
}

// ssPrefix writes a prefix as ss(8) parses it. IPv6 prefixes go without
// brackets: ss takes what follows "]" as the port, so "[fd00::]/64" is
// refused ("/64" does not look like a port), while in "fd00::/64" and
// "fd00::/64:80" it only looks for a port after the "/".
func ssPrefix(p netip.Prefix) string { return p.String() }

// Match evaluates the filter in user space on a socket id, with the
// kernel's semantics. Sockets from a dump with this filter already match;
// Match serves callers that filter cached sockets, and tests.
func (f Filter) Match(fam Family, id SockID) bool {
	switch f.op {
	case 0:
		return true
	case opSrcCond:
		return condMatch(f, fam, id.Src)
	case opDstCond:
		return condMatch(f, fam, id.Dst)
	case opSrcGE:
		return int32(id.Src.Port()) >= f.port
	case opSrcLE:
		return int32(id.Src.Port()) <= f.port
	case opDstGE:
		return int32(id.Dst.Port()) >= f.port
	case opDstLE:
		return int32(id.Dst.Port()) <= f.port
	case opNot:
		return !f.kids[0].Match(fam, id)
	case opAnd:
		for _, k := range f.kids {
			if !k.Match(fam, id) {
				return false
			}
		}
		return true
	case opOr:
		for _, k := range f.kids {
			if k.Match(fam, id) {
				return true
			}
		}
		return false
	}
	return false
}

func condMatch(f Filter, fam Family, ap netip.AddrPort) bool {
	if f.port >= 0 && int32(ap.Port()) != f.port {
		return false
	}
	if !f.prefix.IsValid() {
		return true
	}
	a := sockAddrOf(fam, ap.Addr()) // as the kernel holds it: plain or v4-mapped IPv4 both work
	if f.prefix.Addr().Is4() && fam == FamilyInet6 {
		if !a.Is4In6() {
			return false
		}
		a = a.Unmap()
	} else if f.prefix.Addr().Is4() != (fam == FamilyInet) {
		return false
	}
	if f.prefix.Bits() == 0 {
		return true
	}
	return f.prefix.Contains(a)
}

// Bytecode compiles the filter into the kernel's INET_DIAG_REQ_BYTECODE
// program. The zero filter compiles to nil (no program).
func (f Filter) Bytecode() ([]byte, error) {
	if f.IsZero() {
		return nil, nil
	}
	b, err := f.compile()
	if err != nil {
		return nil, err
	}
	if len(b) > 0xfff0 {
		return nil, fmt.Errorf("inetdiag: filter compiles to %d bytes of bytecode, more than a netlink attribute holds", len(b))
	}
	return b, nil
}

func op(code uint8, yes, no int) []byte {
	b := make([]byte, 4)
	b[0], b[1] = code, uint8(yes)
	binary.NativeEndian.PutUint16(b[2:], uint16(no))
	return b
}

// compile follows ss's ssfilter_bytecompile: a failed condition jumps to
// 4 bytes past the end of the program (reject); a program matches when
// execution ends exactly at its end.
func (f Filter) compile() ([]byte, error) {
	switch f.op {
	case opSrcCond, opDstCond:
		code := uint8(bcSCond)
		if f.op == opDstCond {
			code = bcDCond
		}
		fam, alen := afUnspec, 0
		if f.prefix.IsValid() {
			if f.prefix.Addr().Is4() {
				fam, alen = afInet, 4
			} else {
				fam, alen = afInet6, 16
			}
		}
		l := 4 + 8 + alen
		b := op(code, l, l+4)
		cond := make([]byte, 8+alen)
		cond[0] = uint8(fam)
		if f.prefix.IsValid() {
			cond[1] = uint8(f.prefix.Bits())
			putAddr(cond[8:], f.prefix.Addr())
		}
		binary.NativeEndian.PutUint32(cond[4:], uint32(f.port))
		return append(b, cond...), nil
	case opSrcGE, opSrcLE, opDstGE, opDstLE:
		code := map[filterOp]uint8{opSrcGE: bcSGE, opSrcLE: bcSLE, opDstGE: bcDGE, opDstLE: bcDLE}[f.op]
		return append(op(code, 8, 12), op(0, 0, int(f.port))...), nil
	case opNot:
		if f.kids[0].IsZero() {
			return nil, fmt.Errorf("inetdiag: filter: not of an empty filter matches nothing")
		}
		a, err := f.kids[0].compile()
		if err != nil {
			return nil, err
		}
		return append(a, op(bcJmp, 4, 8)...), nil
	case opAnd, opOr:
		acc, err := f.kids[0].compile()
		if err != nil {
			return nil, err
		}
		for _, k := range f.kids[1:] {
			b, err := k.compile()
			if err != nil {
				return nil, err
			}
			if f.op == opAnd {
				patchRejects(acc, len(b))
				acc = append(acc, b...)
			} else {
				acc = append(acc, op(bcJmp, 4, len(b)+4)...)
				acc = append(acc, b...)
			}
		}
		return acc, nil
	}
	return nil, fmt.Errorf("inetdiag: filter: unknown operation %d", f.op)
}

// patchRejects moves the reject jumps of program a (those landing 4 bytes
// past its end) past a program of reloc bytes appended after it, as ss's
// ssfilter_patch does.
func patchRejects(a []byte, reloc int) {
	for off := 0; off < len(a); {
		yes := int(a[off+1])
		no := int(binary.NativeEndian.Uint16(a[off+2:]))
		if no == len(a)-off+4 {
			binary.NativeEndian.PutUint16(a[off+2:], uint16(no+reloc))
		}
		if yes <= 0 {
			return
		}
		off += yes
	}
}
