package model

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// randomRows makes n rows of every kind a summary counts: states,
// healths, predictions (some tying), never-noticing exposures on
// listening and client ports, and rows without a sample.
func randomRows(rng *rand.Rand, n int, at time.Time) []Row {
	never := &Exposure{Never: true}
	guarded := &Exposure{After: time.Hour, Reason: ReasonKeepalive}
	healths := []Health{HealthOK, HealthUnguarded, HealthRetransmitting, HealthKeepaliveProbing, HealthZeroWindow}
	states := []inetdiag.State{inetdiag.StateEstablished, inetdiag.StateCloseWait, inetdiag.StateTimeWait, inetdiag.StateSynSent}
	rows := make([]Row, n)
	for i := range rows {
		if rng.IntN(20) == 0 {
			continue // no sample
		}
		s := conn(uint64(i+1), states[rng.IntN(len(states))])
		s.ID.Src = netip.AddrPortFrom(s.ID.Src.Addr(), []uint16{80, 443, uint16(40000 + rng.IntN(100))}[rng.IntN(3)])
		s.ID.Dst = netip.AddrPortFrom(s.ID.Dst.Addr(), []uint16{5432, 6379, uint16(50000 + rng.IntN(100))}[rng.IntN(3)])
		rows[i] = Row{Sock: &s, Health: healths[rng.IntN(len(healths))]}
		switch rng.IntN(4) {
		case 0:
			rows[i].Exposure = never
		case 1:
			rows[i].Exposure = guarded
		}
		if rng.IntN(5) == 0 {
			reason := []Reason{ReasonRetries2, ReasonKeepalive, ReasonZeroWindowProbes}[rng.IntN(3)]
			rows[i].Prediction = &Prediction{Reason: reason, At: at.Add(time.Duration(rng.IntN(10)) * time.Second)}
		}
	}
	return rows
}

// TestSummarizerRefreshes checks the summaries a Summarizer makes of a
// sweep and of the refreshes after it, whose suspects' rows change from
// one to the next, against a pass over every row of each.
func TestSummarizerRefreshes(t *testing.T) {
	at := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	for _, n := range []int{0, 1, 7, 300, 5000} {
		rng := rand.New(rand.NewPCG(uint64(n), 1))
		rows := randomRows(rng, n, at)
		var fresh []int
		for i := range rows {
			if rng.IntN(10) == 0 {
				fresh = append(fresh, i)
			}
		}
		listening := map[uint16]bool{80: true, 443: true, 22: false}
		var z Summarizer
		for poll := range 6 {
			snap := &Snapshot{Rows: rows, Listening: listening}
			if poll > 0 { // the sweep has no epoch; its refreshes one
				snap.RowsEpoch, snap.Fresh = 42, fresh
				// The suspects' rows anew: another health, prediction,
				// exposure, state.
				for _, i := range fresh {
					if rows[i].Sock != nil {
						rows[i] = randomRows(rng, 1, at.Add(-time.Duration(poll)*3*time.Second))[0] // sooner, later, tying
					}
				}
			}
			got := z.Summarize(snap)
			want := (&Snapshot{Rows: rows, Listening: listening}).Summarize()
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%d rows, poll %d: summary\n%+v\nwant\n%+v", n, poll, got, want)
			}
		}
	}
}

// TestSummarizerKeepsEpoch shows that a Summarizer does not read again
// the rows a snapshot of the same epoch promises unchanged (so that a
// refresh of 10^6 rows costs its suspects), and that a new epoch, another
// row count or other suspects make it read them all.
func TestSummarizerKeepsEpoch(t *testing.T) {
	at := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	mk := func() []Row { return randomRows(rand.New(rand.NewPCG(3, 3)), 200, at) }
	rows := mk()
	var z Summarizer
	first := z.Summarize(&Snapshot{Rows: rows, RowsEpoch: 7, Fresh: []int{1, 2}})
	// Break the promise: a row outside Fresh changes within the epoch.
	i := 10
	for rows[i].Sock == nil || rows[i].Sock.State == inetdiag.StateListen {
		i++
	}
	rows[i].Sock = &inetdiag.Socket{State: inetdiag.StateListen}
	if got := z.Summarize(&Snapshot{Rows: rows, RowsEpoch: 7, Fresh: []int{1, 2}}); !reflect.DeepEqual(got, first) {
		t.Errorf("same epoch: the rows outside Fresh were read again: %+v, want %+v", got.Counts, first.Counts)
	}
	want := (&Snapshot{Rows: rows}).Summarize()
	if want.Counts.ByState[inetdiag.StateListen] != 1 {
		t.Fatalf("the changed row is not counted by a whole pass: %v", want.Counts.ByState[inetdiag.StateListen])
	}
	for _, tc := range []struct {
		name string
		snap *Snapshot
	}{
		{"new epoch", &Snapshot{Rows: rows, RowsEpoch: 8, Fresh: []int{1, 2}}},
		{"other suspects", &Snapshot{Rows: rows, RowsEpoch: 7, Fresh: []int{1, 3}}},
		{"fewer rows", &Snapshot{Rows: rows[:len(rows)-1], RowsEpoch: 7, Fresh: []int{1, 2}}},
		{"no epoch", &Snapshot{Rows: rows}},
		{"fresh out of range", &Snapshot{Rows: rows, RowsEpoch: 7, Fresh: []int{1, 2000}}},
		{"fresh not ascending", &Snapshot{Rows: rows, RowsEpoch: 7, Fresh: []int{2, 1}}},
	} {
		var z Summarizer
		z.Summarize(&Snapshot{Rows: mk(), RowsEpoch: 7, Fresh: []int{1, 2}})
		got := z.Summarize(tc.snap)
		want := (&Snapshot{Rows: tc.snap.Rows}).Summarize()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got.Counts, want.Counts)
		}
	}
}

