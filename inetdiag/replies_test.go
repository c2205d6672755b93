package inetdiag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"testing"
)

// nlm describes one netlink message (struct nlmsghdr and its payload), laid
// out by hand in tests rather than with the parser's constants.
type nlm struct {
	typ, flags uint16
	seq        uint32
	payload    []byte
	// length overrides nlmsg_len when non-zero (a lying header).
	length uint32
	// noPad leaves out the alignment padding, as the last message of a
	// datagram may.
	noPad bool
}

// Message types and flags of the tests (include/uapi/linux/netlink.h,
// sock_diag.h).
const (
	tNoop     = 1
	tError    = 2
	tDone     = 3
	tOverrun  = 4
	tSockDiag = 20
	fMulti    = 0x2
	fIntr     = 0x10
)

func (m nlm) bytes() []byte {
	l := m.length
	if l == 0 {
		l = uint32(16 + len(m.payload))
	}
	b := make([]byte, 16, 16+len(m.payload)+3)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], l)
	ne.PutUint16(b[4:], m.typ)
	ne.PutUint16(b[6:], m.flags)
	ne.PutUint32(b[8:], m.seq)
	ne.PutUint32(b[12:], 4242) // nlmsg_pid: the parser ignores it
	b = append(b, m.payload...)
	for !m.noPad && len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// Messages of request seq.
func sockMsg(seq uint32, payload []byte) []byte {
	return nlm{typ: tSockDiag, flags: fMulti, seq: seq, payload: payload}.bytes()
}

// zeroLenMsg is a header of request seq whose nlmsg_len is 0.
func zeroLenMsg(seq uint32) []byte {
	b := nlm{typ: tSockDiag, seq: seq}.bytes()
	binary.NativeEndian.PutUint32(b, 0)
	return b
}

func doneMsg(seq uint32, code int32) []byte {
	return nlm{typ: tDone, flags: fMulti, seq: seq, payload: u32s(uint32(code))}.bytes()
}

func errorMsg(seq uint32, code int32) []byte {
	// struct nlmsgerr: the errno, then the header of the request.
	return nlm{typ: tError, seq: seq, payload: cat(u32s(uint32(code)), make([]byte, 16))}.bytes()
}

// Errnos by their Linux numbers: the parser converts numbers, whatever
// the platform calls them.
const (
	errnoPerm   = syscall.Errno(1)   // EPERM
	errnoNoBufs = syscall.Errno(105) // ENOBUFS
)

var errStopTest = errors.New("callback stops")

// parseRun feeds datagrams to a parser of request seq whose callback
// records payloads and fails at its stopAt-th call (never when 0).
type parseRun struct {
	p        replyParser
	fn       func([]byte) error
	payloads [][]byte
	calls    int
}

func newParseRun(seq uint32, stopAt int) *parseRun {
	r := &parseRun{p: replyParser{seq: seq}}
	r.fn = func(b []byte) error {
		r.calls++
		r.payloads = append(r.payloads, bytes.Clone(b))
		if r.calls == stopAt {
			return errStopTest
		}
		return nil
	}
	return r
}

