// Golden tests of whole screens rendered from synthetic snapshots.

package tui

import (
	"testing"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// TestViews renders screens from synthetic snapshots at a fixed clock and
// compares the text (escape sequences stripped) with golden files.
func TestViews(t *testing.T) {
	tests := []struct {
		name  string
		w, h  int
		rows  func() []model.Row
		setup func(s *model.Snapshot)
		keys  []string
	}{
		{name: "dying_row", w: 100, h: 16, rows: func() []model.Row {
			return []model.Row{dyingRow(), okRow("10.0.3.7:22", "10.0.0.5:50122", 0x11, "sshd", 700)}
		}},
		{name: "keepalive_prober", w: 100, h: 16, rows: func() []model.Row { return []model.Row{keepaliveRow()} }},
		{name: "close_wait", w: 100, h: 16, rows: func() []model.Row { return []model.Row{closeWaitRow()} }},
		{name: "zero_window", w: 100, h: 16, rows: func() []model.Row { return []model.Row{zeroWindowRow()} }},
		{
			name: "empty_host", w: 80, h: 24, rows: func() []model.Row { return nil },
			setup: func(s *model.Snapshot) {
				s.Notices = []string{"process names need root: run as root to see who owns each connection"}
			},
		},
		{name: "tiny_terminal", w: 40, h: 10, rows: mixedRows},
		{name: "detail_dying", w: 100, h: 60, rows: mixedRows, keys: []string{"j", "enter"}},
		{name: "detail_keepalive", w: 100, h: 50, rows: mixedRows, keys: []string{"enter"}},
		{name: "detail_close_wait", w: 80, h: 40, rows: mixedRows, keys: []string{"j", "j", "j", "enter"}},
		{name: "detail_zero_window", w: 80, h: 24, rows: mixedRows, keys: []string{"j", "j", "enter"}},
		{name: "detail_unguarded", w: 80, h: 24, rows: mixedRows, keys: []string{"end", "up", "up", "up", "up", "enter"}},
		{name: "help", w: 100, h: 52, rows: mixedRows, keys: []string{"?"}},
		{name: "filter_prompt", w: 80, h: 24, rows: mixedRows, keys: []string{"/", "p", "o", "r", "t", "space", "5", "4", "3", "2"}},
		{name: "kill_prompt", w: 100, h: 24, rows: mixedRows, keys: []string{"j", "K"}},
		{name: "minimum_60x12", w: 60, h: 12, rows: mixedRows},
		{name: "ipv6", w: 100, h: 16, rows: ipv6Rows},
		{name: "80x24", w: 80, h: 24, rows: mixedRows},
		{
			name: "120x40", w: 120, h: 40, rows: mixedRows,
			setup: func(s *model.Snapshot) {
				s.AllEvents = sampleEvents()
				s.Slowed, s.Interval, s.PollCost = true, 3*1e9, 2400*1e6
			},
		},
		{
			// Two tiers on a large host: the header says how often the
			// full dump runs and what it costs.
			name: "two_tiers", w: 120, h: 16, rows: mixedRows,
			setup: func(s *model.Snapshot) {
				s.Interval, s.PollCost, s.SweepEvery, s.SweepCost, s.Refresh = 1e9, 3*1e6, 6*1e9, 520*1e6, true
			},
		},
		{
			name: "banner_paused", w: 80, h: 24, rows: mixedRows,
			setup: func(s *model.Snapshot) { s.AllEvents = sampleEvents() },
			keys:  []string{"p"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Kill: func(model.Row) error { return nil }}
			if tt.name == "banner_paused" {
				cfg.Banner = "demo: host 192.168.77.2 (db, api, cache) died at 14:01:28; namespaces tw-demo-c-1234-1 and tw-demo-s-1234-1 are removed on exit"
			}
			m, _ := newTestModel(cfg, tt.w, tt.h)
			s, _ := snapshotOf(tt.rows()...)
			if tt.setup != nil {
				tt.setup(s)
			}
			feed(m, s)
			press(m, tt.keys...)
			golden(t, screenText(m))
		})
	}
}

// ipv6Rows: a long IPv6 endpoint, which the table cuts from the left so
// that the port stays visible, and an IPv4-mapped one, shown as IPv4.
func ipv6Rows() []model.Row {
	long := okRow("[2001:db8:1234:5678:9abc:def0:1234:5678]:443", "[2001:db8:ffff:eeee:dddd:cccc:bbbb:aaaa]:61000", 1, "envoy", 4242)
	long.Sock.Family = inetdiag.FamilyInet6
	mapped := okRow("[::ffff:10.0.3.7]:8080", "[::ffff:10.0.4.2]:50000", 2, "java", 77)
	mapped.Sock.Family = inetdiag.FamilyInet6
	return []model.Row{long, mapped}
}
