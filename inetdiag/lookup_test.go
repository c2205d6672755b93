package inetdiag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"syscall"
	"testing"
)

// TestMarshalLookup pins the request of a look-up to the layout of struct
// inet_diag_req_v2, written out by hand: an IPv4 peer of an IPv6 socket
// goes out v4-mapped, ports big-endian, the cookie as two host-order
// words, low first.
func TestMarshalLookup(t *testing.T) {
	tests := []struct {
		name     string
		target   Target
		ext      Extensions
		src, dst [16]byte
	}{
		{
			name: "inet",
			target: Target{Family: FamilyInet, ID: SockID{
				Src: netip.MustParseAddrPort("10.1.2.3:443"), Dst: netip.MustParseAddrPort("192.0.2.9:51000"),
				Interface: 7, Cookie: 0x1122334455667788,
			}},
			ext: ExtInfo,
			src: v4(10, 1, 2, 3), dst: v4(192, 0, 2, 9),
		},
		{
			name: "inet6",
			target: Target{Family: FamilyInet6, ID: SockID{
				Src: netip.MustParseAddrPort("[2001:db8::1]:80"), Dst: netip.MustParseAddrPort("[2001:db8::2]:40000"),
				Cookie: 42,
			}},
			ext: ExtDefault,
			src: v6("2001:db8::1"), dst: v6("2001:db8::2"),
		},
		{
			name: "inet6 with an IPv4 peer",
			target: Target{Family: FamilyInet6, ID: SockID{
				Src: netip.MustParseAddrPort("127.0.0.1:8080"), Dst: netip.MustParseAddrPort("127.0.0.1:33333"),
				Cookie: NoCookie,
			}},
			ext: ExtNone,
			src: v6("::ffff:127.0.0.1"), dst: v6("::ffff:127.0.0.1"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ne := binary.NativeEndian
			want := make([]byte, 56)
			want[0] = byte(tc.target.Family)
			want[1] = 6 // IPPROTO_TCP
			want[2] = byte(tc.ext)
			ne.PutUint32(want[4:], 0xffe) // every state
			id := tc.target.ID
			want[8], want[9] = byte(id.Src.Port()>>8), byte(id.Src.Port())
			want[10], want[11] = byte(id.Dst.Port()>>8), byte(id.Dst.Port())
			copy(want[12:28], tc.src[:])
			copy(want[28:44], tc.dst[:])
			ne.PutUint32(want[44:], id.Interface)
			ne.PutUint32(want[48:], uint32(id.Cookie))
			ne.PutUint32(want[52:], uint32(id.Cookie>>32))
			if got := marshalLookup(tc.target, tc.ext); !bytes.Equal(got, want) {
				t.Errorf("request\n got % x\nwant % x", got, want)
			}
		})
	}
}

