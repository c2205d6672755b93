// Tests of the remote hosts on screen: the banners, the peers view, its
// keys, the detail view's verdict line and the peer events.

package tui

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// samplePeers are the hosts of mixedRows as the model would judge them
// after 10.0.9.14 died, and a second dead host with many idle
// connections that are not in the rows.
func samplePeers() []model.Peer {
	db := model.Peer{Addr: netip.MustParseAddr("10.0.9.14"), Status: model.PeerUnresponsive,
		SilentSince: t0.Add(-41 * time.Second), SilentUncertainty: 5 * time.Millisecond, StalledSince: t0.Add(-40 * time.Second),
		Conns: 2, Dying: 2, FirstAbort: t0.Add(8*time.Minute + 16*time.Second), LastAbort: t0.Add(14*time.Minute + 44*time.Second),
		Groups: []model.PeerGroup{
			{PID: 2211, Comm: "api", RemotePort: 5432, Health: model.HealthRetransmitting, Count: 1},
			{PID: 877, Comm: "worker", RemotePort: 5432, Health: model.HealthKeepaliveProbing, Count: 1},
		},
		Reasons: []string{"2 connections wait for answers that never came, the first since 14:01:29.000, and none of its 2 connections has received anything since"}}
	db.ByHealth[model.HealthRetransmitting], db.ByHealth[model.HealthKeepaliveProbing] = 1, 1
	cache := model.Peer{Addr: netip.MustParseAddr("10.0.9.15"), Status: model.PeerUnresponsive,
		SilentSince: t0.Add(-2 * time.Minute), Conns: 14, Dying: 5, NeverNotice: 9, FirstAbort: t0.Add(11 * time.Minute), LastAbort: t0.Add(15 * time.Minute),
		Groups: []model.PeerGroup{
			{PID: 2211, Comm: "api", RemotePort: 11211, Health: model.HealthUnguarded, Count: 9},
			{PID: 2211, Comm: "api", RemotePort: 11211, Health: model.HealthRetransmitting, Count: 5},
		}}
	cache.ByHealth[model.HealthRetransmitting], cache.ByHealth[model.HealthUnguarded] = 5, 9
	redis := model.Peer{Addr: netip.MustParseAddr("10.0.7.3"), Status: model.PeerPartial, SilentSince: t0.Add(-time.Second), Conns: 1,
		Groups:  []model.PeerGroup{{PID: 2211, Comm: "api", RemotePort: 6379, Health: model.HealthOK, Count: 1}},
		Reasons: []string{"1 connection stalls, but another heard from it"}}
	var alive []model.Peer
	for _, a := range []string{"10.0.3.9", "10.0.0.5", "10.0.4.2", "10.0.8.1", "10.0.5.5"} {
		alive = append(alive, model.Peer{Addr: netip.MustParseAddr(a), Status: model.PeerAlive, Conns: 1})
	}
	return append([]model.Peer{db, cache, redis}, alive...)
}

func peerEvents() []model.Event {
	return []model.Event{
		{Time: t0.Add(-30 * time.Second), Kind: model.EventPeerUnresponsive, Peer: netip.MustParseAddr("10.0.9.14"), LastSeen: t0.Add(-41 * time.Second)},
		{Time: t0.Add(-5 * time.Second), Kind: model.EventPeerAnswering, Peer: netip.MustParseAddr("10.0.7.3"), LastSeen: t0.Add(-5 * time.Second)},
	}
}

func withPeers(s *model.Snapshot) {
	s.Peers = samplePeers()
	s.AllEvents = model.MergeEvents(sampleEvents(), peerEvents())
}

