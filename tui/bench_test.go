// Benchmarks of the costs that scale with the number of connections:
// a frame, taking in a snapshot, and scrolling, over 10^5 rows.

package tui

import (
	"net/netip"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// bigRows builds n connections like a busy database host's: mostly
// healthy clients of :5432, some idle ones without keepalive, and a few
// dozen in trouble.
func bigRows(n int) []model.Row {
	socks := make([]inetdiag.Socket, n)
	rows := make([]model.Row, n)
	dying, ka, cw, zw := dyingRow(), keepaliveRow(), closeWaitRow(), zeroWindowRow()
	for i := range rows {
		s := &socks[i]
		*s = *dying.Sock
		s.ID.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 3, 7}), 5432)
		s.ID.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(20000+i%40000))
		s.ID.Cookie = uint64(i + 1)
		s.Timer, s.Retrans, s.SendQ = inetdiag.TimerNone, 0, uint32(i%7*100)
		s.Info.Retransmits, s.Info.Backoff, s.Info.RTO = 0, 0, inetdiag.MicrosOf(204*time.Millisecond)
		s.Info.LastAckRecv = inetdiag.MillisOf(time.Duration(i%5000) * time.Millisecond)
		r := &rows[i]
		r.Sock = s
		r.PID, r.Comm = 91+i%50, "postgres"
		r.FirstSeen = model.InstantOf(t0.Add(-time.Hour))
		switch {
		case i%1000 == 1:
			*r = withAbort(dying, uint64(i+1), time.Duration(i%900)*time.Second)
			r.Sock.ID.Dst = s.ID.Dst
		case i%5000 == 2:
			*r = withAbort(ka, uint64(i+1), time.Duration(i%600)*time.Second)
		case i%5000 == 3:
			c := cw
			sc := *c.Sock
			sc.ID.Cookie = uint64(i + 1)
			c.Sock = &sc
			*r = c
		case i%10000 == 4:
			z := zw
			sz := *z.Sock
			sz.ID.Cookie = uint64(i + 1)
			z.Sock = &sz
			*r = z
		case i%100 == 5:
			r.Health = model.HealthUnguarded
			r.Exposure = &model.Exposure{Never: true}
		default:
			r.Exposure = &model.Exposure{After: 15 * time.Minute}
		}
	}
	return rows
}

func bigSnapshot(n int) *model.Snapshot {
	s, _ := snapshotOf(bigRows(n)...)
	return s
}

// BenchmarkFrame100k renders one frame of the table with 10^5 rows at
// 120x40, after the snapshot was taken in: the cost of every tick.
func BenchmarkFrame100k(b *testing.B) {
	m, clk := newTestModel(Config{}, 120, 40)
	m.styles = newStyles(3, false) // colours on: the real cost
	feed(m, bigSnapshot(100_000))
	press(m, "pgdown", "pgdown") // somewhere in the middle of the dying rows
	b.ResetTimer()
	for b.Loop() {
		clk.Advance(time.Second)
		m.Update(tickMsg(clk.Now()))
		_ = m.View()
	}
}

// BenchmarkIngest100k takes in a new snapshot of 10^5 rows: filter, sort,
// counts, events.
func BenchmarkIngest100k(b *testing.B) {
	m, _ := newTestModel(Config{}, 120, 40)
	snaps := []*model.Snapshot{bigSnapshot(100_000), bigSnapshot(100_000)}
	ingestAlternately(b, m, snaps)
}

// BenchmarkIngest100kUnguarded is BenchmarkIngest100k on the host the
// scale fixture makes, and many are: every connection idle without
// keepalive, each counted in the header's never-exposure by port.
func BenchmarkIngest100kUnguarded(b *testing.B) {
	m, _ := newTestModel(Config{}, 120, 40)
	var snaps []*model.Snapshot
	for range 2 {
		rows := bigRows(100_000)
		for i := range rows {
			if r := &rows[i]; r.Health == model.HealthOK {
				r.Health, r.Exposure = model.HealthUnguarded, &model.Exposure{Never: true}
			}
		}
		s, _ := snapshotOf(rows...)
		s.Listening = map[uint16]bool{5432: true}
		snaps = append(snaps, s)
	}
	ingestAlternately(b, m, snaps)
}

// BenchmarkIngest100kRefresh is BenchmarkIngest100kUnguarded between
// two sweeps: the snapshots are refreshes of one epoch whose 0.1 % fresh
// rows (the suspects) are all that changed.
func BenchmarkIngest100kRefresh(b *testing.B) {
	m, _ := newTestModel(Config{}, 120, 40)
	rows := bigRows(100_000)
	var fresh []int
	for i := range rows {
		if r := &rows[i]; r.Health == model.HealthOK {
			r.Health, r.Exposure = model.HealthUnguarded, &model.Exposure{Never: true}
		}
		if i%1000 == 0 {
			fresh = append(fresh, i)
		}
	}
	var snaps []*model.Snapshot
	for range 2 {
		s, _ := snapshotOf(rows...)
		s.Listening = map[uint16]bool{5432: true}
		s.RowsEpoch, s.Fresh = 1, fresh
		snaps = append(snaps, s)
	}
	ingestAlternately(b, m, snaps)
}

// ingestAlternately is the loop of the ingest benchmarks: m takes in the
// snapshots in turn.
func ingestAlternately(b *testing.B, m *Model, snaps []*model.Snapshot) {
	b.ResetTimer()
	i := 0
	for b.Loop() {
		m.snap = nil // keep the snapshots alive: Release is a no-op here
		m.Update(snapshotMsg{snaps[i%len(snaps)]})
		i++
	}
}

// BenchmarkScroll100k moves the cursor one row and renders, as holding
// the down arrow does.
func BenchmarkScroll100k(b *testing.B) {
	m, _ := newTestModel(Config{}, 120, 40)
	feed(m, bigSnapshot(100_000))
	down := tea.KeyPressMsg{Code: tea.KeyDown}
	b.ResetTimer()
	for b.Loop() {
		m.Update(down)
		_ = m.View()
	}
}
