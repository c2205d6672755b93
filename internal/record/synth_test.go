package record

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// simHost simulates the sockets of a busy but mostly idle host as a dump
// reports them, poll after poll: the kernel's clocks tick in jiffies
// (HZ=250) and are read socket by socket while the dump runs (~1.5 µs a
// socket, as the README's table measured), a few percent of the
// connections carry traffic between two polls, some are replaced, TIME-WAIT
// sockets count down and vanish, keepalive timers count down.
type simHost struct {
	rng        *rand.Rand
	boot, wall time.Time
	socks      []*simSock // in dump order
	nextCookie uint64
	nextInode  uint32
	// active is the share of connections with traffic in each interval,
	// churn the share replaced by new connections.
	active, churn float64
	estAttrs      uint32
}

type simSock struct {
	s                           rsock
	lastSend, lastRecv, lastAck int64 // jiffies
	timerAt                     int64 // jiffies; 0 for none
}

const (
	simJiffy   = 4 * time.Millisecond
	simPerSock = 1500 * time.Nanosecond
	// simKeepIdle is the keepalive idle time of the sockets that have one.
	simKeepIdle = 300 * time.Second
)

var simServers = func() []netip.AddrPort {
	var s []netip.AddrPort
	for i, port := range []uint16{5432, 6379, 443, 9092, 11211, 3306, 8080, 2379, 53, 9200} {
		for k := range 2 {
			s = append(s, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i), byte(10 + k)}), port))
		}
	}
	return s
}()

func newSimHost(t testing.TB, n int, active, churn float64, seed uint64) *simHost {
	t.Helper()
	h := &simHost{
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		boot: time.Unix(1_763_800_000, 0), wall: time.Unix(1_763_900_000, 123_456_789),
		nextCookie: 40_000, nextInode: 1_200_000, active: active, churn: churn,
	}
	for _, a := range []inetdiag.Attr{inetdiag.AttrMemInfo, inetdiag.AttrInfo, inetdiag.AttrCong, inetdiag.AttrSKMemInfo, inetdiag.AttrShutdown, inetdiag.AttrCgroupID, inetdiag.AttrSockOpt} {
		h.estAttrs |= 1 << a
	}
	for range 10 {
		h.socks = append(h.socks, h.newListener(t))
	}
	for len(h.socks) < n {
		h.socks = append(h.socks, h.newSock(t, h.jiffies(h.wall)-int64(h.rng.IntN(250*3600))))
	}
	h.rng.Shuffle(len(h.socks), func(i, j int) { h.socks[i], h.socks[j] = h.socks[j], h.socks[i] })
	return h
}

func (h *simHost) jiffies(t time.Time) int64 { return int64(t.Sub(h.boot) / simJiffy) }

func (h *simHost) logUniform(lo, hi float64) float64 {
	return math.Exp(math.Log(lo) + h.rng.Float64()*(math.Log(hi)-math.Log(lo)))
}

func (h *simHost) template(t testing.TB, m uint32) rsock {
	s, err := attrTemplate(m)
	if err != nil {
		t.Fatal(err)
	}
	return rsock{s: s}
}

func (h *simHost) newListener(t testing.TB) *simSock {
	s := h.template(t, h.estAttrs)
	s.s.Family, s.s.State = inetdiag.FamilyInet, inetdiag.StateListen
	s.s.ID = inetdiag.SockID{Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{0, 0, 0, 0}), uint16(8000+h.rng.IntN(1000))), Dst: netip.AddrPortFrom(netip.IPv4Unspecified(), 0), Cookie: h.cookie()}
	s.s.SendQ, s.s.Inode = 4096, h.inode()
	s.f.Info = inetdiag.TCPInfo{Len: inetdiag.TCPInfoLen6_7, State: uint8(inetdiag.StateListen), RTO: time.Second, SndMSS: 536, RcvMSS: 88, AdvMSS: 536, RcvSpace: 14480, SndCwnd: 10, Reordering: 3}
	s.f.Cong = "cubic"
	s.f.SKMem = inetdiag.SKMemInfo{RcvBuf: 131072, SndBuf: 16384}
	return &simSock{s: s}
}

