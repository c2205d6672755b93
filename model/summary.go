package model

import (
	"maps"
	"slices"
)

// Summary is what the views say about a snapshot's rows as a whole: the
// counts by state and health, the predictions by reason, the soonest
// abort, the connections that would never notice a dead peer and their
// service ports, and which rows are in trouble. The interface's header
// and the exporter's gauges are made of it, at every poll.
type Summary struct {
	Counts Counts
	// ByReason counts the rows with a prediction, by its reason.
	ByReason [256]int
	// Soonest is the index of the row whose predicted abort comes first
	// (the first of those that tie), -1 when none is predicted.
	Soonest int
	// Never counts the established connections that would never notice
	// a dead peer, NeverByPort the same by service port (see
	// ServicePort).
	Never       int
	NeverByPort map[uint16]int
	// Dying are the indices, ascending, of the rows that are dying
	// (Health.Dying) or have a prediction (a zero-window connection whose
	// probes go unanswered is not dying, its peer is alive, but it will
	// be aborted).
	Dying []int
}

// Summarize passes over every row of s.
func (s *Snapshot) Summarize() *Summary {
	var z Summarizer
	return z.Summarize(s)
}

// Summarizer summarizes snapshot after snapshot. Between two sweeps of a
// large host only the suspects' rows change (see Snapshot.RowsEpoch): it
// keeps its sum of the other rows for the epoch, and passes over the
// suspects alone. At 10^6 sockets the pass over every row took the
// exporter 80 ms a poll, most of its CPU. The zero value is ready; a
// Summarizer is not safe for concurrent use.
type Summarizer struct {
	// rest sums the rows but those at fresh, of snapshots of epoch with
	// rows rows.
	epoch uint64
	rows  int
	fresh []int
	rest  Summary
	// ports is scratch, counts by port (dense: 10^6 map updates cost
	// more than the rest of a pass), zero between passes.
	ports []int32
}

// Summarize returns s's summary. It reads only s, and keeps no pointer
// into it.
func (z *Summarizer) Summarize(s *Snapshot) *Summary {
	if !s.HasEpoch() {
		z.epoch = 0
		sum := z.pass(s, nil)
		return &sum
	}
	if s.RowsEpoch != z.epoch || len(s.Rows) != z.rows || !slices.Equal(s.Fresh, z.fresh) {
		z.rest = z.pass(s, s.Fresh)
		z.epoch, z.rows, z.fresh = s.RowsEpoch, len(s.Rows), slices.Clone(s.Fresh)
	}
	sum := z.rest
	sum.NeverByPort = maps.Clone(z.rest.NeverByPort)
	count := func(port uint16) { sum.NeverByPort[port]++ }
	var fresh []int
	listen := listeningSet(s.Listening)
	for _, i := range s.Fresh {
		if sum.add(s.Rows, i, &listen, count) {
			fresh = append(fresh, i)
		}
	}
	sum.Dying = mergeAscending(z.rest.Dying, fresh)
	return &sum
}

// pass sums the rows of s but those at skip (ascending).
func (z *Summarizer) pass(s *Snapshot, skip []int) Summary {
	sum := Summary{Soonest: -1, NeverByPort: map[uint16]int{}}
	listen := listeningSet(s.Listening)
	counted := false
	count := func(port uint16) {
		if z.ports == nil {
			z.ports = make([]int32, 1<<16)
		}
		z.ports[port]++
		counted = true
	}
	for i := range s.Rows {
		if len(skip) > 0 && skip[0] == i {
			skip = skip[1:]
			continue
		}
		if sum.add(s.Rows, i, &listen, count) {
			sum.Dying = append(sum.Dying, i)
		}
	}
	if counted {
		for p, n := range z.ports {
			if n > 0 {
				sum.NeverByPort[uint16(p)] = int(n)
				z.ports[p] = 0
			}
		}
	}
	return sum
}

// add counts row i of rows (none without a sample) into sum, a
// never-noticing connection's service port by count, and reports whether
// the row is one of Dying.
func (sum *Summary) add(rows []Row, i int, listen *portSet, count func(port uint16)) bool {
	r := &rows[i]
	if r.Sock == nil {
		return false
	}
	sum.Counts.Add(r)
	if p := r.Prediction; p != nil {
		sum.ByReason[p.Reason]++
		if sum.Soonest < 0 || soonerRow(rows, i, sum.Soonest) {
			sum.Soonest = i
		}
	}
	if r.Exposure != nil && r.Exposure.Never {
		sum.Never++
		count(servicePort(listen, r))
	}
	return r.Health.Dying() || r.Prediction != nil
}

// soonerRow reports whether row i's predicted abort comes before row j's,
// or at the same time with i before j (as a pass in order finds them).
func soonerRow(rows []Row, i, j int) bool {
	a, b := rows[i].Prediction.At, rows[j].Prediction.At
	return a.Before(b) || a.Equal(b) && i < j
}

// HasEpoch reports whether s's rows are of an epoch (RowsEpoch) whose
// Fresh are ascending indices of its rows: a snapshot made otherwise
// promises nothing.
func (s *Snapshot) HasEpoch() bool {
	if s.RowsEpoch == 0 {
		return false
	}
	for k, i := range s.Fresh {
		if i < 0 || i >= len(s.Rows) || k > 0 && i <= s.Fresh[k-1] {
			return false
		}
	}
	return true
}

// mergeAscending merges two ascending lists without duplicates between
// them into a new one (nil when both are empty, as a pass makes it).
func mergeAscending(a, b []int) []int {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := make([]int, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0] < b[0] {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// listeningSet is the ports of listening as a bitmap (a map look-up per
// row cost more than the rest of a pass).
func listeningSet(listening map[uint16]bool) portSet {
	var ps portSet
	for p, ok := range listening {
		if ok {
			ps.add(p)
		}
	}
	return ps
}

// servicePort is ServicePortOf with the listening ports as a bitmap.
func servicePort(listen *portSet, r *Row) uint16 {
	if src := r.Sock.ID.Src.Port(); listen.has(src) {
		return src
	}
	return r.Sock.ID.Dst.Port()
}

// SoonestAbort returns the soonest predicted abort's row, or nil.
func (sum *Summary) SoonestAbort(s *Snapshot) *Row {
	if sum.Soonest < 0 || sum.Soonest >= len(s.Rows) {
		return nil
	}
	return &s.Rows[sum.Soonest]
}
