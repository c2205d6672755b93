package inetdiag

import "time"

// Unit says how to read a TCPInfoField's raw value.
type Unit uint8

// Units of tcp_info fields, as the kernel sends them.
const (
	UnitCount        Unit = iota // a plain number
	UnitMicroseconds             // µs
	UnitMilliseconds             // ms
	UnitBytes                    // bytes
	UnitBytesPerSec              // bytes per second
	UnitPackets                  // segments
	UnitFlags                    // a bit set or enum
)

// TCPInfoField describes one field of struct tcp_info: where it lives, its
// unit and the kernel that introduced it. The table lets a detail view list
// every field the running kernel sent, and tells apart "absent" from "zero".
type TCPInfoField struct {
	Name   string // kernel name without the tcpi_ prefix
	Offset int    // byte offset in struct tcp_info
	Size   int    // bytes (bitfields share their byte)
	Unit   Unit
	Since  string // mainline version that added it
	get    func(*TCPInfo) uint64
}

// Value returns the field's value in the kernel's own unit, and false if
// the kernel did not send it.
func (f TCPInfoField) Value(t *TCPInfo) (uint64, bool) {
	if !t.Has(f.Offset + f.Size) {
		return 0, false
	}
	return f.get(t), true
}

// TCPInfoFields returns the fields of struct tcp_info known to this
// package, in offset order.
func TCPInfoFields() []TCPInfoField { return append([]TCPInfoField(nil), tcpInfoFields...) }

func durUS(d time.Duration) uint64 { return uint64(d / time.Microsecond) }
func durMS(d time.Duration) uint64 { return uint64(d / time.Millisecond) }
func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

