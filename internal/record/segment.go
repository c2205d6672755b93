package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

// Namespace names a namespace of a recording.
type Namespace struct {
	ID   NamespaceID
	Name string
}

// Header is what a segment says of itself in its first frame.
type Header struct {
	Version uint16
	// Seq is the segment's number in the ring (it grows by one per
	// segment, whatever the clock does).
	Seq uint64
	// Start is the time of the segment's keyframe.
	Start time.Time
	Host  string
	// HasState says whether the keyframe carries a Poll.State, from which
	// replay can start exactly at this segment.
	HasState bool
	// Namespaces are the keyframe's, in its order.
	Namespaces []Namespace
}

const headerHasState = 1

func encodeHeader(h *Header) []byte {
	var w wbuf
	w.uvarint(h.Seq)
	w.str(h.Host)
	var flags byte
	if h.HasState {
		flags |= headerHasState
	}
	w.byte1(flags)
	w.uvarint(uint64(len(h.Namespaces)))
	for _, ns := range h.Namespaces {
		w.uvarint(uint64(ns.ID))
		w.str(ns.Name)
	}
	return w.b
}

func decodeHeader(b []byte, h *Header) error {
	r := &rbuf{b: b}
	h.Seq = r.uvarint()
	h.Host = r.str()
	flags := r.byte1()
	if flags&^headerHasState != 0 {
		r.fail("header flags %#x", flags)
	}
	h.HasState = flags&headerHasState != 0
	n := r.count(2)
	h.Namespaces = make([]Namespace, n)
	for i := range h.Namespaces {
		h.Namespaces[i] = Namespace{ID: NamespaceID(r.uvarint()), Name: r.str()}
	}
	r.end("header")
	return r.err
}

// segReader reads one segment file through an io.ReaderAt of known size
// (the size when it was opened: a segment still being written is read up
// to there).
type segReader struct {
	name   string
	ra     io.ReaderAt
	size   int64
	maxRaw int
	hdr    Header
	first  int64 // offset of the keyframe
}

func (s *segReader) err(off int64, e error, format string, args ...any) *Error {
	return &Error{File: s.name, Offset: off, Err: e, Detail: fmt.Sprintf(format, args...)}
}

// openSegment checks the preamble and reads the header: every problem
// there is an error, since a segment without its header is unusable.
func openSegment(name string, ra io.ReaderAt, size int64, maxRaw int) (*segReader, error) {
	s := &segReader{name: name, ra: ra, size: size, maxRaw: maxRaw}
	if size == 0 {
		return nil, s.err(0, ErrEmpty, "no bytes")
	}
	pre := make([]byte, min(size, int64(preambleLen)))
	if _, err := ra.ReadAt(pre, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("record: %s: %w", name, err)
	}
	m := pre[:min(len(pre), len(magic))]
	if !bytes.Equal(m, []byte(magic[:len(m)])) {
		return nil, s.err(0, ErrNotRecording, "starts with %q", m)
	}
	if len(pre) < preambleLen {
		return nil, s.err(0, ErrTruncated, "%d bytes, the preamble has %d", size, preambleLen)
	}
	s.hdr.Version = binary.LittleEndian.Uint16(pre[len(magic):])
	switch {
	case s.hdr.Version > Version:
		return nil, s.err(int64(len(magic)), ErrNewerVersion, "version %d, this tcpwatch reads up to %d", s.hdr.Version, Version)
	case s.hdr.Version == 0:
		return nil, s.err(int64(len(magic)), ErrNotRecording, "version 0")
	}
	f, next, err := s.frame(int64(preambleLen))
	if errors.Is(err, io.EOF) {
		return nil, s.err(int64(preambleLen), ErrTruncated, "the file ends before the segment header")
	}
	if err != nil {
		var torn *tornError
		if errors.As(err, &torn) {
			return nil, s.err(int64(preambleLen), ErrTruncated, "the segment header is incomplete: %s", torn.what)
		}
		return nil, err
	}
	if f.kind != kindHeader {
		return nil, s.err(int64(preambleLen), ErrCorrupt, "first frame is of kind %d, not a segment header", f.kind)
	}
	if err := decodeHeader(f.raw, &s.hdr); err != nil {
		return nil, s.err(int64(preambleLen), ErrCorrupt, "segment header: %v", err)
	}
	s.hdr.Start = time.Unix(0, f.time)
	s.first = next
	return s, nil
}

// frame is one frame read and checked, its payload decompressed.
type frame struct {
	off  int64
	kind byte // without kindCompressed
	time int64
	raw  []byte
}

// tornError is a frame cut short by the end of the file: the tail of a
// segment whose writer stopped in the middle of a record.
type tornError struct {
	off  int64
	what string
}

func (e *tornError) Error() string { return fmt.Sprintf("offset %d: %s", e.off, e.what) }

