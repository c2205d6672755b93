package record

import (
	"net/netip"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// field is one value of an inetdiag.Socket as the codec stores it: put
// writes cur relative to base into the field's column, get reads it back
// into dst, which holds base's value of the field on entry. Columns keep
// one field's values of every socket together, so that zstd sees the runs
// (the same MSS, the same small counter step) that interleaving would hide.
type field struct {
	name string
	eq   func(a, b *inetdiag.Socket) bool
	put  func(w *wbuf, base, cur *inetdiag.Socket)
	get  func(r *rbuf, dst *inetdiag.Socket)
}

// unsigned is every integer kind of Socket and TCPInfo but Info.Len.
type unsigned interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64
}

// uintField stores the difference from base, zigzagged: counters grow by
// small steps, and a value that did not change is not stored at all.
// Arithmetic wraps at 64 bits, so every value round-trips exactly; a
// decoded value that does not fit the field is an error, not a silent
// truncation.
func uintField[T unsigned](name string, p func(*inetdiag.Socket) *T) field {
	maxT := uint64(^T(0))
	return field{
		name: name,
		eq:   func(a, b *inetdiag.Socket) bool { return *p(a) == *p(b) },
		put: func(w *wbuf, base, cur *inetdiag.Socket) {
			w.uvarint(zigzag(int64(uint64(*p(cur)) - uint64(*p(base)))))
		},
		get: func(r *rbuf, dst *inetdiag.Socket) {
			v := uint64(*p(dst)) + uint64(r.varint())
			if v > maxT {
				r.fail("%s: %d out of range", name, v)
				return
			}
			*p(dst) = T(v)
		},
	}
}

func boolField(name string, p func(*inetdiag.Socket) *bool) field {
	return field{
		name: name,
		eq:   func(a, b *inetdiag.Socket) bool { return *p(a) == *p(b) },
		put:  func(w *wbuf, _, cur *inetdiag.Socket) { w.boolean(*p(cur)) },
		get:  func(r *rbuf, dst *inetdiag.Socket) { *p(dst) = r.boolean() },
	}
}

// durField stores a duration in the kernel's unit for it (ms or µs), see
// putDur.
func durField(name string, unit time.Duration, p func(*inetdiag.Socket) *time.Duration) field {
	return field{
		name: name,
		eq:   func(a, b *inetdiag.Socket) bool { return *p(a) == *p(b) },
		put:  func(w *wbuf, base, cur *inetdiag.Socket) { putDur(w, *p(base), *p(cur), unit) },
		get:  func(r *rbuf, dst *inetdiag.Socket) { *p(dst) = getDur(r, *p(dst), unit) },
	}
}

// Modes of a duration token (its two low bits).
const (
	durDelta    = 0 // (cur-base)/unit follows in the token
	durAbsolute = 1 // cur/unit follows in the token
	durRaw      = 2 // the token is 2; cur-base in nanoseconds follows
)

// putDur writes cur relative to base as one token: the change in units,
// or the value itself in units when that is smaller (a "time since last
// ACK" that restarted from zero), or, for a value that is not a whole
// number of units, the exact change in nanoseconds. The kernel's values
// are always whole units; the fallback keeps any value exact.
func putDur(w *wbuf, base, cur, unit time.Duration) {
	d := cur - base // wraps: decoding adds it back with the same wrap
	if d%unit != 0 {
		w.uvarint(durRaw)
		w.varint(int64(d))
		return
	}
	qd := int64(d / unit)
	if cur%unit == 0 {
		if qa := int64(cur / unit); absLess(qa, qd) {
			w.uvarint(zigzag(qa)<<2 | durAbsolute)
			return
		}
	}
	w.uvarint(zigzag(qd)<<2 | durDelta)
}

func getDur(r *rbuf, base, unit time.Duration) time.Duration {
	t := r.uvarint()
	q := time.Duration(unzigzag(t >> 2))
	switch t & 3 {
	case durDelta:
		return base + q*unit
	case durAbsolute:
		return q * unit
	case durRaw:
		if t != durRaw {
			r.fail("raw duration token %d", t)
		}
		return base + r.dur()
	}
	r.fail("duration token %d has an unknown mode", t)
	return base
}

