package inetdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// This file is a test-only Go transcription of the kernel's bytecode
// checker and interpreter, inet_diag_bc_audit() and inet_diag_bc_run() in
// net/ipv4/inet_diag.c (6.18), so that compiled filters can be run without
// a kernel. It is kept deliberately close to the C, including the parts
// Filter never emits (DEV_COND, MARK_COND, S_EQ/D_EQ, CGROUP_COND).

// Operation codes the kernel knows beyond those filter.go names.
const (
	kbcDevCond    = 9
	kbcMarkCond   = 10
	kbcSEq        = 11
	kbcDEq        = 12
	kbcCgroupCond = 13
)

// kernelEntry is struct inet_diag_entry: what inet_diag_bc_sk() fills in
// from a socket before running the program.
type kernelEntry struct {
	family       uint8
	saddr, daddr [16]byte // __be32[1] for AF_INET, __be32[4] for AF_INET6
	sport, dport uint16   // host order (inet_num, ntohs(inet_dport))
	ifindex      uint32
	userlocks    uint32
	mark         uint32
	cgroupID     uint64
}

// entryFor builds the entry the kernel would use for a socket with this
// family and id (entry_fill_addrs: IPv6 sockets use their 16-byte
// addresses, v4-mapped included).
func entryFor(fam Family, id SockID) kernelEntry {
	e := kernelEntry{family: uint8(fam), sport: id.Src.Port(), dport: id.Dst.Port(), ifindex: id.Interface}
	put := func(dst *[16]byte, a netip.Addr) {
		if fam == FamilyInet {
			v := a.Unmap().As4()
			copy(dst[:], v[:])
		} else {
			v := a.As16()
			copy(dst[:], v[:])
		}
	}
	put(&e.saddr, id.Src.Addr())
	put(&e.daddr, id.Dst.Addr())
	return e
}

// bcOp reads struct inet_diag_bc_op {u8 code; u8 yes; u16 no;} at off.
func bcOp(b []byte, off int) (code, yes, no int) {
	return int(b[off]), int(b[off+1]), int(binary.NativeEndian.Uint16(b[off+2:]))
}

var errAudit = errors.New("bytecode rejected by inet_diag_bc_audit (EINVAL)")

// kernelAudit is inet_diag_bc_audit(): it returns nil if the kernel would
// accept the program. netAdmin is whether the caller has CAP_NET_ADMIN
// (needed for MARK_COND).
func kernelAudit(bc []byte, netAdmin bool) error {
	if len(bc) < 4 {
		return fmt.Errorf("%w: %d bytes, less than one op", errAudit, len(bc))
	}
	bytecodeLen := len(bc)
	off, l := 0, len(bc)
	for l > 0 {
		minLen := 4
		code, yes, no := bcOp(bc, off)
		switch code {
		case bcSCond, bcDCond:
			if !validHostcond(bc[off:], l, &minLen) {
				return fmt.Errorf("%w: bad hostcond at %d", errAudit, off)
			}
		case kbcDevCond:
			minLen += 4
			if l < minLen {
				return fmt.Errorf("%w: short devcond at %d", errAudit, off)
			}
		case kbcSEq, bcSGE, bcSLE, kbcDEq, bcDGE, bcDLE:
			minLen += 4
			if l < minLen {
				return fmt.Errorf("%w: port comparison at %d lacks its port op", errAudit, off)
			}
		case kbcMarkCond:
			if !netAdmin {
				return fmt.Errorf("%w: mark condition needs CAP_NET_ADMIN (EPERM)", errAudit)
			}
			minLen += 8
			if l < minLen {
				return fmt.Errorf("%w: short markcond at %d", errAudit, off)
			}
		case kbcCgroupCond:
			minLen += 8
			if l < minLen {
				return fmt.Errorf("%w: short cgroupcond at %d", errAudit, off)
			}
		case bcAuto, bcJmp, bcNop:
		default:
			return fmt.Errorf("%w: unknown op %d at %d", errAudit, code, off)
		}
		if code != bcNop {
			if no < minLen || no > l+4 || no&3 != 0 {
				return fmt.Errorf("%w: op %d at %d: no=%d (min %d, left %d)", errAudit, code, off, no, minLen, l)
			}
			if no < l && !validCC(bc, bytecodeLen, l-no) {
				return fmt.Errorf("%w: op %d at %d: no=%d does not land on an op", errAudit, code, off, no)
			}
		}
		if yes < minLen || yes > l+4 || yes&3 != 0 {
			return fmt.Errorf("%w: op %d at %d: yes=%d (min %d, left %d)", errAudit, code, off, yes, minLen, l)
		}
		off += yes
		l -= yes
	}
	if l != 0 {
		return fmt.Errorf("%w: program runs %d bytes past its end", errAudit, -l)
	}
	return nil
}

