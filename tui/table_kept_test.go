package tui

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// TestTableKeptAsRebuilt: between two sweeps the table goes over a
// refresh's fresh rows alone (rebuildSnapshot). The order, the selection
// and the column widths it makes must be those of a whole rebuild, as
// the fresh rows come into trouble, move in it and leave it, under a
// filter and the unhealthy-only toggle too; and when the snapshot is
// given back before each poll (lend.go), the table still goes over the
// other rows once.
func TestTableKeptAsRebuilt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		keys   []string
		query  string
		recall bool
	}{
		{"default", nil, "", false},
		{"unhealthy only", []string{"u"}, "", false},
		{"filtered", nil, "port 5432 or port 5000", false},
		{"recalled", nil, "", true},
		{"recalled, unhealthy only", []string{"u"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			kinds := []func(c uint64) model.Row{
				func(c uint64) model.Row { return unguardedRow(uint16(40000+c), c) },
				func(c uint64) model.Row {
					return okRow("10.0.3.7:22", fmt.Sprintf("10.0.0.5:%d", 50000+c), c, "sshd-with-a-long-name", 700)
				},
				func(c uint64) model.Row { return withAbort(dyingRow(), c, time.Duration(c%13)*time.Minute) },
				func(c uint64) model.Row { r := closeWaitRow(); r.Sock.ID.Cookie = c; return r },
				func(c uint64) model.Row { r := zeroWindowRow(); r.Sock.ID.Cookie = c; return r },
			}
			var rows []model.Row
			var fresh []int
			for i := range 300 {
				rows = append(rows, kinds[rng.IntN(len(kinds))](uint64(1000+i)))
				if rng.IntN(8) == 0 {
					fresh = append(fresh, i)
				}
			}
			// m is fed the refreshes, whole the same rows as sweeps.
			cfg := Config{SetQuery: func(query.Query) error { return nil }}
			m, _ := newTestModel(cfg, 120, 40)
			whole, _ := newTestModel(cfg, 120, 40)
			for _, m := range []*Model{m, whole} {
				if tc.query != "" {
					press(m, "/")
					typeText(m, tc.query)
					if cmd := press(m, "enter"); cmd != nil {
						m.Update(cmd())
					}
					if m.query.IsZero() {
						t.Fatalf("filter %q not in force", tc.query)
					}
				}
				press(m, tc.keys...)
			}
			for poll := range 8 {
				s, _ := snapshotOf(slices.Clone(rows)...)
				if poll > 0 {
					s.RowsEpoch, s.Fresh = 3, fresh
					for _, i := range fresh {
						s.Rows[i] = kinds[rng.IntN(len(kinds))](uint64(1000 + i))
					}
				}
				if poll == 4 {
					press(m, "down", "down", "down") // a selection to keep
					press(whole, "down", "down", "down")
				}
				if tc.recall && poll > 0 {
					recall(t, m)
				}
				feed(m, s)
				w, _ := snapshotOf(s.Rows...)
				feed(whole, w)
				rows = s.Rows
				if !slices.Equal(m.table.vis, whole.table.vis) {
					t.Errorf("poll %d: order %v, rebuilt %v", poll, m.table.vis, whole.table.vis)
				}
				if m.table.nat != whole.table.nat || m.table.sel.cursor != whole.table.sel.cursor {
					t.Errorf("poll %d: widths %+v cursor %d, rebuilt %+v %d", poll, m.table.nat, m.table.sel.cursor, whole.table.nat, whole.table.sel.cursor)
				}
			}
			if m.table.kept.made != 1 {
				t.Errorf("the other rows were gone over %d times in 7 refreshes of one epoch, want once", m.table.kept.made)
			}
		})
	}
}
