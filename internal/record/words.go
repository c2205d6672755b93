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
func flatten(s *inetdiag.Socket, w *[nWords]uint64) {
	w[0] = s.Info.BytesAcked
	w[1] = s.Info.BytesReceived
	w[2] = s.Info.BytesSent
	w[3] = uint64(s.Info.SegsOut)
	w[4] = uint64(s.Info.SegsIn)
	w[5] = uint64(s.Info.DataSegsIn)
	w[6] = uint64(s.Info.DataSegsOut)
	w[7] = uint64(s.Info.Delivered)
	w[8] = uint64(s.Info.LastDataSent)
	w[9] = uint64(s.Info.LastDataRecv)
	w[10] = uint64(s.Info.LastAckRecv)
	w[11] = uint64(s.Info.RTT)
	w[12] = uint64(s.Info.MinRTT)
	w[13] = uint64(s.Info.RTTVar)
	w[14] = uint64(s.Info.RcvRTT)
	w[15] = uint64(s.Info.RcvSpace)
	w[16] = s.Info.PacingRate
	w[17] = s.Info.DeliveryRate
	w[18] = uint64(s.Info.BusyTime)
	w[19] = uint64(s.Info.RwndLimited)
	w[20] = uint64(s.Info.SndbufLimited)
	w[21] = uint64(s.Info.NotsentBytes)
	w[22] = uint64(s.Info.RcvSsthresh)
	w[23] = uint64(s.Info.SndWnd)
	w[24] = uint64(s.Info.RcvWnd)
	w[25] = uint64(s.RecvQ)
	w[26] = uint64(s.SendQ)
	w[27] = uint64(s.Info.Unacked)
	w[28] = uint64(s.Info.SndCwnd)
	w[29] = uint64(s.Mem.RMem)
	w[30] = uint64(s.Mem.WMem)
	w[31] = uint64(s.Mem.FMem)
	w[32] = uint64(s.Mem.TMem)
	w[33] = uint64(s.SKMem.RMemAlloc)
	w[34] = uint64(s.SKMem.WMemAlloc)
	w[35] = uint64(s.SKMem.FwdAlloc)
	w[36] = uint64(s.SKMem.WMemQueued)
	w[37] = uint64(s.SKMem.RcvBuf)
	w[38] = uint64(s.SKMem.SndBuf)
	w[39] = uint64(s.SKMem.OptMem)
	w[40] = uint64(s.SKMem.Backlog)
	w[41] = uint64(s.SKMem.Drops)
	w[42] = uint64(s.Expires)
	w[43] = uint64(s.Timer)
	w[44] = uint64(s.Retrans)
	w[45] = uint64(s.State)
	w[46] = uint64(s.Info.State)
	w[47] = uint64(s.Info.CAState)
	w[48] = uint64(s.Info.Retransmits)
	w[49] = uint64(s.Info.Probes)
	w[50] = uint64(s.Info.Backoff)
	w[51] = uint64(s.Info.RTO)
	w[52] = uint64(s.Info.ATO)
	w[53] = uint64(s.Info.Sacked)
	w[54] = uint64(s.Info.Lost)
	w[55] = uint64(s.Info.Retrans)
	w[56] = uint64(s.Info.Fackets)
	w[57] = uint64(s.Info.TotalRetrans)
	w[58] = s.Info.BytesRetrans
	w[59] = uint64(s.Info.TotalRTO)
	w[60] = uint64(s.Info.TotalRTORecoveries)
	w[61] = uint64(s.Info.TotalRTOTime)
	w[62] = uint64(s.Info.SndSsthresh)
	w[63] = uint64(s.Info.Reordering)
	w[64] = uint64(s.Info.DSACKDups)
	w[65] = uint64(s.Info.ReordSeen)
	w[66] = uint64(s.Info.RcvOOOPack)
	w[67] = uint64(s.Info.DeliveredCE)
	w[68] = s.Info.MaxPacingRate
	w[69] = uint64(s.Info.Rehash)
	w[70] = uint64(s.Info.LastAckSent)
	w[71] = uint64(s.Shutdown)
	w[72] = uint64(s.Family)
	w[73] = s.ID.Cookie
	w[74] = uint64(s.ID.Interface)
	w[75] = uint64(s.UID)
	w[76] = uint64(s.Inode)
	w[77] = uint64(int64(s.Info.Len))
	w[78] = uint64(s.Info.Options)
	w[79] = uint64(s.Info.SndWscale)
	w[80] = uint64(s.Info.RcvWscale)
	w[81] = b2u(s.Info.DeliveryRateAppLimited)
	w[82] = uint64(s.Info.FastopenClientFail)
	w[83] = uint64(s.Info.SndMSS)
	w[84] = uint64(s.Info.RcvMSS)
	w[85] = uint64(s.Info.PMTU)
	w[86] = uint64(s.Info.AdvMSS)
	w[87] = uint64(s.TOS)
	w[88] = uint64(s.TClass)
	w[89] = b2u(s.V6Only)
	w[90] = uint64(s.Mark)
	w[91] = uint64(s.ClassID)
	w[92] = s.CgroupID
	w[93] = uint64(s.SockOpt)
	w[94] = uint64(s.Info.ReceivedCE)
	w[95] = uint64(s.Info.DeliveredE1Bytes)
	w[96] = uint64(s.Info.DeliveredE0Bytes)
	w[97] = uint64(s.Info.DeliveredCEBytes)
	w[98] = uint64(s.Info.ReceivedE1Bytes)
	w[99] = uint64(s.Info.ReceivedE0Bytes)
	w[100] = uint64(s.Info.ReceivedCEBytes)
	w[101] = uint64(s.Info.AccECNFailMode)
	w[102] = uint64(s.Info.AccECNOptSeen)
}