// validCC is valid_cc(): whether an op starts cc bytes before the end,
// walking the program by its yes offsets.
func validCC(bc []byte, l, cc int) bool {
	off := 0
	for l >= 0 {
		if cc > l {
			return false
		}
		if cc == l {
			return true
		}
		_, yes, _ := bcOp(bc, off)
		if yes < 4 || yes&3 != 0 {
			return false
		}
		l -= yes
		off += yes
	}
	return false
}

// validHostcond is valid_hostcond(). struct inet_diag_hostcond is
// {u8 family; u8 prefix_len; int port; __be32 addr[];}, 8 bytes + address.
func validHostcond(op []byte, l int, minLen *int) bool {
	*minLen += 8
	if l < *minLen {
		return false
	}
	family, prefixLen := op[4], int(op[5])
	var addrLen int
	switch family {
	case afUnspec:
		addrLen = 0
	case afInet:
		addrLen = 4
	case afInet6:
		addrLen = 16
	default:
		return false
	}
	*minLen += addrLen
	if l < *minLen {
		return false
	}
	return prefixLen <= 8*addrLen
}

// bitstringMatch is bitstring_match(): the first bits bits of a1 and a2
// (arrays of big-endian 32-bit words) are equal.
func bitstringMatch(a1, a2 []byte, bits int) bool {
	words := bits >> 5
	bits &= 0x1f
	if words > 0 && string(a1[:words*4]) != string(a2[:words*4]) {
		return false
	}
	if bits > 0 {
		w1 := binary.BigEndian.Uint32(a1[words*4:])
		w2 := binary.BigEndian.Uint32(a2[words*4:])
		mask := uint32(0xffffffff) << (32 - bits)
		if (w1^w2)&mask != 0 {
			return false
		}
	}
	return true
}

// kernelRun is inet_diag_bc_run(): whether the program accepts the entry.
// It must only be given programs that kernelAudit accepted, as the kernel
// does; it still bounds-checks so that a bug in a test cannot hang or crash.
func kernelRun(bc []byte, e kernelEntry) (bool, error) {
	off, l := 0, len(bc)
	for steps := 0; l > 0; steps++ {
		if off < 0 || off+4 > len(bc) || steps > len(bc) {
			return false, fmt.Errorf("interpreter left the program at offset %d", off)
		}
		code, yesJmp, noJmp := bcOp(bc, off)
		portArg := func() int {
			_, _, p := bcOp(bc, off+4)
			return p
		}
		yes := true
		switch code {
		case bcNop:
		case bcJmp:
			yes = false
		case kbcSEq:
			yes = int(e.sport) == portArg()
		case bcSGE:
			yes = int(e.sport) >= portArg()
		case bcSLE:
			yes = int(e.sport) <= portArg()
		case kbcDEq:
			yes = int(e.dport) == portArg()
		case bcDGE:
			yes = int(e.dport) >= portArg()
		case bcDLE:
			yes = int(e.dport) <= portArg()
		case bcAuto:
			const sockBindportLock = 8
			yes = e.userlocks&sockBindportLock == 0
		case bcSCond, bcDCond:
			cond := bc[off+4:]
			family, prefixLen := cond[0], int(cond[1])
			port := int32(binary.NativeEndian.Uint32(cond[4:]))
			condAddr := cond[8:]
			entryPort, addr := e.sport, e.saddr[:]
			if code == bcDCond {
				entryPort, addr = e.dport, e.daddr[:]
			}
			if port != -1 && port != int32(entryPort) {
				yes = false
				break
			}
			if family != afUnspec && family != e.family {
				if e.family == afInet6 && family == afInet {
					mapped := binary.BigEndian.Uint32(addr[0:]) == 0 && binary.BigEndian.Uint32(addr[4:]) == 0 &&
						binary.BigEndian.Uint32(addr[8:]) == 0xffff
					if mapped && bitstringMatch(addr[12:], condAddr, prefixLen) {
						break
					}
				}
				yes = false
				break
			}
			if prefixLen == 0 {
				break
			}
			if bitstringMatch(addr, condAddr, prefixLen) {
				break
			}
			yes = false
		case kbcDevCond:
			yes = binary.NativeEndian.Uint32(bc[off+4:]) == e.ifindex
		case kbcMarkCond:
			mark := binary.NativeEndian.Uint32(bc[off+4:])
			mask := binary.NativeEndian.Uint32(bc[off+8:])
			yes = e.mark&mask == mark
		case kbcCgroupCond:
			yes = binary.NativeEndian.Uint64(bc[off+4:]) == e.cgroupID
		}
		if yes {
			off += yesJmp
			l -= yesJmp
		} else {
			off += noJmp
			l -= noJmp
		}
	}
	return l == 0, nil
}
