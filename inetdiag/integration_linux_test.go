package inetdiag

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Tests against the running kernel. As root they run in private network
// namespaces; TestLoopbackStates also runs unprivileged, on the caller's
// loopback with ephemeral ports (sock_diag dumps need no privilege).

// listenerBacklog and listenerRcvBuf are the listener's settings, which the
// dump must report: a listener's SendQ is its backlog limit, and a small
// receive buffer (inherited by accepted sockets) makes a writer's data
// pile up in its send queue.
const (
	listenerBacklog = 7
	listenerRcvBuf  = 4096
)

// lab is a set of real sockets in every state the dump must report, for
// one address family.
type lab struct {
	fam        Family
	ln         *net.TCPListener
	lnAddr     netip.AddrPort
	estab      tcpPair // ESTABLISHED on both sides
	halfClosed tcpPair // server FIN-WAIT-2, client CLOSE-WAIT
	timeWait   SockID  // the client side of a closed connection, in TIME-WAIT
	queued     tcpPair // the client wrote `written` bytes the server does not read
	written    int
	ackedBase  uint64 // the writer's bytes_acked before it wrote
	recvBase   uint64 // the reader's bytes_received before it wrote
}

// buildLab creates the sockets of one family on the loopback of n.
func buildLab(t *testing.T, n testNet, c *Conn, fam Family) *lab {
	t.Helper()
	lo := netip.MustParseAddr("127.0.0.1")
	if fam == FamilyInet6 {
		lo = netip.IPv6Loopback()
	}
	lb := &lab{fam: fam}
	err := n.do(func() error {
		ln, err := listenTCP(netip.AddrPortFrom(lo, 0), listenerBacklog, listenerRcvBuf, true)
		if err != nil {
			return err
		}
		t.Cleanup(func() { ln.Close() })
		lb.ln, lb.lnAddr = ln, addrPort(ln.Addr())
		from := netip.AddrPortFrom(lo, 0)
		pairs := []*tcpPair{&lb.estab, &lb.halfClosed, &lb.queued}
		for _, p := range pairs {
			if *p, err = connect(ln, from, lb.lnAddr); err != nil {
				return err
			}
			t.Cleanup(p.close)
		}
		tw, err := connect(ln, from, lb.lnAddr)
		if err != nil {
			return err
		}
		t.Cleanup(tw.close)
		lb.timeWait = tw.clientID()
		if err := tw.timeWait(); err != nil {
			return err
		}
		return lb.halfClosed.closeWait()
	})
	if err != nil {
		if n.name == "" && fam == FamilyInet6 && errors.Is(err, unix.EADDRNOTAVAIL) {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		t.Fatal(err)
	}

	// Counters before the write, so that the check does not depend on
	// how the handshake is counted.
	socks, err := c.Dump(Request{Family: fam, Filter: SrcPort(lb.lnAddr.Port()), Full: NewFull}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reader := findSock(socks, fam, lb.queued.serverID(), StateEstablished)
	socks, err = c.Dump(Request{Family: fam, Filter: DstPort(lb.lnAddr.Port()), Full: NewFull}, nil)
	if err != nil {
		t.Fatal(err)
	}
	writer := findSock(socks, fam, lb.queued.clientID(), StateEstablished)
	if reader == nil || writer == nil {
		t.Fatalf("queue pair not in the dump:%s", dumpString(socks))
	}
	lb.ackedBase, lb.recvBase = writer.Full.Info.BytesAcked, reader.Full.Info.BytesReceived

	// Write without blocking until the send buffer is full; the reader
	// never reads, so the data ends up split between its receive queue
	// and the writer's send queue.
	buf := make([]byte, 64<<10)
	control(t, lb.queued.client, func(fd uintptr) {
		for lb.written < 4<<20 {
			n, err := unix.Write(int(fd), buf)
			if errors.Is(err, unix.EAGAIN) {
				return
			}
			if err != nil {
				t.Errorf("write: %v", err)
				return
			}
			lb.written += n
		}
	})
	if lb.written == 0 {
		t.Fatal("the writer could not write anything")
	}
	return lb
}

// filter selects the lab's sockets: every one of them has the listener's
// port on one side.
func (lb *lab) filter() Filter { return Port(lb.lnAddr.Port()) }

// settled reports whether the dump shows every transition of the lab done.
func (lb *lab) settled(socks []Socket) bool {
	w := findSock(socks, lb.fam, lb.queued.clientID(), StateEstablished)
	r := findSock(socks, lb.fam, lb.queued.serverID(), StateEstablished)
	return findSock(socks, lb.fam, lb.halfClosed.serverID(), StateFinWait2) != nil &&
		findSock(socks, lb.fam, lb.timeWait, StateTimeWait) != nil &&
		w != nil && r != nil && w.SendQ > 0 && int(w.SendQ)+int(r.RecvQ) == lb.written
}

// TestLoopbackStates creates real loopback sockets in every state a watcher
// sees and checks everything the dump says about them against what the
// sockets themselves report (fstat, getsockopt) and what was done to them.
func TestLoopbackStates(t *testing.T) {
	n := loopbackNet(t)
	c := n.dial(t)
	for _, fam := range []Family{FamilyInet, FamilyInet6} {
		t.Run(fam.String(), func(t *testing.T) {
			lb := buildLab(t, n, c, fam)
			req := Request{Filter: lb.filter(), Full: NewFull}
			socks := pollDump(t, c, req, lb.settled)
			if !lb.settled(socks) {
				t.Fatalf("transitions not done; dump:%s", dumpString(socks))
			}
			uid := uint32(os.Geteuid())

			type want struct {
				name     string
				id       SockID
				state    State
				owner    rawConner // nil: no file descriptor (TIME-WAIT)
				shutdown uint8
			}
			wants := []want{
				{"listener", SockID{Src: lb.lnAddr, Dst: netip.AddrPortFrom(unspec(fam), 0)}, StateListen, lb.ln, 0},
				{"established client", lb.estab.clientID(), StateEstablished, lb.estab.client, 0},
				{"established server", lb.estab.serverID(), StateEstablished, lb.estab.server, 0},
				{"half-closed server", lb.halfClosed.serverID(), StateFinWait2, lb.halfClosed.server, 2},
				{"half-closed client", lb.halfClosed.clientID(), StateCloseWait, lb.halfClosed.client, 1},
				{"writer", lb.queued.clientID(), StateEstablished, lb.queued.client, 0},
				{"reader", lb.queued.serverID(), StateEstablished, lb.queued.server, 0},
				{"time-wait", lb.timeWait, StateTimeWait, nil, 0},
			}
			infoLen := tcpInfoLenOf(t, lb.estab.client)
			if kernelAtLeast(t, 6, 18) && infoLen != TCPInfoLen6_18 {
				t.Errorf("getsockopt(TCP_INFO) gave %d bytes on a 6.18+ kernel, want %d", infoLen, TCPInfoLen6_18)
			}
			cong := congestionOf(t, lb.estab.client)
			if cong == "" {
				t.Error("getsockopt(TCP_CONGESTION) returned an empty name")
			}
			for _, w := range wants {
				s := findSock(socks, fam, w.id, 0)
				if s == nil {
					t.Errorf("%s %s -> %s: not in the dump:%s", w.name, w.id.Src, w.id.Dst, dumpString(socks))
					continue
				}
				where := fmt.Sprintf("%s %s -> %s", w.name, s.ID.Src, s.ID.Dst)
				if s.Family != fam || s.State != w.state {
					t.Errorf("%s: %s %s, want %s %s", where, s.Family, s.State, fam, w.state)
				}
				if s.ID.Cookie == 0 || s.ID.Cookie == NoCookie {
					t.Errorf("%s: cookie %#x", where, s.ID.Cookie)
				}
				if w.owner == nil {
					// A TIME-WAIT socket has no owner and only the
					// TIME_WAIT timer.
					if s.Inode != 0 || s.Timer != TimerTimeWait || s.Expires <= 0 {
						t.Errorf("%s: inode %d timer %s expires %v; want 0, timewait, > 0", where, s.Inode, s.Timer, s.Expires)
					}
					continue
				}
				if ino := inodeOf(t, w.owner); uint64(s.Inode) != ino {
					t.Errorf("%s: inode %d, fstat says %d", where, s.Inode, ino)
				}
				if s.UID != uid {
					t.Errorf("%s: uid %d, want %d", where, s.UID, uid)
				}
				for _, a := range []Attr{AttrInfo, AttrMemInfo, AttrSKMemInfo, AttrCong, AttrShutdown} {
					if !s.Has(a) {
						t.Errorf("%s: attribute %d missing (requested by ExtDefault)", where, a)
					}
				}
				if s.Shutdown != w.shutdown {
					t.Errorf("%s: shutdown %#x, want %#x", where, s.Shutdown, w.shutdown)
				}
				if int(s.Info.Len) != infoLen {
					t.Errorf("%s: tcp_info of %d bytes, getsockopt gives %d", where, s.Info.Len, infoLen)
				}
				if s.Full.Cong != cong {
					t.Errorf("%s: congestion control %q, getsockopt says %q", where, s.Full.Cong, cong)
				}
				if s.Info.State != uint8(s.State) {
					t.Errorf("%s: tcpi_state %d, idiag_state %d", where, s.Info.State, s.State)
				}
				if s.Full.SKMem.RcvBuf == 0 || s.Full.SKMem.SndBuf == 0 {
					t.Errorf("%s: skmem %+v", where, s.Full.SKMem)
				}
			}

			if l := findSock(socks, fam, wants[0].id, StateListen); l != nil {
				if l.SendQ != listenerBacklog || l.RecvQ != 0 {
					t.Errorf("listener: accept queue %d of %d, want 0 of %d", l.RecvQ, l.SendQ, listenerBacklog)
				}
			}

			// Queues: every byte written is either unread at the reader
			// or unacknowledged at the writer.
			w := findSock(socks, fam, lb.queued.clientID(), StateEstablished)
			r := findSock(socks, fam, lb.queued.serverID(), StateEstablished)
			t.Logf("wrote %d bytes: writer SendQ %d, reader RecvQ %d", lb.written, w.SendQ, r.RecvQ)
			if r.RecvQ == 0 {
				t.Errorf("reader RecvQ is 0 after %d bytes were written", lb.written)
			}
			if got := w.Full.Info.BytesAcked - lb.ackedBase; got != uint64(lb.written)-uint64(w.SendQ) {
				t.Errorf("writer bytes_acked grew by %d, want written - SendQ = %d", got, lb.written-int(w.SendQ))
			}
			if got := r.Full.Info.BytesReceived - lb.recvBase; got != uint64(r.RecvQ) {
				t.Errorf("reader bytes_received grew by %d, want RecvQ = %d", got, r.RecvQ)
			}
			if w.Full.Info.NotsentBytes > w.SendQ || w.Full.Info.NotsentBytes == 0 {
				t.Errorf("writer notsent %d with SendQ %d: want 0 < notsent <= SendQ", w.Full.Info.NotsentBytes, w.SendQ)
			}

			// Cookies are stable: a second dump reports the same ones.
			again, err := c.Dump(req, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range socks {
				if s.State == StateTimeWait {
					continue
				}
				s2 := findSock(again, s.Family, s.ID, s.State)
				if s2 == nil || s2.ID.Cookie != s.ID.Cookie {
					t.Errorf("%s %s -> %s: cookie %d, second dump %v", s.State, s.ID.Src, s.ID.Dst, s.ID.Cookie, s2)
				}
			}
		})
	}
}

func unspec(fam Family) netip.Addr {
	if fam == FamilyInet6 {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}

// kernelAtLeast reports whether the running kernel is at least major.minor.
func kernelAtLeast(t testing.TB, major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	rel := unix.ByteSliceToString(u.Release[:])
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		t.Fatalf("kernel release %q", rel)
	}
	ma, _ := strconv.Atoi(parts[0])
	mi, _ := strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	return ma > major || ma == major && mi >= minor
}

// TestDumpFamilyAndStates checks that a family restricts the dump to that
// family and that a state mask returns exactly the states it selects.
func TestDumpFamilyAndStates(t *testing.T) {
	n := loopbackNet(t)
	c := n.dial(t)
	l4 := buildLab(t, n, c, FamilyInet)
	l6 := buildLab(t, n, c, FamilyInet6)
	both := Or(l4.filter(), l6.filter())
	all := pollDump(t, c, Request{Filter: both}, func(s []Socket) bool { return l4.settled(s) && l6.settled(s) })
	if !l4.settled(all) || !l6.settled(all) {
		t.Fatalf("transitions not done:%s", dumpString(all))
	}
	states := map[State]bool{}
	for _, s := range all {
		states[s.State] = true
	}
	for _, st := range []State{StateListen, StateEstablished, StateFinWait2, StateCloseWait, StateTimeWait} {
		if !states[st] {
			t.Fatalf("no %s socket in the unfiltered dump, the test would be vacuous:%s", st, dumpString(all))
		}
	}

	t.Run("family", func(t *testing.T) {
		for _, fam := range []Family{FamilyInet, FamilyInet6} {
			got, err := c.Dump(Request{Family: fam, Filter: both}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var want int
			for _, s := range all {
				if s.Family == fam {
					want++
				}
			}
			if len(got) != want || want == 0 || want == len(all) {
				t.Errorf("%s: %d sockets, want %d of %d", fam, len(got), want, len(all))
			}
			for _, s := range got {
				if s.Family != fam {
					t.Errorf("%s dump returned a %s socket %s -> %s", fam, s.Family, s.ID.Src, s.ID.Dst)
				}
			}
		}
	})

	masks := []struct {
		name string
		mask StateMask
	}{
		{"listen", StateBit(StateListen)},
		{"established", StateBit(StateEstablished)},
		{"close-wait and fin-wait-2", StateBit(StateCloseWait) | StateBit(StateFinWait2)},
		{"time-wait", StateBit(StateTimeWait)},
		{"connected", Connected},
	}
	for _, m := range masks {
		t.Run(m.name, func(t *testing.T) {
			got, err := c.Dump(Request{States: m.mask, Filter: both}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, s := range all {
				if m.mask.Has(s.State) {
					want = append(want, sockKey(s.Family, s.ID)+" "+s.State.String())
				}
			}
			var have []string
			for _, s := range got {
				if !m.mask.Has(s.State) {
					t.Errorf("state mask %#x returned a %s socket", m.mask, s.State)
				}
				have = append(have, sockKey(s.Family, s.ID)+" "+s.State.String())
			}
			slices.Sort(want)
			slices.Sort(have)
			if len(want) == 0 || len(want) == len(all) {
				t.Fatalf("mask %#x selects %d of %d sockets: not a discriminating case", m.mask, len(want), len(all))
			}
			if !slices.Equal(have, want) {
				t.Errorf("mask %#x:\n got %v\nwant %v", m.mask, have, want)
			}
		})
	}

	t.Run("DumpFunc", func(t *testing.T) {
		var have []string
		err := c.DumpFunc(Request{Filter: both}, func(s *Socket) error {
			have = append(have, sockKey(s.Family, s.ID)+" "+s.State.String())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, s := range all {
			want = append(want, sockKey(s.Family, s.ID)+" "+s.State.String())
		}
		slices.Sort(want)
		slices.Sort(have)
		if !slices.Equal(have, want) {
			t.Errorf("DumpFunc:\n got %v\nwant %v", have, want)
		}
		stop := errors.New("stop")
		if err := c.DumpFunc(Request{Filter: both}, func(*Socket) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("DumpFunc returned %v, want the callback's error", err)
		}
		// The Conn must still work after a dump was abandoned.
		if again, err := c.Dump(Request{Filter: both}, nil); err != nil || len(again) != len(all) {
			t.Errorf("dump after an abandoned dump: %d sockets, %v; want %d", len(again), err, len(all))
		}
	})
}

// TestNamespaceIsolation checks that a Conn dialled in one namespace sees
// only that namespace's sockets.
func TestNamespaceIsolation(t *testing.T) {
	a, b := newNetNS(t), newNetNS(t)
	ca := a.dial(t)
	lb := buildLab(t, a, ca, FamilyInet)
	inA := pollDump(t, ca, Request{}, lb.settled)
	if !lb.settled(inA) {
		t.Fatalf("transitions not done in A:%s", dumpString(inA))
	}
	cookies := map[uint64]bool{}
	for _, s := range inA {
		cookies[s.ID.Cookie] = true
	}

	inB, err := b.dial(t).Dump(Request{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(inB) != 0 {
		t.Errorf("namespace B has no sockets, its dump returned %d:%s", len(inB), dumpString(inB))
	}

	host, err := Dial(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	err = host.DumpFunc(Request{}, func(s *Socket) error {
		if cookies[s.ID.Cookie] {
			t.Errorf("socket of namespace A in the host's dump: %s %s -> %s", s.State, s.ID.Src, s.ID.Dst)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDestroy destroys an established socket by id and cookie: its owner
// gets ECONNABORTED, the peer a reset, and the socket leaves the dump. A
// wrong cookie must leave the socket alone.
func TestDestroy(t *testing.T) {
	n := newNetNS(t)
	c := n.dial(t)
	for _, fam := range []Family{FamilyInet, FamilyInet6} {
		t.Run(fam.String(), func(t *testing.T) {
			lo := netip.MustParseAddr("127.0.0.1")
			if fam == FamilyInet6 {
				lo = netip.IPv6Loopback()
			}
			var p tcpPair
			err := n.do(func() error {
				ln, err := listenTCP(netip.AddrPortFrom(lo, 0), 4, 0, true)
				if err != nil {
					return err
				}
				defer ln.Close()
				p, err = connect(ln, netip.AddrPortFrom(lo, 0), addrPort(ln.Addr()))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.close)

			socks, err := c.Dump(Request{Family: fam, Filter: SrcPort(addrPort(p.server.LocalAddr()).Port())}, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := findSock(socks, fam, p.serverID(), StateEstablished)
			if s == nil {
				t.Fatalf("server side not in the dump:%s", dumpString(socks))
			}
			victim := s.ID

			wrong := victim
			wrong.Cookie ^= 0x5a5a
			err = c.Destroy(fam, wrong)
			if !errors.Is(err, unix.ESTALE) && !errors.Is(err, unix.ENOENT) {
				t.Fatalf("Destroy with a wrong cookie = %v, want ESTALE or ENOENT", err)
			}
			if errors.Is(err, ErrDestroyUnsupported) {
				t.Skip("kernel built without CONFIG_INET_DIAG_DESTROY")
			}
			if !stillThere(t, c, fam, victim) {
				t.Fatal("socket gone after a Destroy with the wrong cookie")
			}

			readErr := make(chan error, 1)
			go func() {
				var b [8]byte
				_, err := p.server.Read(b[:])
				readErr <- err
			}()
			if err := c.Destroy(fam, victim); err != nil {
				if errors.Is(err, ErrDestroyUnsupported) {
					t.Skip("kernel built without CONFIG_INET_DIAG_DESTROY")
				}
				t.Fatalf("Destroy: %v", err)
			}
			if err := <-readErr; !errors.Is(err, unix.ECONNABORTED) {
				t.Errorf("owner's read after Destroy: %v, want ECONNABORTED", err)
			}
			var b [8]byte
			if _, err := p.client.Read(b[:]); !errors.Is(err, unix.ECONNRESET) {
				t.Errorf("peer's read after Destroy: %v, want ECONNRESET", err)
			}
			if stillThere(t, c, fam, victim) {
				t.Error("destroyed socket still in the dump")
			}
			// Destroying it again finds nothing.
			if err := c.Destroy(fam, victim); !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ESTALE) {
				t.Errorf("second Destroy = %v, want ENOENT", err)
			}
		})
	}
}

// TestDestroyDualStack destroys the server side of an IPv4 connection
// accepted by a dual-stack IPv6 listener, naming it with plain IPv4
// addresses, as net.Addr.String prints them and a user would type them,
// while the kernel holds the socket as AF_INET6 with v4-mapped addresses.
func TestDestroyDualStack(t *testing.T) {
	n := newNetNS(t)
	c := n.dial(t)
	var p tcpPair
	err := n.do(func() error {
		ln, err := listenTCP(netip.MustParseAddrPort("[::]:0"), 4, 0, false)
		if err != nil {
			return err
		}
		defer ln.Close()
		port := addrPort(ln.Addr()).Port()
		p, err = connect(ln, netip.MustParseAddrPort("127.0.0.1:0"), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	id := p.serverID()
	id.Src = netip.MustParseAddrPort(p.server.LocalAddr().String())
	id.Dst = netip.MustParseAddrPort(p.server.RemoteAddr().String())
	if !id.Src.Addr().Is4() || !id.Dst.Addr().Is4() {
		t.Fatalf("net.Addr.String gave %s -> %s; the test expects plain IPv4 addresses", id.Src, id.Dst)
	}
	socks, err := c.Dump(Request{Family: FamilyInet6, Filter: SrcPort(id.Src.Port())}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := findSock(socks, FamilyInet6, id, StateEstablished)
	if s == nil {
		t.Fatalf("accepted socket not in the IPv6 dump:%s", dumpString(socks))
	}
	id.Cookie = s.ID.Cookie
	if err := c.Destroy(FamilyInet6, id); err != nil {
		t.Fatalf("Destroy(inet6, %s -> %s): %v", id.Src, id.Dst, err)
	}
	var b [8]byte
	if _, err := p.server.Read(b[:]); !errors.Is(err, unix.ECONNABORTED) {
		t.Errorf("owner's read after Destroy: %v, want ECONNABORTED", err)
	}
}

// stillThere reports whether a socket with this cookie is in the dump.
func stillThere(t *testing.T, c *Conn, fam Family, id SockID) bool {
	t.Helper()
	socks, err := c.Dump(Request{Family: fam}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range socks {
		if s.ID.Cookie == id.Cookie {
			return true
		}
	}
	return false
}

// TestDumpKeepsWholeWhatFullSays: a dump keeps compact every socket but
// those its Request.Full gives a place for, which carry the whole of
// tcp_info and the attributes ExtDefault adds; a look-up does the same.
func TestDumpKeepsWholeWhatFullSays(t *testing.T) {
	n := loopbackNet(t)
	c := n.dial(t)
	lb := buildLab(t, n, c, FamilyInet)
	socks := pollDump(t, c, Request{Filter: lb.filter()}, lb.settled)
	var pick uint64
	for _, s := range socks {
		if s.State == StateEstablished {
			pick = s.ID.Cookie
		}
		if s.Full != nil {
			t.Fatalf("%s kept whole by a dump without Full", s.ID.Src)
		}
	}
	if pick == 0 {
		t.Fatalf("no established socket:%s", dumpString(socks))
	}
	var given []*Full
	full := func(s *Socket) *Full {
		if s.ID.Cookie != pick {
			return nil
		}
		f := &Full{Cong: "stale", Info: TCPInfo{BytesAcked: 99}} // a reused place: cleared
		given = append(given, f)
		return f
	}
	check := func(what string, s *Socket) {
		t.Helper()
		if s.ID.Cookie != pick {
			if s.Full != nil {
				t.Errorf("%s: %s kept whole, not asked for", what, s.ID.Src)
			}
			return
		}
		if s.Full == nil || s.Full != given[len(given)-1] {
			t.Fatalf("%s: the socket asked for is not in the place given (%p)", what, s.Full)
		}
		if s.Full.Cong == "" || s.Full.Cong == "stale" || !s.Has(AttrMemInfo) || s.Full.SKMem.RcvBuf == 0 {
			t.Errorf("%s: whole socket: cong %q, skmem %+v", what, s.Full.Cong, s.Full.SKMem)
		}
		if s.Info != s.Full.Info.Core() || s.Info.Len == 0 || s.Full.Info.SndMSS == 0 {
			t.Errorf("%s: core %+v, whole %+v", what, s.Info, s.Full.Info)
		}
	}
	got, err := c.Dump(Request{Filter: lb.filter(), Full: full}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		check("dump", &got[i])
	}
	var targets []Target
	for _, s := range got {
		if s.State == StateEstablished {
			targets = append(targets, Target{Family: s.Family, ID: s.ID})
		}
	}
	if err := c.Lookup(targets, 0, full, func(_ int, s *Socket, err error) {
		if err != nil {
			t.Errorf("look-up: %v", err)
			return
		}
		check("look-up", s)
	}); err != nil {
		t.Fatal(err)
	}
	if len(given) != 2 {
		t.Errorf("Full called back for the socket asked for %d times, want 2 (dump, look-up)", len(given))
	}
}
