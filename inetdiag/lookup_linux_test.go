//go:build linux

package inetdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// answerOf is the kernel's answer to a look-up request req (its
// inet_diag_req_v2) of sequence number seq: the socket it names with
// cookie, state ESTABLISHED.
func answerOf(seq uint32, req []byte, cookie uint64) []byte {
	m := rawMsg{family: req[0], state: 1, cookie: cookie}
	m.sport = binary.BigEndian.Uint16(req[8:])
	m.dport = binary.BigEndian.Uint16(req[10:])
	copy(m.src[:], req[12:28])
	copy(m.dst[:], req[28:44])
	return nlm{typ: tSockDiag, seq: seq, payload: m.bytes()}.bytes()
}

// reqCookie is the cookie a look-up request names.
func reqCookie(req []byte) uint64 {
	ne := binary.NativeEndian
	return uint64(ne.Uint32(req[48:])) | uint64(ne.Uint32(req[52:]))<<32
}

// TestLookupScript drives Lookup over a scripted socket: the requests it
// sends, and what it makes of each kind of answer.
func TestLookupScript(t *testing.T) {
	id := func(port uint16, cookie uint64) SockID {
		return SockID{Src: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), Dst: netip.MustParseAddrPort("127.0.0.1:9000"), Cookie: cookie}
	}
	targets := []Target{
		{FamilyInet, id(1001, 1)}, // found
		{FamilyInet, id(1002, 2)}, // gone: ENOENT
		{FamilyInet, id(1003, 3)}, // the kernel answers with another cookie
		{FamilyInet, id(1004, 4)}, // EPERM
		{FamilyInet, id(1005, 5)}, // found, answered twice
	}
	// The answers, by the cookie of the request.
	reply := func(_ int, seq uint32, req []byte) [][]byte {
		switch reqCookie(req) {
		case 1:
			return [][]byte{answerOf(seq, req, 1)}
		case 2:
			return [][]byte{errorMsg(seq, -int32(unix.ENOENT))}
		case 3:
			return [][]byte{answerOf(seq, req, 33)}
		case 4:
			return [][]byte{errorMsg(seq, -int32(unix.EPERM))}
		case 5:
			return [][]byte{cat(sockMsg(seq-50, rawMsg{family: 2}.bytes()), answerOf(seq, req, 5)), errorMsg(seq, -int32(unix.ENOENT))}
		}
		return nil
	}
	for _, batch := range []int{1, 2, 64} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			st := &scriptTransport{}
			st.reply = func(i int, seq uint32) [][]byte { return reply(i, seq, st.sent[i].Data) }
			c := &Conn{tr: st, lookupBatch: batch}
			found := map[int]uint64{}
			errs := map[int]error{}
			err := c.Lookup(targets, ExtInfo, nil, func(i int, s *Socket, err error) {
				if _, dup := errs[i]; dup {
					t.Errorf("target %d answered twice", i)
				}
				errs[i] = err
				if s != nil {
					found[i] = s.ID.Cookie
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range st.sent {
				if m.Header.Type != unix.SOCK_DIAG_BY_FAMILY || m.Header.Flags != netlink.Request {
					t.Errorf("request %d: type %d flags %#x, want a SOCK_DIAG_BY_FAMILY request without NLM_F_DUMP", i, m.Header.Type, m.Header.Flags)
				}
				if want := marshalLookup(targets[i], ExtInfo); string(m.Data) != string(want) {
					t.Errorf("request %d: % x, want % x", i, m.Data, want)
				}
			}
			if len(st.sent) != len(targets) {
				t.Errorf("%d requests sent, want %d", len(st.sent), len(targets))
			}
			if found[0] != 1 || found[4] != 5 || len(found) != 2 {
				t.Errorf("found %v, want targets 0 and 4 with their cookies", found)
			}
			for i, want := range []error{nil, ErrNotFound, ErrNotFound, unix.EPERM, nil} {
				if got := errs[i]; !errors.Is(got, want) || (want == nil) != (got == nil) {
					t.Errorf("target %d: error %v, want %v", i, got, want)
				}
			}
		})
	}
}

// TestLookupErrors: a family Lookup cannot ask for, a send and a receive
// that fail.
func TestLookupErrors(t *testing.T) {
	good := Target{FamilyInet, SockID{Src: netip.MustParseAddrPort("127.0.0.1:1"), Dst: netip.MustParseAddrPort("127.0.0.1:2"), Cookie: 1}}
	tests := []struct {
		name    string
		targets []Target
		st      *scriptTransport
		wantErr error
		calls   int
	}{
		{name: "bad family", targets: []Target{good, {Family: 3}}, st: &scriptTransport{}, wantErr: errBadRequestFamily},
		{name: "send fails", targets: []Target{good}, st: &scriptTransport{sendErr: unix.ENOBUFS}, wantErr: unix.ENOBUFS},
		{name: "an answer missing", targets: []Target{good, good}, st: &scriptTransport{reply: func(i int, seq uint32) [][]byte {
			if i == 0 {
				return [][]byte{errorMsg(seq, -int32(unix.ENOENT))}
			}
			return nil
		}}, wantErr: errScriptDone, calls: 1},
		{name: "a truncated datagram", targets: []Target{good}, st: &scriptTransport{reply: func(_ int, seq uint32) [][]byte {
			return [][]byte{{1, 2, 3}}
		}}, wantErr: errTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Conn{tr: tc.st}
			calls := 0
			err := c.Lookup(tc.targets, 0, nil, func(int, *Socket, error) { calls++ })
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if calls != tc.calls {
				t.Errorf("%d answers handed on, want %d", calls, tc.calls)
			}
		})
	}
}

