// Tests of the detail view component: its pager keys, and that every key
// its viewport binds is documented in the footer and the help screen.

package tui

import (
	"reflect"
	"strings"
	"testing"

	"charm.land/bubbles/v2/key"
	"github.com/charmbracelet/x/ansi"

	"github.com/tcpwatch/tcpwatch/model"
)

// detailContent is the whole text of the open detail view, unstyled.
func detailContent(m *Model) []string {
	return strings.Split(ansi.Strip(strings.Join(m.detail.lines(&m.detail.row.row), "\n")), "\n")
}

// TestDetailScrollKeys drives the detail view's pager keys: a page is the
// height of the view, half a page half of it, Home/End the ends, and the
// screen shows the text from the new offset.
func TestDetailScrollKeys(t *testing.T) {
	const w, h = 100, 24
	page := h - 2 // between the title line and the footer
	tests := []struct {
		keys []string
		want func(bottom int) int
	}{
		{[]string{"f"}, func(int) int { return page }},
		{[]string{"space"}, func(int) int { return page }},
		{[]string{"pgdown"}, func(int) int { return page }},
		{[]string{"ctrl+f"}, func(int) int { return page }},
		{[]string{"f", "b"}, func(int) int { return 0 }},
		{[]string{"f", "f", "pgup"}, func(int) int { return page }},
		{[]string{"f", "ctrl+b"}, func(int) int { return 0 }},
		{[]string{"d"}, func(int) int { return page / 2 }},
		{[]string{"ctrl+d", "u"}, func(int) int { return 0 }},
		{[]string{"d", "ctrl+u"}, func(int) int { return 0 }},
		{[]string{"j", "down"}, func(int) int { return 2 }},
		{[]string{"j", "j", "k"}, func(int) int { return 1 }},
		{[]string{"G"}, func(bottom int) int { return bottom }},
		{[]string{"end", "up"}, func(bottom int) int { return bottom - 1 }},
		{[]string{"G", "g"}, func(int) int { return 0 }},
		{[]string{"f", "home"}, func(int) int { return 0 }},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.keys, ","), func(t *testing.T) {
			m, _ := newTestModel(Config{}, w, h)
			feed(m, must(snapshotOf(mixedRows()...)))
			press(m, "j", "enter") // the dying row: a long text
			content := detailContent(m)
			bottom := len(content) - page
			if bottom < 2*page {
				t.Fatalf("the detail text has %d lines: too short to test scrolling by pages of %d", len(content), page)
			}
			press(m, tt.keys...)
			want := tt.want(bottom)
			if got := m.detail.vp.YOffset(); got != want {
				t.Errorf("offset %d, want %d", got, want)
			}
			lines := strings.Split(screenText(m), "\n")
			if got, wantLine := lines[1], strings.TrimRight(content[want], " "); got != wantLine {
				t.Errorf("first line under the title: %q, want line %d of the text %q", got, want, wantLine)
			}
			if m.screen != screenDetail || m.table.unhealthyOnly {
				t.Errorf("a scrolling key left the detail view (screen %d) or reached the table (unhealthy-only %v)", m.screen, m.table.unhealthyOnly)
			}
		})
	}
}

// TestDetailKeysDocumented checks that every key the detail view's
// viewport matches is listed in the help: a key bound by a newer viewport
// (or by a change to the key map) cannot go undocumented.
func TestDetailKeysDocumented(t *testing.T) {
	m, _ := newTestModel(Config{}, 100, 40)
	listed := map[string]key.Binding{}
	for _, col := range m.detail.keys.FullHelp() {
		for _, b := range col {
			for _, k := range b.Keys() {
				listed[k] = b
			}
		}
	}
	// How the help writes key names that it abbreviates or draws.
	shown := map[string]string{"pgdown": "pgdn", "up": "↑", "down": "↓", "left": "←", "right": "→"}
	km := reflect.ValueOf(m.detail.vp.KeyMap)
	for i := range km.NumField() {
		b, ok := km.Field(i).Interface().(key.Binding)
		if !ok {
			continue
		}
		name := km.Type().Field(i).Name
		for _, k := range b.Keys() {
			h, ok := listed[k]
			if !ok {
				t.Errorf("viewport key %q (%s) is not in the detail view's help", k, name)
				continue
			}
			label := k
			if s, ok := shown[k]; ok {
				label = s
			}
			inKey := false
			for _, part := range strings.Split(h.Help().Key, "/") {
				inKey = inKey || part == label
			}
			if !inKey && !strings.Contains(h.Help().Desc, label) {
				t.Errorf("viewport key %q (%s) is bound but its help %q %q does not name it", k, name, h.Help().Key, h.Help().Desc)
			}
		}
	}
	press(m, "?")
	help := screenText(m)
	section := help[strings.Index(help, "Keys in the detail view"):]
	for _, col := range m.detail.keys.FullHelp() {
		for _, b := range col {
			if !strings.Contains(section, b.Help().Key+" ") || !strings.Contains(section, b.Help().Desc) {
				t.Errorf("help screen lacks %q %q in the detail view's keys:\n%s", b.Help().Key, b.Help().Desc, help)
			}
		}
	}
}

// TestDetailFooterNamesPagerKeys: the reminder under the detail view
// names the page keys and still has room for kill and pause on 80
// columns.
func TestDetailFooterNamesPagerKeys(t *testing.T) {
	for _, w := range []int{80, 100} {
		m, _ := newTestModel(Config{Kill: func(r model.Row) error { return nil }}, w, 24)
		feed(m, must(snapshotOf(mixedRows()...)))
		press(m, "enter")
		lines := strings.Split(screenText(m), "\n")
		footer := lines[len(lines)-1]
		for _, want := range []string{"f/b page down/up", "↑/↓ scroll", "esc back", "K kill", "p pause", "? help", "q quit"} {
			if !strings.Contains(footer, want) {
				t.Errorf("%d columns: the detail footer %q lacks %q", w, footer, want)
			}
		}
	}
}
