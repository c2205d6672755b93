package model

import (
	"net/netip"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// connID is what the tracker keeps of a connection's identity for the
// event it makes when the connection vanishes (its sample's buffer may
// hold the next dump by then): the addresses as 16 bytes each rather than
// netip's 24-byte Addr with its pointer, and without the cookie, which is
// the connection's key. 44 bytes instead of EventID's 88, for every
// connection a host has.
type connID struct {
	local, remote [16]byte
	lport, rport  uint16
	inode         uint32
	family        inetdiag.Family
	kind          uint8 // per address (local: bits 0–1, remote: 2–3): addrV4 or addrNone
}

// The kinds of address a connID keeps (IPv6 is neither).
const (
	addrV4   = 1
	addrNone = 2
)

func connIDOf(s *inetdiag.Socket) connID {
	id := connID{
		local: s.ID.Src.Addr().As16(), remote: s.ID.Dst.Addr().As16(),
		lport: s.ID.Src.Port(), rport: s.ID.Dst.Port(),
		inode: s.Inode, family: s.Family,
	}
	id.kind = kindOf(s.ID.Src.Addr()) | kindOf(s.ID.Dst.Addr())<<2
	return id
}

func kindOf(a netip.Addr) uint8 {
	switch {
	case !a.IsValid():
		return addrNone
	case a.Is4():
		return addrV4
	}
	return 0
}

// eventID is the connection's EventID, given its cookie.
func (id *connID) eventID(cookie uint64) EventID {
	return EventID{
		Family: id.family,
		Local:  netip.AddrPortFrom(addrOf(id.local, id.kind&3), id.lport),
		Remote: netip.AddrPortFrom(addrOf(id.remote, id.kind>>2), id.rport),
		Cookie: cookie, Inode: id.inode,
	}
}

// addrOf undoes As16 and kindOf. IPv6 zones are not kept: inet_diag
// sends none.
func addrOf(b [16]byte, kind uint8) netip.Addr {
	switch kind {
	case addrNone:
		return netip.Addr{}
	case addrV4:
		return netip.AddrFrom4([4]byte(b[12:]))
	}
	return netip.AddrFrom16(b)
}
