package record

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Reader reads a recording: a directory of segments, or one segment file.
type Reader struct {
	path   string
	segs   []SegmentInfo
	maxRaw int
}

// Open opens a recording. For a directory it only lists the segments (the
// names say when each starts); a single file is checked at once, so that
// a foreign, empty, truncated or newer file is reported here.
func Open(path string) (*Reader, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("record: open: %w", err)
	}
	r := &Reader{path: path, maxRaw: maxRawRecord}
	if fi.IsDir() {
		r.segs, err = listSegments(path)
		if err != nil {
			return nil, err
		}
		if len(r.segs) == 0 {
			return nil, &Error{File: path, Err: ErrEmpty, Detail: "no segments (rec-*.twr) in the directory"}
		}
		return r, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("record: open: %w", err)
	}
	defer f.Close()
	s, err := openSegment(path, f, fi.Size(), r.maxRaw)
	if err != nil {
		return nil, err
	}
	r.segs = []SegmentInfo{{Path: path, Seq: s.hdr.Seq, Start: s.hdr.Start, Size: fi.Size()}}
	return r, nil
}

// Segments returns the recording's segments in order.
func (r *Reader) Segments() []SegmentInfo { return r.segs }

// Span returns the times of the recording's first and last polls. The
// last is read from the last segment (its end frame, or the headers of its
// records if it is still being written or its writer died).
func (r *Reader) Span() (first, last time.Time, err error) {
	first = r.segs[0].Start
	s, f, err := r.openSeg(len(r.segs) - 1)
	if err != nil {
		return first, first, err
	}
	defer f.Close()
	last, _, err = s.span()
	return first, last, err
}

// Header reads segment i's header.
func (r *Reader) Header(i int) (Header, error) {
	s, f, err := r.openSeg(i)
	if err != nil {
		return Header{}, err
	}
	f.Close()
	return s.hdr, nil
}

// Find returns the index of the segment that holds time t: the last to
// start at or before t (the first if t is earlier than the recording).
// After the clock was stepped back the recording holds some instants
// twice; Find then picks the later copy.
func (r *Reader) Find(t time.Time) int {
	found := 0
	for i := range r.segs {
		if !r.segs[i].Start.After(t) {
			found = i
		}
	}
	return found
}

// Seek returns a cursor at the keyframe of the segment holding t (see
// Find). Replay restores the keyframe's State, if it has one, and feeds
// the polls from there on to reach t.
func (r *Reader) Seek(t time.Time) (*Cursor, error) { return r.SeekSegment(r.Find(t)) }

// SeekSegment returns a cursor at the keyframe of segment i.
func (r *Reader) SeekSegment(i int) (*Cursor, error) {
	if i < 0 || i >= len(r.segs) {
		return nil, fmt.Errorf("record: seek: no segment %d (%d in all)", i, len(r.segs))
	}
	c := &Cursor{r: r}
	if err := c.open(i); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (r *Reader) openSeg(i int) (*segReader, *os.File, error) {
	f, err := os.Open(r.segs[i].Path)
	if err != nil {
		return nil, nil, fmt.Errorf("record: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("record: %w", err)
	}
	s, err := openSegment(r.segs[i].Path, f, fi.Size(), r.maxRaw)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return s, f, nil
}

// Cursor iterates over a recording's polls from a keyframe on, across
// segments.
type Cursor struct {
	r     *Reader
	seg   int
	f     *os.File
	it    *segIter
	notes []Note
}

// open moves the cursor to segment i, skipping (with a note) the
// segments whose writer died before their header was whole. Past the last
// segment the cursor is done. A segment that cannot be read is returned
// as an error, and the cursor stays on it, done, so that the next call of
// Next goes on with the one after.
func (c *Cursor) open(i int) error {
	c.closeFile()
	c.it = nil
	for ; i < len(c.r.segs); i++ {
		c.seg = i
		s, f, err := c.r.openSeg(i)
		if err == nil {
			c.f, c.it = f, newSegIter(s)
			return nil
		}
		var e *Error
		if errors.As(err, &e) && (errors.Is(err, ErrEmpty) || errors.Is(err, ErrTruncated)) {
			c.notes = append(c.notes, Note{File: e.File, Offset: e.Offset, What: "segment skipped: " + e.Err.Error() + ": " + e.Detail})
			continue
		}
		c.it = &segIter{done: true}
		return err
	}
	return nil
}

// Next returns the next poll, or io.EOF after the last one. A segment
// that ends in a torn record ends with a note (see Notes), and iteration
// goes on with the next segment. On damage Next returns an *Error; the
// polls before it were returned, and the next call goes on with the next
// segment (whose keyframe starts afresh: the replay has a gap).
func (c *Cursor) Next() (*Poll, error) {
	for c.it != nil {
		p, err := c.it.next()
		if err == nil {
			return p, nil
		}
		if c.it.note != nil {
			c.notes = append(c.notes, *c.it.note)
		}
		openErr := c.open(c.seg + 1)
		if !errors.Is(err, io.EOF) {
			return nil, err
		}
		if openErr != nil {
			return nil, openErr
		}
	}
	return nil, io.EOF
}

// Segment returns the index of the segment the cursor is in.
func (c *Cursor) Segment() int { return c.seg }

// Notes returns what the cursor skipped so far without failing (torn
// records, segments without a whole header).
func (c *Cursor) Notes() []Note { return c.notes }

// Close releases the open segment.
func (c *Cursor) Close() error {
	c.closeFile()
	c.it = nil
	return nil
}

func (c *Cursor) closeFile() {
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}
