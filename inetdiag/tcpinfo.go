package inetdiag

import (
	"encoding/binary"
	"math"
	"time"
)

// Lengths of struct tcp_info as mainline kernels have sent it over time.
// A field exists in a decoded TCPInfo iff its end offset is <= Len.
const (
	TCPInfoLen2_6  = 104 // up to total_retrans
	TCPInfoLen3_15 = 120 // pacing_rate, max_pacing_rate
	TCPInfoLen4_1  = 136 // bytes_acked, bytes_received
	TCPInfoLen4_2  = 144 // segs_out, segs_in
	TCPInfoLen4_6  = 160 // notsent_bytes, min_rtt, data_segs_in/out
	TCPInfoLen4_9  = 168 // delivery_rate
	TCPInfoLen4_10 = 192 // busy_time, rwnd_limited, sndbuf_limited
	TCPInfoLen4_18 = 200 // delivered, delivered_ce
	TCPInfoLen4_19 = 224 // bytes_sent, bytes_retrans, dsack_dups, reord_seen
	TCPInfoLen5_4  = 232 // rcv_ooopack, snd_wnd
	TCPInfoLen6_2  = 240 // rcv_wnd, rehash
	TCPInfoLen6_7  = 248 // total_rto, total_rto_recoveries, total_rto_time
	TCPInfoLen6_18 = 280 // AccECN counters
)

// TCPInfo is struct tcp_info (include/uapi/linux/tcp.h), decoded from
// INET_DIAG_INFO. Times are converted to time.Duration from the kernel's
// microseconds or milliseconds; everything else keeps the kernel's units.
//
// Len is the number of bytes the kernel sent. Fields beyond it are zero and
// must not be read as facts: use Has or the Has* helpers.
type TCPInfo struct {
	Len int

	State       uint8
	CAState     uint8 // congestion-avoidance state: 0 Open, 1 Disorder, 2 CWR, 3 Recovery, 4 Loss
	Retransmits uint8 // icsk_retransmits: RTO firings of the current episode
	Probes      uint8 // icsk_probes_out: unanswered keepalive or zero-window probes
	Backoff     uint8 // icsk_backoff: exponential backoff of the RTO
	Options     uint8 // TCPI_OPT_* bits
	SndWscale   uint8
	RcvWscale   uint8
	// DeliveryRateAppLimited and FastopenClientFail are bitfields of byte 7.
	DeliveryRateAppLimited bool
	FastopenClientFail     uint8

	RTO     time.Duration // current retransmission timeout, already backed off
	ATO     time.Duration // delayed-ACK timeout
	SndMSS  uint32
	RcvMSS  uint32
	Unacked uint32 // packets in flight, not yet acknowledged
	Sacked  uint32
	Lost    uint32
	Retrans uint32 // retransmitted packets still in flight
	Fackets uint32

	LastDataSent time.Duration // since the last data transmission (retransmissions included)
	LastAckSent  time.Duration // never set by Linux
	LastDataRecv time.Duration
	LastAckRecv  time.Duration

	PMTU        uint32
	RcvSsthresh uint32
	RTT         time.Duration
	RTTVar      time.Duration
	SndSsthresh uint32
	SndCwnd     uint32
	AdvMSS      uint32
	Reordering  uint32
	RcvRTT      time.Duration
	RcvSpace    uint32
	// TotalRetrans counts every retransmitted segment of the connection,
	// tail-loss probes included.
	TotalRetrans uint32

	PacingRate    uint64 // bytes per second
	MaxPacingRate uint64
	BytesAcked    uint64
	BytesReceived uint64
	SegsOut       uint32
	SegsIn        uint32
	NotsentBytes  uint32
	MinRTT        time.Duration
	DataSegsIn    uint32
	DataSegsOut   uint32
	DeliveryRate  uint64
	BusyTime      time.Duration
	RwndLimited   time.Duration
	SndbufLimited time.Duration
	Delivered     uint32
	DeliveredCE   uint32
	BytesSent     uint64
	BytesRetrans  uint64
	DSACKDups     uint32
	ReordSeen     uint32
	RcvOOOPack    uint32
	SndWnd        uint32
	RcvWnd        uint32
	Rehash        uint32
	// TotalRTO counts RTO firings, TotalRTORecoveries the RTO episodes, and
	// TotalRTOTime the time spent in them, including the current one
	// (kernel 6.7+, see HasRTOStats).
	TotalRTO           uint16
	TotalRTORecoveries uint16
	TotalRTOTime       time.Duration

	ReceivedCE       uint32
	DeliveredE1Bytes uint32
	DeliveredE0Bytes uint32
	DeliveredCEBytes uint32
	ReceivedE1Bytes  uint32
	ReceivedE0Bytes  uint32
	ReceivedCEBytes  uint32
	AccECNFailMode   uint16
	AccECNOptSeen    uint16
}

// Has reports whether the kernel sent the field ending at byte offset end
// (one of the TCPInfoLen* constants, or a Field's Offset+Size).
func (t *TCPInfo) Has(end int) bool { return t.Len >= end }

