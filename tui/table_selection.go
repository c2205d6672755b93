// The connection table's selection and scrolling: which row the cursor
// is on, which connection it follows across polls, and the window of rows
// on screen.

package tui

import "github.com/tcpwatch/tcpwatch/model"

// selection is the cursor and the scroll position of the table.
type selection struct {
	cursor int // position in vis
	offset int // first row of the window
	// key follows the selected connection across polls (its namespace
	// and cookie), once the user has moved the cursor (follow); until
	// then, and after Home, the cursor stays on the first row, the most
	// urgent one.
	key    model.Key
	valid  bool
	follow bool
}

// reselect puts the cursor back on the followed connection after a
// rebuild, or keeps its position when there is none to follow.
func (t *connTable) reselect(rows []model.Row) {
	pos := -1
	if t.sel.valid && t.sel.follow {
		for i, idx := range t.vis {
			if rows[idx].Key() == t.sel.key {
				pos = i
				break
			}
		}
	}
	if pos < 0 {
		pos = t.sel.cursor
	}
	t.moveTo(pos)
}

// moveTo puts the cursor on position i of vis (clamped) and remembers
// the connection there.
func (t *connTable) moveTo(i int) {
	if i >= len(t.vis) {
		i = len(t.vis) - 1
	}
	if i < 0 {
		i = 0
	}
	t.sel.cursor = i
	if r := t.selected(); r != nil {
		t.sel.key = r.Key()
		t.sel.valid = true
	}
	t.scrollTo(i)
}

// scrollTo moves the window of rows so that row i is visible.
func (t *connTable) scrollTo(i int) { t.sel.offset = t.window(i, t.height) }

// window is the first row of a window of n rows that shows row i and
// moves as little as possible from the current one.
func (t *connTable) window(i, n int) int {
	off := t.sel.offset
	if n < 1 {
		n = 1
	}
	if off > i {
		off = i
	}
	if i >= off+n {
		off = i - n + 1
	}
	if maxOff := len(t.vis) - n; off > maxOff {
		off = max(maxOff, 0)
	}
	return max(off, 0)
}

// inView is the span of vis in the table's window: the rows on screen.
func (t *connTable) inView() (off, end int) {
	off = t.window(t.sel.cursor, t.height)
	return off, min(off+t.height, len(t.vis))
}

// page is how far PgUp and PgDn move: a window less one row, so that the
// row at the edge stays in view.
func (t *connTable) page() int { return max(t.height-1, 1) }

// selected returns the row under the cursor, or nil.
func (t *connTable) selected() *model.Row {
	s := t.ctx.snap
	if s == nil || len(t.vis) == 0 || t.sel.cursor >= len(t.vis) {
		return nil
	}
	return &s.Rows[t.vis[t.sel.cursor]]
}