// unflatten sets s's numeric fields from w, whose words checkWords has
// accepted.
func unflatten(w *[nWords]uint64, s *inetdiag.Socket) {
	s.Info.BytesAcked = w[0]
	s.Info.BytesReceived = w[1]
	s.Info.BytesSent = w[2]
	s.Info.SegsOut = uint32(w[3])
	s.Info.SegsIn = uint32(w[4])
	s.Info.DataSegsIn = uint32(w[5])
	s.Info.DataSegsOut = uint32(w[6])
	s.Info.Delivered = uint32(w[7])
	s.Info.LastDataSent = time.Duration(w[8])
	s.Info.LastDataRecv = time.Duration(w[9])
	s.Info.LastAckRecv = time.Duration(w[10])
	s.Info.RTT = time.Duration(w[11])
	s.Info.MinRTT = time.Duration(w[12])
	s.Info.RTTVar = time.Duration(w[13])
	s.Info.RcvRTT = time.Duration(w[14])
	s.Info.RcvSpace = uint32(w[15])
	s.Info.PacingRate = w[16]
	s.Info.DeliveryRate = w[17]
	s.Info.BusyTime = time.Duration(w[18])
	s.Info.RwndLimited = time.Duration(w[19])
	s.Info.SndbufLimited = time.Duration(w[20])
	s.Info.NotsentBytes = uint32(w[21])
	s.Info.RcvSsthresh = uint32(w[22])
	s.Info.SndWnd = uint32(w[23])
	s.Info.RcvWnd = uint32(w[24])
	s.RecvQ = uint32(w[25])
	s.SendQ = uint32(w[26])
	s.Info.Unacked = uint32(w[27])
	s.Info.SndCwnd = uint32(w[28])
	s.Mem.RMem = uint32(w[29])
	s.Mem.WMem = uint32(w[30])
	s.Mem.FMem = uint32(w[31])
	s.Mem.TMem = uint32(w[32])
	s.SKMem.RMemAlloc = uint32(w[33])
	s.SKMem.WMemAlloc = uint32(w[34])
	s.SKMem.FwdAlloc = uint32(w[35])
	s.SKMem.WMemQueued = uint32(w[36])
	s.SKMem.RcvBuf = uint32(w[37])
	s.SKMem.SndBuf = uint32(w[38])
	s.SKMem.OptMem = uint32(w[39])
	s.SKMem.Backlog = uint32(w[40])
	s.SKMem.Drops = uint32(w[41])
	s.Expires = time.Duration(w[42])
	s.Timer = inetdiag.Timer(w[43])
	s.Retrans = uint8(w[44])
	s.State = inetdiag.State(w[45])
	s.Info.State = uint8(w[46])
	s.Info.CAState = uint8(w[47])
	s.Info.Retransmits = uint8(w[48])
	s.Info.Probes = uint8(w[49])
	s.Info.Backoff = uint8(w[50])
	s.Info.RTO = time.Duration(w[51])
	s.Info.ATO = time.Duration(w[52])
	s.Info.Sacked = uint32(w[53])
	s.Info.Lost = uint32(w[54])
	s.Info.Retrans = uint32(w[55])
	s.Info.Fackets = uint32(w[56])
	s.Info.TotalRetrans = uint32(w[57])
	s.Info.BytesRetrans = w[58]
	s.Info.TotalRTO = uint16(w[59])
	s.Info.TotalRTORecoveries = uint16(w[60])
	s.Info.TotalRTOTime = time.Duration(w[61])
	s.Info.SndSsthresh = uint32(w[62])
	s.Info.Reordering = uint32(w[63])
	s.Info.DSACKDups = uint32(w[64])
	s.Info.ReordSeen = uint32(w[65])
	s.Info.RcvOOOPack = uint32(w[66])
	s.Info.DeliveredCE = uint32(w[67])
	s.Info.MaxPacingRate = w[68]
	s.Info.Rehash = uint32(w[69])
	s.Info.LastAckSent = time.Duration(w[70])
	s.Shutdown = uint8(w[71])
	s.Family = inetdiag.Family(w[72])
	s.ID.Cookie = w[73]
	s.ID.Interface = uint32(w[74])
	s.UID = uint32(w[75])
	s.Inode = uint32(w[76])
	s.Info.Len = int(int64(w[77]))
	s.Info.Options = uint8(w[78])
	s.Info.SndWscale = uint8(w[79])
	s.Info.RcvWscale = uint8(w[80])
	s.Info.DeliveryRateAppLimited = w[81] != 0
	s.Info.FastopenClientFail = uint8(w[82])
	s.Info.SndMSS = uint32(w[83])
	s.Info.RcvMSS = uint32(w[84])
	s.Info.PMTU = uint32(w[85])
	s.Info.AdvMSS = uint32(w[86])
	s.TOS = uint8(w[87])
	s.TClass = uint8(w[88])
	s.V6Only = w[89] != 0
	s.Mark = uint32(w[90])
	s.ClassID = uint32(w[91])
	s.CgroupID = w[92]
	s.SockOpt = uint16(w[93])
	s.Info.ReceivedCE = uint32(w[94])
	s.Info.DeliveredE1Bytes = uint32(w[95])
	s.Info.DeliveredE0Bytes = uint32(w[96])
	s.Info.DeliveredCEBytes = uint32(w[97])
	s.Info.ReceivedE1Bytes = uint32(w[98])
	s.Info.ReceivedE0Bytes = uint32(w[99])
	s.Info.ReceivedCEBytes = uint32(w[100])
	s.Info.AccECNFailMode = uint16(w[101])
	s.Info.AccECNOptSeen = uint16(w[102])
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
