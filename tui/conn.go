// How a connection is named and counted wherever it appears: the table's
// cells, the detail view, the header and the prompts.

package tui

import (
	"strconv"

	"github.com/tcpwatch/tcpwatch/model"
)

// arrow names a connection by its endpoints: "10.0.3.7:51630 → 10.0.9.14:5432".
func arrow(r *model.Row) string { return r.Local() + " → " + r.Remote() }

// connName names a connection for prompts and messages:
// "10.0.3.7:51630 → 10.0.9.14:5432 (api[2211])".
func connName(r *model.Row) string {
	s := arrow(r)
	if p := process(r); p != "" {
		s += " (" + p + ")"
	}
	return s
}

// process formats the owner of a connection as comm[pid].
func process(r *model.Row) string {
	switch {
	case r.Comm != "" && r.PID > 0:
		return r.Comm + "[" + strconv.Itoa(r.PID) + "]"
	case r.Comm != "":
		return r.Comm
	case r.PID > 0:
		return "[" + strconv.Itoa(r.PID) + "]"
	case r.Health == model.HealthOrphanRetrying:
		return "(orphan)"
	}
	return ""
}

// countsProbes reports whether a row's progress towards an abort is
// counted in probes (keepalive, zero-window) rather than retransmissions.
func countsProbes(r *model.Row) bool {
	if r.Prediction != nil {
		return probeSchedule(r.Prediction)
	}
	return r.Probes() > 0 && r.Retransmits() == 0
}

// probeSchedule reports whether the kernel counts probes (keepalive or
// zero-window) rather than retransmissions towards this abort.
func probeSchedule(p *model.Prediction) bool {
	switch p.Reason {
	case model.ReasonKeepalive, model.ReasonZeroWindowProbes:
		return true
	}
	for i := range p.Schedule {
		if p.Schedule[i].Kind == model.FireProbe {
			return true
		}
	}
	return false
}