func (h *simHost) cookie() uint64 { h.nextCookie += 1 + uint64(h.rng.IntN(3)); return h.nextCookie }
func (h *simHost) inode() uint32  { h.nextInode += 1 + uint32(h.rng.IntN(5)); return h.nextInode }

// newSock makes a connection whose last traffic was at jiffy last. One in
// twenty is in TIME-WAIT, a third have keepalive on.
func (h *simHost) newSock(t testing.TB, last int64) *simSock {
	now := h.jiffies(h.wall)
	if h.rng.IntN(20) == 0 {
		s := h.template(t, 0)
		s.s.Family, s.s.State, s.s.Timer = inetdiag.FamilyInet, inetdiag.StateTimeWait, inetdiag.TimerTimeWait
		s.s.ID = inetdiag.SockID{Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 5}), uint16(32768+h.rng.IntN(28000))), Dst: simServers[h.rng.IntN(len(simServers))], Cookie: h.cookie()}
		return &simSock{s: s, timerAt: now + int64(h.rng.IntN(60*250))}
	}
	s := h.template(t, h.estAttrs)
	s.s.Family, s.s.State = inetdiag.FamilyInet, inetdiag.StateEstablished
	if h.rng.IntN(5) < 3 {
		s.s.ID.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 5}), uint16(32768+h.rng.IntN(28000)))
		s.s.ID.Dst = simServers[h.rng.IntN(len(simServers))]
	} else {
		s.s.ID.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 5}), []uint16{443, 8080}[h.rng.IntN(2)])
		s.s.ID.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, byte(h.rng.IntN(256)), byte(h.rng.IntN(256))}), uint16(32768+h.rng.IntN(28000)))
	}
	s.s.ID.Cookie, s.s.Inode, s.s.UID = h.cookie(), h.inode(), []uint32{0, 33, 999, 1000}[h.rng.IntN(4)]
	s.f.CgroupID, s.f.SockOpt = []uint64{4096, 5012, 7781}[h.rng.IntN(3)], 0
	rtt := time.Duration(h.logUniform(50, 80_000)) * time.Microsecond
	bytes := uint64(h.logUniform(1e3, 1e9))
	in := &s.f.Info
	*in = inetdiag.TCPInfo{
		Len: inetdiag.TCPInfoLen6_7, State: 1, Options: 7, SndWscale: 7, RcvWscale: 7,
		RTO: max(200*time.Millisecond+rtt*4, time.Duration(0)).Truncate(simJiffy) / time.Microsecond * time.Microsecond, ATO: 40 * time.Millisecond,
		SndMSS: 1448, RcvMSS: []uint32{536, 1448, 1448}[h.rng.IntN(3)], PMTU: 1500, RcvSsthresh: 64076,
		RTT: rtt, RTTVar: rtt / 2, SndSsthresh: math.MaxInt32, SndCwnd: 10, AdvMSS: 1448, Reordering: 3,
		RcvSpace: 14480, BytesAcked: bytes, BytesReceived: uint64(h.logUniform(1e3, 1e9)),
		MinRTT: rtt * 9 / 10, BusyTime: time.Duration(h.rng.IntN(1e6)) * time.Microsecond,
		SndWnd: 64 << 10, RcvWnd: 64 << 10, MaxPacingRate: math.MaxUint64,
	}
	in.BytesSent = in.BytesAcked + uint64(h.rng.IntN(100))
	in.SegsOut, in.SegsIn = uint32(in.BytesSent/1000)+3, uint32(in.BytesReceived/1000)+3
	in.DataSegsOut, in.DataSegsIn, in.Delivered = in.SegsOut-2, in.SegsIn-2, in.SegsOut-1
	in.PacingRate = uint64(float64(in.SndCwnd*in.SndMSS) / rtt.Seconds() * 2)
	in.DeliveryRate = uint64(float64(in.SndMSS) / rtt.Seconds())
	s.f.Cong = "cubic"
	s.f.SKMem = inetdiag.SKMemInfo{RcvBuf: 131072, SndBuf: 87040, FwdAlloc: uint32(h.rng.IntN(4096))}
	ss := &simSock{s: s, lastSend: last, lastRecv: last, lastAck: last}
	if h.rng.IntN(3) == 0 {
		ss.s.s.Timer = inetdiag.TimerKeepalive
		ss.timerAt = last + int64(simKeepIdle/simJiffy)
		for ss.timerAt <= now {
			ss.timerAt += int64(simKeepIdle / simJiffy)
		}
	}
	return ss
}