// TestPeerViews: golden screens of the banners, the peers view and the
// detail view's verdict line.
func TestPeerViews(t *testing.T) {
	for _, tt := range []struct {
		name string
		w, h int
		keys []string
	}{
		{name: "banners", w: 120, h: 30},
		{name: "banners_80x24", w: 80, h: 24},
		{name: "peers_view", w: 120, h: 30, keys: []string{"H"}},
		{name: "peers_view_partial", w: 100, h: 24, keys: []string{"H", "j", "j"}},
		{name: "detail_peer", w: 100, h: 20, keys: []string{"j", "enter"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTestModel(Config{Kill: func(model.Row) error { return nil }}, tt.w, tt.h)
			s, _ := snapshotOf(mixedRows()...)
			withPeers(s)
			feed(m, s)
			press(m, tt.keys...)
			golden(t, screenText(m))
		})
	}
}

// TestPeerBannerLines: one line per unresponsive host, at most three, then
// how many more; partial and alive hosts never get one.
func TestPeerBannerLines(t *testing.T) {
	for _, tt := range []struct {
		name      string
		dead      int
		wantLines int
		wantMore  string
	}{
		{"none", 0, 0, ""},
		{"one", 1, 1, ""},
		{"three", 3, 3, ""},
		{"five", 5, 4, "and 2 more unresponsive hosts"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTestModel(Config{}, 120, 40)
			s, _ := snapshotOf(mixedRows()...)
			for i := range tt.dead {
				s.Peers = append(s.Peers, model.Peer{Addr: netip.AddrFrom4([4]byte{10, 9, 9, byte(i + 1)}), Status: model.PeerUnresponsive, Conns: 1})
			}
			s.Peers = append(s.Peers, model.Peer{Addr: netip.MustParseAddr("10.0.7.3"), Status: model.PeerPartial, Conns: 2})
			feed(m, s)
			lines := m.peerBanners(120)
			if len(lines) != tt.wantLines {
				t.Fatalf("%d banner lines, want %d: %q", len(lines), tt.wantLines, lines)
			}
			text := strings.Join(lines, "\n")
			if strings.Contains(text, "10.0.7.3") {
				t.Errorf("a partial host has a banner: %q", text)
			}
			if tt.wantMore != "" && !strings.Contains(text, tt.wantMore) {
				t.Errorf("banners lack %q: %q", tt.wantMore, text)
			}
			if tt.dead > 0 && !strings.Contains(screenText(m), "✗ 10.9.9.1 never answered · 1 connection") {
				t.Errorf("screen lacks the first banner:\n%s", screenText(m))
			}
		})
	}
}

// TestPeersViewKeys: H opens the view on the most urgent host, the cursor
// follows its host into a new snapshot, Enter filters the table to the
// host's connections (an IPv4-mapped one included) through SetQuery, and
// H or Esc goes back.
func TestPeersViewKeys(t *testing.T) {
	var calls []string
	m, _ := newTestModel(Config{SetQuery: func(q query.Query) error { calls = append(calls, q.String()); return nil }}, 120, 40)
	mapped := okRow("[::ffff:10.0.3.7]:40200", "[::ffff:10.0.9.14]:5433", 0x77, "java", 99)
	mapped.Sock.Family = inetdiag.FamilyInet6
	rows := append(mixedRows(), mapped)
	s, _ := snapshotOf(rows...)
	withPeers(s)
	feed(m, s)
	press(m, "H")
	if m.screen != screenPeers || m.peers.selected().Addr.String() != "10.0.9.14" {
		t.Fatalf("H: screen %d, selected %v; want the peers view on 10.0.9.14", m.screen, m.peers.selected())
	}
	press(m, "j", "j")
	if got := m.peers.selected().Addr.String(); got != "10.0.7.3" {
		t.Fatalf("j j: selected %s, want 10.0.7.3", got)
	}
	// The next snapshot lists the hosts in another order: the cursor stays
	// on the host.
	s2, _ := snapshotOf(rows...)
	s2.Peers = samplePeers()
	slices.Reverse(s2.Peers)
	feed(m, s2)
	if got := m.peers.selected().Addr.String(); got != "10.0.7.3" {
		t.Errorf("after a new snapshot: selected %s, want 10.0.7.3", got)
	}
	// G goes to the last host (10.0.9.14 in the reversed order), k and j
	// move one up and back.
	press(m, "G", "k", "j")
	if got := m.peers.selected().Addr.String(); got != "10.0.9.14" {
		t.Fatalf("G k j: selected %s, want 10.0.9.14", got)
	}
	cmd := press(m, "enter")
	if cmd == nil {
		t.Fatal("enter: no command")
	}
	m.Update(cmd())
	if !slices.Equal(calls, []string{"dst 10.0.9.14"}) {
		t.Errorf("SetQuery calls %q, want [dst 10.0.9.14]", calls)
	}
	if m.screen != screenTable {
		t.Errorf("enter: screen %d, want the table", m.screen)
	}
	got := visibleCookies(m)
	slices.Sort(got)
	want := []uint64{0x77, dyingRow().Sock.ID.Cookie, keepaliveRow().Sock.ID.Cookie}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("table shows %x, want the host's connections %x (the mapped one included)", got, want)
	}
	for _, k := range []string{"H", "esc"} {
		press(m, "H")
		press(m, k)
		if m.screen != screenTable {
			t.Errorf("%s in the peers view: screen %d, want the table", k, m.screen)
		}
	}
}

