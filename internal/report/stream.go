package report

// The one-shot's writers take the rows one at a time, as the dump is
// decoded, instead of a snapshot that holds them all: JSONStream writes
// each connection at once; TableStream keeps of each row only its cells
// (in a byte arena) and its place in the order, because the table's
// summary, its column widths and its order need every row first. Both
// write the very bytes WriteJSON and WriteTable write for the same rows.

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/tcpwatch/tcpwatch/model"
)

// JSONStream writes NDJSON connections as they come, then the rest of the
// snapshot.
type JSONStream struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

// NewJSONStream writes to w through one 64 KiB buffer.
func NewJSONStream(w io.Writer) *JSONStream {
	bw := bufio.NewWriterSize(w, 64<<10)
	return &JSONStream{bw: bw, enc: json.NewEncoder(bw)}
}

// Row writes one connection, sampled at t.
func (j *JSONStream) Row(r *model.Row, t time.Time) error {
	if err := j.enc.Encode(NewConn(r, t)); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Finish writes the troubled peers and the events of snap (its rows are
// not read) and flushes.
func (j *JSONStream) Finish(snap *model.Snapshot) error { return writeJSONTail(j.bw, j.enc, snap) }

// tableCols is the number of cells of a table line (no NetNS column: a
// stream is of one namespace).
const tableCols = 10

// tableChunk is the size of the arena's chunks. The cells are kept in
// chunks rather than one slice so that the arena never grows by copying:
// a slice grown to hold 40k rows' cells leaves as much again in garbage
// on the way, which a one-shot's peak RSS counts.
const tableChunk = 64 << 10

// TableStream collects rows for the --once table: 16 bytes a row besides
// its cells' text (~90 bytes).
type TableStream struct {
	chunks [][]byte // every row's cells, tab-separated
	rows   []streamRow
	line   []byte             // scratch
	widths [tableCols - 1]int // widest cell of each aligned column, in runes
	counts model.Counts
	// never are the local and remote ports of the connections that would
	// never notice a dead peer (their service port needs the listeners,
	// known at the end).
	never [][2]uint16
}

// streamRow is a row's place in the table: its rank and, for a
// prediction, the abort's wall-clock time in nanoseconds (a one-shot's
// predictions all come from one clock), and where its cells are.
type streamRow struct {
	at   int64
	ref  uint32 // chunk<<16 | offset
	n    uint16 // length of its cells
	rank uint8
}

// NewTableStream returns an empty table.
func NewTableStream() *TableStream {
	t := &TableStream{}
	t.measure([]byte(tableHeader))
	return t
}

// Add takes one row, sampled at now. Rows with a NetNS are not expected.
func (t *TableStream) Add(r *model.Row, now time.Time) error {
	t.line = appendTableRow(t.line[:0], r, now, false)
	if len(t.line) > tableChunk-1 {
		return fmt.Errorf("report: table: a row of %d bytes", len(t.line))
	}
	last := len(t.chunks) - 1
	if last < 0 || len(t.chunks[last])+len(t.line) > tableChunk {
		if len(t.chunks) >= 1<<16 {
			return fmt.Errorf("report: table: more than %d MiB of cells", (1<<16)*tableChunk>>20)
		}
		t.chunks = append(t.chunks, make([]byte, 0, tableChunk))
		last++
	}
	off := len(t.chunks[last])
	t.chunks[last] = append(t.chunks[last], t.line...)
	t.counts.Add(r)
	if r.Sock != nil && r.Exposure != nil && r.Exposure.Never {
		t.never = append(t.never, [2]uint16{r.Sock.ID.Src.Port(), r.Sock.ID.Dst.Port()})
	}
	rank, at := tableRank(r)
	sr := streamRow{ref: uint32(last)<<16 | uint32(off), n: uint16(len(t.line)), rank: uint8(rank)}
	if !at.IsZero() {
		sr.at = at.UnixNano()
	}
	t.rows = append(t.rows, sr)
	t.measure(t.line)
	return nil
}

// cells returns a row's cells.
func (t *TableStream) cells(r streamRow) []byte {
	c, off := r.ref>>16, r.ref&0xffff
	return t.chunks[c][off : off+uint32(r.n)]
}

// measure widens the columns to a line's cells.
func (t *TableStream) measure(line []byte) {
	for j := range t.widths {
		i := bytes.IndexByte(line, '\t')
		if i < 0 {
			return
		}
		t.widths[j] = max(t.widths[j], utf8.RuneCount(line[:i]))
		line = line[i+1:]
	}
}

// Finish writes the table: the summary of snap (its rows are not read:
// the counts are the added rows'), its notices and peers, then the rows
// aligned as text/tabwriter aligns them (cells padded to the widest of
// their column plus two spaces, the last cell as is), unhealthy first.
func (t *TableStream) Finish(out io.Writer, snap *model.Snapshot) error {
	w := bufio.NewWriterSize(out, 64<<10)
	byPort := map[uint16]int{}
	for _, p := range t.never {
		byPort[model.ServicePortOf(snap.Listening, p[0], p[1])]++
	}
	if err := writeTableHead(w, snap, t.counts, len(t.never), model.TopPorts(byPort, 3)); err != nil {
		return err
	}
	slices.SortStableFunc(t.rows, func(a, b streamRow) int {
		if a.rank != b.rank {
			return int(a.rank) - int(b.rank)
		}
		return cmp.Compare(a.at, b.at)
	})
	t.writeLine(w, []byte(tableHeader))
	for _, r := range t.rows {
		t.writeLine(w, t.cells(r))
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

var spaces = []byte("                                                                ")

func (t *TableStream) writeLine(w *bufio.Writer, line []byte) {
	for j := range t.widths {
		i := bytes.IndexByte(line, '\t')
		if i < 0 {
			break
		}
		w.Write(line[:i])
		for pad := t.widths[j] + 2 - utf8.RuneCount(line[:i]); pad > 0; {
			n := min(pad, len(spaces))
			w.Write(spaces[:n])
			pad -= n
		}
		line = line[i+1:]
	}
	w.Write(line)
	w.WriteByte('\n')
}
