package inetdiag

import (
	"encoding/binary"
	"math"
	"time"
)

// Micros is a duration in microseconds as tcp_info sends it (tcpi_rto,
// tcpi_rtt): 32 bits, kept as the kernel sent it rather than widened to a
// time.Duration, so that a socket's TCPCore is 64 bytes instead of 96 and
// a host of 10^6 sockets costs 32 MB less. Its range is 71 minutes.
type Micros uint32

// Duration returns m as a time.Duration; it cannot overflow.
func (m Micros) Duration() time.Duration { return time.Duration(m) * time.Microsecond }

// String formats m as its Duration does, so that a core prints as it did
// when its fields were durations.
func (m Micros) String() string { return m.Duration().String() }

// MicrosOf returns d in whole microseconds (truncated), for code that
// builds a socket from durations: tests, fixtures, a recording's decoder.
// The kernel cannot send a value outside Micros' range, but a duration can
// hold one: a negative d gives 0 and one beyond the range the largest
// Micros, never a value wrapped into a plausible one.
func MicrosOf(d time.Duration) Micros { return Micros(units32(d, time.Microsecond)) }

// Millis is a duration in milliseconds as tcp_info sends it (the
// tcpi_last_* clocks, tcpi_total_rto_time): 32 bits, kept as the kernel
// sent it, for the reason Micros is. Its range is 49 days.
type Millis uint32

// Duration returns m as a time.Duration; it cannot overflow.
func (m Millis) Duration() time.Duration { return time.Duration(m) * time.Millisecond }

// String formats m as its Duration does.
func (m Millis) String() string { return m.Duration().String() }

// MillisOf returns d in whole milliseconds (truncated), clamped to Millis'
// range as MicrosOf clamps to Micros'.
func MillisOf(d time.Duration) Millis { return Millis(units32(d, time.Millisecond)) }

// units32 is d in whole units, clamped to [0, MaxUint32].
func units32(d, unit time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	return uint32(min(d/unit, math.MaxUint32))
}

// len32 is a TCPInfo's Len as TCPCore holds it. A decoded attribute is at
// most 64 KiB; only a damaged recording's length can be out of range, and
// clamping it keeps Has's answers for every real offset.
func len32(n int) int32 {
	return int32(min(max(n, math.MinInt32), math.MaxInt32))
}

// TCPCore is the part of struct tcp_info that tcpwatch reads for every
// socket: the retransmission and probe state the kernel's abort rules
// depend on, the clocks of the last traffic, and the counters of an RTO
// episode. Its fields have TCPInfo's names and meaning; a socket stores
// this (64 bytes) rather than the whole of tcp_info (352 bytes decoded),
// which a host of 10^6 sockets would hold two or three times. Unlike
// TCPInfo's, its durations are the kernel's 32-bit values in the kernel's
// units (Micros, Millis): read them with Duration.
//
// Len is the number of bytes the kernel sent, as TCPInfo's: fields beyond
// it are zero and must not be read as facts.
type TCPCore struct {
	Len int32

	State       uint8
	CAState     uint8
	Retransmits uint8
	Probes      uint8
	Backoff     uint8

	TotalRTO           uint16
	TotalRTORecoveries uint16

	Unacked      uint32
	Lost         uint32
	Retrans      uint32
	TotalRetrans uint32
	SndWnd       uint32

	RTO          Micros
	RTT          Micros
	LastDataSent Millis
	LastAckSent  Millis
	LastDataRecv Millis
	LastAckRecv  Millis
	TotalRTOTime Millis
}

// Has reports whether the kernel sent the field ending at byte offset end
// (one of the TCPInfoLen* constants, or a Field's Offset+Size).
func (t *TCPCore) Has(end int) bool { return int(t.Len) >= end }

// HasRTOStats reports whether TotalRTO, TotalRTORecoveries and TotalRTOTime
// were sent (kernel 6.7 and some stable series).
func (t *TCPCore) HasRTOStats() bool { return t.Len >= TCPInfoLen6_7 }