// TestPeersViewEmpty: no hosts, no panic, a sentence.
func TestPeersViewEmpty(t *testing.T) {
	m, _ := newTestModel(Config{}, 80, 24)
	feed(m, must(snapshotOf()))
	press(m, "H", "j", "enter", "G")
	if !strings.Contains(screenText(m), "no remote hosts") {
		t.Errorf("empty peers view:\n%s", screenText(m))
	}
}

// TestPeerEventsPane: host events are listed with the host, not a
// four-tuple.
func TestPeerEventsPane(t *testing.T) {
	m, _ := newTestModel(Config{}, 120, 40)
	s, _ := snapshotOf(mixedRows()...)
	withPeers(s)
	feed(m, s)
	text := screenText(m)
	for _, want := range []string{"⊘ host down 10.0.9.14  last heard from at 14:01:28.0", "↺ host back 10.0.7.3  last heard from at 14:02:04.0"} {
		if !strings.Contains(text, want) {
			t.Errorf("events pane lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "invalid") {
		t.Errorf("an event names an invalid address:\n%s", text)
	}
}

// TestPeerViewsWithTracker: the banner from the model's own verdict on
// mixedRows' rows. Its keepalive connection to 10.0.9.14 sent its first
// unanswered probe 3 minutes ago, after which the retransmitting one
// still heard from the host (41 s ago): partial, no banner; without it,
// the host is unresponsive.
func TestPeerViewsWithTracker(t *testing.T) {
	m, _ := newTestModel(Config{}, 120, 40)
	rows := mixedRows()
	s0, _ := snapshotOf(rows...)
	s0.Peers, _ = model.NewPeerTracker(model.PeerConfig{}).Update(t0, time.Millisecond, 4*time.Millisecond, rows)
	feed(m, s0)
	if text := screenText(m); strings.Contains(text, "✗ 10.0.9.14") {
		t.Errorf("a banner for a host that answered after the keepalive stall:\n%s", text)
	}
	rows = slices.DeleteFunc(rows, func(r model.Row) bool { return r.Health == model.HealthKeepaliveProbing })
	s, _ := snapshotOf(rows...)
	s.Peers, _ = model.NewPeerTracker(model.PeerConfig{}).Update(t0, time.Millisecond, 4*time.Millisecond, rows)
	feed(m, s)
	text := screenText(m)
	if !strings.Contains(text, "✗ 10.0.9.14 silent since") {
		t.Errorf("no banner for the host whose connections stall:\n%s", text)
	}
	if strings.Contains(text, "✗ 10.0.4.2") {
		t.Errorf("the zero-window host has a banner:\n%s", text)
	}
}
