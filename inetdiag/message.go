package inetdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Sizes of the fixed structures (include/uapi/linux/inet_diag.h).
const (
	sockIDLen  = 48
	reqV2Len   = 56
	diagMsgLen = 72
	nlaHdrLen  = 4

	reqAttrBytecode = 1 // INET_DIAG_REQ_BYTECODE
	ipprotoTCP      = 6
)

// Errors that describe malformed replies. They are wrapped with the detail
// of what was wrong; test with errors.Is.
var (
	// ErrShortMessage: a reply is shorter than struct inet_diag_msg.
	ErrShortMessage = errors.New("inetdiag: message shorter than inet_diag_msg")
	// ErrBadAttribute: an attribute header or length is invalid.
	ErrBadAttribute = errors.New("inetdiag: malformed attribute")
	// ErrBadFamily: a reply carries a family other than AF_INET/AF_INET6.
	ErrBadFamily = errors.New("inetdiag: unknown address family")
)

// marshalSockID writes id as struct inet_diag_sockid of family fam into b
// (48 bytes).
func marshalSockID(b []byte, fam Family, id SockID) {
	be, ne := binary.BigEndian, binary.NativeEndian
	be.PutUint16(b[0:], id.Src.Port())
	be.PutUint16(b[2:], id.Dst.Port())
	putAddr(b[4:20], sockAddrOf(fam, id.Src.Addr()))
	putAddr(b[20:36], sockAddrOf(fam, id.Dst.Addr()))
	ne.PutUint32(b[36:], id.Interface)
	ne.PutUint32(b[40:], uint32(id.Cookie))
	ne.PutUint32(b[44:], uint32(id.Cookie>>32))
}

// sockAddrOf returns a in the form the kernel keeps it for a socket of
// family fam. An IPv6 socket holds an IPv4 peer as v4-mapped, which
// net.Addr.String and users print as plain IPv4; an IPv4 socket's address
// has 4 bytes.
func sockAddrOf(fam Family, a netip.Addr) netip.Addr {
	switch {
	case fam == FamilyInet6 && a.Is4():
		return netip.AddrFrom16(a.As16())
	case fam == FamilyInet:
		return a.Unmap()
	}
	return a
}

func putAddr(b []byte, a netip.Addr) {
	switch {
	case a.Is4():
		v := a.As4()
		copy(b, v[:])
	case a.Is6():
		v := a.As16()
		copy(b, v[:])
	}
}

// marshalRequest builds struct inet_diag_req_v2 followed by the optional
// bytecode attribute.
func marshalRequest(family Family, ext Extensions, states StateMask, id SockID, bytecode []byte) []byte {
	n := reqV2Len
	if len(bytecode) > 0 {
		n += nlaHdrLen + align4(len(bytecode))
	}
	b := make([]byte, n)
	b[0] = byte(family)
	b[1] = ipprotoTCP
	b[2] = byte(ext)
	binary.NativeEndian.PutUint32(b[4:], uint32(states))
	marshalSockID(b[8:56], family, id)
	if len(bytecode) > 0 {
		binary.NativeEndian.PutUint16(b[56:], uint16(nlaHdrLen+len(bytecode)))
		binary.NativeEndian.PutUint16(b[58:], reqAttrBytecode)
		copy(b[60:], bytecode)
	}
	return b
}

func align4(n int) int { return (n + 3) &^ 3 }

// DecodeSocket decodes one SOCK_DIAG_BY_FAMILY reply payload (struct
// inet_diag_msg and its attributes) into s in compact form, reusing s's
// storage; s.Full is nil after it. It returns an error, never panics, on
// malformed input.
func DecodeSocket(s *Socket, b []byte) error { return decodeSocket(s, b, nil) }

// DecodeSocketFull decodes as DecodeSocket and also keeps everything the
// kernel sent in full, which s.Full then points to.
func DecodeSocketFull(s *Socket, full *Full, b []byte) error {
	return decodeSocket(s, b, func(*Socket) *Full { return full })
}

// decodeSocket decodes b into s, and into the Full that full gives for it
// (nil full, or a nil Full, keeps the compact form alone).
func decodeSocket(s *Socket, b []byte, full FullFunc) error {
	if len(b) < diagMsgLen {
		return fmt.Errorf("%w: %d bytes, want at least %d", ErrShortMessage, len(b), diagMsgLen)
	}
	fam := Family(b[0])
	if fam != FamilyInet && fam != FamilyInet6 {
		return fmt.Errorf("%w: %d", ErrBadFamily, b[0])
	}
	ne := binary.NativeEndian
	*s = Socket{
		Family:  fam,
		State:   State(b[1]),
		Timer:   Timer(b[2]),
		Retrans: b[3],
		ID:      decodeSockID(fam, b[4:52]),
		Expires: time.Duration(ne.Uint32(b[52:])) * time.Millisecond,
		RecvQ:   ne.Uint32(b[56:]),
		SendQ:   ne.Uint32(b[60:]),
		UID:     ne.Uint32(b[64:]),
		Inode:   ne.Uint32(b[68:]),
	}
	if full != nil {
		if f := full(s); f != nil {
			*f = Full{}
			s.Full = f
		}
	}
	return decodeAttrs(s, b[diagMsgLen:])
}