// HasRTOStats reports whether TotalRTO, TotalRTORecoveries and TotalRTOTime
// were sent (kernel 6.7 and some stable series).
func (t *TCPInfo) HasRTOStats() bool { return t.Len >= TCPInfoLen6_7 }

// Option bits of TCPInfo.Options (TCPI_OPT_*).
const (
	OptTimestamps = 1
	OptSACK       = 2
	OptWscale     = 4
	OptECN        = 8
	OptECNSeen    = 16
	OptSYNData    = 32
	OptUSecTS     = 64
	OptTFOChild   = 128
)

func us(v uint32) time.Duration { return time.Duration(v) * time.Microsecond }
func ms(v uint32) time.Duration { return time.Duration(v) * time.Millisecond }

// maxDurationUS is the largest microsecond count a time.Duration holds.
const maxDurationUS = uint64(math.MaxInt64 / int64(time.Microsecond))

// us64 converts a 64-bit microsecond count, saturating instead of wrapping
// to a negative duration: no real connection is busy for 292 years, but a
// corrupt attribute must not decode to a negative time.
func us64(v uint64) time.Duration {
	if v > maxDurationUS {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(v) * time.Microsecond
}

// decodeTCPInfo decodes b into t. Any length is accepted: a shorter
// attribute (older kernels) leaves the later fields zero, a longer one (newer
// kernels) has its unknown tail ignored, and a field cut in the middle is
// dropped rather than half read. t.Len records len(b).
func decodeTCPInfo(t *TCPInfo, b []byte) {
	n := len(b)
	if n < TCPInfoLen6_18 {
		pad := padded(b)
		b = pad[:]
	}
	decodeFull(t, b)
	t.Len = n
}

// padded returns b's whole fields followed by zeros, for a b shorter than
// the decoders read: they read fixed offsets with one bounds check, and a
// field cut in the middle is dropped rather than half read.
func padded(b []byte) (pad [TCPInfoLen6_18]byte) {
	copy(pad[:], b[:fieldFloor(len(b))])
	return pad
}

// fieldFloor returns the largest field boundary <= n, so that no field is
// decoded from a partial byte range.
func fieldFloor(n int) int {
	best := 0
	for i := range tcpInfoFields {
		if end := tcpInfoFields[i].Offset + tcpInfoFields[i].Size; end <= n && end > best {
			best = end
		}
	}
	return best
}

// decodeFull decodes a buffer of at least TCPInfoLen6_18 bytes.
func decodeFull(t *TCPInfo, b []byte) {
	_ = b[TCPInfoLen6_18-1] // one bounds check for the whole function
	le := binary.NativeEndian
	u32 := func(off int) uint32 { return le.Uint32(b[off:]) }
	u64 := func(off int) uint64 { return le.Uint64(b[off:]) }
	*t = TCPInfo{
		State: b[0], CAState: b[1], Retransmits: b[2], Probes: b[3], Backoff: b[4], Options: b[5],
		SndWscale: b[6] & 0xf, RcvWscale: b[6] >> 4,
		DeliveryRateAppLimited: b[7]&1 != 0, FastopenClientFail: (b[7] >> 1) & 3,

		RTO: us(u32(8)), ATO: us(u32(12)), SndMSS: u32(16), RcvMSS: u32(20),
		Unacked: u32(24), Sacked: u32(28), Lost: u32(32), Retrans: u32(36), Fackets: u32(40),
		LastDataSent: ms(u32(44)), LastAckSent: ms(u32(48)), LastDataRecv: ms(u32(52)), LastAckRecv: ms(u32(56)),
		PMTU: u32(60), RcvSsthresh: u32(64), RTT: us(u32(68)), RTTVar: us(u32(72)),
		SndSsthresh: u32(76), SndCwnd: u32(80), AdvMSS: u32(84), Reordering: u32(88),
		RcvRTT: us(u32(92)), RcvSpace: u32(96), TotalRetrans: u32(100),

		PacingRate: u64(104), MaxPacingRate: u64(112), BytesAcked: u64(120), BytesReceived: u64(128),
		SegsOut: u32(136), SegsIn: u32(140),
		NotsentBytes: u32(144), MinRTT: us(u32(148)), DataSegsIn: u32(152), DataSegsOut: u32(156),
		DeliveryRate: u64(160),
		BusyTime:     us64(u64(168)), RwndLimited: us64(u64(176)), SndbufLimited: us64(u64(184)),
		Delivered: u32(192), DeliveredCE: u32(196),
		BytesSent: u64(200), BytesRetrans: u64(208), DSACKDups: u32(216), ReordSeen: u32(220),
		RcvOOOPack: u32(224), SndWnd: u32(228), RcvWnd: u32(232), Rehash: u32(236),
		TotalRTO: le.Uint16(b[240:]), TotalRTORecoveries: le.Uint16(b[242:]), TotalRTOTime: ms(u32(244)),

		ReceivedCE: u32(248), DeliveredE1Bytes: u32(252), DeliveredE0Bytes: u32(256), DeliveredCEBytes: u32(260),
		ReceivedE1Bytes: u32(264), ReceivedE0Bytes: u32(268), ReceivedCEBytes: u32(272),
		AccECNFailMode: le.Uint16(b[276:]), AccECNOptSeen: le.Uint16(b[278:]),
	}
}
