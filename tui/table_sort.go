// The connection table's order: the sort column and direction, the sort
// keys extracted from rows, and the sort itself.

package tui

import (
	"cmp"
	"slices"
	"strings"

	"github.com/tcpwatch/tcpwatch/model"
)

// sortOrder is the column the table is sorted by and whether its natural
// direction is reversed. The zero value is the default: by urgency.
type sortOrder struct {
	col column
	rev bool
}

// next is the order by the next column, in its natural direction.
func (o sortOrder) next() sortOrder { return sortOrder{col: (o.col + 1) % numColumns} }

// reversed is the order in the other direction.
func (o sortOrder) reversed() sortOrder { return sortOrder{o.col, !o.rev} }

// byUrgency reports whether this is the default order, which the column
// header does not mark.
func (o sortOrder) byUrgency() bool { return o.col == colHealth && !o.rev }

// arrow is the direction mark: ↓ for descending values, ↑ for ascending.
func (o sortOrder) arrow() string {
	if colSpecs[o.col].desc != o.rev {
		return "↓"
	}
	return "↑"
}

// label is the order as the filter line says it: "sorted by urgency",
// "sorted by send-q ↓".
func (o sortOrder) label() string {
	if o.byUrgency() {
		return "sorted by urgency"
	}
	return "sorted by " + colSpecs[o.col].name + " " + o.arrow()
}

// sortKey is a row's position in the current sort: rows missing the
// value come last whatever the direction, then a and b decide, then the
// dump order.
type sortKey struct {
	miss bool
	a, b int64
	idx  int32
}

// healthRank orders rows for the default sort: predicted aborts first
// (by time), then other dying rows, zero-window and close-wait (oldest
// first), other unhealthy ones, unguarded and finally healthy rows.
func healthRank(r *model.Row) (rank, t int64) {
	switch {
	case r.Prediction != nil:
		return 0, r.Prediction.At.UnixNano()
	case r.Health.Dying():
		return 1, int64(r.HealthSince)
	case r.Health == model.HealthZeroWindow:
		return 2, int64(r.HealthSince)
	case r.Health == model.HealthCloseWait:
		return 3, int64(r.HealthSince)
	case r.Health.Unhealthy():
		return 4, int64(r.HealthSince)
	case r.Health == model.HealthUnguarded:
		return rankTail, 0
	}
	return rankTail + 1, 0
}

// rankTail is the first of healthRank's two last ranks, whose rows all
// tie (their second key is 0): in dump order.
const rankTail = 5

// numericKey extracts the sort key of a numeric column.
func numericKey(c column, r *model.Row) (miss bool, a, b int64) {
	s := r.Sock
	info := &s.Info
	switch c {
	case colHealth:
		a, b = healthRank(r)
		return false, a, b
	case colState:
		return false, int64(s.State), 0
	case colSendQ:
		return false, int64(s.SendQ), 0
	case colRecvQ:
		return false, int64(s.RecvQ), 0
	case colRTT:
		return !r.HasInfo(), int64(info.RTT.Duration()), 0
	case colRTO:
		return !r.HasInfo(), int64(info.RTO.Duration()), int64(info.Backoff)
	case colRetrans:
		return false, int64(r.Retransmits()), int64(info.TotalRetrans)
	case colProbes:
		return false, int64(r.Probes()), 0
	case colUnacked:
		return !r.HasInfo(), int64(info.Unacked), 0
	case colLastAck:
		return !r.HasInfo(), int64(info.LastAckRecv.Duration()), 0
	case colAbort:
		if r.Prediction == nil {
			return true, 0, 0
		}
		return false, r.Prediction.At.UnixNano(), 0
	}
	return true, 0, 0
}

// compareText orders two rows by a text column (addresses, processes).
func compareText(c column, a, b *model.Row) int {
	switch c {
	case colLocal:
		return a.Sock.ID.Src.Compare(b.Sock.ID.Src)
	case colRemote:
		return a.Sock.ID.Dst.Compare(b.Sock.ID.Dst)
	case colNetNS:
		return compareNetNS(a.NetNS, b.NetNS)
	case colProcess:
		r := strings.Compare(a.Comm, b.Comm)
		if r == 0 {
			r = cmp.Compare(a.PID, b.PID)
		}
		return r
	}
	return 0
}

// sortVisible sorts vis (indices into rows) by the current order.
// Numeric columns sort on keys extracted once; addresses and process
// names compare rows.
func (t *connTable) sortVisible(rows []model.Row) {
	rev := colSpecs[t.order.col].desc != t.order.rev
	switch c := t.order.col; c {
	case colLocal, colRemote, colNetNS, colProcess:
		slices.SortFunc(t.vis, func(x, y int32) int {
			a, b := &rows[x], &rows[y]
			if c == colProcess && (a.Comm == "") != (b.Comm == "") {
				// Unknown processes last, whatever the direction.
				if a.Comm == "" {
					return 1
				}
				return -1
			}
			r := compareText(c, a, b)
			if rev {
				r = -r
			}
			if r == 0 {
				r = cmp.Compare(x, y)
			}
			return r
		})
		return
	}
	t.skeys = t.skeys[:0]
	if t.order.byUrgency() {
		// The default order keeps the rows of the last two ranks in dump
		// order after the others, as the sort would (their keys tie):
		// the unguarded, the other healthy ones, then the plainly
		// healthy. Only the few rows in trouble need sorting, which
		// keeps a poll of 10^5 mostly healthy, or mostly unguarded,
		// sockets linear (sorting 10^5 unguarded rows that all tie took
		// 25 ms a poll).
		for k := range t.tail {
			t.tail[k] = t.tail[k][:0]
		}
		for _, i := range t.vis {
			byUrgency(&rows[i], i, &t.skeys, &t.tail)
		}
	} else {
		for _, i := range t.vis {
			miss, a, b := numericKey(t.order.col, &rows[i])
			t.skeys = append(t.skeys, sortKey{miss, a, b, i})
		}
	}
	sortKeys(t.skeys, rev)
	for i, k := range t.skeys {
		t.vis[i] = k.idx
	}
	if t.order.byUrgency() {
		n := len(t.skeys)
		for _, part := range t.tail {
			n += copy(t.vis[n:], part)
		}
	}
}

// byUrgency places row i, r, in the default order: among keys, the rows
// in trouble to be sorted, or in the tail of its rank (see rankTail).
func byUrgency(r *model.Row, i int32, keys *[]sortKey, tail *[3][]int32) {
	if r.Health == model.HealthOK && r.Prediction == nil {
		tail[2] = append(tail[2], i)
		return
	}
	a, b := healthRank(r)
	if a >= rankTail {
		tail[a-rankTail] = append(tail[a-rankTail], i)
		return
	}
	*keys = append(*keys, sortKey{false, a, b, i})
}

// sortKeys sorts keys, reversed or not: rows missing the value last,
// ties in dump order.
func sortKeys(keys []sortKey, rev bool) {
	slices.SortFunc(keys, func(x, y sortKey) int {
		if x.miss != y.miss {
			if x.miss {
				return 1
			}
			return -1
		}
		r := cmp.Compare(x.a, y.a)
		if r == 0 {
			r = cmp.Compare(x.b, y.b)
		}
		if rev {
			r = -r
		}
		if r == 0 {
			r = cmp.Compare(x.idx, y.idx)
		}
		return r
	})
}
