package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"
)

// Options configure a Writer. The zero value is the default.
type Options struct {
	// Host is the host's name, stored in every segment header.
	Host string
	// MaxBytes bounds the recording's total size (default 256 MiB): the
	// oldest segments are deleted to stay under it.
	MaxBytes int64
	// SegmentDuration is how much recorded time a segment holds before
	// the next starts (default 60 s): replay can start at any segment, so
	// it is the granularity of a jump. It trades size for seek time: on a
	// simulated host of 10^4 sockets (1 % active at 1 Hz) a keyframe is
	// ~0.5 MB, and 60 s segments made 36 MB an hour (28 of them
	// keyframes) with a jump to any minute in at most 0.7 s, tracker
	// included; 5-minute segments made 16 MB an hour but took up to 3.8 s.
	SegmentDuration time.Duration
	// SegmentBytes starts a new segment when one grows past it (default
	// MaxBytes/8), so that deleting one segment frees a fair share.
	SegmentBytes int64
	// SyncEvery is the longest recorded time between two fsyncs (default
	// 1 s). A record is written to the file as soon as it is appended, so
	// the kernel has it even if tcpwatch is killed; fsync guards against
	// losing it to a power cut.
	SyncEvery time.Duration
}

// DefaultMaxBytes is Options.MaxBytes's default.
const DefaultMaxBytes = 256 << 20

func (o *Options) defaults() {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.SegmentDuration <= 0 {
		o.SegmentDuration = time.Minute
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = o.MaxBytes / 8
	}
	if o.SyncEvery <= 0 {
		o.SyncEvery = time.Second
	}
}

// Writer appends polls to a recording directory. It is not safe for
// concurrent use.
type Writer struct {
	dir  string
	opt  Options
	lock *os.File // the directory, flock'ed while the writer lives

	segs    []segEntry // closed segments, oldest first
	total   int64      // bytes of every segment, the open one included
	nextSeq uint64

	cur      *os.File
	curPath  string
	curStart time.Time
	curSize  int64
	curPolls int
	lastTime time.Time
	lastSync time.Time
	// broken is set after a failed write: the next poll starts a new
	// segment, since the open one may end in a partial record.
	broken bool

	enc *encoder
	buf []byte
}

// segEntry is a segment file of the ring.
type segEntry struct {
	path string
	size int64
}