func absLess(a, b int64) bool {
	abs := func(v int64) uint64 {
		if v < 0 {
			return uint64(-v)
		}
		return uint64(v)
	}
	return abs(a) < abs(b)
}

func addrPortField(name string, p func(*inetdiag.Socket) *netip.AddrPort) field {
	return field{
		name: name,
		eq:   func(a, b *inetdiag.Socket) bool { return *p(a) == *p(b) },
		put:  func(w *wbuf, _, cur *inetdiag.Socket) { putAddrPort(w, *p(cur)) },
		get:  func(r *rbuf, dst *inetdiag.Socket) { *p(dst) = getAddrPort(r) },
	}
}

// Address kinds: the invalid (zero) address, IPv4, IPv6, IPv6 with a zone.
const (
	addrNone   = 0
	addrV4     = 4
	addrV6     = 6
	addrV6Zone = 7
)

func putAddrPort(w *wbuf, ap netip.AddrPort) {
	a := ap.Addr()
	switch {
	case a.Is4():
		w.byte1(addrV4)
		v := a.As4()
		w.raw(v[:])
	case a.Is6() && a.Zone() != "":
		w.byte1(addrV6Zone)
		v := a.As16()
		w.raw(v[:])
		w.str(a.Zone())
	case a.Is6():
		w.byte1(addrV6)
		v := a.As16()
		w.raw(v[:])
	default:
		w.byte1(addrNone)
	}
	w.uvarint(uint64(ap.Port()))
}

func getAddrPort(r *rbuf) netip.AddrPort {
	var a netip.Addr
	switch k := r.byte1(); k {
	case addrNone:
	case addrV4:
		a = netip.AddrFrom4([4]byte(pad(r.next(4), 4)))
	case addrV6, addrV6Zone:
		a = netip.AddrFrom16([16]byte(pad(r.next(16), 16)))
		if k == addrV6Zone {
			a = a.WithZone(r.str())
		}
	default:
		r.fail("address kind %d", k)
	}
	port := r.uvarint()
	if port > 0xffff {
		r.fail("port %d", port)
	}
	return netip.AddrPortFrom(a, uint16(port))
}

// pad returns b, or n zero bytes when a read failed (the error is sticky).
func pad(b []byte, n int) []byte {
	if len(b) != n {
		return make([]byte, n)
	}
	return b
}

// congField stores the congestion control's name whole: it changes only
// if the application switches algorithms.
func congField() field {
	return field{
		name: "Cong",
		eq:   func(a, b *inetdiag.Socket) bool { return a.Cong == b.Cong },
		put:  func(w *wbuf, _, cur *inetdiag.Socket) { w.str(cur.Cong) },
		get:  func(r *rbuf, dst *inetdiag.Socket) { dst.Cong = internCong(r.bytes()) },
	}
}

// knownCong avoids a string allocation per decoded socket for the names
// every host uses.
var knownCong = []string{"cubic", "reno", "bbr", "bbr2", "bbr3", "dctcp", "htcp", "vegas", "westwood", "illinois", "bic", "hybla", "scalable", "lp", "veno", "yeah", "highspeed", "nv", "cdg"}

func internCong(b []byte) string {
	for _, k := range knownCong {
		if string(b) == k {
			return k
		}
	}
	return string(b)
}

// attrsField stores the set of attributes the kernel sent (Socket.Has),
// as the bits that changed.
func attrsField() field {
	return field{
		name: "attrs",
		eq:   func(a, b *inetdiag.Socket) bool { return attrsOf(a) == attrsOf(b) },
		put:  func(w *wbuf, base, cur *inetdiag.Socket) { w.uvarint(uint64(attrsOf(base) ^ attrsOf(cur))) },
		get: func(r *rbuf, dst *inetdiag.Socket) {
			x := r.uvarint()
			if x > 0xffffffff {
				r.fail("attribute set %#x", x)
				return
			}
			if err := setAttrs(dst, attrsOf(dst)^uint32(x)); err != nil && r.err == nil {
				r.err = err
			}
		},
	}
}

type sock = inetdiag.Socket

