package record

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/model"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus under testdata/fuzz")

// fuzzMaxRaw bounds decompressed records in the fuzz target, so that a
// forged length cannot make one input allocate gigabytes; the real limit
// is maxRawRecord.
const fuzzMaxRaw = 1 << 20

// FuzzSegment reads arbitrary bytes as a segment file: it must never
// panic, and every failure must be an *Error or a note.
func FuzzSegment(f *testing.F) {
	for _, seed := range segmentSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := openSegment("fuzz.twr", bytes.NewReader(data), int64(len(data)), fuzzMaxRaw)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("openSegment: %v is not an *Error", err)
			}
			return
		}
		s.span()
		it := newSegIter(s)
		for range 10_000 {
			_, err := it.next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("next: %v is not an *Error", err)
				}
				return
			}
		}
	})
}

// segmentSeeds are whole and damaged segments of a small recording.
func segmentSeeds(tb testing.TB) [][]byte {
	h := newSimHost(tb, 12, 0.3, 0.1, 9)
	dir := filepath.Join(tb.TempDir(), "seed")
	w, err := Create(dir, Options{Host: "seed"})
	if err != nil {
		tb.Fatal(err)
	}
	for i, p := range simPolls(tb, h, 4) {
		p.Parts[0].Owners = map[uint32]Owner{p.Parts[0].Socks[1].Inode: {PID: 1, Comm: "init"}}
		p.Parts[0].Options = []Option{{Cookie: 5, OK: true, Opts: model.SockOpts{Known: true, KeepCnt: 3}}}
		p.Parts[0].Counters = &model.Counters{EstabResets: uint64(i)}
		if i == 0 {
			p.State = []byte("s")
		}
		if err := w.Append(p); err != nil {
			tb.Fatal(err)
		}
	}
	w.Close()
	segs, err := listSegments(dir)
	if err != nil {
		tb.Fatal(err)
	}
	whole, err := os.ReadFile(segs[0].Path)
	if err != nil {
		tb.Fatal(err)
	}
	flipped := bytes.Clone(whole)
	flipped[len(flipped)/2] ^= 1
	return [][]byte{whole, whole[:len(whole)-40], flipped, whole[:preambleLen], {}}
}

// TestSeedCorpus keeps testdata/fuzz/FuzzSegment in step with the format
// (go test -run TestSeedCorpus -update-corpus rewrites it), and reads
// every file of it without failing the fuzz target's rules.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzSegment")
	if *updateCorpus {
		os.MkdirAll(dir, 0o755)
		for i, seed := range segmentSeeds(t) {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", seed)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		t.Fatalf("no seed corpus in %s (%v): run with -update-corpus", dir, err)
	}
}

// fuzzBytes hands out the fuzzer's bytes; past the end it returns zeros.
type fuzzBytes struct{ b []byte }

func (r *fuzzBytes) u8() uint8 {
	if len(r.b) == 0 {
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *fuzzBytes) u64() uint64 {
	var v uint64
	for i := range 8 {
		v |= uint64(r.u8()) << (8 * i)
	}
	return v
}

// value returns a word's value: often small or a neighbour of the
// previous one (as real counters move), sometimes anything.
func (r *fuzzBytes) value(prev uint64) uint64 {
	switch r.u8() % 4 {
	case 0:
		return prev
	case 1:
		return prev + uint64(int64(int8(r.u8())))
	case 2:
		return uint64(r.u8())
	}
	return r.u64()
}

// FuzzCodecRoundTrip builds sequences of polls from arbitrary bytes
// (sockets whose every word and extra may take any value, appearing,
// changing and vanishing, at times that may go backwards) and checks that
// decoding gives every socket back ==.
func FuzzCodecRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{1, 2, 3, 0xff, 0x80, 7}, 200))
	f.Add(bytes.Repeat([]byte{0}, 500))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &fuzzBytes{b: data}
		last := map[uint64]rsock{}
		var polls []*Poll
		ms := int64(0)
		for range 1 + r.u8()%6 {
			ms += int64(int16(uint16(r.u8()) | uint16(r.u8())<<8))
			p := &Poll{Time: at(ms)}
			n := int(r.u8() % 9)
			for range n {
				c := uint64(r.u8() % 6)
				s := fuzzSocket(t, r, last[c])
				s.s.ID.Cookie = c
				last[c] = s
				p.Parts = []Part{{NS: 1}}
				p.Parts[0].Socks = append(p.Parts[0].Socks, s.socket())
			}
			if len(p.Parts) == 0 {
				p.Parts = []Part{{NS: 1}}
			}
			polls = append(polls, p)
		}
		keys := r.u8()
		roundTrip(t, polls, func(i int) bool { return keys&(1<<(i%8)) != 0 })
	})
}