// answer is one message a test datagram holds, and what the parser must
// make of it.
func TestParseLookupDatagram(t *testing.T) {
	a, b := rawMsg{family: 2, state: 1, cookie: 1}.bytes(), rawMsg{family: 2, state: 1, cookie: 2}.bytes()
	type call struct {
		k     int
		body  []byte
		errno syscall.Errno
	}
	tests := []struct {
		name    string
		first   uint32
		n       int
		dgram   []byte
		want    []call
		wantErr error
	}{
		{name: "one reply", first: 10, n: 1, dgram: sockMsg(10, a), want: []call{{0, a, 0}}},
		{name: "replies and an error in one datagram", first: 10, n: 3,
			dgram: cat(sockMsg(11, b), errorMsg(12, -2), sockMsg(10, a)),
			want:  []call{{1, b, 0}, {2, nil, 2}, {0, a, 0}}},
		{name: "late answers of another batch are skipped", first: 10, n: 2,
			dgram: cat(sockMsg(9, a), errorMsg(12, -2), sockMsg(11, b)),
			want:  []call{{1, b, 0}}},
		{name: "a batch straddling 2^32", first: 0xffffffff, n: 2,
			dgram: cat(sockMsg(0, b), sockMsg(0xffffffff, a)),
			want:  []call{{1, b, 0}, {0, a, 0}}},
		{name: "acknowledgements and done messages are no answers", first: 10, n: 1,
			dgram: cat(errorMsg(10, 0), doneMsg(10, 0), nlm{typ: tNoop, seq: 10}.bytes()),
			want:  nil},
		{name: "a header cut short", first: 10, n: 1,
			dgram:   cat(sockMsg(10, a), []byte{1, 2, 3}),
			want:    []call{{0, a, 0}},
			wantErr: errTruncated},
		{name: "a length beyond the datagram", first: 10, n: 1,
			dgram:   nlm{typ: tSockDiag, seq: 10, length: 200, payload: a}.bytes(),
			wantErr: errTruncated},
		{name: "an error message without its code", first: 10, n: 1,
			dgram:   nlm{typ: tError, seq: 10, payload: []byte{1, 2}}.bytes(),
			wantErr: errTruncated},
		{name: "the last message without padding", first: 10, n: 1,
			dgram: nlm{typ: tSockDiag, seq: 10, payload: []byte("odd"), noPad: true}.bytes(),
			want:  []call{{0, []byte("odd"), 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []call
			n, err := parseLookupDatagram(tc.dgram, tc.first, tc.n, func(k int, p []byte, errno syscall.Errno) error {
				got = append(got, call{k, bytes.Clone(p), errno})
				return nil
			})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if n != len(got) {
				t.Errorf("returned %d answers, handed on %d", n, len(got))
			}
			if !slices.EqualFunc(got, tc.want, func(x, y call) bool {
				return x.k == y.k && bytes.Equal(x.body, y.body) && x.errno == y.errno
			}) {
				t.Errorf("answers %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzParseLookupDatagram: the parser of look-up answers must never panic,
// name its errors, hand on only indices of the batch, and only payloads
// lying within the datagram under a header of their length, type and
// sequence number.
func FuzzParseLookupDatagram(f *testing.F) {
	a := rawMsg{family: 2, state: 1}.bytes()
	f.Add(cat(sockMsg(7, a), errorMsg(8, -2)), uint32(7), uint8(2))
	f.Add(cat(sockMsg(6, a), errorMsg(7, 0), sockMsg(9, a)), uint32(7), uint8(2))
	f.Add(cat(sockMsg(0, a), sockMsg(0xffffffff, a)), uint32(0xffffffff), uint8(2))
	f.Add(cat(sockMsg(7, a), []byte{1, 2, 3}), uint32(7), uint8(1))
	f.Add(nlm{typ: tSockDiag, seq: 7, length: 15}.bytes(), uint32(7), uint8(1))
	f.Add(nlm{typ: tError, seq: 7, payload: u32s(5)}.bytes(), uint32(7), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, first uint32, n uint8) {
		b = b[:len(b):len(b)]
		calls := 0
		n2, err := parseLookupDatagram(b, first, int(n), func(k int, p []byte, errno syscall.Errno) error {
			calls++
			if k < 0 || k >= int(n) {
				t.Fatalf("index %d outside a batch of %d", k, n)
			}
			if (p == nil) == (errno == 0) {
				t.Fatalf("answer %d: payload %v and errno %d: want exactly one", k, p != nil, errno)
			}
			if p == nil {
				return nil
			}
			off := cap(b) - cap(p)
			if off < 16 || off+len(p) > len(b) {
				t.Fatalf("payload at %d+%d outside the datagram of %d bytes", off, len(p), len(b))
			}
			ne := binary.NativeEndian
			h := b[off-16:]
			if int(ne.Uint32(h[0:])) != 16+len(p) || ne.Uint16(h[4:]) != tSockDiag || ne.Uint32(h[8:]) != first+uint32(k) {
				t.Fatalf("payload at %d: its header is not answer %d's: % x", off, k, h[:16])
			}
			return nil
		})
		if err != nil && !errors.Is(err, errTruncated) {
			t.Fatalf("error %v is none the parser names", err)
		}
		if n2 != calls {
			t.Fatalf("returned %d answers, handed on %d", n2, calls)
		}
	})
}
