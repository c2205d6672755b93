package record

import (
	"math"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// Every numeric value of an inetdiag.Socket is a word of the codec: the
// socket is flattened into an array of uint64 (durations as their int64
// nanoseconds), compared word by word with its base, and the words that
// differ are stored, each in a column of its own. Columns keep one field's
// values of every socket together, so that zstd sees the runs (the same
// MSS, the same small counter step) that interleaving would hide. The
// values that are not numbers (addresses, the congestion control's name,
// the attribute set) are the extras.

// Kinds of words.
const (
	wordUint = iota // an unsigned integer (or a bool, 0 or 1)
	wordDur         // a time.Duration, stored in the kernel's unit for it
	wordInt         // a signed integer
)

// word describes one word: its kind, the unit of a duration, the word it
// is stored against (pair, or -1), and the largest value the field holds.
//
// A paired word stores the difference between its change and its pair's
// (bytes sent and bytes acked, data segments and segments, the "time
// since" clocks, which restart together when data flows): a burst of
// traffic then costs one value, not two. A pair is always an earlier word,
// decoded first.
type word struct {
	name string
	kind uint8
	unit time.Duration
	pair int
	max  uint64
}

// nWords is the number of words of a socket.
const nWords = 103

// words lists them in the order of flatten, which is the order of the mask
// bits: the values that move on a busy socket come first, so that their
// bits share bytes. TestFieldsCoverSocket fails when inetdiag grows a field
// that neither words nor extras hold.
var words = [nWords]word{
	// Traffic.
	{"Info.BytesAcked", wordUint, 0, -1, math.MaxUint64},
	{"Info.BytesReceived", wordUint, 0, -1, math.MaxUint64},
	{"Info.BytesSent", wordUint, 0, 0, math.MaxUint64},
	{"Info.SegsOut", wordUint, 0, -1, math.MaxUint32},
	{"Info.SegsIn", wordUint, 0, -1, math.MaxUint32},
	{"Info.DataSegsIn", wordUint, 0, 4, math.MaxUint32},
	{"Info.DataSegsOut", wordUint, 0, 3, math.MaxUint32},
	{"Info.Delivered", wordUint, 0, 6, math.MaxUint32},
	{"Info.LastDataSent", wordDur, time.Millisecond, -1, 0},
	{"Info.LastDataRecv", wordDur, time.Millisecond, 8, 0},
	{"Info.LastAckRecv", wordDur, time.Millisecond, 9, 0},
	{"Info.RTT", wordDur, time.Microsecond, -1, 0},
	{"Info.MinRTT", wordDur, time.Microsecond, 11, 0},
	{"Info.RTTVar", wordDur, time.Microsecond, -1, 0},
	{"Info.RcvRTT", wordDur, time.Microsecond, -1, 0},
	{"Info.RcvSpace", wordUint, 0, -1, math.MaxUint32},
	{"Info.PacingRate", wordUint, 0, -1, math.MaxUint64},
	{"Info.DeliveryRate", wordUint, 0, -1, math.MaxUint64},
	{"Info.BusyTime", wordDur, time.Microsecond, -1, 0},
	{"Info.RwndLimited", wordDur, time.Microsecond, -1, 0},
	{"Info.SndbufLimited", wordDur, time.Microsecond, -1, 0},
	{"Info.NotsentBytes", wordUint, 0, -1, math.MaxUint32},
	{"Info.RcvSsthresh", wordUint, 0, -1, math.MaxUint32},
	{"Info.SndWnd", wordUint, 0, -1, math.MaxUint32},
	{"Info.RcvWnd", wordUint, 0, -1, math.MaxUint32},
	{"RecvQ", wordUint, 0, -1, math.MaxUint32},
	{"SendQ", wordUint, 0, -1, math.MaxUint32},
	{"Info.Unacked", wordUint, 0, -1, math.MaxUint32},
	{"Info.SndCwnd", wordUint, 0, -1, math.MaxUint32},
	{"Mem.RMem", wordUint, 0, -1, math.MaxUint32},
	{"Mem.WMem", wordUint, 0, -1, math.MaxUint32},
	{"Mem.FMem", wordUint, 0, -1, math.MaxUint32},
	{"Mem.TMem", wordUint, 0, -1, math.MaxUint32},
	{"SKMem.RMemAlloc", wordUint, 0, -1, math.MaxUint32},
	{"SKMem.WMemAlloc", wordUint, 0, -1, math.MaxUint32},
	{"SKMem.FwdAlloc", wordUint, 0, -1, math.MaxUint32},
	{"SKMem.WMemQueued", wordUint, 0, -1, math.MaxUint32},
	{"SKMem.RcvBuf", wordUint, 0, -1, math.MaxUint32},
	{"SKMem.SndBuf", wordUint, 0, -1, math.MaxUint32},
	{"SKMem.OptMem", wordUint, 0, -1, math.MaxUint32},
	{"SKMem.Backlog", wordUint, 0, -1, math.MaxUint32},
	{"SKMem.Drops", wordUint, 0, -1, math.MaxUint32},
	// Timers and trouble.
	{"Expires", wordDur, time.Millisecond, -1, 0},
	{"Timer", wordUint, 0, -1, math.MaxUint8},
	{"Retrans", wordUint, 0, -1, math.MaxUint8},
	{"State", wordUint, 0, -1, math.MaxUint8},
	{"Info.State", wordUint, 0, -1, math.MaxUint8},
	{"Info.CAState", wordUint, 0, -1, math.MaxUint8},
	{"Info.Retransmits", wordUint, 0, -1, math.MaxUint8},
	{"Info.Probes", wordUint, 0, -1, math.MaxUint8},
	{"Info.Backoff", wordUint, 0, -1, math.MaxUint8},
	{"Info.RTO", wordDur, time.Microsecond, -1, 0},
	{"Info.ATO", wordDur, time.Microsecond, -1, 0},
	{"Info.Sacked", wordUint, 0, -1, math.MaxUint32},
	{"Info.Lost", wordUint, 0, -1, math.MaxUint32},
	{"Info.Retrans", wordUint, 0, -1, math.MaxUint32},
	{"Info.Fackets", wordUint, 0, -1, math.MaxUint32},
	{"Info.TotalRetrans", wordUint, 0, -1, math.MaxUint32},
	{"Info.BytesRetrans", wordUint, 0, -1, math.MaxUint64},
	{"Info.TotalRTO", wordUint, 0, -1, math.MaxUint16},
	{"Info.TotalRTORecoveries", wordUint, 0, -1, math.MaxUint16},
	{"Info.TotalRTOTime", wordDur, time.Millisecond, -1, 0},
	{"Info.SndSsthresh", wordUint, 0, -1, math.MaxUint32},
	{"Info.Reordering", wordUint, 0, -1, math.MaxUint32},
	{"Info.DSACKDups", wordUint, 0, -1, math.MaxUint32},
	{"Info.ReordSeen", wordUint, 0, -1, math.MaxUint32},
	{"Info.RcvOOOPack", wordUint, 0, -1, math.MaxUint32},
	{"Info.DeliveredCE", wordUint, 0, -1, math.MaxUint32},
	{"Info.MaxPacingRate", wordUint, 0, -1, math.MaxUint64},
	{"Info.Rehash", wordUint, 0, -1, math.MaxUint32},
	{"Info.LastAckSent", wordDur, time.Millisecond, -1, 0},
	{"Shutdown", wordUint, 0, -1, math.MaxUint8},
	// Identity and settings: fixed for the life of a socket, mostly.
	{"Family", wordUint, 0, -1, math.MaxUint8},
	{"ID.Cookie", wordUint, 0, -1, math.MaxUint64},
	{"ID.Interface", wordUint, 0, -1, math.MaxUint32},
	{"UID", wordUint, 0, -1, math.MaxUint32},
	{"Inode", wordUint, 0, -1, math.MaxUint32},
	{"Info.Len", wordInt, 0, -1, 0},
	{"Info.Options", wordUint, 0, -1, math.MaxUint8},
	{"Info.SndWscale", wordUint, 0, -1, math.MaxUint8},
	{"Info.RcvWscale", wordUint, 0, -1, math.MaxUint8},
	{"Info.DeliveryRateAppLimited", wordUint, 0, -1, 1},
	{"Info.FastopenClientFail", wordUint, 0, -1, math.MaxUint8},
	{"Info.SndMSS", wordUint, 0, -1, math.MaxUint32},
	{"Info.RcvMSS", wordUint, 0, -1, math.MaxUint32},
	{"Info.PMTU", wordUint, 0, -1, math.MaxUint32},
	{"Info.AdvMSS", wordUint, 0, -1, math.MaxUint32},
	{"TOS", wordUint, 0, -1, math.MaxUint8},
	{"TClass", wordUint, 0, -1, math.MaxUint8},
	{"V6Only", wordUint, 0, -1, 1},
	{"Mark", wordUint, 0, -1, math.MaxUint32},
	{"ClassID", wordUint, 0, -1, math.MaxUint32},
	{"CgroupID", wordUint, 0, -1, math.MaxUint64},
	{"SockOpt", wordUint, 0, -1, math.MaxUint16},
	{"Info.ReceivedCE", wordUint, 0, -1, math.MaxUint32},
	{"Info.DeliveredE1Bytes", wordUint, 0, -1, math.MaxUint32},
	{"Info.DeliveredE0Bytes", wordUint, 0, -1, math.MaxUint32},
	{"Info.DeliveredCEBytes", wordUint, 0, -1, math.MaxUint32},
	{"Info.ReceivedE1Bytes", wordUint, 0, -1, math.MaxUint32},
	{"Info.ReceivedE0Bytes", wordUint, 0, -1, math.MaxUint32},
	{"Info.ReceivedCEBytes", wordUint, 0, -1, math.MaxUint32},
	{"Info.AccECNFailMode", wordUint, 0, -1, math.MaxUint16},
	{"Info.AccECNOptSeen", wordUint, 0, -1, math.MaxUint16},
}

// flatten writes s's words into w.
func flatten(s *rsock, w *[nWords]uint64) {
	w[0] = s.f.Info.BytesAcked
	w[1] = s.f.Info.BytesReceived
	w[2] = s.f.Info.BytesSent
	w[3] = uint64(s.f.Info.SegsOut)
	w[4] = uint64(s.f.Info.SegsIn)
	w[5] = uint64(s.f.Info.DataSegsIn)
	w[6] = uint64(s.f.Info.DataSegsOut)
	w[7] = uint64(s.f.Info.Delivered)
	w[8] = uint64(s.f.Info.LastDataSent)
	w[9] = uint64(s.f.Info.LastDataRecv)
	w[10] = uint64(s.f.Info.LastAckRecv)
	w[11] = uint64(s.f.Info.RTT)
	w[12] = uint64(s.f.Info.MinRTT)
	w[13] = uint64(s.f.Info.RTTVar)
	w[14] = uint64(s.f.Info.RcvRTT)
	w[15] = uint64(s.f.Info.RcvSpace)
	w[16] = s.f.Info.PacingRate
	w[17] = s.f.Info.DeliveryRate
	w[18] = uint64(s.f.Info.BusyTime)
	w[19] = uint64(s.f.Info.RwndLimited)
	w[20] = uint64(s.f.Info.SndbufLimited)
	w[21] = uint64(s.f.Info.NotsentBytes)
	w[22] = uint64(s.f.Info.RcvSsthresh)
	w[23] = uint64(s.f.Info.SndWnd)
	w[24] = uint64(s.f.Info.RcvWnd)
	w[25] = uint64(s.s.RecvQ)
	w[26] = uint64(s.s.SendQ)
	w[27] = uint64(s.f.Info.Unacked)
	w[28] = uint64(s.f.Info.SndCwnd)
	w[29] = uint64(s.f.Mem.RMem)
	w[30] = uint64(s.f.Mem.WMem)
	w[31] = uint64(s.f.Mem.FMem)
	w[32] = uint64(s.f.Mem.TMem)
	w[33] = uint64(s.f.SKMem.RMemAlloc)
	w[34] = uint64(s.f.SKMem.WMemAlloc)
	w[35] = uint64(s.f.SKMem.FwdAlloc)
	w[36] = uint64(s.f.SKMem.WMemQueued)
	w[37] = uint64(s.f.SKMem.RcvBuf)
	w[38] = uint64(s.f.SKMem.SndBuf)
	w[39] = uint64(s.f.SKMem.OptMem)
	w[40] = uint64(s.f.SKMem.Backlog)
	w[41] = uint64(s.f.SKMem.Drops)
	w[42] = uint64(s.s.Expires)
	w[43] = uint64(s.s.Timer)
	w[44] = uint64(s.s.Retrans)
	w[45] = uint64(s.s.State)
	w[46] = uint64(s.f.Info.State)
	w[47] = uint64(s.f.Info.CAState)
	w[48] = uint64(s.f.Info.Retransmits)
	w[49] = uint64(s.f.Info.Probes)
	w[50] = uint64(s.f.Info.Backoff)
	w[51] = uint64(s.f.Info.RTO)
	w[52] = uint64(s.f.Info.ATO)
	w[53] = uint64(s.f.Info.Sacked)
	w[54] = uint64(s.f.Info.Lost)
	w[55] = uint64(s.f.Info.Retrans)
	w[56] = uint64(s.f.Info.Fackets)
	w[57] = uint64(s.f.Info.TotalRetrans)
	w[58] = s.f.Info.BytesRetrans
	w[59] = uint64(s.f.Info.TotalRTO)
	w[60] = uint64(s.f.Info.TotalRTORecoveries)
	w[61] = uint64(s.f.Info.TotalRTOTime)
	w[62] = uint64(s.f.Info.SndSsthresh)
	w[63] = uint64(s.f.Info.Reordering)
	w[64] = uint64(s.f.Info.DSACKDups)
	w[65] = uint64(s.f.Info.ReordSeen)
	w[66] = uint64(s.f.Info.RcvOOOPack)
	w[67] = uint64(s.f.Info.DeliveredCE)
	w[68] = s.f.Info.MaxPacingRate
	w[69] = uint64(s.f.Info.Rehash)
	w[70] = uint64(s.f.Info.LastAckSent)
	w[71] = uint64(s.s.Shutdown)
	w[72] = uint64(s.s.Family)
	w[73] = s.s.ID.Cookie
	w[74] = uint64(s.s.ID.Interface)
	w[75] = uint64(s.s.UID)
	w[76] = uint64(s.s.Inode)
	w[77] = uint64(int64(s.f.Info.Len))
	w[78] = uint64(s.f.Info.Options)
	w[79] = uint64(s.f.Info.SndWscale)
	w[80] = uint64(s.f.Info.RcvWscale)
	w[81] = b2u(s.f.Info.DeliveryRateAppLimited)
	w[82] = uint64(s.f.Info.FastopenClientFail)
	w[83] = uint64(s.f.Info.SndMSS)
	w[84] = uint64(s.f.Info.RcvMSS)
	w[85] = uint64(s.f.Info.PMTU)
	w[86] = uint64(s.f.Info.AdvMSS)
	w[87] = uint64(s.f.TOS)
	w[88] = uint64(s.f.TClass)
	w[89] = b2u(s.f.V6Only)
	w[90] = uint64(s.f.Mark)
	w[91] = uint64(s.f.ClassID)
	w[92] = s.f.CgroupID
	w[93] = uint64(s.f.SockOpt)
	w[94] = uint64(s.f.Info.ReceivedCE)
	w[95] = uint64(s.f.Info.DeliveredE1Bytes)
	w[96] = uint64(s.f.Info.DeliveredE0Bytes)
	w[97] = uint64(s.f.Info.DeliveredCEBytes)
	w[98] = uint64(s.f.Info.ReceivedE1Bytes)
	w[99] = uint64(s.f.Info.ReceivedE0Bytes)
	w[100] = uint64(s.f.Info.ReceivedCEBytes)
	w[101] = uint64(s.f.Info.AccECNFailMode)
	w[102] = uint64(s.f.Info.AccECNOptSeen)
}

// unflatten sets s's numeric fields from w, whose words checkWords has
// accepted.
func unflatten(w *[nWords]uint64, s *rsock) {
	s.f.Info.BytesAcked = w[0]
	s.f.Info.BytesReceived = w[1]
	s.f.Info.BytesSent = w[2]
	s.f.Info.SegsOut = uint32(w[3])
	s.f.Info.SegsIn = uint32(w[4])
	s.f.Info.DataSegsIn = uint32(w[5])
	s.f.Info.DataSegsOut = uint32(w[6])
	s.f.Info.Delivered = uint32(w[7])
	s.f.Info.LastDataSent = time.Duration(w[8])
	s.f.Info.LastDataRecv = time.Duration(w[9])
	s.f.Info.LastAckRecv = time.Duration(w[10])
	s.f.Info.RTT = time.Duration(w[11])
	s.f.Info.MinRTT = time.Duration(w[12])
	s.f.Info.RTTVar = time.Duration(w[13])
	s.f.Info.RcvRTT = time.Duration(w[14])
	s.f.Info.RcvSpace = uint32(w[15])
	s.f.Info.PacingRate = w[16]
	s.f.Info.DeliveryRate = w[17]
	s.f.Info.BusyTime = time.Duration(w[18])
	s.f.Info.RwndLimited = time.Duration(w[19])
	s.f.Info.SndbufLimited = time.Duration(w[20])
	s.f.Info.NotsentBytes = uint32(w[21])
	s.f.Info.RcvSsthresh = uint32(w[22])
	s.f.Info.SndWnd = uint32(w[23])
	s.f.Info.RcvWnd = uint32(w[24])
	s.s.RecvQ = uint32(w[25])
	s.s.SendQ = uint32(w[26])
	s.f.Info.Unacked = uint32(w[27])
	s.f.Info.SndCwnd = uint32(w[28])
	s.f.Mem.RMem = uint32(w[29])
	s.f.Mem.WMem = uint32(w[30])
	s.f.Mem.FMem = uint32(w[31])
	s.f.Mem.TMem = uint32(w[32])
	s.f.SKMem.RMemAlloc = uint32(w[33])
	s.f.SKMem.WMemAlloc = uint32(w[34])
	s.f.SKMem.FwdAlloc = uint32(w[35])
	s.f.SKMem.WMemQueued = uint32(w[36])
	s.f.SKMem.RcvBuf = uint32(w[37])
	s.f.SKMem.SndBuf = uint32(w[38])
	s.f.SKMem.OptMem = uint32(w[39])
	s.f.SKMem.Backlog = uint32(w[40])
	s.f.SKMem.Drops = uint32(w[41])
	s.s.Expires = time.Duration(w[42])
	s.s.Timer = inetdiag.Timer(w[43])
	s.s.Retrans = uint8(w[44])
	s.s.State = inetdiag.State(w[45])
	s.f.Info.State = uint8(w[46])
	s.f.Info.CAState = uint8(w[47])
	s.f.Info.Retransmits = uint8(w[48])
	s.f.Info.Probes = uint8(w[49])
	s.f.Info.Backoff = uint8(w[50])
	s.f.Info.RTO = time.Duration(w[51])
	s.f.Info.ATO = time.Duration(w[52])
	s.f.Info.Sacked = uint32(w[53])
	s.f.Info.Lost = uint32(w[54])
	s.f.Info.Retrans = uint32(w[55])
	s.f.Info.Fackets = uint32(w[56])
	s.f.Info.TotalRetrans = uint32(w[57])
	s.f.Info.BytesRetrans = w[58]
	s.f.Info.TotalRTO = uint16(w[59])
	s.f.Info.TotalRTORecoveries = uint16(w[60])
	s.f.Info.TotalRTOTime = time.Duration(w[61])
	s.f.Info.SndSsthresh = uint32(w[62])
	s.f.Info.Reordering = uint32(w[63])
	s.f.Info.DSACKDups = uint32(w[64])
	s.f.Info.ReordSeen = uint32(w[65])
	s.f.Info.RcvOOOPack = uint32(w[66])
	s.f.Info.DeliveredCE = uint32(w[67])
	s.f.Info.MaxPacingRate = w[68]
	s.f.Info.Rehash = uint32(w[69])
	s.f.Info.LastAckSent = time.Duration(w[70])
	s.s.Shutdown = uint8(w[71])
	s.s.Family = inetdiag.Family(w[72])
	s.s.ID.Cookie = w[73]
	s.s.ID.Interface = uint32(w[74])
	s.s.UID = uint32(w[75])
	s.s.Inode = uint32(w[76])
	s.f.Info.Len = int(int64(w[77]))
	s.f.Info.Options = uint8(w[78])
	s.f.Info.SndWscale = uint8(w[79])
	s.f.Info.RcvWscale = uint8(w[80])
	s.f.Info.DeliveryRateAppLimited = w[81] != 0
	s.f.Info.FastopenClientFail = uint8(w[82])
	s.f.Info.SndMSS = uint32(w[83])
	s.f.Info.RcvMSS = uint32(w[84])
	s.f.Info.PMTU = uint32(w[85])
	s.f.Info.AdvMSS = uint32(w[86])
	s.f.TOS = uint8(w[87])
	s.f.TClass = uint8(w[88])
	s.f.V6Only = w[89] != 0
	s.f.Mark = uint32(w[90])
	s.f.ClassID = uint32(w[91])
	s.f.CgroupID = w[92]
	s.f.SockOpt = uint16(w[93])
	s.f.Info.ReceivedCE = uint32(w[94])
	s.f.Info.DeliveredE1Bytes = uint32(w[95])
	s.f.Info.DeliveredE0Bytes = uint32(w[96])
	s.f.Info.DeliveredCEBytes = uint32(w[97])
	s.f.Info.ReceivedE1Bytes = uint32(w[98])
	s.f.Info.ReceivedE0Bytes = uint32(w[99])
	s.f.Info.ReceivedCEBytes = uint32(w[100])
	s.f.Info.AccECNFailMode = uint16(w[101])
	s.f.Info.AccECNOptSeen = uint16(w[102])
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
