package record

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeRecording records polls into a new directory and returns it.
func writeRecording(t *testing.T, opt Options, polls []*Poll) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rec")
	w, err := Create(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range polls {
		if err := w.Append(p); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// readAll reads a recording from segment i on to the end.
func readAll(t *testing.T, path string, seg int) ([]*Poll, []Note, error) {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		return nil, nil, err
	}
	c, err := r.SeekSegment(seg)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	var out []*Poll
	for {
		p, err := c.Next()
		if errors.Is(err, io.EOF) {
			return out, c.Notes(), nil
		}
		if err != nil {
			return out, c.Notes(), err
		}
		out = append(out, p)
	}
}

func simRecording(t *testing.T, n, polls int) []*Poll {
	h := newSimHost(t, n, 0.05, 0.01, 5)
	ps := simPolls(t, h, polls)
	for i, p := range ps {
		p.Parts[0].Name = "host"
		p.Notices = []string{"not root"}
		if i == 0 {
			p.State = []byte("state at the start")
		}
	}
	return ps
}

func TestWriteReadBack(t *testing.T) {
	polls := simRecording(t, 300, 150)
	dir := writeRecording(t, Options{Host: "db-1", SegmentDuration: time.Minute}, polls)

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		t.Errorf("directory mode %v, want no access for group and others", m)
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	segs := r.Segments()
	if len(segs) != 3 {
		t.Fatalf("%d segments for 150 s of polls at 60 s each, want 3", len(segs))
	}
	for i, s := range segs {
		fi, err := os.Stat(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %v, want 0600", s.Path, m)
		}
		h, err := r.Header(i)
		if err != nil {
			t.Fatal(err)
		}
		if h.Host != "db-1" || h.Seq != uint64(i+1) || len(h.Namespaces) != 1 || h.Namespaces[0] != (Namespace{ID: 1, Name: "host"}) {
			t.Errorf("segment %d header %+v", i, h)
		}
		if h.HasState != (i == 0) || !h.Start.Equal(s.Start) {
			t.Errorf("segment %d: HasState %v, start %v (name says %v)", i, h.HasState, h.Start, s.Start)
		}
	}
	first, last, err := r.Span()
	if err != nil || !first.Equal(polls[0].Time) || !last.Equal(polls[len(polls)-1].Time) {
		t.Errorf("Span = %v, %v, %v; want %v, %v", first, last, err, polls[0].Time, polls[len(polls)-1].Time)
	}
	got, notes, err := readAll(t, dir, 0)
	if err != nil || len(notes) != 0 {
		t.Fatalf("read: %v, notes %v", err, notes)
	}
	if len(got) != len(polls) {
		t.Fatalf("read %d polls, wrote %d", len(got), len(polls))
	}
	for i := range polls {
		comparePolls(t, i, polls[i], got[i])
		if got[i].Keyframe != (i%60 == 0) {
			t.Errorf("poll %d: Keyframe %v", i, got[i].Keyframe)
		}
	}
}

func TestSeek(t *testing.T) {
	polls := simRecording(t, 200, 200)
	dir := writeRecording(t, Options{SegmentDuration: 50 * time.Second}, polls)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 49, 50, 51, 120, 199} {
		c, err := r.Seek(polls[i].Time)
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Next()
		if err != nil {
			t.Fatal(err)
		}
		// The keyframe must be the last one at or before the poll.
		if !p.Keyframe || p.Time.After(polls[i].Time) {
			t.Errorf("Seek(poll %d) starts at %v (keyframe %v), after it", i, p.Time, p.Keyframe)
		}
		for _, q := range polls[:i+1] {
			if q.Time.After(p.Time) && q.State == nil && isKeyframeIn(t, dir, q.Time) {
				t.Errorf("Seek(poll %d) starts at %v, but a later keyframe at %v precedes the poll", i, p.Time, q.Time)
			}
		}
		for !p.Time.Equal(polls[i].Time) {
			if p, err = c.Next(); err != nil {
				t.Fatalf("Seek(poll %d): %v before reaching it", i, err)
			}
		}
		c.Close()
	}
	if got := r.Find(polls[0].Time.Add(-time.Hour)); got != 0 {
		t.Errorf("Find before the recording = %d, want 0", got)
	}
	if got := r.Find(polls[199].Time.Add(time.Hour)); got != len(r.Segments())-1 {
		t.Errorf("Find after the recording = %d, want the last", got)
	}
}