// Core returns the compact form of t. A TCPInfo the kernel sent converts
// exactly; one from elsewhere (a damaged recording) has its durations and
// Len clamped to the core's range, as MicrosOf and MillisOf do.
func (t *TCPInfo) Core() TCPCore {
	return TCPCore{
		Len:   len32(t.Len),
		State: t.State, CAState: t.CAState, Retransmits: t.Retransmits, Probes: t.Probes, Backoff: t.Backoff,
		TotalRTO: t.TotalRTO, TotalRTORecoveries: t.TotalRTORecoveries,
		Unacked: t.Unacked, Lost: t.Lost, Retrans: t.Retrans, TotalRetrans: t.TotalRetrans, SndWnd: t.SndWnd,
		RTO: MicrosOf(t.RTO), RTT: MicrosOf(t.RTT),
		LastDataSent: MillisOf(t.LastDataSent), LastAckSent: MillisOf(t.LastAckSent),
		LastDataRecv: MillisOf(t.LastDataRecv), LastAckRecv: MillisOf(t.LastAckRecv),
		TotalRTOTime: MillisOf(t.TotalRTOTime),
	}
}

// decodeTCPCore decodes b into t as decodeTCPInfo would and keeps the
// compact part, without decoding the rest: any length is accepted, and a
// field cut in the middle is dropped rather than half read.
func decodeTCPCore(t *TCPCore, b []byte) {
	n := len(b)
	if n < TCPInfoLen6_7 {
		pad := padded(b)
		b = pad[:]
	}
	decodeCore(t, b)
	t.Len = len32(n)
}

// decodeCore decodes a buffer of at least TCPInfoLen6_7 bytes (the last
// field the core holds ends there).
func decodeCore(t *TCPCore, b []byte) {
	_ = b[TCPInfoLen6_7-1] // one bounds check for the whole function
	le := binary.NativeEndian
	u32 := func(off int) uint32 { return le.Uint32(b[off:]) }
	*t = TCPCore{
		State: b[0], CAState: b[1], Retransmits: b[2], Probes: b[3], Backoff: b[4],
		TotalRTO: le.Uint16(b[240:]), TotalRTORecoveries: le.Uint16(b[242:]),
		Unacked: u32(24), Lost: u32(32), Retrans: u32(36), TotalRetrans: u32(100), SndWnd: u32(228),
		RTO: Micros(u32(8)), RTT: Micros(u32(68)),
		LastDataSent: Millis(u32(44)), LastAckSent: Millis(u32(48)), LastDataRecv: Millis(u32(52)), LastAckRecv: Millis(u32(56)),
		TotalRTOTime: Millis(u32(244)),
	}
}

// AsInfo returns the core's fields in a TCPInfo, every other field zero.
// It is not a whole tcp_info: its Len claims fields the core does not
// hold. It serves code that reads the core through TCPInfo's table (see
// TCPInfoField.CoreValue) or must store a socket kept compact where a
// whole one is expected.
func (t *TCPCore) AsInfo() TCPInfo {
	return TCPInfo{
		Len:   int(t.Len),
		State: t.State, CAState: t.CAState, Retransmits: t.Retransmits, Probes: t.Probes, Backoff: t.Backoff,
		TotalRTO: t.TotalRTO, TotalRTORecoveries: t.TotalRTORecoveries,
		Unacked: t.Unacked, Lost: t.Lost, Retrans: t.Retrans, TotalRetrans: t.TotalRetrans, SndWnd: t.SndWnd,
		RTO: t.RTO.Duration(), RTT: t.RTT.Duration(),
		LastDataSent: t.LastDataSent.Duration(), LastAckSent: t.LastAckSent.Duration(),
		LastDataRecv: t.LastDataRecv.Duration(), LastAckRecv: t.LastAckRecv.Duration(),
		TotalRTOTime: t.TotalRTOTime.Duration(),
	}
}

// coreFields are the fields of tcp_info (by kernel name) that TCPCore
// holds.
var coreFields = map[string]bool{
	"state": true, "ca_state": true, "retransmits": true, "probes": true, "backoff": true,
	"rto": true, "unacked": true, "lost": true, "retrans": true,
	"last_data_sent": true, "last_ack_sent": true, "last_data_recv": true, "last_ack_recv": true,
	"rtt": true, "total_retrans": true, "snd_wnd": true,
	"total_rto": true, "total_rto_recoveries": true, "total_rto_time": true,
}

// InCore reports whether TCPCore holds the field.
func (f TCPInfoField) InCore() bool { return coreFields[f.Name] }

// CoreValue is Value read from a compact socket's tcp_info: false for a
// field the kernel did not send or the core does not hold.
func (f TCPInfoField) CoreValue(c *TCPCore) (uint64, bool) {
	if !f.InCore() || !c.Has(f.Offset+f.Size) {
		return 0, false
	}
	t := c.AsInfo()
	return f.get(&t), true
}
