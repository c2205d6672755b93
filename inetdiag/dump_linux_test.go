//go:build linux

package inetdiag

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// TestReplyConstants pins the parser's own copy of the netlink constants
// to x/sys/unix.
func TestReplyConstants(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"NLMSG_HDRLEN", nlmsgHdrLen, unix.NLMSG_HDRLEN},
		{"NLMSG_ERROR", nlmsgError, unix.NLMSG_ERROR},
		{"NLMSG_DONE", nlmsgDone, unix.NLMSG_DONE},
		{"NLM_F_DUMP_INTR", nlmFDumpIntr, unix.NLM_F_DUMP_INTR},
		{"SOCK_DIAG_BY_FAMILY", sockDiagByFamily, unix.SOCK_DIAG_BY_FAMILY},
		{"test NLMSG_ERROR", tError, unix.NLMSG_ERROR},
		{"test NLMSG_DONE", tDone, unix.NLMSG_DONE},
		{"test NLMSG_NOOP", tNoop, unix.NLMSG_NOOP},
		{"test NLMSG_OVERRUN", tOverrun, unix.NLMSG_OVERRUN},
		{"test NLM_F_MULTI", fMulti, unix.NLM_F_MULTI},
		{"test NLM_F_DUMP_INTR", fIntr, unix.NLM_F_DUMP_INTR},
		{"test SOCK_DIAG_BY_FAMILY", tSockDiag, unix.SOCK_DIAG_BY_FAMILY},
		{"test EPERM", int(errnoPerm), int(unix.EPERM)},
		{"test ENOBUFS", int(errnoNoBufs), int(unix.ENOBUFS)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

// scriptTransport stands for the socket: the i-th request sent is given
// sequence number 100+i and answered with the datagrams reply(i, seq)
// returns (reply may also answer with replies of earlier requests, as a
// kernel that was slow to finish them would).
type scriptTransport struct {
	reply   func(req int, seq uint32) [][]byte
	sendErr error
	sent    []netlink.Message
	queue   [][]byte
}

func (s *scriptTransport) send(m netlink.Message) (uint32, error) {
	if s.sendErr != nil {
		return 0, s.sendErr
	}
	s.sent = append(s.sent, m)
	seq := uint32(100 + len(s.sent) - 1)
	s.queue = append(s.queue, s.reply(len(s.sent)-1, seq)...)
	return seq, nil
}

// sendBatch numbers the batch's requests as send does, one by one.
func (s *scriptTransport) sendBatch(ms []netlink.Message) (uint32, error) {
	var first uint32
	for k, m := range ms {
		seq, err := s.send(m)
		if err != nil {
			return 0, err
		}
		if k == 0 {
			first = seq
		}
	}
	return first, nil
}

// errScriptDone: the script has nothing more to read; errScriptRecv: a
// nil datagram of the script, a receive that fails.
var (
	errScriptDone = errors.New("receive: nothing more to read")
	errScriptRecv = errors.New("receive: scripted failure")
)

func (s *scriptTransport) recv() ([]byte, error) {
	if len(s.queue) == 0 {
		return nil, errScriptDone
	}
	b := s.queue[0]
	s.queue = s.queue[1:]
	if b == nil {
		return nil, errScriptRecv
	}
	return b, nil
}

// sentFamilies lists the family of every request sent.
func (s *scriptTransport) sentFamilies() []Family {
	var fams []Family
	for _, m := range s.sent {
		fams = append(fams, Family(m.Data[0]))
	}
	return fams
}

// replyOf is a reply of request seq for a socket of family fam whose
// cookie is cookie.
func replyOf(seq uint32, fam Family, cookie uint64, flags uint16) []byte {
	return nlm{typ: tSockDiag, flags: fMulti | flags, seq: seq, payload: rawMsg{family: byte(fam), state: 1, cookie: cookie}.bytes()}.bytes()
}

func repeat(fam Family, n int) []Family {
	out := make([]Family, n)
	for i := range out {
		out[i] = fam
	}
	return out
}

func cookiesOf(socks []Socket) []uint64 {
	var out []uint64
	for i := range socks {
		out = append(out, socks[i].ID.Cookie)
	}
	return out
}

// TestDumpScripted drives Dump through a scripted socket: the restart of a
// dump the kernel marked inconsistent (bounded by maxDumpRetries, then
// ErrDumpInterrupted), late replies of an earlier attempt, and errors,
// each of which leaves dst as it was given.
func TestDumpScripted(t *testing.T) {
	inet, inet6 := FamilyInet, FamilyInet6
	tests := []struct {
		name      string
		req       Request
		reply     func(req int, seq uint32) [][]byte
		sendErr   error
		want      []uint64 // cookies after the one already in dst
		wantSent  []Family
		wantErr   error
		wantText  string
		wantDrain bool // every scripted datagram was read
	}{
		{
			name: "a clean dump",
			req:  Request{Family: inet},
			reply: func(_ int, seq uint32) [][]byte {
				return [][]byte{cat(replyOf(seq, inet, 1, 0), replyOf(seq, inet, 2, 0)), doneMsg(seq, 0)}
			},
			want: []uint64{1, 2}, wantSent: []Family{inet}, wantDrain: true,
		},
		{
			name: "interrupted once: restarted, only the second attempt kept",
			req:  Request{Family: inet},
			reply: func(req int, seq uint32) [][]byte {
				if req == 0 {
					return [][]byte{cat(replyOf(seq, inet, 1, 0), replyOf(seq, inet, 2, fIntr)), doneMsg(seq, 0)}
				}
				return [][]byte{cat(replyOf(seq, inet, 3, 0), doneMsg(seq, 0))}
			},
			want: []uint64{3}, wantSent: []Family{inet, inet}, wantDrain: true,
		},
		{
			name: "interrupted on every attempt",
			req:  Request{Family: inet},
			reply: func(_ int, seq uint32) [][]byte {
				return [][]byte{cat(replyOf(seq, inet, uint64(seq), fIntr), doneMsg(seq, 0))}
			},
			wantSent: repeat(inet, maxDumpRetries), wantErr: ErrDumpInterrupted,
			wantText: fmt.Sprintf("(%d attempts)", maxDumpRetries), wantDrain: true,
		},
		{
			name: "interrupted until the last attempt",
			req:  Request{Family: inet},
			reply: func(req int, seq uint32) [][]byte {
				flags := uint16(fIntr)
				if req == maxDumpRetries-1 {
					flags = 0
				}
				return [][]byte{cat(replyOf(seq, inet, uint64(seq), flags), doneMsg(seq, 0))}
			},
			want: []uint64{100 + maxDumpRetries - 1}, wantSent: repeat(inet, maxDumpRetries), wantDrain: true,
		},
		{
			name: "both families: a restart of the second keeps the first's sockets",
			req:  Request{},
			reply: func(req int, seq uint32) [][]byte {
				switch req {
				case 0:
					return [][]byte{cat(replyOf(seq, inet, 1, 0), doneMsg(seq, 0))}
				case 1:
					return [][]byte{cat(replyOf(seq, inet6, 2, 0), nlm{typ: tDone, flags: fIntr, seq: seq, payload: u32s(0)}.bytes())}
				}
				return [][]byte{cat(replyOf(seq, inet6, 3, 0), doneMsg(seq, 0))}
			},
			want: []uint64{1, 3}, wantSent: []Family{inet, inet6, inet6}, wantDrain: true,
		},
		{
			name: "the kernel ends the dump with an errno",
			req:  Request{Family: inet},
			reply: func(_ int, seq uint32) [][]byte {
				return [][]byte{cat(replyOf(seq, inet, 1, 0), doneMsg(seq, -int32(unix.ENOBUFS)))}
			},
			wantSent: []Family{inet}, wantErr: unix.ENOBUFS, wantText: "inetdiag: dump inet: no buffer space available", wantDrain: true,
		},
		{
			name: "the kernel refuses the request",
			req:  Request{Family: inet6},
			reply: func(_ int, seq uint32) [][]byte {
				return [][]byte{errorMsg(seq, -int32(unix.EPERM))}
			},
			wantSent: []Family{inet6}, wantErr: unix.EPERM, wantText: "inetdiag: dump inet6: operation not permitted", wantDrain: true,
		},
		{
			name: "a reply that does not decode: the rest of the dump is drained",
			req:  Request{Family: inet},
			reply: func(_ int, seq uint32) [][]byte {
				return [][]byte{
					cat(replyOf(seq, inet, 1, 0), sockMsg(seq, []byte{2, 1, 0})),
					cat(replyOf(seq, inet, 2, 0), doneMsg(seq, 0)),
				}
			},
			wantSent: []Family{inet}, wantErr: ErrShortMessage, wantDrain: true,
		},
		{
			name: "a truncated datagram",
			req:  Request{Family: inet},
			reply: func(_ int, seq uint32) [][]byte {
				return [][]byte{cat(replyOf(seq, inet, 1, 0), []byte{1, 2, 3, 4})}
			},
			wantSent: []Family{inet}, wantErr: errTruncated, wantText: "inetdiag: dump inet: truncated netlink message: 4 trailing bytes", wantDrain: true,
		},
		{
			name:     "send fails",
			req:      Request{Family: inet},
			reply:    func(int, uint32) [][]byte { return nil },
			sendErr:  unix.ENOBUFS,
			wantErr:  unix.ENOBUFS,
			wantText: "inetdiag: dump inet: no buffer space available",
		},
		{
			name: "receive fails",
			req:  Request{Family: inet},
			reply: func(_ int, seq uint32) [][]byte {
				return [][]byte{replyOf(seq, inet, 1, 0)}
			},
			wantSent: []Family{inet}, wantErr: errScriptDone, wantDrain: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &scriptTransport{reply: tt.reply, sendErr: tt.sendErr}
			c := &Conn{tr: st}
			// dst holds a socket of an earlier dump, which must survive.
			dst := make([]Socket, 1, 8)
			dst[0].ID.Cookie = 42
			got, err := c.Dump(tt.req, dst)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("error %v, want none", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want one wrapping %v", err, tt.wantErr)
			case tt.wantText != "" && !containsText(err, tt.wantText):
				t.Errorf("error %q, want it to say %q", err, tt.wantText)
			}
			if len(got) == 0 || got[0].ID.Cookie != 42 {
				t.Fatalf("the socket already in dst is gone: %v", cookiesOf(got))
			}
			if fmt.Sprint(cookiesOf(got[1:])) != fmt.Sprint(tt.want) {
				t.Errorf("cookies %v, want %v", cookiesOf(got[1:]), tt.want)
			}
			if tt.wantSent != nil && fmt.Sprint(st.sentFamilies()) != fmt.Sprint(tt.wantSent) {
				t.Errorf("requests for %v, want %v", st.sentFamilies(), tt.wantSent)
			}
			if tt.wantDrain && len(st.queue) != 0 {
				t.Errorf("%d datagrams left unread: the next dump would read them", len(st.queue))
			}
		})
	}
}

