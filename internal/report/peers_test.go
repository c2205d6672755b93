package report

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/model"
)

// peerKeys are the peer fields the README documents as a contract.
var peerKeys = []string{"time", "peer", "status", "silent_since", "silent_since_uncertainty_s", "stalled_since", "connections",
	"dying", "never_notice", "first_abort_in_s", "last_abort_in_s", "processes", "groups", "reasons"}

// peersFixture is fixture() with a dead host, a partial one and an alive
// one, and the dead host's event.
func peersFixture() *model.Snapshot {
	snap := fixture()
	now := snap.Time
	snap.Peers = []model.Peer{
		{Addr: netip.MustParseAddr("10.0.9.14"), Status: model.PeerUnresponsive,
			SilentSince: now.Add(-8212 * time.Millisecond), SilentUncertainty: 5 * time.Millisecond, StalledSince: now.Add(-7800 * time.Millisecond),
			Conns: 3, Dying: 1, NeverNotice: 2, FirstAbort: now.Add(930100 * time.Millisecond), LastAbort: now.Add(930100 * time.Millisecond),
			Groups: []model.PeerGroup{
				{PID: 2211, Comm: "api", RemotePort: 5433, Health: model.HealthUnguarded, Count: 2},
				{PID: 2211, Comm: "api", RemotePort: 5432, Health: model.HealthRetransmitting, Count: 1},
			},
			Reasons: []string{"1 connection waits for answers that never came"}},
		{Addr: netip.MustParseAddr("fd00::2"), Status: model.PeerPartial, Conns: 2, Dying: 1,
			Groups: []model.PeerGroup{{RemotePort: 5432, Health: model.HealthUnguarded, Count: 2}, {LocalPort: 8443, Health: model.HealthOK, Count: 7}}},
		{Addr: netip.MustParseAddr("10.0.8.1"), Status: model.PeerAlive, Conns: 1},
	}
	snap.Events = append(snap.Events, model.Event{Time: now, Kind: model.EventPeerUnresponsive, Peer: netip.MustParseAddr("10.0.9.14"), LastSeen: now.Add(-8212 * time.Millisecond)},
		model.Event{Time: now, Kind: model.EventPeerAnswering, Peer: netip.MustParseAddr("10.0.7.7")})
	return snap
}

func TestJSONPeers(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, peersFixture()); err != nil {
		t.Fatal(err)
	}
	objs := decodeLines(t, buf.Bytes())
	// 3 connections, 2 peers (the alive one is not written), 3 events.
	if len(objs) != 8 {
		t.Fatalf("%d objects, want 3 connections, 2 peers, 3 events", len(objs))
	}
	for i, o := range objs {
		_, isPeer := o["peer"]
		_, isEvent := o["event"]
		switch {
		case i < 3 && (isPeer || isEvent):
			t.Errorf("object %d is a connection but has a peer or event key", i)
		case i >= 3 && i < 5 && (!isPeer || isEvent):
			t.Errorf("object %d: want a peer object: %v", i, o)
		case i >= 5 && !isEvent:
			t.Errorf("object %d: want an event: %v", i, o)
		}
	}
	dead, partial := objs[3], objs[4]
	for _, k := range peerKeys {
		if _, ok := dead[k]; !ok {
			t.Errorf("peer object lacks %q", k)
		}
	}
	for k, want := range map[string]any{
		"peer": "10.0.9.14", "status": "unresponsive", "silent_since": "2026-11-23T14:02:01.288Z", "silent_since_uncertainty_s": 0.005,
		"connections": 3.0, "dying": 1.0, "never_notice": 2.0, "first_abort_in_s": 930.1, "last_abort_in_s": 930.1,
	} {
		if dead[k] != want {
			t.Errorf("%s = %v, want %v", k, dead[k], want)
		}
	}
	if ps, _ := dead["processes"].([]any); len(ps) != 1 || ps[0] != "api[2211]" {
		t.Errorf("processes %v, want [api[2211]]", dead["processes"])
	}
	if gs, _ := dead["groups"].([]any); len(gs) != 2 || gs[0].(map[string]any)["remote_port"] != 5433.0 || gs[0].(map[string]any)["health"] != "unguarded" {
		t.Errorf("groups %v", dead["groups"])
	}
	if partial["status"] != "partial" || partial["silent_since"] != nil || partial["first_abort_in_s"] != nil || partial["peer"] != "fd00::2" {
		t.Errorf("partial peer %v: want status partial, null silence and aborts", partial)
	}
	if pg := partial["groups"].([]any)[0].(map[string]any); pg["pid"] != nil || pg["comm"] != nil {
		t.Errorf("unknown owner: %v, want null pid and comm", pg)
	}
	if pg := partial["groups"].([]any)[0].(map[string]any); pg["local_port"] != nil {
		t.Errorf("a group by remote port has a local_port: %v", pg)
	}
	if pg := partial["groups"].([]any)[1].(map[string]any); pg["local_port"] != 8443.0 || pg["remote_port"] != 0.0 || pg["count"] != 7.0 {
		t.Errorf("a group of connections to a local listener: %v, want local_port 8443, remote_port 0", pg)
	}
	ev := objs[6]
	if ev["event"] != "peer_unresponsive" || ev["peer"] != "10.0.9.14" || ev["silent_since"] != "2026-11-23T14:02:01.288Z" {
		t.Errorf("peer event %v", ev)
	}
	if _, ok := ev["local"]; ok {
		t.Errorf("a peer event has a local address: %v", ev)
	}
	if back := objs[7]; back["event"] != "peer_answering" || back["silent_since"] != nil {
		t.Errorf("peer_answering event %v", back)
	}
}

func TestTablePeers(t *testing.T) {
	for _, tt := range []struct {
		name  string
		snap  *model.Snapshot
		want  []string
		avoid []string
	}{
		{"troubled peers", peersFixture(),
			[]string{"Peer  ", "10.0.9.14  unresponsive  14:02:01.288 ±5ms (8.2s ago)  3      1      2             15m30s", "fd00::2    partial       never",
				"# 10.0.9.14: api[2211] :5433 unguarded x2, api[2211] :5432 retransmitting x1", "#   1 connection waits"},
			[]string{"10.0.8.1  "}},
		{"every peer alive: no section", fixture(), nil, []string{"Silent-since", "unresponsive"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteTable(&buf, tt.snap); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("table lacks %q:\n%s", w, out)
				}
			}
			for _, a := range tt.avoid {
				if strings.Contains(out, a) {
					t.Errorf("table has %q:\n%s", a, out)
				}
			}
			if tt.want != nil && strings.Index(out, "10.0.9.14  unresponsive") > strings.Index(out, "State") {
				t.Errorf("the peers section is not above the table:\n%s", out)
			}
		})
	}
}