// TestSummaryFields checks a summary of a few rows made by hand.
func TestSummaryFields(t *testing.T) {
	at := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	sock := func(st inetdiag.State, src, dst uint16) *inetdiag.Socket {
		s := conn(uint64(src), st)
		s.ID.Src = netip.AddrPortFrom(s.ID.Src.Addr(), src)
		s.ID.Dst = netip.AddrPortFrom(s.ID.Dst.Addr(), dst)
		return &s
	}
	never := &Exposure{Never: true}
	rows := []Row{
		{Sock: sock(inetdiag.StateEstablished, 443, 50001), Health: HealthUnguarded, Exposure: never},
		{}, // no sample: counts for nothing
		{Sock: sock(inetdiag.StateEstablished, 40001, 5432), Health: HealthUnguarded, Exposure: never},
		{Sock: sock(inetdiag.StateEstablished, 443, 50002), Health: HealthRetransmitting,
			Prediction: &Prediction{Reason: ReasonRetries2, At: at.Add(9 * time.Second)}},
		{Sock: sock(inetdiag.StateEstablished, 443, 50003), Health: HealthZeroWindow,
			Prediction: &Prediction{Reason: ReasonZeroWindowProbes, At: at.Add(3 * time.Second)}},
		{Sock: sock(inetdiag.StateEstablished, 443, 50004), Health: HealthKeepaliveProbing,
			Prediction: &Prediction{Reason: ReasonKeepalive, At: at.Add(3 * time.Second)}},
		{Sock: sock(inetdiag.StateCloseWait, 443, 50005), Health: HealthOK},
	}
	sum := (&Snapshot{Rows: rows, Listening: map[uint16]bool{443: true}}).Summarize()
	if sum.Counts.Total != 6 || sum.Counts.ByState[inetdiag.StateEstablished] != 5 || sum.Counts.ByState[inetdiag.StateCloseWait] != 1 {
		t.Errorf("counts %d, by state %d established, %d close-wait", sum.Counts.Total,
			sum.Counts.ByState[inetdiag.StateEstablished], sum.Counts.ByState[inetdiag.StateCloseWait])
	}
	if sum.Counts.Health(HealthUnguarded) != 2 {
		t.Errorf("unguarded %d, want 2", sum.Counts.Health(HealthUnguarded))
	}
	if sum.ByReason[ReasonRetries2] != 1 || sum.ByReason[ReasonZeroWindowProbes] != 1 || sum.ByReason[ReasonKeepalive] != 1 {
		t.Errorf("by reason %v", sum.ByReason[:8])
	}
	if sum.Soonest != 4 { // 4 and 5 tie: the first
		t.Errorf("soonest row %d, want 4", sum.Soonest)
	}
	if r := sum.SoonestAbort(&Snapshot{Rows: rows}); r != &rows[4] {
		t.Errorf("SoonestAbort %p, want row 4 %p", r, &rows[4])
	}
	if want := map[uint16]int{443: 1, 5432: 1}; sum.Never != 2 || !reflect.DeepEqual(sum.NeverByPort, want) {
		t.Errorf("never %d by port %v, want 2 %v", sum.Never, sum.NeverByPort, want)
	}
	if want := []int{3, 4, 5}; !reflect.DeepEqual(sum.Dying, want) {
		t.Errorf("dying rows %v, want %v", sum.Dying, want)
	}
	if empty := (&Snapshot{}).Summarize(); empty.Soonest != -1 || empty.Never != 0 || len(empty.NeverByPort) != 0 || empty.SoonestAbort(&Snapshot{}) != nil {
		t.Errorf("empty snapshot: %+v", empty)
	}
}