// frame reads the frame at off and returns it with the offset of the
// next. It returns io.EOF at the end of the file, a *tornError for a frame
// that the end of the file cuts or that fails its checksum as the file's
// last, and an *Error for any other damage.
func (s *segReader) frame(off int64) (frame, int64, error) {
	if off == s.size {
		return frame{}, off, io.EOF
	}
	left := s.size - off
	if left < frameHeaderLen {
		return frame{}, off, &tornError{off, fmt.Sprintf("%d bytes, too few for a record header", left)}
	}
	var hb [frameHeaderLen]byte
	if _, err := s.ra.ReadAt(hb[:], off); err != nil {
		return frame{}, off, fmt.Errorf("record: %s: %w", s.name, err)
	}
	h := parseFrameHeader(hb[:])
	if h == (frameHeader{}) && s.zeroTail(off) {
		return frame{}, off, &tornError{off, fmt.Sprintf("%d zero bytes (a tail written but never filled)", left)}
	}
	if int64(h.length) > left-frameHeaderLen {
		return frame{}, off, &tornError{off, fmt.Sprintf("the record claims %d bytes, %d are left", h.length, left-frameHeaderLen)}
	}
	payload := make([]byte, h.length)
	if _, err := s.ra.ReadAt(payload, off+frameHeaderLen); err != nil {
		return frame{}, off, fmt.Errorf("record: %s: %w", s.name, err)
	}
	next := off + frameHeaderLen + int64(h.length)
	crc := crc32.Update(crc32.Checksum(hb[8:], castagnoli), castagnoli, payload)
	if crc != h.crc {
		if next == s.size {
			return frame{}, off, &tornError{off, fmt.Sprintf("the last record (%d bytes) fails its checksum", h.length)}
		}
		return frame{}, off, s.err(off, ErrChecksum, "")
	}
	f := frame{off: off, kind: h.kind &^ kindCompressed, time: h.time, raw: payload}
	switch {
	case f.kind < kindHeader || f.kind > kindEnd:
		return frame{}, off, s.err(off, ErrCorrupt, "record kind %d", h.kind)
	case int64(h.rawLen) > int64(s.maxRaw):
		return frame{}, off, s.err(off, ErrCorrupt, "a record of %d bytes decompressed, at most %d accepted", h.rawLen, s.maxRaw)
	case h.kind&kindCompressed == 0:
		if h.rawLen != h.length {
			return frame{}, off, s.err(off, ErrCorrupt, "an uncompressed record of %d bytes says %d", h.length, h.rawLen)
		}
	default:
		raw, err := zstdDec().DecodeAll(payload, make([]byte, 0, h.rawLen))
		if err != nil {
			return frame{}, off, s.err(off, ErrCorrupt, "zstd: %v", err)
		}
		if len(raw) != int(h.rawLen) {
			return frame{}, off, s.err(off, ErrCorrupt, "decompressed to %d bytes, the record says %d", len(raw), h.rawLen)
		}
		f.raw = raw
	}
	return f, next, nil
}

// zeroTail reports whether the file holds only zeros from off on, as
// after a crash that left blocks allocated but unwritten.
func (s *segReader) zeroTail(off int64) bool {
	buf := make([]byte, 64<<10)
	for off < s.size {
		n := int(min(int64(len(buf)), s.size-off))
		if _, err := s.ra.ReadAt(buf[:n], off); err != nil {
			return false
		}
		for _, c := range buf[:n] {
			if c != 0 {
				return false
			}
		}
		off += int64(n)
	}
	return true
}

// span returns the time of the segment's last poll and how many polls
// it has, from its end frame when the writer closed it, else from the
// headers of its frames (no payload is read).
func (s *segReader) span() (last time.Time, polls int, err error) {
	if off := s.size - endFrameLen; off >= s.first {
		if f, next, err := s.frame(off); err == nil && f.kind == kindEnd && next == s.size && len(f.raw) == endPayloadLen {
			return time.Unix(0, f.time), int(binary.LittleEndian.Uint32(f.raw)), nil
		}
	}
	var hb [frameHeaderLen]byte
	last = s.hdr.Start
	for off := s.first; off+frameHeaderLen <= s.size; {
		if _, err := s.ra.ReadAt(hb[:], off); err != nil {
			return last, polls, fmt.Errorf("record: %s: %w", s.name, err)
		}
		h := parseFrameHeader(hb[:])
		next := off + frameHeaderLen + int64(h.length)
		if next > s.size || h == (frameHeader{}) {
			break
		}
		if k := h.kind &^ kindCompressed; k == kindKey || k == kindDelta {
			last = time.Unix(0, h.time)
			polls++
		}
		off = next
	}
	return last, polls, nil
}

// segIter decodes a segment's polls in order.
type segIter struct {
	s     *segReader
	off   int64
	st    codecState
	polls int
	done  bool
	// note is set when the segment ended with a torn record.
	note *Note
}

func newSegIter(s *segReader) *segIter {
	it := &segIter{s: s, off: s.first}
	it.st.reset()
	return it
}

// next returns the next poll, or io.EOF after the last (check note then),
// or an *Error; after an error or io.EOF it returns io.EOF.
func (it *segIter) next() (*Poll, error) {
	if it.done {
		return nil, io.EOF
	}
	f, next, err := it.s.frame(it.off)
	if err != nil {
		it.done = true
		var torn *tornError
		if errors.As(err, &torn) {
			it.note = &Note{File: it.s.name, Offset: torn.off, What: "torn record skipped: " + torn.what}
			return nil, io.EOF
		}
		return nil, err
	}
	switch {
	case f.kind == kindEnd:
		it.done = true
		if next != it.s.size {
			return nil, it.s.err(next, ErrCorrupt, "%d bytes after the end of the segment", it.s.size-next)
		}
		return nil, io.EOF
	case it.polls == 0 && f.kind != kindKey:
		it.done = true
		return nil, it.s.err(f.off, ErrCorrupt, "the segment does not start with a keyframe (record kind %d)", f.kind)
	case it.polls > 0 && f.kind != kindDelta:
		it.done = true
		return nil, it.s.err(f.off, ErrCorrupt, "record kind %d inside a segment", f.kind)
	}
	p, err := decodePoll(f.raw, time.Unix(0, f.time), f.kind == kindKey, &it.st)
	if err != nil {
		it.done = true
		return nil, it.s.err(f.off, ErrCorrupt, "%v", err)
	}
	it.off = next
	it.polls++
	return p, nil
}
