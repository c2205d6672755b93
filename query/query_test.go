package query

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

func sock(fam inetdiag.Family, src, dst string, st inetdiag.State) *inetdiag.Socket {
	return &inetdiag.Socket{Family: fam, State: st, ID: inetdiag.SockID{Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst)}}
}

func TestParseErrors(t *testing.T) {
	for _, expr := range []string{"port", "port 0", "port 70000", "port 10-5", "sport x", "src 10.0.0.0/33", "dst nope/8", "state bogus", "health nope", "comm", "netns", "pod"} {
		if _, err := Parse(expr); err == nil {
			t.Errorf("Parse(%q) accepted a bad expression", expr)
		}
	}
}

// TestRequestMatchesKernelSemantics checks the kernel-side part of each
// query with the filter's own evaluation on sockets chosen to be on both
// sides of each condition.
func TestRequestMatchesKernelSemantics(t *testing.T) {
	socks := []*inetdiag.Socket{
		sock(inetdiag.FamilyInet, "10.0.0.1:5432", "10.0.9.9:40000", inetdiag.StateEstablished),
		sock(inetdiag.FamilyInet, "10.0.0.1:40001", "10.0.9.9:5432", inetdiag.StateEstablished),
		sock(inetdiag.FamilyInet, "192.168.1.1:8050", "192.168.1.2:40002", inetdiag.StateCloseWait),
		sock(inetdiag.FamilyInet6, "[fd00::1]:443", "[fd00::2]:40003", inetdiag.StateEstablished),
		sock(inetdiag.FamilyInet6, "[::ffff:10.0.0.1]:22", "[::ffff:10.7.7.7]:40004", inetdiag.StateTimeWait),
	}
	tests := []struct {
		expr string
		want []int // indexes of the sockets that match
	}{
		{"port 5432", []int{0, 1}},
		{":5432", []int{0, 1}},
		{"5432", []int{0, 1}},
		{"sport 5432", []int{0}},
		{"dport 5432", []int{1}},
		{"port 8000-8100", []int{2}},
		{"sport 40000-40010", []int{1}},
		{"src 10.0.0.0/8", []int{0, 1, 4}},
		{"dst 10.7.7.7", []int{4}},
		{"fd00::/64", []int{3}},
		{"[fd00::2]", []int{3}},
		{"state close-wait", []int{2}},
		{"state established port 5432", []int{0, 1}},
		{"state time-wait state close-wait", []int{2, 4}},
		{"port 5432 port 443", []int{0, 1, 3}},
		{"port 5432 src 10.0.0.0/8 dport 5432", []int{1}},
		{"", []int{0, 1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			q, err := Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			req := q.Request()
			if _, err := req.Filter.Bytecode(); err != nil {
				t.Fatalf("bytecode: %v", err)
			}
			var got []int
			for i, s := range socks {
				if (req.States == 0 || req.States.Has(s.State)) && req.Filter.Match(s.Family, s.ID) {
					got = append(got, i)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("%q matches sockets %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestMatchRow(t *testing.T) {
	s := sock(inetdiag.FamilyInet, "10.0.0.1:5432", "10.0.9.9:40000", inetdiag.StateEstablished)
	rows := map[string]model.Row{
		"dying":     {Sock: s, Health: model.HealthRetransmitting, Comm: "postgres"},
		"zerowin":   {Sock: s, Health: model.HealthZeroWindow, Comm: "nginx"},
		"unguarded": {Sock: s, Health: model.HealthUnguarded, Comm: "api"},
		"ok":        {Sock: s, Health: model.HealthOK},
		// With --all-netns rows carry their namespace.
		"pod":  {Sock: s, Health: model.HealthRetransmitting, NetNS: &model.NetNS{Inode: 7, Name: "payments/api-7f9c", Pod: "payments/api-7f9c"}},
		"blue": {Sock: s, Health: model.HealthOK, NetNS: &model.NetNS{Inode: 8, Name: "blue"}},
	}
	tests := []struct {
		expr string
		want []string
	}{
		{"dying", []string{"dying", "pod"}},
		{"unhealthy", []string{"dying", "pod", "zerowin"}},
		{"health zero-window", []string{"zerowin"}},
		{"zero-window", []string{"zerowin"}},
		{"comm post", []string{"dying"}},
		{"comm NGINX", []string{"zerowin"}},
		{"comm api comm nginx", []string{"unguarded", "zerowin"}},
		{"dying comm nginx", nil},
		{"", []string{"blue", "dying", "ok", "pod", "unguarded", "zerowin"}},
		{"netns blue", []string{"blue"}},
		{"netns PAYMENTS", []string{"pod"}},
		{"pod payments/api", []string{"pod"}},
		{"pod blue", nil}, // a named namespace is no pod
		{"netns blue netns payments", []string{"blue", "pod"}},
		{"netns blue dying", nil},
		{"netns host", nil}, // a single-namespace row has no namespace
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			q, err := Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, name := range []string{"blue", "dying", "ok", "pod", "unguarded", "zerowin"} {
				r := rows[name]
				if q.MatchRow(&r) {
					got = append(got, name)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("%q matches %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

// TestUserSpaceTerms: which queries filter rows in user space, which need
// every tested row's process, and what the health terms alone keep.
func TestUserSpaceTerms(t *testing.T) {
	s := sock(inetdiag.FamilyInet, "10.0.0.1:5432", "10.0.9.9:40000", inetdiag.StateEstablished)
	rows := map[string]model.Row{
		"dying":     {Sock: s, Health: model.HealthRetransmitting, Comm: "postgres"},
		"zerowin":   {Sock: s, Health: model.HealthZeroWindow, Comm: "nginx"},
		"unguarded": {Sock: s, Health: model.HealthUnguarded},
		"ok":        {Sock: s, Health: model.HealthOK},
	}
	tests := []struct {
		expr        string
		filtersRows bool
		needsOwners bool
		health      []string // the rows MatchHealth keeps
	}{
		{"", false, false, []string{"dying", "ok", "unguarded", "zerowin"}},
		{"port 5432 state established src 10.0.0.0/8", false, false, []string{"dying", "ok", "unguarded", "zerowin"}},
		{"unhealthy", true, false, []string{"dying", "zerowin"}},
		{"dying", true, false, []string{"dying"}},
		{"health unguarded", true, false, []string{"unguarded"}},
		{"comm nginx", true, true, []string{"dying", "ok", "unguarded", "zerowin"}},
		{"port 5432 comm nginx", true, true, []string{"dying", "ok", "unguarded", "zerowin"}},
		{"dying comm nginx", true, true, []string{"dying"}},
		{"nginx", true, true, []string{"dying", "ok", "unguarded", "zerowin"}}, // a bare word is a process name
		{"netns blue", true, false, []string{"dying", "ok", "unguarded", "zerowin"}},
		{"pod payments/api dying", true, false, []string{"dying"}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			q, err := Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if q.FiltersRows() != tt.filtersRows || q.NeedsOwners() != tt.needsOwners {
				t.Errorf("FiltersRows %v, NeedsOwners %v; want %v, %v", q.FiltersRows(), q.NeedsOwners(), tt.filtersRows, tt.needsOwners)
			}
			var got []string
			for _, name := range []string{"dying", "ok", "unguarded", "zerowin"} {
				r := rows[name]
				if q.MatchHealth(&r) {
					got = append(got, name)
				}
				// A row MatchRow keeps passes the health terms.
				if q.MatchRow(&r) && !q.MatchHealth(&r) {
					t.Errorf("%s: MatchRow keeps a row MatchHealth drops", name)
				}
				// Without user-space terms every row is kept.
				if !q.FiltersRows() && !q.MatchRow(&r) {
					t.Errorf("%s: dropped by a query without user-space terms", name)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.health, ",") {
				t.Errorf("MatchHealth keeps %v, want %v", got, tt.health)
			}
		})
	}
}
