package inetdiag

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Family is an address family as carried by inet_diag (AF_INET or AF_INET6).
type Family uint8

// Address families understood by inet_diag.
const (
	FamilyInet  Family = 2  // AF_INET
	FamilyInet6 Family = 10 // AF_INET6
)

// String returns "inet" or "inet6", the names ss(8) prints with -f.
func (f Family) String() string {
	switch f {
	case FamilyInet:
		return "inet"
	case FamilyInet6:
		return "inet6"
	}
	return fmt.Sprintf("UNKNOWN_FAMILY_%d", uint8(f))
}

// State is a TCP state as numbered by the kernel (include/net/tcp_states.h).
type State uint8

// TCP states. NewSynRecv is the state of request sockets (half-open
// connections on a listener); a dump that asks for SynRecv also gets them.
const (
	StateEstablished State = 1 + iota
	StateSynSent
	StateSynRecv
	StateFinWait1
	StateFinWait2
	StateTimeWait
	StateClose
	StateCloseWait
	StateLastAck
	StateListen
	StateClosing
	StateNewSynRecv
	stateMax
)

var stateNames = [...]struct{ ss, kernel string }{
	StateEstablished: {"ESTAB", "ESTABLISHED"},
	StateSynSent:     {"SYN-SENT", "SYN_SENT"},
	StateSynRecv:     {"SYN-RECV", "SYN_RECV"},
	StateFinWait1:    {"FIN-WAIT-1", "FIN_WAIT1"},
	StateFinWait2:    {"FIN-WAIT-2", "FIN_WAIT2"},
	StateTimeWait:    {"TIME-WAIT", "TIME_WAIT"},
	StateClose:       {"UNCONN", "CLOSE"},
	StateCloseWait:   {"CLOSE-WAIT", "CLOSE_WAIT"},
	StateLastAck:     {"LAST-ACK", "LAST_ACK"},
	StateListen:      {"LISTEN", "LISTEN"},
	StateClosing:     {"CLOSING", "CLOSING"},
	StateNewSynRecv:  {"NEW-SYN-RECV", "NEW_SYN_RECV"},
}

func (s State) valid() bool { return s > 0 && s < stateMax }

// String returns the state as ss(8) prints it ("ESTAB", "CLOSE-WAIT").
func (s State) String() string {
	if s.valid() {
		return stateNames[s].ss
	}
	return fmt.Sprintf("UNKNOWN_%d", uint8(s))
}

// Name returns the kernel's name for the state ("ESTABLISHED",
// "CLOSE_WAIT"), the spelling used in tcpwatch's JSON output.
func (s State) Name() string {
	if s.valid() {
		return stateNames[s].kernel
	}
	return fmt.Sprintf("UNKNOWN_%d", uint8(s))
}

// StateMask selects TCP states in a dump request: bit 1<<state.
type StateMask uint32

// Common state masks.
const (
	// AllStates selects every state. The kernel adds request sockets
	// (reported as SYN-RECV) whenever SYN-RECV is selected.
	AllStates StateMask = 0xfff &^ 1
	// Connected is every state except LISTEN, CLOSE, TIME-WAIT and
	// SYN-RECV, as ss's "connected".
	Connected StateMask = AllStates &^ (1<<StateListen | 1<<StateClose | 1<<StateTimeWait | 1<<StateSynRecv)
)

// StateBit returns the mask with only s set.
func StateBit(s State) StateMask { return 1 << s }

// Has reports whether the mask selects s.
func (m StateMask) Has(s State) bool { return m&(1<<s) != 0 }

// ParseState parses a state name as ss(8) accepts it in a state filter
// ("established", "close-wait", "syn-recv") or as the kernel and tcpwatch's
// JSON spell it ("ESTABLISHED", "CLOSE_WAIT"), case-insensitively. Group
// names of ss are accepted too: "all", "connected", "synchronized",
// "bucket" and "big".
func ParseState(name string) (StateMask, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.ReplaceAll(n, "_", "-")
	switch n {
	case "all":
		return AllStates, nil
	case "connected":
		return Connected, nil
	case "synchronized":
		return Connected &^ StateBit(StateSynSent), nil
	case "bucket":
		return StateBit(StateSynRecv) | StateBit(StateTimeWait), nil
	case "big":
		return AllStates &^ (StateBit(StateSynRecv) | StateBit(StateTimeWait)), nil
	case "listening":
		return StateBit(StateListen), nil
	case "closed", "unconn":
		return StateBit(StateClose), nil
	case "fin-wait1":
		return StateBit(StateFinWait1), nil
	case "fin-wait2":
		return StateBit(StateFinWait2), nil
	}
	for s := StateEstablished; s < StateNewSynRecv; s++ {
		ss := strings.ToLower(stateNames[s].ss)
		k := strings.ReplaceAll(strings.ToLower(stateNames[s].kernel), "_", "-")
		if n == ss || n == k {
			return StateBit(s), nil
		}
	}
	return 0, fmt.Errorf("inetdiag: unknown TCP state %q (want e.g. established, syn-sent, close-wait, time-wait, listening, all)", name)
}