var tcpInfoFields = []TCPInfoField{
	{"state", 0, 1, UnitFlags, "2.6", func(t *TCPInfo) uint64 { return uint64(t.State) }},
	{"ca_state", 1, 1, UnitFlags, "2.6", func(t *TCPInfo) uint64 { return uint64(t.CAState) }},
	{"retransmits", 2, 1, UnitCount, "2.6", func(t *TCPInfo) uint64 { return uint64(t.Retransmits) }},
	{"probes", 3, 1, UnitCount, "2.6", func(t *TCPInfo) uint64 { return uint64(t.Probes) }},
	{"backoff", 4, 1, UnitCount, "2.6", func(t *TCPInfo) uint64 { return uint64(t.Backoff) }},
	{"options", 5, 1, UnitFlags, "2.6", func(t *TCPInfo) uint64 { return uint64(t.Options) }},
	{"snd_wscale", 6, 1, UnitCount, "2.6", func(t *TCPInfo) uint64 { return uint64(t.SndWscale) }},
	{"rcv_wscale", 6, 1, UnitCount, "2.6", func(t *TCPInfo) uint64 { return uint64(t.RcvWscale) }},
	{"delivery_rate_app_limited", 7, 1, UnitFlags, "4.9", func(t *TCPInfo) uint64 { return b2u(t.DeliveryRateAppLimited) }},
	{"fastopen_client_fail", 7, 1, UnitFlags, "5.5", func(t *TCPInfo) uint64 { return uint64(t.FastopenClientFail) }},
	{"rto", 8, 4, UnitMicroseconds, "2.6", func(t *TCPInfo) uint64 { return durUS(t.RTO) }},
	{"ato", 12, 4, UnitMicroseconds, "2.6", func(t *TCPInfo) uint64 { return durUS(t.ATO) }},
	{"snd_mss", 16, 4, UnitBytes, "2.6", func(t *TCPInfo) uint64 { return uint64(t.SndMSS) }},
	{"rcv_mss", 20, 4, UnitBytes, "2.6", func(t *TCPInfo) uint64 { return uint64(t.RcvMSS) }},
	{"unacked", 24, 4, UnitPackets, "2.6", func(t *TCPInfo) uint64 { return uint64(t.Unacked) }},
	{"sacked", 28, 4, UnitPackets, "2.6", func(t *TCPInfo) uint64 { return uint64(t.Sacked) }},
	{"lost", 32, 4, UnitPackets, "2.6", func(t *TCPInfo) uint64 { return uint64(t.Lost) }},
	{"retrans", 36, 4, UnitPackets, "2.6", func(t *TCPInfo) uint64 { return uint64(t.Retrans) }},
	{"fackets", 40, 4, UnitPackets, "2.6", func(t *TCPInfo) uint64 { return uint64(t.Fackets) }},
	{"last_data_sent", 44, 4, UnitMilliseconds, "2.6", func(t *TCPInfo) uint64 { return durMS(t.LastDataSent) }},
	{"last_ack_sent", 48, 4, UnitMilliseconds, "2.6", func(t *TCPInfo) uint64 { return durMS(t.LastAckSent) }},
	{"last_data_recv", 52, 4, UnitMilliseconds, "2.6", func(t *TCPInfo) uint64 { return durMS(t.LastDataRecv) }},
	{"last_ack_recv", 56, 4, UnitMilliseconds, "2.6", func(t *TCPInfo) uint64 { return durMS(t.LastAckRecv) }},
	{"pmtu", 60, 4, UnitBytes, "2.6", func(t *TCPInfo) uint64 { return uint64(t.PMTU) }},
	{"rcv_ssthresh", 64, 4, UnitBytes, "2.6", func(t *TCPInfo) uint64 { return uint64(t.RcvSsthresh) }},
	{"rtt", 68, 4, UnitMicroseconds, "2.6", func(t *TCPInfo) uint64 { return durUS(t.RTT) }},
	{"rttvar", 72, 4, UnitMicroseconds, "2.6", func(t *TCPInfo) uint64 { return durUS(t.RTTVar) }},
	{"snd_ssthresh", 76, 4, UnitPackets, "2.6", func(t *TCPInfo) uint64 { return uint64(t.SndSsthresh) }},
	{"snd_cwnd", 80, 4, UnitPackets, "2.6", func(t *TCPInfo) uint64 { return uint64(t.SndCwnd) }},
	{"advmss", 84, 4, UnitBytes, "2.6", func(t *TCPInfo) uint64 { return uint64(t.AdvMSS) }},
	{"reordering", 88, 4, UnitPackets, "2.6", func(t *TCPInfo) uint64 { return uint64(t.Reordering) }},
	{"rcv_rtt", 92, 4, UnitMicroseconds, "2.6", func(t *TCPInfo) uint64 { return durUS(t.RcvRTT) }},
	{"rcv_space", 96, 4, UnitBytes, "2.6", func(t *TCPInfo) uint64 { return uint64(t.RcvSpace) }},
	{"total_retrans", 100, 4, UnitPackets, "2.6", func(t *TCPInfo) uint64 { return uint64(t.TotalRetrans) }},
	{"pacing_rate", 104, 8, UnitBytesPerSec, "3.15", func(t *TCPInfo) uint64 { return t.PacingRate }},
	{"max_pacing_rate", 112, 8, UnitBytesPerSec, "3.15", func(t *TCPInfo) uint64 { return t.MaxPacingRate }},
	{"bytes_acked", 120, 8, UnitBytes, "4.1", func(t *TCPInfo) uint64 { return t.BytesAcked }},
	{"bytes_received", 128, 8, UnitBytes, "4.1", func(t *TCPInfo) uint64 { return t.BytesReceived }},
	{"segs_out", 136, 4, UnitPackets, "4.2", func(t *TCPInfo) uint64 { return uint64(t.SegsOut) }},
	{"segs_in", 140, 4, UnitPackets, "4.2", func(t *TCPInfo) uint64 { return uint64(t.SegsIn) }},
	{"notsent_bytes", 144, 4, UnitBytes, "4.6", func(t *TCPInfo) uint64 { return uint64(t.NotsentBytes) }},
	{"min_rtt", 148, 4, UnitMicroseconds, "4.6", func(t *TCPInfo) uint64 { return durUS(t.MinRTT) }},
	{"data_segs_in", 152, 4, UnitPackets, "4.6", func(t *TCPInfo) uint64 { return uint64(t.DataSegsIn) }},
	{"data_segs_out", 156, 4, UnitPackets, "4.6", func(t *TCPInfo) uint64 { return uint64(t.DataSegsOut) }},
	{"delivery_rate", 160, 8, UnitBytesPerSec, "4.9", func(t *TCPInfo) uint64 { return t.DeliveryRate }},
	{"busy_time", 168, 8, UnitMicroseconds, "4.10", func(t *TCPInfo) uint64 { return durUS(t.BusyTime) }},
	{"rwnd_limited", 176, 8, UnitMicroseconds, "4.10", func(t *TCPInfo) uint64 { return durUS(t.RwndLimited) }},
	{"sndbuf_limited", 184, 8, UnitMicroseconds, "4.10", func(t *TCPInfo) uint64 { return durUS(t.SndbufLimited) }},
	{"delivered", 192, 4, UnitPackets, "4.18", func(t *TCPInfo) uint64 { return uint64(t.Delivered) }},
	{"delivered_ce", 196, 4, UnitPackets, "4.18", func(t *TCPInfo) uint64 { return uint64(t.DeliveredCE) }},
	{"bytes_sent", 200, 8, UnitBytes, "4.19", func(t *TCPInfo) uint64 { return t.BytesSent }},
	{"bytes_retrans", 208, 8, UnitBytes, "4.19", func(t *TCPInfo) uint64 { return t.BytesRetrans }},
	{"dsack_dups", 216, 4, UnitCount, "4.19", func(t *TCPInfo) uint64 { return uint64(t.DSACKDups) }},
	{"reord_seen", 220, 4, UnitCount, "4.19", func(t *TCPInfo) uint64 { return uint64(t.ReordSeen) }},
	{"rcv_ooopack", 224, 4, UnitPackets, "5.4", func(t *TCPInfo) uint64 { return uint64(t.RcvOOOPack) }},
	{"snd_wnd", 228, 4, UnitBytes, "5.4", func(t *TCPInfo) uint64 { return uint64(t.SndWnd) }},
	{"rcv_wnd", 232, 4, UnitBytes, "6.2", func(t *TCPInfo) uint64 { return uint64(t.RcvWnd) }},
	{"rehash", 236, 4, UnitCount, "6.2", func(t *TCPInfo) uint64 { return uint64(t.Rehash) }},
	{"total_rto", 240, 2, UnitCount, "6.7", func(t *TCPInfo) uint64 { return uint64(t.TotalRTO) }},
	{"total_rto_recoveries", 242, 2, UnitCount, "6.7", func(t *TCPInfo) uint64 { return uint64(t.TotalRTORecoveries) }},
	{"total_rto_time", 244, 4, UnitMilliseconds, "6.7", func(t *TCPInfo) uint64 { return durMS(t.TotalRTOTime) }},
	{"received_ce", 248, 4, UnitPackets, "6.18", func(t *TCPInfo) uint64 { return uint64(t.ReceivedCE) }},
	{"delivered_e1_bytes", 252, 4, UnitBytes, "6.18", func(t *TCPInfo) uint64 { return uint64(t.DeliveredE1Bytes) }},
	{"delivered_e0_bytes", 256, 4, UnitBytes, "6.18", func(t *TCPInfo) uint64 { return uint64(t.DeliveredE0Bytes) }},
	{"delivered_ce_bytes", 260, 4, UnitBytes, "6.18", func(t *TCPInfo) uint64 { return uint64(t.DeliveredCEBytes) }},
	{"received_e1_bytes", 264, 4, UnitBytes, "6.18", func(t *TCPInfo) uint64 { return uint64(t.ReceivedE1Bytes) }},
	{"received_e0_bytes", 268, 4, UnitBytes, "6.18", func(t *TCPInfo) uint64 { return uint64(t.ReceivedE0Bytes) }},
	{"received_ce_bytes", 272, 4, UnitBytes, "6.18", func(t *TCPInfo) uint64 { return uint64(t.ReceivedCEBytes) }},
	{"accecn_fail_mode", 276, 2, UnitFlags, "6.18", func(t *TCPInfo) uint64 { return uint64(t.AccECNFailMode) }},
	{"accecn_opt_seen", 278, 2, UnitFlags, "6.18", func(t *TCPInfo) uint64 { return uint64(t.AccECNOptSeen) }},
}
