package metrics

import "github.com/prometheus/client_golang/prometheus"

// NewWithNetNS is New for tcpwatch --all-netns: the per-connection
// families (tcpwatch_connection_*) gain a netns label, the namespace's
// label as the interface shows it. It stays bounded: only the
// MaxConnSeries connections predicted to abort soonest have series,
// whatever namespaces they are in; the counts by state, health and reason
// cover every namespace without a label of their own. Without
// --all-netns the families keep their label set (New), so that existing
// dashboards and recording rules see no change.
func NewWithNetNS() *Exporter { return newExporter(true) }

// connFamily is one per-connection family: its descriptor, and whether it
// has the netns label.
type connFamily struct {
	desc  *prometheus.Desc
	netns bool
}

// gauge sends the family's value for connection cv (then the extra label
// values, after local and remote).
func (f connFamily) gauge(ch chan<- prometheus.Metric, x float64, cv *connValues, extra ...string) {
	labels := make([]string, 0, 3+len(extra))
	if f.netns {
		labels = append(labels, cv.netns)
	}
	labels = append(append(labels, cv.local, cv.remote), extra...)
	ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, x, labels...)
}

var (
	descConnAbortNS = prometheus.NewDesc("tcpwatch_connection_abort_seconds",
		"Seconds from the last poll to the predicted abort of one dying connection (best estimate; negative when overdue); process is its owner's name, empty when unknown. "+connBound,
		[]string{"netns", "local", "remote", "reason", "confidence", "process"}, nil)
	descConnRetransNS = prometheus.NewDesc("tcpwatch_connection_retransmits",
		"Unanswered RTO retransmissions in the current episode of one dying connection. "+connBound,
		[]string{"netns", "local", "remote"}, nil)
	descConnProbesNS = prometheus.NewDesc("tcpwatch_connection_probes",
		"Unanswered keepalive or zero-window probes of one dying connection. "+connBound,
		[]string{"netns", "local", "remote"}, nil)
)

// connFamilies returns the per-connection families, with the netns label
// or without.
func connFamilies(withNetNS bool) (abort, retrans, probes connFamily) {
	if withNetNS {
		return connFamily{descConnAbortNS, true}, connFamily{descConnRetransNS, true}, connFamily{descConnProbesNS, true}
	}
	return connFamily{descConnAbort, false}, connFamily{descConnRetrans, false}, connFamily{descConnProbes, false}
}