func TestReplyParser(t *testing.T) {
	a, b, c := []byte("sock-a.."), []byte("sock-b.."), []byte("sock-c..")
	odd := []byte("odd") // 3 bytes: its message needs a byte of padding
	tests := []struct {
		name      string
		seq       uint32
		datagrams [][]byte
		stopAt    int
		want      [][]byte // payloads handed to the callback
		wantDone  bool     // after the last datagram
		wantIntr  bool
		wantErr   error // errors.Is; nil: success
		wantText  string
		// wantN is n for the last datagram; -1: its whole length.
		wantN int
	}{
		{
			name:      "replies and the end in one datagram",
			seq:       7,
			datagrams: [][]byte{cat(sockMsg(7, a), sockMsg(7, b), doneMsg(7, 0))},
			want:      [][]byte{a, b}, wantDone: true, wantN: -1,
		},
		{
			name:      "a dump over three datagrams",
			seq:       7,
			datagrams: [][]byte{cat(sockMsg(7, a), sockMsg(7, b)), sockMsg(7, c), doneMsg(7, 0)},
			want:      [][]byte{a, b, c}, wantDone: true, wantN: -1,
		},
		{
			name:      "a datagram without the end",
			seq:       7,
			datagrams: [][]byte{cat(sockMsg(7, a), sockMsg(7, b))},
			want:      [][]byte{a, b}, wantN: -1,
		},
		{
			name: "late replies to an earlier request are skipped, their end too",
			seq:  8,
			datagrams: [][]byte{
				cat(sockMsg(7, a), doneMsg(7, 0)),
				cat(sockMsg(8, b), doneMsg(8, 0)),
			},
			want: [][]byte{b}, wantDone: true, wantN: -1,
		},
		{
			name:      "an earlier request's errno is not ours",
			seq:       8,
			datagrams: [][]byte{cat(doneMsg(7, -int32(errnoNoBufs)), errorMsg(7, -int32(errnoPerm)), sockMsg(8, a), doneMsg(8, 0))},
			want:      [][]byte{a}, wantDone: true, wantN: -1,
		},
		{
			name: "NLM_F_DUMP_INTR on one reply marks the dump",
			seq:  7,
			datagrams: [][]byte{
				sockMsg(7, a),
				cat(nlm{typ: tSockDiag, flags: fMulti | fIntr, seq: 7, payload: b}.bytes(), doneMsg(7, 0)),
			},
			want: [][]byte{a, b}, wantDone: true, wantIntr: true, wantN: -1,
		},
		{
			name:      "NLM_F_DUMP_INTR on the end marks the dump",
			seq:       7,
			datagrams: [][]byte{cat(sockMsg(7, a), nlm{typ: tDone, flags: fMulti | fIntr, seq: 7, payload: u32s(0)}.bytes())},
			want:      [][]byte{a}, wantDone: true, wantIntr: true, wantN: -1,
		},
		{
			name:      "NLM_F_DUMP_INTR of another request is not ours",
			seq:       8,
			datagrams: [][]byte{cat(nlm{typ: tSockDiag, flags: fIntr, seq: 7, payload: a}.bytes(), sockMsg(8, b), doneMsg(8, 0))},
			want:      [][]byte{b}, wantDone: true, wantN: -1,
		},
		{
			name:      "the end carries the errno of a dump that failed part way",
			seq:       7,
			datagrams: [][]byte{cat(sockMsg(7, a), doneMsg(7, -int32(errnoNoBufs)))},
			want:      [][]byte{a}, wantDone: true, wantErr: errnoNoBufs, wantN: -1,
		},
		{
			name:      "an end without payload",
			seq:       7,
			datagrams: [][]byte{cat(sockMsg(7, a), nlm{typ: tDone, seq: 7}.bytes())},
			want:      [][]byte{a}, wantDone: true, wantN: -1,
		},
		{
			name:      "an end with a positive value is not an errno",
			seq:       7,
			datagrams: [][]byte{doneMsg(7, 5)},
			wantDone:  true, wantN: -1,
		},
		{
			name:      "an error reply instead of the dump",
			seq:       7,
			datagrams: [][]byte{errorMsg(7, -int32(errnoPerm))},
			wantDone:  true, wantErr: errnoPerm, wantN: -1,
		},
		{
			name:      "an acknowledgement does not end the dump",
			seq:       7,
			datagrams: [][]byte{cat(errorMsg(7, 0), sockMsg(7, a)), doneMsg(7, 0)},
			want:      [][]byte{a}, wantDone: true, wantN: -1,
		},
		{
			name:      "an error reply cut short",
			seq:       7,
			datagrams: [][]byte{cat(sockMsg(7, a), nlm{typ: tError, seq: 7, payload: []byte{1, 2}}.bytes())},
			want:      [][]byte{a}, wantErr: errTruncated, wantText: "error message of 2 bytes", wantN: len(sockMsg(7, a)) + 20,
		},
		{
			name:      "trailing bytes shorter than a header",
			seq:       7,
			datagrams: [][]byte{cat(sockMsg(7, a), []byte{1, 2, 3})},
			want:      [][]byte{a}, wantErr: errTruncated, wantText: "3 trailing bytes", wantN: len(sockMsg(7, a)),
		},
		{
			name:      "a length shorter than the header",
			seq:       7,
			datagrams: [][]byte{cat(sockMsg(7, a), nlm{typ: tSockDiag, seq: 7, payload: a, length: 15}.bytes())},
			want:      [][]byte{a}, wantErr: errTruncated, wantText: "length 15, 24 bytes left", wantN: len(sockMsg(7, a)),
		},
		{
			name:      "a length past the datagram",
			seq:       7,
			datagrams: [][]byte{nlm{typ: tSockDiag, seq: 7, payload: a, length: 25}.bytes()},
			wantErr:   errTruncated, wantText: "length 25, 24 bytes left", wantN: 0,
		},
		{
			name:      "a length of zero cannot stall the walk",
			seq:       7,
			datagrams: [][]byte{cat(sockMsg(7, a), zeroLenMsg(7))},
			want:      [][]byte{a}, wantErr: errTruncated, wantText: "length 0, 16 bytes left", wantN: len(sockMsg(7, a)),
		},
		{
			name:      "a length beyond any datagram",
			seq:       7,
			datagrams: [][]byte{nlm{typ: tSockDiag, seq: 7, length: 0xffffffff}.bytes()},
			wantErr:   errTruncated, wantN: 0,
		},
		{
			name:      "padding between messages",
			seq:       7,
			datagrams: [][]byte{cat(sockMsg(7, odd), sockMsg(7, a), doneMsg(7, 0))},
			want:      [][]byte{odd, a}, wantDone: true, wantN: -1,
		},
		{
			name:      "the last message of a datagram without its padding",
			seq:       7,
			datagrams: [][]byte{cat(sockMsg(7, a), nlm{typ: tSockDiag, seq: 7, payload: odd, noPad: true}.bytes()), doneMsg(7, 0)},
			want:      [][]byte{a, odd}, wantDone: true, wantN: -1,
		},
		{
			name:      "messages of other types are ignored",
			seq:       7,
			datagrams: [][]byte{cat(nlm{typ: tNoop, seq: 7, payload: a}.bytes(), nlm{typ: tOverrun, seq: 7}.bytes(), sockMsg(7, b), doneMsg(7, 0))},
			want:      [][]byte{b}, wantDone: true, wantN: -1,
		},
		{
			name:      "bytes after the end are not read",
			seq:       7,
			datagrams: [][]byte{cat(sockMsg(7, a), doneMsg(7, 0), sockMsg(7, b), []byte{9})},
			want:      [][]byte{a}, wantDone: true, wantN: len(sockMsg(7, a)) + len(doneMsg(7, 0)),
		},
		{
			name:      "a callback error: the rest is drained and the error comes at the end",
			seq:       7,
			datagrams: [][]byte{cat(sockMsg(7, a), sockMsg(7, b)), cat(sockMsg(7, c), doneMsg(7, 0))},
			stopAt:    1,
			want:      [][]byte{a}, wantDone: true, wantErr: errStopTest, wantN: -1,
		},
		{
			name:      "a callback error, then the kernel's errno: the errno is reported",
			seq:       7,
			datagrams: [][]byte{cat(sockMsg(7, a), sockMsg(7, b), doneMsg(7, -int32(errnoNoBufs)))},
			stopAt:    2,
			want:      [][]byte{a, b}, wantDone: true, wantErr: errnoNoBufs, wantN: -1,
		},
		{
			name:      "the request's sequence number may be zero",
			seq:       0,
			datagrams: [][]byte{cat(sockMsg(0, a), doneMsg(0, 0))},
			want:      [][]byte{a}, wantDone: true, wantN: -1,
		},
		{
			name:      "an empty datagram",
			seq:       7,
			datagrams: [][]byte{{}},
			wantN:     0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newParseRun(tt.seq, tt.stopAt)
			var (
				n    int
				done bool
				err  error
			)
			for i, d := range tt.datagrams {
				if done || err != nil {
					t.Fatalf("datagram %d: the dump already ended (done %v, err %v)", i, done, err)
				}
				n, done, err = r.p.parse(d, r.fn)
				if i < len(tt.datagrams)-1 && !done && err == nil && n != len(d) {
					t.Errorf("datagram %d: read %d of %d bytes", i, n, len(d))
				}
			}
			last := tt.datagrams[len(tt.datagrams)-1]
			wantN := tt.wantN
			if wantN < 0 {
				wantN = len(last)
			}
			if n != wantN {
				t.Errorf("n = %d, want %d (datagram of %d bytes)", n, wantN, len(last))
			}
			if done != tt.wantDone || r.p.intr != tt.wantIntr {
				t.Errorf("done %v, intr %v; want %v, %v", done, r.p.intr, tt.wantDone, tt.wantIntr)
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("error %v, want none", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("error %v, want one wrapping %v", err, tt.wantErr)
			case tt.wantText != "" && (err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.wantText))):
				t.Errorf("error %v, want one saying %q", err, tt.wantText)
			}
			if fmt.Sprintf("%q", r.payloads) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("payloads %q, want %q", r.payloads, tt.want)
			}
		})
	}
}

