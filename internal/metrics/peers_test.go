package metrics

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tcpwatch/tcpwatch/model"
)

func TestPeerSeries(t *testing.T) {
	dead := model.Peer{Addr: netip.MustParseAddr("10.0.0.7"), Status: model.PeerUnresponsive,
		SilentSince: t0.Add(-90 * time.Second), FirstAbort: t0.Add(11 * time.Minute), LastAbort: t0.Add(15 * time.Minute),
		Conns: 14, Dying: 5, NeverNotice: 9}
	dead.ByHealth[model.HealthRetransmitting], dead.ByHealth[model.HealthUnguarded] = 5, 9
	partial := model.Peer{Addr: netip.MustParseAddr("fd00::9"), Status: model.PeerPartial, Conns: 2}
	partial.ByHealth[model.HealthRetransmitting], partial.ByHealth[model.HealthOK] = 1, 1
	alive := model.Peer{Addr: netip.MustParseAddr("10.0.0.8"), Status: model.PeerAlive, Conns: 3}
	snap, _ := snapshot(t0, nil)
	snap.Peers = []model.Peer{dead, partial, alive}
	e := New()
	e.Update(snap)
	mfs := scrape(t, e.Handler())

	for _, tc := range []struct {
		name string
		want map[string]float64
	}{
		{"tcpwatch_peers", map[string]float64{`{status="alive"}`: 1, `{status="partial"}`: 1, `{status="unresponsive"}`: 1}},
		{"tcpwatch_unresponsive_peers", map[string]float64{`{}`: 1}},
		// The alive host has no series.
		{"tcpwatch_peer_unresponsive", map[string]float64{`{peer="10.0.0.7"}`: 1, `{peer="fd00::9"}`: 0}},
		// The partial host was never heard from: no silence series.
		{"tcpwatch_peer_silent_seconds", map[string]float64{`{peer="10.0.0.7"}`: 90}},
		{"tcpwatch_peer_never_notice_connections", map[string]float64{`{peer="10.0.0.7"}`: 9, `{peer="fd00::9"}`: 0}},
		{"tcpwatch_peer_first_abort_seconds", map[string]float64{`{peer="10.0.0.7"}`: 660}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, series(mfs, tc.name)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if mfs[tc.name].GetHelp() == "" {
				t.Errorf("no HELP")
			}
		})
	}
	conns := series(mfs, "tcpwatch_peer_connections")
	if len(conns) != 2*len(healthNames) {
		t.Errorf("%d peer_connections series, want every health of the 2 troubled hosts (%d)", len(conns), 2*len(healthNames))
	}
	for k, want := range map[string]float64{
		`{health="retransmitting",peer="10.0.0.7"}`: 5, `{health="unguarded",peer="10.0.0.7"}`: 9, `{health="ok",peer="10.0.0.7"}`: 0,
		`{health="ok",peer="fd00::9"}`: 1,
	} {
		if conns[k] != want {
			t.Errorf("peer_connections%s = %v, want %v", k, conns[k], want)
		}
	}

	// The host answers again: its series vanish with the next snapshot.
	snap2, _ := snapshot(t0.Add(time.Second), nil)
	alive.Addr = netip.MustParseAddr("10.0.0.7")
	snap2.Peers = []model.Peer{alive}
	e.Update(snap2)
	mfs = scrape(t, e.Handler())
	if n := len(series(mfs, "tcpwatch_peer_unresponsive")); n != 0 {
		t.Errorf("%d peer series after every host answered, want 0", n)
	}
}

func TestPeerSeriesBound(t *testing.T) {
	snap, _ := snapshot(t0, nil)
	// 50 unresponsive hosts, the most urgent first (as the model orders
	// them).
	for i := range 50 {
		snap.Peers = append(snap.Peers, model.Peer{Addr: netip.MustParseAddr(fmt.Sprintf("10.9.0.%d", i+1)), Status: model.PeerUnresponsive, Conns: 1})
	}
	e := New()
	e.Update(snap)
	mfs := scrape(t, e.Handler())
	got := series(mfs, "tcpwatch_peer_unresponsive")
	if len(got) != MaxPeerSeries {
		t.Fatalf("%d hosts with series, want %d", len(got), MaxPeerSeries)
	}
	for i := range MaxPeerSeries {
		if _, ok := got[fmt.Sprintf(`{peer="10.9.0.%d"}`, i+1)]; !ok {
			t.Errorf("host %d of the most urgent has no series", i+1)
		}
	}
	if n := series(mfs, "tcpwatch_unresponsive_peers")[`{}`]; n != 50 {
		t.Errorf("tcpwatch_unresponsive_peers = %v, want every host (50)", n)
	}
}
