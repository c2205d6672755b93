// The table of a refresh. Between two sweeps of a large host a refresh's
// rows are the last one's but a few (model.Snapshot.RowsEpoch): in the
// default order the table keeps what it made of the others — which pass
// the filter, the sort keys of those in trouble, the tails in dump order,
// their natural widths — and goes over the fresh rows alone. At 10^6 rows
// the whole pass took ~50 ms a snapshot, a quarter of the interface's CPU.

package tui

import (
	"slices"

	"github.com/tcpwatch/tcpwatch/model"
)

// keptTable is what the table made of the rows of epoch but those at
// fresh, of snapshots of rows rows, under the filter and order in force
// (rebuild forgets it when they change).
type keptTable struct {
	epoch uint64
	rows  int
	fresh []int
	keys  []sortKey
	tail  [3][]int32
	nat   naturalWidths
	made  int // how many times it was made
}

// rebuildSnapshot is rebuild for a new snapshot on screen: from what was
// kept of the last one when it can.
func (t *connTable) rebuildSnapshot() {
	if s := t.ctx.snap; s != nil && t.order.byUrgency() && s.HasEpoch() {
		t.rebuildKept(s)
		t.reselect(s.Rows)
		return
	}
	t.rebuild()
}

// rebuildKept filters and sorts s (of an epoch, in the default order)
// from what was kept of its epoch's other rows, making it first if need
// be.
func (t *connTable) rebuildKept(s *model.Snapshot) {
	rows, k := s.Rows, &t.kept
	if k.epoch != s.RowsEpoch || k.rows != len(rows) || !slices.Equal(k.fresh, s.Fresh) {
		k.keys = k.keys[:0]
		for j := range k.tail {
			k.tail[j] = k.tail[j][:0]
		}
		k.nat = naturalWidths{}
		skip := s.Fresh
		for i := range rows {
			if len(skip) > 0 && skip[0] == i {
				skip = skip[1:]
				continue
			}
			if r := &rows[i]; r.Sock != nil && t.matches(r) {
				byUrgency(r, int32(i), &k.keys, &k.tail)
				k.nat.measure(r)
			}
		}
		k.epoch, k.rows, k.fresh = s.RowsEpoch, len(rows), slices.Clone(s.Fresh)
		k.made++
	}
	t.skeys = append(t.skeys[:0], k.keys...)
	for j := range t.tail {
		t.tail[j] = t.tail[j][:0]
	}
	t.nat = k.nat
	for _, i := range s.Fresh {
		if r := &rows[i]; r.Sock != nil && t.matches(r) {
			byUrgency(r, int32(i), &t.skeys, &t.tail)
			t.nat.measure(r)
		}
	}
	sortKeys(t.skeys, colSpecs[t.order.col].desc != t.order.rev)
	t.vis = t.vis[:0]
	for _, key := range t.skeys {
		t.vis = append(t.vis, key.idx)
	}
	for j := range t.tail {
		t.vis = mergeAscending(t.vis, k.tail[j], t.tail[j])
	}
}

// mergeAscending appends the ascending lists a and b, merged, to dst.
func mergeAscending(dst, a, b []int32) []int32 {
	for len(a) > 0 && len(b) > 0 {
		if a[0] < b[0] {
			dst, a = append(dst, a[0]), a[1:]
		} else {
			dst, b = append(dst, b[0]), b[1:]
		}
	}
	return append(append(dst, a...), b...)
}