// FuzzParseDatagram parses any bytes as a datagram of the replies to
// request seq, with a callback that fails at its stopAt-th call (never when
// 0). It must never panic; an error must be one the parser names; every
// payload handed to the callback must be a reply of the request lying
// within the datagram, after the last; the datagram is read to its end
// unless the dump ended, and then nothing after the end is needed to parse
// it again. (The captured datagrams are up to 13 KB: minimizing a new input
// grown from one can take a short run's whole time; -fuzzminimizetime 5s
// leaves the time to exploring.)
func FuzzParseDatagram(f *testing.F) {
	a := rawMsg{family: 2, state: 1}.bytes()
	f.Add(cat(sockMsg(7, a), sockMsg(7, a), doneMsg(7, 0)), uint32(7), uint16(0))
	f.Add(cat(sockMsg(6, a), doneMsg(6, 0), sockMsg(7, a), doneMsg(7, -int32(errnoNoBufs))), uint32(7), uint16(0))
	f.Add(cat(nlm{typ: tSockDiag, flags: fIntr, seq: 7, payload: a}.bytes(), doneMsg(7, 0)), uint32(7), uint16(1))
	f.Add(cat(errorMsg(7, 0), sockMsg(7, []byte("odd")), nlm{typ: tDone, seq: 7, noPad: true, payload: []byte{1}}.bytes()), uint32(7), uint16(0))
	f.Add(cat(sockMsg(7, a), []byte{1, 2, 3}), uint32(7), uint16(0))
	f.Add(nlm{typ: tSockDiag, seq: 7, length: 15}.bytes(), uint32(7), uint16(0))
	f.Add(errorMsg(7, -int32(errnoPerm)), uint32(7), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, seq uint32, stopAt uint16) {
		b = b[:len(b):len(b)] // a payload's offset is then cap(b)-cap(payload)
		end := 0              // where the last payload ended
		calls := 0
		p := replyParser{seq: seq}
		fn := func(pl []byte) error {
			calls++
			if stopAt > 0 && calls > int(stopAt) {
				t.Fatalf("callback called again after failing")
			}
			off := cap(b) - cap(pl)
			if off < end+16 || off+len(pl) > len(b) || !bytes.Equal(b[off:off+len(pl)], pl) {
				t.Fatalf("payload at %d+%d does not lie within the datagram of %d bytes after the last one (ending at %d)", off, len(pl), len(b), end)
			}
			ne := binary.NativeEndian
			h := b[off-16:]
			if int(ne.Uint32(h[0:])) != 16+len(pl) || ne.Uint16(h[4:]) != tSockDiag || ne.Uint32(h[8:]) != seq {
				t.Fatalf("payload at %d: its header is not a reply of request %d of that length: % x", off, seq, h[:16])
			}
			end = off + len(pl)
			if int(stopAt) == calls {
				return errStopTest
			}
			return nil
		}
		n, done, err := p.parse(b, fn)
		var errno syscall.Errno
		if err != nil && !errors.Is(err, errTruncated) && !errors.As(err, &errno) && !errors.Is(err, errStopTest) {
			t.Fatalf("error %v is none the parser names", err)
		}
		if errors.Is(err, errStopTest) && (!done || stopAt == 0 || calls < int(stopAt)) {
			t.Fatalf("the callback's error before the end of the dump (done %v, %d calls, stop at %d)", done, calls, stopAt)
		}
		if n < end || n > len(b) || (err == nil && !done && n != len(b)) {
			t.Fatalf("read %d of %d bytes (done %v, err %v, last payload ending at %d)", n, len(b), done, err, end)
		}
		if done {
			// The end was within the bytes read: they parse the same alone.
			again := replyParser{seq: seq}
			n2, done2, err2 := again.parse(b[:n], func([]byte) error { return nil })
			if n2 != n || !done2 || again.intr != p.intr || (err2 == nil) != (err == nil || errors.Is(err, errStopTest)) {
				t.Fatalf("the %d bytes read parse alone as n %d, done %v, intr %v, err %v; first as done, intr %v, err %v", n, n2, done2, again.intr, err2, p.intr, err)
			}
		}
	})
}