// TestLookupKernel looks sockets up in a real kernel, in a private
// namespace, for both families and batches smaller and larger than the
// targets: found with tcp_info, gone, a stale cookie, and a connection
// gone whose listener holds the same local port (looked up without its
// cookie, the kernel answers with the listener).
func TestLookupKernel(t *testing.T) {
	requireRoot(t, "creates sockets in a private network namespace")
	n := newNetNS(t)
	c := n.dial(t)
	for _, fam := range []Family{FamilyInet, FamilyInet6} {
		lb := buildLab(t, n, c, fam)
		socks := pollDump(t, c, Request{Family: fam}, lb.settled)
		find := func(id SockID) SockID {
			for i := range socks {
				s := &socks[i]
				if s.ID.Src == sockAddrPort(fam, id.Src) && s.ID.Dst == sockAddrPort(fam, id.Dst) {
					return s.ID
				}
			}
			t.Fatalf("%s -> %s not in the dump:%s", id.Src, id.Dst, dumpString(socks))
			return SockID{}
		}
		estab := find(lb.estab.clientID())
		server := find(lb.estab.serverID())
		stale := estab
		stale.Cookie++
		// A connection that is closed after the dump: its server side
		// shares the listener's local port.
		gone, err := connectIn(n, lb)
		if err != nil {
			t.Fatal(err)
		}
		gone1 := pollDump(t, c, Request{Family: fam}, func(s []Socket) bool { return len(s) > len(socks) })
		goneServer := SockID{}
		for i := range gone1 {
			if gone1[i].ID.Src == sockAddrPort(fam, gone.serverID().Src) && gone1[i].ID.Dst == sockAddrPort(fam, gone.serverID().Dst) {
				goneServer = gone1[i].ID
			}
		}
		if goneServer.Cookie == 0 {
			t.Fatalf("the new connection's server side is not in the dump:%s", dumpString(gone1))
		}
		gone.abort()
		goneNoCookie := goneServer
		goneNoCookie.Cookie = NoCookie
		targets := []Target{{fam, estab}, {fam, server}, {fam, stale}, {fam, goneServer}, {fam, goneNoCookie}}
		wantFound := []bool{true, true, false, false, false}
		for _, batch := range []int{1, 2, 64} {
			t.Run(fmt.Sprintf("%s/batch=%d", fam, batch), func(t *testing.T) {
				c.lookupBatch = batch
				defer func() { c.lookupBatch = 0 }()
				answered := make([]bool, len(targets))
				err := c.Lookup(targets, ExtInfo, nil, func(i int, s *Socket, err error) {
					answered[i] = true
					switch {
					case wantFound[i] && err != nil:
						t.Errorf("target %d (%s -> %s): %v", i, targets[i].ID.Src, targets[i].ID.Dst, err)
					case wantFound[i] && (s.ID.Cookie != targets[i].ID.Cookie || !s.Has(AttrInfo) || s.State != StateEstablished):
						t.Errorf("target %d: cookie %d (want %d), tcp_info %v, state %s", i, s.ID.Cookie, targets[i].ID.Cookie, s.Has(AttrInfo), s.State)
					case !wantFound[i] && !errors.Is(err, ErrNotFound):
						t.Errorf("target %d (%s -> %s, cookie %d): socket %v, error %v; want ErrNotFound", i, targets[i].ID.Src, targets[i].ID.Dst, targets[i].ID.Cookie, s != nil, err)
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				for i, a := range answered {
					if !a {
						t.Errorf("target %d unanswered", i)
					}
				}
			})
		}
		// Without extensions the answer carries no tcp_info.
		if err := c.Lookup(targets[:1], ExtNone, nil, func(_ int, s *Socket, err error) {
			if err != nil || s.Has(AttrInfo) {
				t.Errorf("ExtNone: error %v, tcp_info %v; want the socket without tcp_info", err, s != nil && s.Has(AttrInfo))
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// sockAddrPort is a as the kernel reports it for a socket of family fam.
func sockAddrPort(fam Family, a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(sockAddrOf(fam, a.Addr()), a.Port())
}

// connectIn opens one more connection to the lab's listener.
func connectIn(n testNet, lb *lab) (tcpPair, error) {
	var p tcpPair
	err := n.do(func() error {
		var err error
		p, err = connect(lb.ln, netip.AddrPortFrom(lb.lnAddr.Addr(), 0), lb.lnAddr)
		return err
	})
	return p, err
}

// abort closes both ends with a reset, so that neither lingers in
// TIME-WAIT (which a look-up would find).
func (p tcpPair) abort() {
	_ = p.client.SetLinger(0)
	_ = p.server.SetLinger(0)
	p.close()
}