// fields lists every value of a Socket, in the order of the mask bits.
// The values that move on a busy socket come first, so that their mask
// bits share bytes; TestFieldsCoverSocket fails when inetdiag grows a field
// this list lacks.
var fields = []field{
	// Traffic.
	uintField("Info.BytesAcked", func(s *sock) *uint64 { return &s.Info.BytesAcked }),
	uintField("Info.BytesReceived", func(s *sock) *uint64 { return &s.Info.BytesReceived }),
	uintField("Info.BytesSent", func(s *sock) *uint64 { return &s.Info.BytesSent }),
	uintField("Info.SegsOut", func(s *sock) *uint32 { return &s.Info.SegsOut }),
	uintField("Info.SegsIn", func(s *sock) *uint32 { return &s.Info.SegsIn }),
	uintField("Info.DataSegsIn", func(s *sock) *uint32 { return &s.Info.DataSegsIn }),
	uintField("Info.DataSegsOut", func(s *sock) *uint32 { return &s.Info.DataSegsOut }),
	uintField("Info.Delivered", func(s *sock) *uint32 { return &s.Info.Delivered }),
	durField("Info.LastDataSent", time.Millisecond, func(s *sock) *time.Duration { return &s.Info.LastDataSent }),
	durField("Info.LastDataRecv", time.Millisecond, func(s *sock) *time.Duration { return &s.Info.LastDataRecv }),
	durField("Info.LastAckRecv", time.Millisecond, func(s *sock) *time.Duration { return &s.Info.LastAckRecv }),
	durField("Info.RTT", time.Microsecond, func(s *sock) *time.Duration { return &s.Info.RTT }),
	durField("Info.RTTVar", time.Microsecond, func(s *sock) *time.Duration { return &s.Info.RTTVar }),
	durField("Info.RcvRTT", time.Microsecond, func(s *sock) *time.Duration { return &s.Info.RcvRTT }),
	uintField("Info.RcvSpace", func(s *sock) *uint32 { return &s.Info.RcvSpace }),
	uintField("Info.PacingRate", func(s *sock) *uint64 { return &s.Info.PacingRate }),
	uintField("Info.DeliveryRate", func(s *sock) *uint64 { return &s.Info.DeliveryRate }),
	durField("Info.BusyTime", time.Microsecond, func(s *sock) *time.Duration { return &s.Info.BusyTime }),
	durField("Info.RwndLimited", time.Microsecond, func(s *sock) *time.Duration { return &s.Info.RwndLimited }),
	durField("Info.SndbufLimited", time.Microsecond, func(s *sock) *time.Duration { return &s.Info.SndbufLimited }),
	uintField("Info.NotsentBytes", func(s *sock) *uint32 { return &s.Info.NotsentBytes }),
	uintField("Info.RcvSsthresh", func(s *sock) *uint32 { return &s.Info.RcvSsthresh }),
	uintField("Info.SndWnd", func(s *sock) *uint32 { return &s.Info.SndWnd }),
	uintField("Info.RcvWnd", func(s *sock) *uint32 { return &s.Info.RcvWnd }),
	uintField("RecvQ", func(s *sock) *uint32 { return &s.RecvQ }),
	uintField("SendQ", func(s *sock) *uint32 { return &s.SendQ }),
	uintField("Info.Unacked", func(s *sock) *uint32 { return &s.Info.Unacked }),
	uintField("Info.SndCwnd", func(s *sock) *uint32 { return &s.Info.SndCwnd }),
	uintField("Mem.RMem", func(s *sock) *uint32 { return &s.Mem.RMem }),
	uintField("Mem.WMem", func(s *sock) *uint32 { return &s.Mem.WMem }),
	uintField("Mem.FMem", func(s *sock) *uint32 { return &s.Mem.FMem }),
	uintField("Mem.TMem", func(s *sock) *uint32 { return &s.Mem.TMem }),
	uintField("SKMem.RMemAlloc", func(s *sock) *uint32 { return &s.SKMem.RMemAlloc }),
	uintField("SKMem.WMemAlloc", func(s *sock) *uint32 { return &s.SKMem.WMemAlloc }),
	uintField("SKMem.FwdAlloc", func(s *sock) *uint32 { return &s.SKMem.FwdAlloc }),
	uintField("SKMem.WMemQueued", func(s *sock) *uint32 { return &s.SKMem.WMemQueued }),
	uintField("SKMem.RcvBuf", func(s *sock) *uint32 { return &s.SKMem.RcvBuf }),
	uintField("SKMem.SndBuf", func(s *sock) *uint32 { return &s.SKMem.SndBuf }),
	uintField("SKMem.OptMem", func(s *sock) *uint32 { return &s.SKMem.OptMem }),
	uintField("SKMem.Backlog", func(s *sock) *uint32 { return &s.SKMem.Backlog }),
	uintField("SKMem.Drops", func(s *sock) *uint32 { return &s.SKMem.Drops }),

	// Timers and trouble.
	durField("Expires", time.Millisecond, func(s *sock) *time.Duration { return &s.Expires }),
	uintField("Timer", func(s *sock) *inetdiag.Timer { return &s.Timer }),
	uintField("Retrans", func(s *sock) *uint8 { return &s.Retrans }),
	uintField("State", func(s *sock) *inetdiag.State { return &s.State }),
	uintField("Info.State", func(s *sock) *uint8 { return &s.Info.State }),
	uintField("Info.CAState", func(s *sock) *uint8 { return &s.Info.CAState }),
	uintField("Info.Retransmits", func(s *sock) *uint8 { return &s.Info.Retransmits }),
	uintField("Info.Probes", func(s *sock) *uint8 { return &s.Info.Probes }),
	uintField("Info.Backoff", func(s *sock) *uint8 { return &s.Info.Backoff }),
	durField("Info.RTO", time.Microsecond, func(s *sock) *time.Duration { return &s.Info.RTO }),
	durField("Info.ATO", time.Microsecond, func(s *sock) *time.Duration { return &s.Info.ATO }),
	uintField("Info.Sacked", func(s *sock) *uint32 { return &s.Info.Sacked }),
	uintField("Info.Lost", func(s *sock) *uint32 { return &s.Info.Lost }),
	uintField("Info.Retrans", func(s *sock) *uint32 { return &s.Info.Retrans }),
	uintField("Info.Fackets", func(s *sock) *uint32 { return &s.Info.Fackets }),
	uintField("Info.TotalRetrans", func(s *sock) *uint32 { return &s.Info.TotalRetrans }),
	uintField("Info.BytesRetrans", func(s *sock) *uint64 { return &s.Info.BytesRetrans }),
	uintField("Info.TotalRTO", func(s *sock) *uint16 { return &s.Info.TotalRTO }),
	uintField("Info.TotalRTORecoveries", func(s *sock) *uint16 { return &s.Info.TotalRTORecoveries }),
	durField("Info.TotalRTOTime", time.Millisecond, func(s *sock) *time.Duration { return &s.Info.TotalRTOTime }),
	uintField("Info.SndSsthresh", func(s *sock) *uint32 { return &s.Info.SndSsthresh }),
	uintField("Info.Reordering", func(s *sock) *uint32 { return &s.Info.Reordering }),
	uintField("Info.DSACKDups", func(s *sock) *uint32 { return &s.Info.DSACKDups }),
	uintField("Info.ReordSeen", func(s *sock) *uint32 { return &s.Info.ReordSeen }),
	uintField("Info.RcvOOOPack", func(s *sock) *uint32 { return &s.Info.RcvOOOPack }),
	uintField("Info.DeliveredCE", func(s *sock) *uint32 { return &s.Info.DeliveredCE }),
	durField("Info.MinRTT", time.Microsecond, func(s *sock) *time.Duration { return &s.Info.MinRTT }),
	uintField("Info.MaxPacingRate", func(s *sock) *uint64 { return &s.Info.MaxPacingRate }),
	uintField("Info.Rehash", func(s *sock) *uint32 { return &s.Info.Rehash }),
	durField("Info.LastAckSent", time.Millisecond, func(s *sock) *time.Duration { return &s.Info.LastAckSent }),
	uintField("Shutdown", func(s *sock) *uint8 { return &s.Shutdown }),

	// Identity and settings: fixed for the life of a socket, mostly.
	uintField("Family", func(s *sock) *inetdiag.Family { return &s.Family }),
	uintField("ID.Cookie", func(s *sock) *uint64 { return &s.ID.Cookie }),
	addrPortField("ID.Src", func(s *sock) *netip.AddrPort { return &s.ID.Src }),
	addrPortField("ID.Dst", func(s *sock) *netip.AddrPort { return &s.ID.Dst }),
	uintField("ID.Interface", func(s *sock) *uint32 { return &s.ID.Interface }),
	uintField("UID", func(s *sock) *uint32 { return &s.UID }),
	uintField("Inode", func(s *sock) *uint32 { return &s.Inode }),
	{
		name: "Info.Len",
		eq:   func(a, b *sock) bool { return a.Info.Len == b.Info.Len },
		put:  func(w *wbuf, base, cur *sock) { w.varint(int64(cur.Info.Len) - int64(base.Info.Len)) },
		get: func(r *rbuf, dst *sock) {
			v := int64(dst.Info.Len) + r.varint()
			if v != int64(int(v)) {
				r.fail("Info.Len %d", v)
			}
			dst.Info.Len = int(v)
		},
	},
	uintField("Info.Options", func(s *sock) *uint8 { return &s.Info.Options }),
	uintField("Info.SndWscale", func(s *sock) *uint8 { return &s.Info.SndWscale }),
	uintField("Info.RcvWscale", func(s *sock) *uint8 { return &s.Info.RcvWscale }),
	boolField("Info.DeliveryRateAppLimited", func(s *sock) *bool { return &s.Info.DeliveryRateAppLimited }),
	uintField("Info.FastopenClientFail", func(s *sock) *uint8 { return &s.Info.FastopenClientFail }),
	uintField("Info.SndMSS", func(s *sock) *uint32 { return &s.Info.SndMSS }),
	uintField("Info.RcvMSS", func(s *sock) *uint32 { return &s.Info.RcvMSS }),
	uintField("Info.PMTU", func(s *sock) *uint32 { return &s.Info.PMTU }),
	uintField("Info.AdvMSS", func(s *sock) *uint32 { return &s.Info.AdvMSS }),
	congField(),
	uintField("TOS", func(s *sock) *uint8 { return &s.TOS }),
	uintField("TClass", func(s *sock) *uint8 { return &s.TClass }),
	boolField("V6Only", func(s *sock) *bool { return &s.V6Only }),
	uintField("Mark", func(s *sock) *uint32 { return &s.Mark }),
	uintField("ClassID", func(s *sock) *uint32 { return &s.ClassID }),
	uintField("CgroupID", func(s *sock) *uint64 { return &s.CgroupID }),
	uintField("SockOpt", func(s *sock) *uint16 { return &s.SockOpt }),
	uintField("Info.ReceivedCE", func(s *sock) *uint32 { return &s.Info.ReceivedCE }),
	uintField("Info.DeliveredE1Bytes", func(s *sock) *uint32 { return &s.Info.DeliveredE1Bytes }),
	uintField("Info.DeliveredE0Bytes", func(s *sock) *uint32 { return &s.Info.DeliveredE0Bytes }),
	uintField("Info.DeliveredCEBytes", func(s *sock) *uint32 { return &s.Info.DeliveredCEBytes }),
	uintField("Info.ReceivedE1Bytes", func(s *sock) *uint32 { return &s.Info.ReceivedE1Bytes }),
	uintField("Info.ReceivedE0Bytes", func(s *sock) *uint32 { return &s.Info.ReceivedE0Bytes }),
	uintField("Info.ReceivedCEBytes", func(s *sock) *uint32 { return &s.Info.ReceivedCEBytes }),
	uintField("Info.AccECNFailMode", func(s *sock) *uint16 { return &s.Info.AccECNFailMode }),
	uintField("Info.AccECNOptSeen", func(s *sock) *uint16 { return &s.Info.AccECNOptSeen }),
	attrsField(),
}

// maskBytes is the size of a socket's changed-field mask.
var maskBytes = (len(fields) + 7) / 8
