package metrics

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// TestNetNSLabel: with --all-netns the per-connection series carry the
// namespace, so that the same four-tuple in two pods is two series (not a
// duplicate that one would hide), and netns-gone events are counted;
// without it the label sets are as before (the other tests).
func TestNetNSLabel(t *testing.T) {
	pod := &model.NetNS{Inode: 4026532890, Name: "payments/api-7f9c"}
	host := &model.NetNS{Inode: 4026531840, Name: "host"}
	row := func(ns *model.NetNS, in time.Duration, retr uint8) model.Row {
		s := sk(inetdiag.StateEstablished, "10.0.0.1:40000", "10.0.0.2:5432", inetdiag.TCPInfoLen2_6)
		s.Timer, s.Info.Retransmits = inetdiag.TimerRetransmit, retr
		return model.Row{Sock: s, Health: model.HealthRetransmitting, Prediction: pred(t0.Add(in), model.ReasonRetries2, model.Exact), NetNS: ns}
	}
	snap, _ := snapshot(t0, []model.Row{row(host, 90*time.Second, 1), row(pod, 12*time.Second, 6)})
	snap.Events = []model.Event{{Time: t0, Kind: model.EventNetNSGone, NetNS: pod}}
	e := NewWithNetNS()
	e.Update(snap)
	mfs := scrape(t, e.Handler())
	wantAbort := map[string]float64{
		`{confidence="exact",local="10.0.0.1:40000",netns="host",process="",reason="tcp_retries2",remote="10.0.0.2:5432"}`:              90,
		`{confidence="exact",local="10.0.0.1:40000",netns="payments/api-7f9c",process="",reason="tcp_retries2",remote="10.0.0.2:5432"}`: 12,
	}
	if diff := cmp.Diff(wantAbort, series(mfs, "tcpwatch_connection_abort_seconds")); diff != "" {
		t.Errorf("abort (-want +got):\n%s", diff)
	}
	wantRetr := map[string]float64{
		`{local="10.0.0.1:40000",netns="host",remote="10.0.0.2:5432"}`:              1,
		`{local="10.0.0.1:40000",netns="payments/api-7f9c",remote="10.0.0.2:5432"}`: 6,
	}
	if diff := cmp.Diff(wantRetr, series(mfs, "tcpwatch_connection_retransmits")); diff != "" {
		t.Errorf("retransmits (-want +got):\n%s", diff)
	}
	if got := series(mfs, "tcpwatch_events_total")[`{event="netns-gone"}`]; got != 1 {
		t.Errorf("netns-gone events = %v, want 1", got)
	}

	// The exporter of one namespace has no such event series.
	e = New()
	e.Update(snap)
	if _, ok := series(scrape(t, e.Handler()), "tcpwatch_events_total")[`{event="netns-gone"}`]; ok {
		t.Errorf("a netns-gone series without --all-netns")
	}
}