// fuzzSocket makes a socket from prev: each word kept, moved or replaced.
func fuzzSocket(t *testing.T, r *fuzzBytes, prev rsock) rsock {
	var w [nWords]uint64
	flatten(&prev, &w)
	for i := range w {
		v := r.value(w[i])
		switch wd := words[i]; {
		case wd.kind == wordUint:
			v = min(v, wd.max)
		case wd.kind == wordInt && v != uint64(int64(int(int64(v)))):
			v = 0
		case wd.kind == wordDur && r.u8()%2 == 0:
			v = uint64(time.Duration(int64(v)%(1<<40)) / wd.unit * wd.unit) // whole units, as the kernel's
		}
		w[i] = v
	}
	s := prev
	unflatten(&w, &s)
	if r.u8()%4 == 0 {
		addrs := []netip.AddrPort{{}, netip.MustParseAddrPort("10.1.2.3:443"), netip.MustParseAddrPort("[2001:db8::7]:80"),
			netip.MustParseAddrPort("[fe80::1%eth0]:22"), netip.MustParseAddrPort("[::ffff:10.0.0.1]:5432"), netip.AddrPortFrom(netip.Addr{}, 9)}
		s.s.ID.Src, s.s.ID.Dst = addrs[int(r.u8())%len(addrs)], addrs[int(r.u8())%len(addrs)]
		s.f.Cong = []string{"", "cubic", "bbr", "\x00odd\xff"}[r.u8()%4]
	}
	if r.u8()%4 == 0 {
		m := uint32(r.u64())
		if err := setAttrs(&s.s, m); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestDecodeBoundsAllocation: a record claiming far more sockets than its
// bytes could hold is refused before anything is sized by the claim.
func TestDecodeBoundsAllocation(t *testing.T) {
	var w wbuf
	w.uvarint(math.MaxUint32) // sockets
	for range 5 + nColumns {
		w.bytes(nil)
	}
	r := &rbuf{b: w.b}
	var base sockBase
	if got := decodeSocks(r, &base, 0); got != nil || r.err == nil {
		t.Fatalf("decodeSocks of a forged count: %d sockets, %v", len(got), r.err)
	}
}

// FuzzDecodePoll feeds arbitrary bytes to the record decoder, behind the
// checksum, as a keyframe and as a delta on a real base: never a panic,
// and never an allocation sized by a forged count.
func FuzzDecodePoll(f *testing.F) {
	h := newSimHost(f, 20, 0.3, 0.1, 10)
	polls := simPolls(f, h, 3)
	enc := newEncoder()
	var raws [][]byte
	for i, p := range polls {
		raws = append(raws, bytes.Clone(enc.encode(p, i == 0)))
		enc.commit(p, i == 0)
	}
	for _, raw := range raws {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, key := range []bool{true, false} {
			var st codecState
			st.reset()
			if _, err := decodePoll(raws[0], polls[0].Time, true, &st); err != nil {
				t.Fatal(err)
			}
			decodePoll(data, polls[1].Time, key, &st)
		}
	})
}