// realDatagram is a full datagram of real replies (one captured reply
// repeated) and the end of the dump, for request 7.
func realDatagram(t testing.TB) []byte {
	t.Helper()
	msg := sockMsg(7, readCorpus(t, "testdata/fuzz/FuzzDecodeSocket/real-inet-ESTABLISHED-0"))
	var d []byte
	for len(d)+len(msg) <= 32<<10-20 {
		d = append(d, msg...)
	}
	return append(d, doneMsg(7, 0)...)
}

// TestParseDatagramAllocs: the parser allocates nothing on the way of a
// dump (it runs for every datagram of every poll).
func TestParseDatagramAllocs(t *testing.T) {
	d := realDatagram(t)
	var s Socket
	fn := func(pl []byte) error { return DecodeSocket(&s, pl) }
	allocs := testing.AllocsPerRun(100, func() {
		p := replyParser{seq: 7}
		if _, done, err := p.parse(d, fn); err != nil || !done {
			t.Fatalf("done %v, err %v", done, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per datagram, want none", allocs)
	}
}

// BenchmarkParseDatagram parses a full datagram of real replies and
// decodes every socket, as DumpFunc does: the user-space cost of a dump
// without the system calls. It must not allocate.
func BenchmarkParseDatagram(b *testing.B) {
	d := realDatagram(b)
	var s Socket
	var sockets int
	fn := func(pl []byte) error {
		sockets++
		return DecodeSocket(&s, pl)
	}
	b.SetBytes(int64(len(d)))
	b.ReportAllocs()
	for b.Loop() {
		p := replyParser{seq: 7}
		if _, done, err := p.parse(d, fn); err != nil || !done {
			b.Fatalf("done %v, err %v", done, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(sockets), "ns/socket")
}