func decodeSockID(fam Family, b []byte) SockID {
	be, ne := binary.BigEndian, binary.NativeEndian
	var src, dst netip.Addr
	if fam == FamilyInet {
		src = netip.AddrFrom4([4]byte(b[4:8]))
		dst = netip.AddrFrom4([4]byte(b[20:24]))
	} else {
		src = netip.AddrFrom16([16]byte(b[4:20]))
		dst = netip.AddrFrom16([16]byte(b[20:36]))
	}
	return SockID{
		Src:       netip.AddrPortFrom(src, be.Uint16(b[0:])),
		Dst:       netip.AddrPortFrom(dst, be.Uint16(b[2:])),
		Interface: ne.Uint32(b[36:]),
		Cookie:    uint64(ne.Uint32(b[40:])) | uint64(ne.Uint32(b[44:]))<<32,
	}
}

// decodeAttrs walks the netlink attributes after inet_diag_msg. It is a
// plain loop rather than netlink.AttributeDecoder because that decoder
// allocates a slice per message, and a busy host has 10^5 messages per poll.
func decodeAttrs(s *Socket, b []byte) error {
	ne := binary.NativeEndian
	for len(b) > 0 {
		if len(b) < nlaHdrLen {
			return fmt.Errorf("%w: %d trailing bytes, too short for a header", ErrBadAttribute, len(b))
		}
		l := int(ne.Uint16(b[0:]))
		typ := Attr(ne.Uint16(b[2:]) & 0x3fff) // strip NLA_F_NESTED and NLA_F_NET_BYTEORDER
		if l < nlaHdrLen || l > len(b) {
			return fmt.Errorf("%w: type %d claims %d bytes, %d left", ErrBadAttribute, typ, l, len(b))
		}
		p := b[nlaHdrLen:l]
		if err := decodeAttr(s, typ, p); err != nil {
			return err
		}
		if typ < attrMax {
			s.attrsSeen |= 1 << typ
		}
		next := align4(l)
		if next > len(b) {
			next = len(b) // the last attribute may omit its padding
		}
		b = b[next:]
	}
	return nil
}

func decodeAttr(s *Socket, typ Attr, p []byte) error {
	ne := binary.NativeEndian
	need := func(n int) error {
		if len(p) < n {
			return fmt.Errorf("%w: type %d has %d bytes, want %d", ErrBadAttribute, typ, len(p), n)
		}
		return nil
	}
	if typ == AttrInfo {
		if s.Full != nil {
			decodeTCPInfo(&s.Full.Info, p)
			s.Info = s.Full.Info.Core()
		} else {
			decodeTCPCore(&s.Info, p)
		}
		return nil
	}
	if typ == AttrShutdown {
		if err := need(1); err != nil {
			return err
		}
		s.Shutdown = p[0]
		return nil
	}
	// The other attributes are checked as strictly when they are dropped
	// (no Full) as when they are kept.
	f := s.Full
	switch typ {
	case AttrMemInfo:
		if err := need(16); err != nil {
			return err
		}
		if f != nil {
			f.Mem = MemInfo{ne.Uint32(p[0:]), ne.Uint32(p[4:]), ne.Uint32(p[8:]), ne.Uint32(p[12:])}
		}
	case AttrSKMemInfo:
		if err := need(36); err != nil {
			return err
		}
		if f != nil {
			f.SKMem = SKMemInfo{
				ne.Uint32(p[0:]), ne.Uint32(p[4:]), ne.Uint32(p[8:]), ne.Uint32(p[12:]), ne.Uint32(p[16:]),
				ne.Uint32(p[20:]), ne.Uint32(p[24:]), ne.Uint32(p[28:]), ne.Uint32(p[32:]),
			}
		}
	case AttrCong:
		if f != nil {
			f.Cong = congName(p)
		}
	case AttrTOS:
		if err := need(1); err != nil {
			return err
		}
		if f != nil {
			f.TOS = p[0]
		}
	case AttrTClass:
		if err := need(1); err != nil {
			return err
		}
		if f != nil {
			f.TClass = p[0]
		}
	case AttrSKV6Only:
		if err := need(1); err != nil {
			return err
		}
		if f != nil {
			f.V6Only = p[0] != 0
		}
	case AttrMark:
		if err := need(4); err != nil {
			return err
		}
		if f != nil {
			f.Mark = ne.Uint32(p)
		}
	case AttrClassID:
		if err := need(4); err != nil {
			return err
		}
		if f != nil {
			f.ClassID = ne.Uint32(p)
		}
	case AttrCgroupID:
		if err := need(8); err != nil {
			return err
		}
		if f != nil {
			f.CgroupID = ne.Uint64(p)
		}
	case AttrSockOpt:
		if err := need(2); err != nil {
			return err
		}
		if f != nil {
			f.SockOpt = ne.Uint16(p)
		}
	}
	// Other attributes (congestion-control specific info, ULP, MD5 keys,
	// BPF storage) are skipped: tcpwatch does not use them.
	return nil
}

// knownCong holds the congestion control names a host is likely to use, so
// that decoding them does not allocate a string per socket.
var knownCong = []string{"cubic", "reno", "bbr", "bbr2", "bbr3", "dctcp", "htcp", "vegas", "westwood", "illinois", "bic", "hybla", "scalable", "lp", "veno", "yeah", "highspeed", "nv", "cdg"}

func congName(p []byte) string {
	for i, c := range p {
		if c == 0 {
			p = p[:i]
			break
		}
	}
	for _, k := range knownCong {
		if string(p) == k { // no allocation: compiler-optimised comparison
			return k
		}
	}
	return string(p)
}