// isKeyframeIn reports whether a segment of the recording starts at t.
func isKeyframeIn(t *testing.T, dir string, at time.Time) bool {
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		if s.Start.Equal(at) {
			return true
		}
	}
	return false
}

// TestRingStaysUnderMaxBytes: the directory never holds more than
// MaxBytes, the oldest segments go first, and what is left reads from its
// first keyframe on.
func TestRingStaysUnderMaxBytes(t *testing.T) {
	polls := simRecording(t, 500, 400)
	const max = 400 << 10
	dir := filepath.Join(t.TempDir(), "ring")
	w, err := Create(dir, Options{MaxBytes: max, SegmentDuration: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range polls {
		if err := w.Append(p); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if n := dirSize(t, dir); n > max {
			t.Fatalf("after poll %d the recording has %d bytes, MaxBytes is %d", i, n, max)
		}
	}
	w.Close()
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	segs := r.Segments()
	if segs[0].Seq == 1 {
		t.Fatalf("no segment was deleted (%d segments, %d bytes): the test does not exercise the bound", len(segs), dirSize(t, dir))
	}
	got, _, err := readAll(t, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	off := len(polls) - len(got)
	if !got[0].Keyframe {
		t.Errorf("the oldest remaining poll is not a keyframe")
	}
	for i := range got {
		comparePolls(t, off+i, polls[off+i], got[i])
	}
}

func dirSize(t testing.TB, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// TestTooLargePoll: a keyframe that cannot fit MaxBytes is refused, not
// written past the bound.
func TestTooLargePoll(t *testing.T) {
	polls := simRecording(t, 2000, 1)
	w, err := Create(filepath.Join(t.TempDir(), "r"), Options{MaxBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Append(polls[0]); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Append of a poll larger than MaxBytes: %v, want ErrTooLarge", err)
	}
}

func TestOneWriterPerDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "r")
	w, err := Create(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Create(dir, Options{}); err == nil || !strings.Contains(err.Error(), "another tcpwatch") {
		t.Errorf("second writer: %v, want a refusal", err)
	}
	w.Close()
	w2, err := Create(dir, Options{})
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	w2.Close()
}

// TestReopenContinuesRing: a new writer on an old recording adds
// segments after the old ones, and the whole reads in order.
func TestReopenContinuesRing(t *testing.T) {
	polls := simRecording(t, 100, 40)
	dir := writeRecording(t, Options{}, polls[:20])
	w, err := Create(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range polls[20:] {
		if err := w.Append(p); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	got, _, err := readAll(t, dir, 0)
	if err != nil || len(got) != 40 {
		t.Fatalf("read %d polls, %v", len(got), err)
	}
	for i := range polls {
		comparePolls(t, i, polls[i], got[i])
	}
	if !got[20].Keyframe {
		t.Errorf("the new writer's first poll is not a keyframe")
	}
}

// TestStateStartsSegment: a poll with a State starts a segment of its own.
func TestStateStartsSegment(t *testing.T) {
	polls := simRecording(t, 50, 10)
	polls[4].State = []byte("s4")
	dir := writeRecording(t, Options{}, polls)
	r, _ := Open(dir)
	if n := len(r.Segments()); n != 2 {
		t.Fatalf("%d segments, want 2", n)
	}
	c, err := r.SeekSegment(1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Next()
	if err != nil || string(p.State) != "s4" || !p.Keyframe {
		t.Errorf("segment 1 starts with %v (state %q, keyframe %v)", err, p.State, p.Keyframe)
	}
}

// segmentFrames returns the offsets of a segment's frames.
func segmentFrames(t *testing.T, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := openSegment(path, strings.NewReader(string(b)), int64(len(b)), maxRawRecord)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := s.first; ; {
		_, next, err := s.frame(off)
		if err != nil {
			break
		}
		offs = append(offs, off)
		off = next
	}
	return offs
}

// TestTornTail cuts a segment at every length inside its last record: the
// polls before read, the cut is a note, never an error.
func TestTornTail(t *testing.T) {
	polls := simRecording(t, 30, 12)
	dir := filepath.Join(t.TempDir(), "r")
	w, err := Create(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range polls {
		if err := w.Append(p); err != nil {
			t.Fatal(err)
		}
	}
	// No Close: a writer killed with SIGKILL leaves no end frame.
	path := w.curPath
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	offs := segmentFrames(t, path)
	lastOff := offs[len(offs)-1]
	for cut := lastOff; cut < int64(len(full)); cut++ {
		torn := filepath.Join(t.TempDir(), "torn.twr")
		if err := os.WriteFile(torn, full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		got, notes, err := readAll(t, torn, 0)
		if err != nil {
			t.Fatalf("cut at %d of %d: %v", cut, len(full), err)
		}
		if len(got) != len(polls)-1 {
			t.Fatalf("cut at %d: %d polls, want %d", cut, len(got), len(polls)-1)
		}
		wantNote := cut > lastOff
		if wantNote != (len(notes) == 1) {
			t.Fatalf("cut at %d: notes %v", cut, notes)
		}
		if wantNote && notes[0].Offset != lastOff {
			t.Errorf("cut at %d: note at offset %d, want %d", cut, notes[0].Offset, lastOff)
		}
	}
	// A zero-filled tail (blocks allocated, never written) is torn too.
	zeroed := filepath.Join(t.TempDir(), "zeroed.twr")
	os.WriteFile(zeroed, append(full[:lastOff:lastOff], make([]byte, 5000)...), 0o600)
	if got, notes, err := readAll(t, zeroed, 0); err != nil || len(got) != len(polls)-1 || len(notes) != 1 {
		t.Errorf("zero-filled tail: %d polls, notes %v, %v", len(got), notes, err)
	}
	w.Close()
}

// TestFlippedByte: damage inside a segment is an error naming the file
// and the record's offset; the polls before it read, and the cursor goes
// on with the next segment.
func TestFlippedByte(t *testing.T) {
	polls := simRecording(t, 60, 90)
	dir := writeRecording(t, Options{SegmentDuration: 30 * time.Second}, polls)
	r, _ := Open(dir)
	seg := r.Segments()[1]
	offs := segmentFrames(t, seg.Path)
	bad := offs[10] // the tenth delta of segment 1
	b, _ := os.ReadFile(seg.Path)
	b[bad+frameHeaderLen+3] ^= 0x40
	os.WriteFile(seg.Path, b, 0o600)

	c, err := r.SeekSegment(0)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var damage error
	for {
		p, err := c.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if damage != nil {
				t.Fatalf("second error: %v", err)
			}
			damage = err
			continue
		}
		comparePollAt(t, polls, p)
		n++
	}
	var e *Error
	if !errors.As(damage, &e) || !errors.Is(damage, ErrChecksum) || e.Offset != bad || e.File != seg.Path {
		t.Fatalf("damage reported as %v, want a checksum error at %s offset %d", damage, filepath.Base(seg.Path), bad)
	}
	if want := filepath.Base(seg.Path) + ": offset "; !strings.Contains(damage.Error(), want) {
		t.Errorf("error %q does not name the file and offset", damage)
	}
	// Every poll but those of segment 1 from the damage on (the frames
	// listed are its polls and its end frame).
	if want := len(polls) - (len(offs) - 1 - 10); n != want {
		t.Errorf("read %d polls around the damage, want %d", n, want)
	}
}

// comparePollAt finds p among polls by time and compares them.
func comparePollAt(t *testing.T, polls []*Poll, p *Poll) {
	t.Helper()
	for i := range polls {
		if polls[i].Time.Equal(p.Time) {
			comparePolls(t, i, polls[i], p)
			return
		}
	}
	t.Fatalf("read a poll at %v that was never written", p.Time)
}

func TestBadFiles(t *testing.T) {
	good := func() []byte {
		dir := writeRecording(t, Options{}, simRecording(t, 10, 3))
		r, _ := Open(dir)
		b, _ := os.ReadFile(r.Segments()[0].Path)
		return b
	}()
	newer := append([]byte(nil), good...)
	newer[len(magic)] = Version + 1
	tests := []struct {
		name   string
		data   []byte
		want   error
		offset int64
	}{
		{"empty", nil, ErrEmpty, 0},
		{"foreign", []byte("{\"time\":\"2026-11-23T17:56:16Z\",\"local\":\"10.0.0.1:22\"}\n"), ErrNotRecording, 0},
		{"gzip", []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}, ErrNotRecording, 0},
		{"newer version", newer, ErrNewerVersion, int64(len(magic))},
		{"cut in the preamble", good[:5], ErrTruncated, 0},
		{"cut in the header", good[:preambleLen+frameHeaderLen+2], ErrTruncated, int64(preambleLen)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.twr")
			os.WriteFile(path, tt.data, 0o600)
			_, err := Open(path)
			var e *Error
			if !errors.Is(err, tt.want) || !errors.As(err, &e) || e.Offset != tt.offset {
				t.Fatalf("Open: %v, want %v at offset %d", err, tt.want, tt.offset)
			}
			if !strings.Contains(err.Error(), "x.twr: offset ") {
				t.Errorf("error %q does not name the file and offset", err)
			}
		})
	}
	t.Run("directory without segments", func(t *testing.T) {
		if _, err := Open(t.TempDir()); !errors.Is(err, ErrEmpty) {
			t.Errorf("Open: %v, want ErrEmpty", err)
		}
	})
	t.Run("empty newest segment is skipped", func(t *testing.T) {
		polls := simRecording(t, 10, 3)
		dir := writeRecording(t, Options{}, polls)
		os.WriteFile(filepath.Join(dir, segmentName(9, polls[2].Time.Add(time.Second))), nil, 0o600)
		got, notes, err := readAll(t, dir, 0)
		if err != nil || len(got) != 3 || len(notes) != 1 {
			t.Errorf("%d polls, notes %v, %v; want 3 polls and a note", len(got), notes, err)
		}
	})
}

// TestSpanOfUnclosedSegment: a segment whose writer died has no end
// frame; its last poll is found from the records' headers.
func TestSpanOfUnclosedSegment(t *testing.T) {
	polls := simRecording(t, 20, 8)
	dir := filepath.Join(t.TempDir(), "r")
	w, _ := Create(dir, Options{})
	for _, p := range polls {
		w.Append(p)
	}
	r, _ := Open(dir)
	if _, last, err := r.Span(); err != nil || !last.Equal(polls[7].Time) {
		t.Errorf("Span of an open segment: last %v, %v; want %v", last, err, polls[7].Time)
	}
	w.Close()
}

// TestClockSteppedBack: a poll dated before the open segment's start
// starts a new segment, and the whole still reads in recording order.
func TestClockSteppedBack(t *testing.T) {
	polls := simRecording(t, 30, 10)
	for i := 5; i < 10; i++ {
		polls[i].Time = polls[i].Time.Add(-time.Hour)
	}
	dir := writeRecording(t, Options{}, polls)
	r, _ := Open(dir)
	if n := len(r.Segments()); n != 2 {
		t.Fatalf("%d segments, want 2 (one before the step, one after)", n)
	}
	got, _, err := readAll(t, dir, 0)
	if err != nil || len(got) != len(polls) {
		t.Fatalf("read %d polls, %v", len(got), err)
	}
	for i := range polls {
		comparePolls(t, i, polls[i], got[i])
	}
	if i := r.Find(polls[7].Time); i != 1 {
		t.Errorf("Find(a time after the step) = segment %d, want 1", i)
	}
}

func TestAppendAfterClose(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "r"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	p := simRecording(t, 5, 1)[0]
	if w.KeyframeDue(p.Time) {
		t.Errorf("a closed writer says a keyframe is due")
	}
	if err := w.Append(p); err == nil {
		t.Errorf("Append after Close succeeded")
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
