package inetdiag

import (
	"encoding/binary"
	"time"
)

// TCPCore is the part of struct tcp_info that tcpwatch reads for every
// socket: the retransmission and probe state the kernel's abort rules
// depend on, the clocks of the last traffic, and the counters of an RTO
// episode. Its fields have TCPInfo's names, types and meaning; a socket
// stores this (96 bytes) rather than the whole of tcp_info (352 bytes
// decoded), which a host of 10^6 sockets would hold two or three times.
//
// Len is the number of bytes the kernel sent, as TCPInfo's: fields beyond
// it are zero and must not be read as facts.
type TCPCore struct {
	Len int

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

	RTO          time.Duration
	RTT          time.Duration
	LastDataSent time.Duration
	LastAckSent  time.Duration
	LastDataRecv time.Duration
	LastAckRecv  time.Duration
	TotalRTOTime time.Duration
}

// Has reports whether the kernel sent the field ending at byte offset end
// (one of the TCPInfoLen* constants, or a Field's Offset+Size).
func (t *TCPCore) Has(end int) bool { return t.Len >= end }

// HasRTOStats reports whether TotalRTO, TotalRTORecoveries and TotalRTOTime
// were sent (kernel 6.7 and some stable series).
func (t *TCPCore) HasRTOStats() bool { return t.Len >= TCPInfoLen6_7 }

// Core returns the compact form of t.
func (t *TCPInfo) Core() TCPCore {
	return TCPCore{
		Len:   t.Len,
		State: t.State, CAState: t.CAState, Retransmits: t.Retransmits, Probes: t.Probes, Backoff: t.Backoff,
		TotalRTO: t.TotalRTO, TotalRTORecoveries: t.TotalRTORecoveries,
		Unacked: t.Unacked, Lost: t.Lost, Retrans: t.Retrans, TotalRetrans: t.TotalRetrans, SndWnd: t.SndWnd,
		RTO: t.RTO, RTT: t.RTT, LastDataSent: t.LastDataSent, LastAckSent: t.LastAckSent,
		LastDataRecv: t.LastDataRecv, LastAckRecv: t.LastAckRecv, TotalRTOTime: t.TotalRTOTime,
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
	t.Len = n
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
		RTO: us(u32(8)), RTT: us(u32(68)),
		LastDataSent: ms(u32(44)), LastAckSent: ms(u32(48)), LastDataRecv: ms(u32(52)), LastAckRecv: ms(u32(56)),
		TotalRTOTime: ms(u32(244)),
	}
}

// AsInfo returns the core's fields in a TCPInfo, every other field zero.
// It is not a whole tcp_info: its Len claims fields the core does not
// hold. It serves code that reads the core through TCPInfo's table (see
// TCPInfoField.CoreValue) or must store a socket kept compact where a
// whole one is expected.
func (t *TCPCore) AsInfo() TCPInfo {
	return TCPInfo{
		Len:   t.Len,
		State: t.State, CAState: t.CAState, Retransmits: t.Retransmits, Probes: t.Probes, Backoff: t.Backoff,
		TotalRTO: t.TotalRTO, TotalRTORecoveries: t.TotalRTORecoveries,
		Unacked: t.Unacked, Lost: t.Lost, Retrans: t.Retrans, TotalRetrans: t.TotalRetrans, SndWnd: t.SndWnd,
		RTO: t.RTO, RTT: t.RTT, LastDataSent: t.LastDataSent, LastAckSent: t.LastAckSent,
		LastDataRecv: t.LastDataRecv, LastAckRecv: t.LastAckRecv, TotalRTOTime: t.TotalRTOTime,
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
