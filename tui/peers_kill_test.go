package tui

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// stuckConns are n never-noticing connections to 10.0.9.15, cookies
// 0x500 on.
func stuckConns(n int) []model.ConnRef {
	var out []model.ConnRef
	for i := range n {
		out = append(out, model.ConnRef{Family: inetdiag.FamilyInet, ID: inetdiag.SockID{
			Src: netip.AddrPortFrom(netip.MustParseAddr("10.0.3.7"), uint16(41000+i)), Dst: netip.MustParseAddrPort("10.0.9.15:11211"), Cookie: uint64(0x500 + i)}})
	}
	return out
}

// killPeers are samplePeers with the dead cache host's stuck connections.
func killPeers(stuck int) []model.Peer {
	ps := samplePeers()
	ps[1].NeverNoticeConns = stuckConns(stuck)
	return ps
}

func TestKillPeer(t *testing.T) {
	for _, tt := range []struct {
		name      string
		noKill    bool
		moveTo    int                                // index of the host in the list
		keys      []string                           // after K
		next      func(ps []model.Peer) []model.Peer // a snapshot arriving before the answer (nil: none)
		killErr   func(c uint64) error               // nil: every kill succeeds
		wantKills []uint64                           // cookies destroyed
		wantText  string                             // on screen at the end
		wantAsk   string                             // in the prompt ("" : no prompt)
	}{
		{name: "without --allow-kill the key says so", noKill: true, moveTo: 1, wantText: "needs --allow-kill"},
		{name: "a partial host is not killed", moveTo: 2, wantText: "10.0.7.3 is not unresponsive: nothing is killed"},
		{name: "an unresponsive host whose connections all abort", moveTo: 0, wantText: "no connection to 10.0.9.14 would hang"},
		{name: "any key but y cancels", moveTo: 1, keys: []string{"n"}, wantAsk: "Kill the 9 connections to 10.0.9.15 that would never notice its death?", wantText: "kill cancelled"},
		{name: "y kills every stuck connection", moveTo: 1, keys: []string{"y"}, wantKills: cookiesOf(stuckConns(9)), wantText: "killed 9 connections to 10.0.9.15"},
		{name: "the host answered meanwhile: nothing killed", moveTo: 1, keys: []string{"y"},
			next: func(ps []model.Peer) []model.Peer {
				ps[1].Status, ps[1].NeverNoticeConns = model.PeerPartial, nil
				return ps
			}, wantText: "10.0.9.15 is no longer unresponsive: nothing killed"},
		{name: "only those still stuck", moveTo: 1, keys: []string{"y"},
			next: func(ps []model.Peer) []model.Peer {
				ps[1].NeverNoticeConns = stuckConns(9)[2:5]
				return ps
			}, wantKills: []uint64{0x502, 0x503, 0x504}, wantText: "killed 3 connections to 10.0.9.15"},
		{name: "failures are reported", moveTo: 1, keys: []string{"y"},
			killErr: func(c uint64) error {
				if c == 0x503 {
					return errors.New("socket no longer exists")
				}
				return nil
			}, wantKills: cookiesOf(stuckConns(9)), wantText: "kill 9 connections to 10.0.9.15 failed: 1 of 9 failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var killed []uint64
			cfg := Config{Kill: func(r model.Row) error {
				killed = append(killed, r.Sock.ID.Cookie)
				if r.Sock.Family != inetdiag.FamilyInet || r.Sock.ID.Dst.Addr() != netip.MustParseAddr("10.0.9.15") {
					t.Errorf("kill of %v %v: not a connection to the host", r.Sock.Family, r.Sock.ID)
				}
				if tt.killErr != nil {
					return tt.killErr(r.Sock.ID.Cookie)
				}
				return nil
			}}
			if tt.noKill {
				cfg.Kill = nil
			}
			m, _ := newTestModel(cfg, 140, 30)
			s, _ := snapshotOf(mixedRows()...)
			s.Peers = killPeers(9)
			feed(m, s)
			press(m, "H")
			for range tt.moveTo {
				press(m, "j")
			}
			press(m, "K")
			if tt.wantAsk != "" && !strings.Contains(screenText(m), tt.wantAsk) {
				t.Errorf("prompt lacks %q:\n%s", tt.wantAsk, screenText(m))
			}
			if tt.next != nil {
				s2, _ := snapshotOf(mixedRows()...)
				s2.Peers = tt.next(killPeers(9))
				feed(m, s2)
			}
			var cmd = press(m, tt.keys...)
			if len(killed) != 0 {
				t.Fatalf("Kill called inside Update")
			}
			if cmd != nil {
				m.Update(cmd())
			}
			if !slices.Equal(killed, tt.wantKills) {
				t.Errorf("killed %x, want %x", killed, tt.wantKills)
			}
			if !strings.Contains(screenText(m), tt.wantText) {
				t.Errorf("screen lacks %q:\n%s", tt.wantText, screenText(m))
			}
		})
	}
}

func cookiesOf(cs []model.ConnRef) []uint64 {
	var out []uint64
	for _, c := range cs {
		out = append(out, c.ID.Cookie)
	}
	return out
}

// TestKillPeerPromptView: the confirmation, as seen.
func TestKillPeerPromptView(t *testing.T) {
	m, _ := newTestModel(Config{Kill: func(model.Row) error { return nil }}, 120, 24)
	s, _ := snapshotOf(mixedRows()...)
	s.Peers = killPeers(9)
	feed(m, s)
	press(m, "H", "j", "K")
	golden(t, screenText(m))
}