// Create opens the recording directory dir, creating it (0700) if needed,
// and returns a Writer that continues its ring: old segments stay and are
// deleted oldest first as new ones fill MaxBytes. A directory is written
// by one Writer at a time.
func Create(dir string, opt Options) (*Writer, error) {
	opt.defaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("record: create: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	w := &Writer{dir: dir, opt: opt, lock: lock, nextSeq: 1, enc: newEncoder()}
	infos, err := listSegments(dir)
	if err != nil {
		w.lock.Close()
		return nil, err
	}
	for _, si := range infos {
		w.segs = append(w.segs, segEntry{path: si.Path, size: si.Size})
		w.total += si.Size
		w.nextSeq = max(w.nextSeq, si.Seq+1)
	}
	return w, nil
}

// KeyframeDue reports whether a poll at time t would start a new segment:
// the program should then serialize its tracker into the poll's State
// (before the poll's Update). A poll may start a segment without being
// due (it has a State), and a due poll without one starts it anyway
// (replay can then start there only approximately).
//
// A clock stepped back before the open segment's start also starts one:
// otherwise no segment would end by time until the clock caught up, and a
// segment's polls keep to the span its name says.
func (w *Writer) KeyframeDue(t time.Time) bool {
	if w.enc == nil {
		return false // closed: Append refuses anyway
	}
	d := t.Sub(w.curStart)
	return w.cur == nil || w.broken || w.enc.stale || d >= w.opt.SegmentDuration || d < 0 || w.curSize >= w.opt.SegmentBytes
}

// Append writes p to the recording. Its sockets and maps are read, not
// kept: the caller may reuse them at once. A failed Append loses p only;
// the next one starts a new segment.
func (w *Writer) Append(p *Poll) error {
	if w.enc == nil {
		return errors.New("record: append: writer closed")
	}
	if err := validate(p); err != nil {
		return err
	}
	key := p.State != nil || w.KeyframeDue(p.Time)
	for {
		raw := w.enc.encode(p, key)
		if !key {
			w.buf = appendFrame(w.buf[:0], kindDelta, p.Time.UnixNano(), raw, true)
			if w.makeRoom(int64(len(w.buf))) {
				if err := w.write(w.buf); err != nil {
					return err
				}
				break
			}
			key = true // the open segment must go too: start afresh
			continue
		}
		w.buf = appendFrame(w.buf[:0], kindKey, p.Time.UnixNano(), raw, true)
		if err := w.startSegment(p, w.buf); err != nil {
			return err
		}
		break
	}
	w.enc.commit(p, key)
	w.curPolls++
	w.lastTime = p.Time
	if d := p.Time.Sub(w.lastSync); d >= w.opt.SyncEvery || d < 0 {
		if err := w.cur.Sync(); err != nil {
			w.broken = true
			return fmt.Errorf("record: sync %s: %w", w.curPath, err)
		}
		w.lastSync = p.Time
	}
	return nil
}

func validate(p *Poll) error {
	if y := p.Time.Year(); y < 1678 || y > 2261 {
		return fmt.Errorf("record: append: poll time %v outside the years 1678..2261 that nanoseconds since 1970 hold", p.Time)
	}
	for i := range p.Parts {
		for j := range i {
			if p.Parts[j].NS == p.Parts[i].NS {
				return fmt.Errorf("record: append: namespace %d twice in one poll", p.Parts[i].NS)
			}
		}
	}
	return nil
}

// makeRoom deletes the oldest closed segments until n more bytes fit
// MaxBytes, and reports whether they do.
func (w *Writer) makeRoom(n int64) bool {
	for w.total+n > w.opt.MaxBytes && len(w.segs) > 0 {
		old := w.segs[0]
		if err := os.Remove(old.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false
		}
		w.segs = w.segs[1:]
		w.total -= old.size
	}
	return w.total+n <= w.opt.MaxBytes
}

// write appends b to the open segment in one write, so that a crash tears
// at most this record.
func (w *Writer) write(b []byte) error {
	n, err := w.cur.Write(b)
	w.curSize += int64(n)
	w.total += int64(n)
	if err != nil {
		w.broken = true
		return fmt.Errorf("record: write %s: %w", w.curPath, err)
	}
	return nil
}

// startSegment closes the open segment and starts the next with p's
// keyframe (already framed in key).
func (w *Writer) startSegment(p *Poll, key []byte) error {
	if err := w.closeSegment(); err != nil {
		return err
	}
	h := Header{Seq: w.nextSeq, Start: p.Time, Host: w.opt.Host, HasState: p.State != nil}
	for i := range p.Parts {
		h.Namespaces = append(h.Namespaces, Namespace{ID: p.Parts[i].NS, Name: p.Parts[i].Name})
	}
	b := appendPreamble(nil)
	b = appendFrame(b, kindHeader, p.Time.UnixNano(), encodeHeader(&h), false)
	b = append(b, key...)
	if !w.makeRoom(int64(len(b))) {
		return fmt.Errorf("%w: %d bytes, MaxBytes is %d", ErrTooLarge, len(b), w.opt.MaxBytes)
	}
	path := filepath.Join(w.dir, segmentName(h.Seq, p.Time))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("record: create segment: %w", err)
	}
	w.nextSeq++
	w.cur, w.curPath, w.curStart, w.curSize, w.curPolls, w.broken = f, path, p.Time, 0, 0, false
	if err := w.write(b); err != nil {
		return err
	}
	// The new name must survive a power cut as well as its content.
	syncDir(w.lock)
	return nil
}

// closeSegment ends the open segment with its end frame and closes it.
func (w *Writer) closeSegment() error {
	if w.cur == nil {
		return nil
	}
	var err error
	if !w.broken {
		var end [endPayloadLen]byte
		binary.LittleEndian.PutUint32(end[:], uint32(min(w.curPolls, math.MaxUint32)))
		err = w.write(appendFrame(nil, kindEnd, w.lastTime.UnixNano(), end[:], false))
		if err == nil {
			err = w.cur.Sync()
		}
	}
	if cerr := w.cur.Close(); err == nil {
		err = cerr
	}
	w.segs = append(w.segs, segEntry{path: w.curPath, size: w.curSize})
	w.cur = nil
	if err != nil {
		return fmt.Errorf("record: close segment %s: %w", w.curPath, err)
	}
	return nil
}

// Close ends the open segment and releases the directory.
func (w *Writer) Close() error {
	if w.enc == nil {
		return nil
	}
	err := w.closeSegment()
	syncDir(w.lock)
	if cerr := w.lock.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("record: close: %w", cerr)
	}
	w.enc = nil
	return err
}

func syncDir(d *os.File) { _ = d.Sync() } // best effort: some file systems refuse fsync on directories