// Timer is the kind of timer pending on a socket, as inet_diag reports it
// in idiag_timer.
type Timer uint8

// Timer kinds (net/ipv4/inet_diag.c, inet_sk_diag_fill).
const (
	// TimerNone: no timer pending.
	TimerNone Timer = 0
	// TimerRetransmit: the retransmission timer, which the kernel also uses
	// for RACK reordering timeouts and tail-loss probes (indistinguishable
	// from outside). ss prints "on".
	TimerRetransmit Timer = 1
	// TimerKeepalive: the keepalive timer (also the FIN_WAIT2 orphan timeout).
	TimerKeepalive Timer = 2
	// TimerTimeWait: the TIME_WAIT timer.
	TimerTimeWait Timer = 3
	// TimerProbe0: the zero-window (persist) probe timer.
	TimerProbe0 Timer = 4
	// TimerDelayedAck: the delayed-ACK timer (newer kernels only).
	TimerDelayedAck Timer = 5
)

// String returns the timer name ss(8) prints ("on", "keepalive",
// "timewait", "persist").
func (t Timer) String() string {
	switch t {
	case TimerNone:
		return "off"
	case TimerRetransmit:
		return "on"
	case TimerKeepalive:
		return "keepalive"
	case TimerTimeWait:
		return "timewait"
	case TimerProbe0:
		return "persist"
	case TimerDelayedAck:
		return "delack"
	}
	return fmt.Sprintf("UNKNOWN_%d", uint8(t))
}

// SockID identifies a socket: its addresses, the bound interface, and the
// kernel's cookie, which is unique for the life of the network namespace and
// is what tells a new socket from an old one on the same four-tuple.
type SockID struct {
	Src       netip.AddrPort
	Dst       netip.AddrPort
	Interface uint32
	Cookie    uint64
}

// NoCookie is the cookie value that tells the kernel not to check it.
const NoCookie = ^uint64(0)

// MemInfo is INET_DIAG_MEMINFO.
type MemInfo struct {
	RMem uint32 // receive queue memory (sk_rmem_alloc)
	WMem uint32 // send queue memory (sk_wmem_queued)
	FMem uint32 // forward-allocated memory
	TMem uint32 // memory in transmission (sk_wmem_alloc)
}

// SKMemInfo is INET_DIAG_SKMEMINFO, the counters ss -m prints as skmem:(...).
type SKMemInfo struct {
	RMemAlloc  uint32
	RcvBuf     uint32
	WMemAlloc  uint32
	SndBuf     uint32
	FwdAlloc   uint32
	WMemQueued uint32
	OptMem     uint32
	Backlog    uint32
	Drops      uint32
}

// Attr is the type of a response attribute (INET_DIAG_*). Socket.Has
// reports which ones the kernel sent.
type Attr uint16

// Response attribute types decoded by this package.
const (
	AttrMemInfo   Attr = 1
	AttrInfo      Attr = 2
	AttrVegasInfo Attr = 3
	AttrCong      Attr = 4
	AttrTOS       Attr = 5
	AttrTClass    Attr = 6
	AttrSKMemInfo Attr = 7
	AttrShutdown  Attr = 8
	AttrDCTCPInfo Attr = 9
	AttrProtocol  Attr = 10
	AttrSKV6Only  Attr = 11
	AttrLocals    Attr = 12
	AttrPeers     Attr = 13
	AttrPad       Attr = 14
	AttrMark      Attr = 15
	AttrBBRInfo   Attr = 16
	AttrClassID   Attr = 17
	AttrMD5Sig    Attr = 18
	AttrULPInfo   Attr = 19
	AttrCgroupID  Attr = 21
	AttrSockOpt   Attr = 22
	attrMax       Attr = 32
)

