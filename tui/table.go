// The connection table: a component of its own that filters and sorts
// the rows of the snapshot on screen, keeps the selection, and renders
// the visible window. Its columns, sort, selection, cells and keys each
// have a file of their own (table_*.go).

package tui

import (
	"strings"

	"github.com/tcpwatch/tcpwatch/model"
)

// connTable is the state of the connection table. vis holds the indices
// of the rows of the snapshot on screen that pass the filter, in display
// order: it is rebuilt once per snapshot (or when the filter or the sort
// changes), never per frame.
type connTable struct {
	keys tableKeyMap
	ctx  *shared // the snapshot, filter, clock and styles in force

	vis   []int32
	skeys []sortKey  // scratch for the sort
	tail  [3][]int32 // scratch for the default sort (see rankTail)
	nat   naturalWidths

	sel    selection
	height int // rows on screen, below the column header

	order         sortOrder
	unhealthyOnly bool

	kept keptTable // see rebuildSnapshot
}

// newConnTable returns an empty table that reads the snapshot, filter,
// clock and styles from ctx.
func newConnTable(ctx *shared) connTable {
	return connTable{keys: defaultTableKeyMap(), ctx: ctx, height: 1}
}

// setHeight sets how many rows the table shows: the parent's layout
// decides, and tells it before each message that may page or scroll.
func (t *connTable) setHeight(n int) { t.height = max(n, 1) }

// keepCursorInView scrolls so that the cursor is visible at the current
// height (after a resize, or when the events pane comes or goes).
func (t *connTable) keepCursorInView() { t.scrollTo(t.sel.cursor) }

// matches reports whether a row passes the filter and the unhealthy-only
// toggle.
func (t *connTable) matches(r *model.Row) bool {
	if t.unhealthyOnly && !r.Health.Unhealthy() {
		return false
	}
	return t.ctx.matchesQuery(r)
}

// rebuild filters and sorts the snapshot on screen, and puts the cursor
// back on the connection that was selected. The parent calls it when a
// snapshot or a filter comes in; the table itself when its sort or its
// toggle changes.
func (t *connTable) rebuild() {
	t.kept.epoch = 0 // made under another filter or order, or of another epoch
	t.vis = t.vis[:0]
	t.nat = naturalWidths{}
	s := t.ctx.snap
	if s == nil {
		t.sel.cursor, t.sel.offset = 0, 0
		return
	}
	rows := s.Rows
	for i := range rows {
		if rows[i].Sock != nil && t.matches(&rows[i]) {
			t.vis = append(t.vis, int32(i))
		}
	}
	t.sortVisible(rows)
	for _, i := range t.vis {
		t.nat.measure(&rows[i])
	}
	t.reselect(rows)
}

// shown is how many rows pass the filter; cursor is the position of the
// selected one among them.
func (t *connTable) shown() int  { return len(t.vis) }
func (t *connTable) cursor() int { return t.sel.cursor }

// View renders the column header and h-1 rows, w cells wide.
func (t connTable) View(w, h int) string {
	n := max(h-1, 1)
	cols := t.nat.layout(w)
	lines := make([]string, 0, n+1)
	lines = append(lines, t.renderColumnHeader(cols))
	st := &t.ctx.styles
	switch s := t.ctx.snap; {
	case s == nil:
		lines = append(lines, st.dim.Render(" waiting for the first poll…"))
	case len(s.Rows) == 0:
		lines = append(lines, st.dim.Render(" no TCP connections"))
	case len(t.vis) == 0:
		msg := " no connection matches the filter"
		if t.unhealthyOnly {
			msg += " among the unhealthy ones (u shows all)"
		}
		lines = append(lines, st.dim.Render(msg))
	default:
		off := t.window(t.sel.cursor, n)
		end := min(off+n, len(t.vis))
		merged := mergedTries(cols)
		for i := off; i < end; i++ {
			lines = append(lines, t.renderRow(cols, merged, &s.Rows[t.vis[i]], i == t.sel.cursor, w))
		}
	}
	for len(lines) < n+1 {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}