func containsText(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }

// TestDumpFuncScripted: DumpFunc delivers an interrupted dump once, whole,
// and then says it was interrupted, without a restart.
func TestDumpFuncScripted(t *testing.T) {
	st := &scriptTransport{reply: func(req int, seq uint32) [][]byte {
		fam := FamilyInet
		if req == 1 {
			fam = FamilyInet6
		}
		return [][]byte{cat(replyOf(seq, fam, uint64(seq), fIntr), replyOf(seq, fam, uint64(seq)+10, 0), doneMsg(seq, 0))}
	}}
	c := &Conn{tr: st}
	var got []uint64
	err := c.DumpFunc(Request{}, func(s *Socket) error {
		got = append(got, s.ID.Cookie)
		return nil
	})
	if !errors.Is(err, ErrDumpInterrupted) {
		t.Errorf("error %v, want one wrapping ErrDumpInterrupted", err)
	}
	if fmt.Sprint(got) != "[100 110 101 111]" {
		t.Errorf("cookies %v, want [100 110 101 111]", got)
	}
	if fmt.Sprint(st.sentFamilies()) != fmt.Sprint([]Family{FamilyInet, FamilyInet6}) {
		t.Errorf("requests for %v, want one per family", st.sentFamilies())
	}
}

// TestDumpSkipsLateReplies: a dump that failed part way (a receive error)
// leaves the rest of its replies in the socket; the next dump reads them
// first and must skip them by their sequence number.
func TestDumpSkipsLateReplies(t *testing.T) {
	st := &scriptTransport{reply: func(req int, seq uint32) [][]byte {
		if req == 0 {
			return [][]byte{replyOf(seq, FamilyInet, 1, 0), nil}
		}
		return [][]byte{
			cat(replyOf(seq-1, FamilyInet, 2, 0), doneMsg(seq-1, 0)),
			cat(replyOf(seq, FamilyInet, 3, 0), doneMsg(seq, 0)),
		}
	}}
	c := &Conn{tr: st}
	if _, err := c.Dump(Request{Family: FamilyInet}, nil); !errors.Is(err, errScriptRecv) {
		t.Fatalf("first dump: error %v, want the receive error", err)
	}
	// The script queues the rest of the first dump before the second's.
	got, err := c.Dump(Request{Family: FamilyInet}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cookiesOf(got)) != "[3]" {
		t.Errorf("second dump: cookies %v, want [3] (2 is a late reply of the first)", cookiesOf(got))
	}
	if len(st.queue) != 0 {
		t.Errorf("%d datagrams left unread", len(st.queue))
	}
}