// Extensions is the idiag_ext bit set of a request: which optional
// attributes the kernel should add to each socket.
type Extensions uint8

// Request extensions (bit 1<<(attr-1)).
const (
	ExtMemInfo   Extensions = 1 << (AttrMemInfo - 1)
	ExtInfo      Extensions = 1 << (AttrInfo - 1)
	ExtVegasInfo Extensions = 1 << (AttrVegasInfo - 1)
	ExtCong      Extensions = 1 << (AttrCong - 1)
	ExtTOS       Extensions = 1 << (AttrTOS - 1)
	ExtTClass    Extensions = 1 << (AttrTClass - 1)
	ExtSKMemInfo Extensions = 1 << (AttrSKMemInfo - 1)
	// ExtShutdown is accepted for symmetry; the kernel always sends
	// INET_DIAG_SHUTDOWN.
	ExtShutdown Extensions = 1 << (AttrShutdown - 1)

	// ExtDefault is what a TCP watcher wants: tcp_info, both memory
	// views, the congestion control name and the shutdown state.
	ExtDefault = ExtInfo | ExtMemInfo | ExtSKMemInfo | ExtCong | ExtShutdown

	// ExtNone asks for no optional attribute: the inet_diag message
	// alone (state, timer, expiry, retransmits or probes, queues), with
	// the attributes the kernel always adds. A zero Ext means
	// ExtDefault, so "none" is spelled with the one bit the kernel
	// ignores (it sends the shutdown state whatever is asked).
	ExtNone = ExtShutdown
)

// Socket is one decoded reply of a dump: struct inet_diag_msg and, in
// compact form, its attributes. It is the stored form of a socket: a
// watcher keeps one per connection per buffer, 10^6 of them on a large
// host, so it holds what the model and the views read (192 bytes) and
// leaves the rest of tcp_info and the other attributes to Full, which a
// caller asks for only where it shows them (one connection's detail, a
// recording).
type Socket struct {
	Family Family
	State  State
	// Timer is the pending timer and Expires the time until its programmed
	// expiry (the kernel fires timer-wheel timers somewhat later).
	Timer Timer
	// Retrans is idiag_retrans: icsk_retransmits under TimerRetransmit,
	// icsk_probes_out under TimerKeepalive and TimerProbe0.
	Retrans  uint8
	Shutdown uint8 // bit 0: receive side shut down, bit 1: send side
	Expires  time.Duration
	ID       SockID
	// RecvQ and SendQ are idiag_rqueue and idiag_wqueue: for connected
	// sockets the bytes not yet read by the application and the bytes not
	// yet acknowledged by the peer; for listeners the accept queue and its
	// limit.
	RecvQ uint32
	SendQ uint32
	UID   uint32
	// Inode is the socket's inode, the key to the owning process's file
	// descriptor. Zero means the socket is orphaned (closed by the
	// application, still owned by the kernel).
	Inode uint32

	// Info is the part of struct tcp_info that tcpwatch reads for every
	// socket; Info.Len is 0 when the kernel sent none.
	Info TCPCore
	// Full is everything the kernel sent, when the decoder was given a
	// place for it (Request.Full, DecodeSocketFull); nil otherwise.
	Full      *Full
	attrsSeen uint32
}

// Full is a socket's attributes in whole: all of tcp_info, and the
// attributes the compact Socket does not keep.
type Full struct {
	Info     TCPInfo
	Mem      MemInfo
	SKMem    SKMemInfo
	Cong     string
	TOS      uint8
	TClass   uint8
	V6Only   bool
	Mark     uint32
	ClassID  uint32
	CgroupID uint64
	SockOpt  uint16
}

// FullFunc tells a decoder where to put a socket's Full, or nil to keep
// only the compact form. It is called once the socket's inet_diag_msg is
// decoded (its ID, state and inode are set), before its attributes.
type FullFunc func(s *Socket) *Full

// NewFull is a FullFunc that keeps every socket whole, in a new Full each.
func NewFull(*Socket) *Full { return new(Full) }

// Has reports whether the kernel sent attribute a with this socket.
func (s *Socket) Has(a Attr) bool { return a < attrMax && s.attrsSeen&(1<<a) != 0 }
