// The detail view: a component that explains one connection in a
// scrolling viewport, follows it into each new snapshot, and keeps its
// last copy on screen once it is gone. Its text is built in
// detail_text.go, detail_schedule.go and detail_info.go; its keys are in
// detail_keys.go.

package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"

	"github.com/tcpwatch/tcpwatch/model"
)

// detailView is the state of the detail view. It is open while row is
// set; the parent decides when it is on screen.
type detailView struct {
	keys detailKeyMap
	ctx  *shared // the snapshot, events, clock and styles in force
	vp   viewport.Model

	row  *heldRow // the connection shown
	gone bool     // it is no longer in the latest poll

	width int // the width the text is wrapped to
}

// newDetailView returns a closed detail view that reads the snapshot,
// events, clock and styles from ctx.
func newDetailView(ctx *shared) detailView {
	d := detailView{keys: defaultDetailKeyMap(), ctx: ctx, vp: viewport.New()}
	// The viewport matches its own scrolling keys: give it the bindings
	// that the help lists.
	d.vp.KeyMap = d.keys.Scroll
	return d
}

// open shows connection r from the top.
func (d *detailView) open(r *model.Row) {
	d.row = holdRow(r)
	d.gone = false
	d.refresh()
	d.vp.GotoTop()
}

// close forgets the connection.
func (d *detailView) close() { d.row = nil }

// isOpen reports whether a connection is shown.
func (d *detailView) isOpen() bool { return d.row != nil }

// killable is the connection that K would destroy: the one shown, unless
// it is gone.
func (d *detailView) killable() *model.Row {
	if d.row == nil || d.gone {
		return nil
	}
	return &d.row.row
}

// follow finds the connection in the snapshot on screen (the parent calls
// it when one comes in); when it is gone, the last copy stays on screen
// with what happened to it.
func (d *detailView) follow() {
	s := d.ctx.snap
	if d.row == nil || s == nil {
		return
	}
	key := d.row.row.Key()
	found := false
	for i := range s.Rows {
		if r := &s.Rows[i]; r.Sock != nil && r.Key() == key {
			d.row = holdRow(r)
			found = true
			break
		}
	}
	d.gone = !found
	d.refresh()
}

// setSize fits the viewport to w×h cells and rewraps the text.
func (d *detailView) setSize(w, h int) {
	d.width = w
	d.vp.SetWidth(max(w, 1))
	d.vp.SetHeight(max(h, 1))
	d.refresh()
}

// refresh regenerates the text (countdowns move every tick, styles change
// with the colour profile; the content is one connection, cheap to
// rebuild), keeping the scroll position.
func (d *detailView) refresh() {
	if d.row == nil || d.width == 0 {
		return
	}
	off := d.vp.YOffset()
	d.vp.SetContent(strings.Join(d.lines(&d.row.row), "\n"))
	d.vp.SetYOffset(off)
}

// Update scrolls: Home and End go to the top and the bottom, the
// viewport handles its own keys (lines, pages, half pages).
func (d detailView) Update(msg tea.Msg) (detailView, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok {
		switch {
		case key.Matches(k, d.keys.Top):
			d.vp.GotoTop()
			return d, nil
		case key.Matches(k, d.keys.Bottom):
			d.vp.GotoBottom()
			return d, nil
		}
	}
	var cmd tea.Cmd
	d.vp, cmd = d.vp.Update(msg)
	return d, cmd
}

// View renders the visible part of the text in w×h cells.
func (d detailView) View(w, h int) string {
	d.vp.SetWidth(max(w, 1))
	d.vp.SetHeight(max(h, 1))
	return d.vp.View()
}
