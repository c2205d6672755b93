package metrics

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcpwatch/tcpwatch/model"
)

// MaxPeerSeries bounds the remote hosts that get series of their own
// (tcpwatch_peer_*): the most urgent of those not alive. Alive hosts
// never get any, so a host talking to 10^4 clients publishes nothing per
// client while they answer.
const MaxPeerSeries = 20

// peerSummary is what a snapshot publishes about remote hosts.
type peerSummary struct {
	byStatus map[string]int
	series   []peerValues
}

// peerValues are the series of one host that is not alive.
type peerValues struct {
	addr         string
	unresponsive bool
	// silent is the time from the host's last receive to the snapshot;
	// heard is false if nothing was ever received from it.
	silent      time.Duration
	heard       bool
	byHealth    map[string]int
	neverNotice int
	// firstAbort is the time to the first predicted abort among its
	// connections; predicted is false when none is.
	firstAbort time.Duration
	predicted  bool
}

var peerStatuses = []model.PeerStatus{model.PeerAlive, model.PeerPartial, model.PeerUnresponsive}

// reducePeers summarizes snap's peers (already ordered by urgency).
func reducePeers(snap *model.Snapshot) peerSummary {
	s := peerSummary{byStatus: map[string]int{}}
	for _, st := range peerStatuses {
		s.byStatus[st.String()] = 0
	}
	for i := range snap.Peers {
		p := &snap.Peers[i]
		s.byStatus[p.Status.String()]++
		if p.Status == model.PeerAlive || len(s.series) == MaxPeerSeries {
			continue
		}
		pv := peerValues{addr: p.Addr.String(), unresponsive: p.Status == model.PeerUnresponsive,
			byHealth: zeroed(healthNames), neverNotice: p.NeverNotice}
		if !p.SilentSince.IsZero() {
			pv.silent, pv.heard = snap.Time.Sub(p.SilentSince), true
		}
		if !p.FirstAbort.IsZero() {
			pv.firstAbort, pv.predicted = p.FirstAbort.Sub(snap.Time), true
		}
		for _, h := range healthNames {
			hh, _ := model.ParseHealth(h)
			pv.byHealth[h] = p.Health(hh)
		}
		s.series = append(s.series, pv)
	}
	return s
}

var peerBound = fmt.Sprintf("Only the %d most urgent hosts that are not alive have series.", MaxPeerSeries)

var (
	descPeers = prometheus.NewDesc("tcpwatch_peers",
		"Remote hosts of the last poll's connections, by verdict: unresponsive (every connection waiting for an answer gets none, nothing received since), partial (some stall, another still hears), alive (every status is listed, 0 included).",
		[]string{"status"}, nil)
	descUnresponsivePeers = prometheus.NewDesc("tcpwatch_unresponsive_peers",
		"Remote hosts judged unresponsive by the last poll: probably dead.",
		nil, nil)
	descPeerUnresponsive = prometheus.NewDesc("tcpwatch_peer_unresponsive",
		"1 for a host judged unresponsive, 0 for one judged partial (some connections stall while another still hears from it). "+peerBound,
		[]string{"peer"}, nil)
	descPeerSilent = prometheus.NewDesc("tcpwatch_peer_silent_seconds",
		"Seconds from the last segment received from the host, over any connection, to the last poll. Absent if nothing was ever received. "+peerBound,
		[]string{"peer"}, nil)
	descPeerConns = prometheus.NewDesc("tcpwatch_peer_connections",
		"Connections to the host by health (every health is listed, 0 included). "+peerBound,
		[]string{"peer", "health"}, nil)
	descPeerNever = prometheus.NewDesc("tcpwatch_peer_never_notice_connections",
		"Connections to the host that would not notice its death within an hour (idle without keepalive, or a keepalive of hours): their applications will hang. "+peerBound,
		[]string{"peer"}, nil)
	descPeerFirstAbort = prometheus.NewDesc("tcpwatch_peer_first_abort_seconds",
		"Seconds from the last poll to the first predicted abort among the host's connections. Absent when none is predicted. "+peerBound,
		[]string{"peer"}, nil)
	peerDescs = []*prometheus.Desc{descPeers, descUnresponsivePeers, descPeerUnresponsive, descPeerSilent, descPeerConns, descPeerNever, descPeerFirstAbort}
)

// collectPeers emits the peer series of s through gauge.
func collectPeers(s *peerSummary, gauge func(d *prometheus.Desc, x float64, labels ...string)) {
	for k, n := range s.byStatus {
		gauge(descPeers, float64(n), k)
	}
	gauge(descUnresponsivePeers, float64(s.byStatus[model.PeerUnresponsive.String()]))
	for i := range s.series {
		pv := &s.series[i]
		un := 0.0
		if pv.unresponsive {
			un = 1
		}
		gauge(descPeerUnresponsive, un, pv.addr)
		if pv.heard {
			gauge(descPeerSilent, pv.silent.Seconds(), pv.addr)
		}
		for h, n := range pv.byHealth {
			gauge(descPeerConns, float64(n), pv.addr, h)
		}
		gauge(descPeerNever, float64(pv.neverNotice), pv.addr)
		if pv.predicted {
			gauge(descPeerFirstAbort, pv.firstAbort.Seconds(), pv.addr)
		}
	}
}