// traffic moves a connection on as a burst of data at jiffy j does.
func (h *simHost) traffic(ss *simSock, j int64) {
	in := &ss.s.f.Info
	sent, recv := uint64(h.logUniform(50, 50_000)), uint64(h.logUniform(50, 50_000))
	in.BytesAcked += sent
	in.BytesSent += sent
	in.BytesReceived += recv
	in.SegsOut += uint32(sent/1448) + 1
	in.SegsIn += uint32(recv/1448) + 1
	in.DataSegsOut += uint32(sent/1448) + 1
	in.DataSegsIn += uint32(recv/1448) + 1
	in.Delivered += uint32(sent/1448) + 1
	rtt := time.Duration(float64(in.RTT) * (0.9 + 0.2*h.rng.Float64())).Truncate(time.Microsecond)
	in.RTT, in.RTTVar = rtt, (in.RTTVar*3+rtt/4)/4/time.Microsecond*time.Microsecond
	in.PacingRate = uint64(float64(in.SndCwnd*in.SndMSS) / rtt.Seconds() * 2)
	in.DeliveryRate = uint64(float64(sent) / rtt.Seconds())
	in.BusyTime += time.Duration(h.rng.IntN(5000)) * time.Microsecond
	ss.s.f.SKMem.FwdAlloc = uint32(h.rng.IntN(4096))
	ss.lastSend = j - int64(h.rng.IntN(200))
	ss.lastRecv, ss.lastAck = ss.lastSend, ss.lastSend
	if ss.s.s.Timer == inetdiag.TimerKeepalive {
		ss.timerAt = ss.lastRecv + int64(simKeepIdle/simJiffy)
	}
}

// poll appends the next dump to out, interval after the previous one
// (with a millisecond of jitter), and returns it with its time and
// uncertainty as the watcher computes them.
func (h *simHost) poll(t testing.TB, interval time.Duration, out []inetdiag.Socket) (time.Time, time.Duration, []inetdiag.Socket) {
	start := h.wall
	j0 := h.jiffies(start)
	// Churn: some connections close, as many open.
	for range int(h.churn*float64(len(h.socks)) + h.rng.Float64()) {
		if len(h.socks) > 10 {
			i := 10 + h.rng.IntN(len(h.socks)-10)
			h.socks = slices.Delete(h.socks, i, i+1)
		}
		h.socks = slices.Insert(h.socks, h.rng.IntN(len(h.socks)+1), h.newSock(t, j0))
	}
	kept := h.socks[:0]
	for i, ss := range h.socks {
		j := h.jiffies(start.Add(time.Duration(i) * simPerSock))
		if ss.s.s.State == inetdiag.StateTimeWait && ss.timerAt <= j {
			continue // its timer fired: gone from the dump
		}
		kept = append(kept, ss)
		if ss.s.s.State == inetdiag.StateEstablished && h.rng.Float64() < h.active {
			h.traffic(ss, j)
		}
		s := ss.s
		if ss.timerAt != 0 {
			s.s.Expires = time.Duration(ss.timerAt-j) * simJiffy
		}
		if s.s.State == inetdiag.StateEstablished {
			s.f.Info.LastDataSent = time.Duration(j-ss.lastSend) * simJiffy
			s.f.Info.LastDataRecv = time.Duration(j-ss.lastRecv) * simJiffy
			s.f.Info.LastAckRecv = time.Duration(j-ss.lastAck) * simJiffy
		}
		out = append(out, s.socket())
	}
	h.socks = kept
	dump := time.Duration(len(out)) * simPerSock
	h.wall = start.Add(interval + time.Duration(h.rng.IntN(2000)-1000)*time.Microsecond)
	return start.Add(dump / 2), dump / 2, out
}

// simPolls returns n polls of the simulated host, one namespace each.
func simPolls(t testing.TB, h *simHost, n int) []*Poll {
	polls := make([]*Poll, n)
	for i := range polls {
		now, unc, socks := h.poll(t, time.Second, nil)
		polls[i] = &Poll{Time: now, Uncertainty: unc, Interval: time.Second, Parts: []Part{{NS: 1, Socks: socks}}}
	}
	return polls
}
