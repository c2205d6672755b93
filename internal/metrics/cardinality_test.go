package metrics

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// maxTCPWatchSeries is the most tcpwatch_ series one scrape can carry,
// whatever the host: every label value of the enumerated families, the
// single-valued gauges, MaxPortSeries ports and three series for each of
// MaxConnSeries connections. The README's Fleet section states it.
var maxTCPWatchSeries = len(stateNames) + len(healthNames) + len(reasonNames) + len(eventKinds) +
	1 + // soonest abort
	1 + MaxPortSeries + // never-noticing, and by port
	3*MaxConnSeries + // abort, retransmits, probes
	6 + // poll duration, interval, slowed, sweep interval and duration, last poll
	3 + // kernel tcp_retries2 and budgets
	len(peerStatuses) + 1 + // peers by verdict, unresponsive peers
	MaxPeerSeries*(4+len(healthNames)) // per host: unresponsive, silent, never noticing, first abort, connections by health

// TestCardinalityAt100kSockets scrapes a snapshot of 10^5 sockets in which
// every bound is exceeded many times over (5,000 dying connections, 3,000
// that would never notice a dead peer over 1,000 ports): the scrape holds
// exactly the bounded number of tcpwatch_ series, and few others.
func TestCardinalityAt100kSockets(t *testing.T) {
	const n = 100_000
	rows := make([]model.Row, 0, n)
	for i := range n {
		local := fmt.Sprintf("10.%d.%d.1:%d", i/65000, (i/250)%250, 10000+i%50000)
		remote := fmt.Sprintf("10.200.%d.%d:%d", (i/250)%250, i%250+1, 1000+i%1000)
		r := model.Row{Sock: sk(inetdiag.StateEstablished, local, remote, inetdiag.TCPInfoLen2_6)}
		r.Sock.ID.Cookie = uint64(i + 1)
		switch {
		case i < 5000:
			r.Health = model.HealthRetransmitting
			r.Prediction = pred(t0.Add(time.Duration(i)*time.Second), model.ReasonRetries2, model.Exact)
			r.Sock.Info.Retransmits = uint8(i % 15)
		case i < 8000:
			r.Health = model.HealthUnguarded
			r.Exposure = &model.Exposure{Never: true}
		default:
			r.Exposure = &model.Exposure{After: 15 * time.Minute, Reason: model.ReasonRetries2}
		}
		rows = append(rows, r)
	}
	snap, _ := snapshot(t0, rows)
	snap.Events = []model.Event{{Kind: model.EventAborted}, {Kind: model.EventReset}}
	// 1,000 unresponsive hosts, each heard from and with an abort ahead:
	// every per-host series is there for the most urgent ones.
	for i := range 1000 {
		snap.Peers = append(snap.Peers, model.Peer{
			Addr: netip.AddrFrom4([4]byte{10, 200, byte(i / 250), byte(i%250 + 1)}), Status: model.PeerUnresponsive, Conns: 5,
			SilentSince: t0.Add(-time.Minute), FirstAbort: t0.Add(time.Minute),
		})
	}
	e := New()
	e.Update(snap)
	snap.Release()
	mfs := scrape(t, e.Handler())
	own, all := 0, 0
	for name, mf := range mfs {
		k := len(mf.GetMetric())
		if s := mf.GetMetric(); len(s) > 0 && s[0].Summary != nil {
			// A summary is quantiles, a sum and a count per series.
			k *= len(s[0].GetSummary().GetQuantile()) + 2
		}
		if h := mf.GetMetric(); len(h) > 0 && h[0].Histogram != nil {
			k *= len(h[0].GetHistogram().GetBucket()) + 3
		}
		all += k
		if strings.HasPrefix(name, "tcpwatch_") {
			own += k
		}
	}
	t.Logf("10^5 sockets: %d tcpwatch_ series, %d in all (Go runtime, process and handler included)", own, all)
	if own != maxTCPWatchSeries {
		t.Errorf("%d tcpwatch_ series, want the bound %d exactly (every bound is exceeded here)", own, maxTCPWatchSeries)
	}
	if all > maxTCPWatchSeries+150 {
		t.Errorf("%d series in all: more than 150 beyond tcpwatch's own", all)
	}
}
