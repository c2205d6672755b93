package record

import (
	"errors"
	"fmt"
	"path/filepath"
)

// Errors found reading a recording. They come wrapped in an *Error that
// names the file and the offset; test with errors.Is.
var (
	// ErrEmpty: the file has no bytes, or the directory no segments.
	ErrEmpty = errors.New("empty")
	// ErrNotRecording: the file does not start as a tcpwatch recording.
	ErrNotRecording = errors.New("not a tcpwatch recording")
	// ErrNewerVersion: the file was written in a format version newer
	// than this program reads.
	ErrNewerVersion = errors.New("format version newer than this tcpwatch reads")
	// ErrTruncated: the file ends inside its preamble or segment header.
	ErrTruncated = errors.New("truncated")
	// ErrChecksum: a record's checksum does not match its bytes.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrCorrupt: a record's checksum is right but its content is not
	// what this format allows.
	ErrCorrupt = errors.New("malformed record")
	// ErrTooLarge: a single poll does not fit Options.MaxBytes.
	ErrTooLarge = errors.New("record: poll larger than the recording's size bound")
)

// Error is a problem found in a recording: the file, the byte offset of
// the record (or header) at fault, and what was wrong.
type Error struct {
	File   string // the file's path
	Offset int64
	Err    error  // one of the Err* values above
	Detail string // what exactly, if more can be said
}

// Error returns "record: FILE: offset N: what[: detail]".
func (e *Error) Error() string {
	s := fmt.Sprintf("record: %s: offset %d: %v", filepath.Base(e.File), e.Offset, e.Err)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the Err* value.
func (e *Error) Unwrap() error { return e.Err }

// Note is something a reader skipped without failing: a record torn by a
// crash at the end of a segment, or an empty segment. What came before it
// reads normally.
type Note struct {
	File   string
	Offset int64
	What   string
}

// String returns "FILE: offset N: what".
func (n Note) String() string {
	return fmt.Sprintf("%s: offset %d: %s", filepath.Base(n.File), n.Offset, n.What)
}
