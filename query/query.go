// Package query is tcpwatch's connection filter, shared by the command
// line flags and the interactive "/" filter: ports, addresses, TCP states,
// health and process names. The parts the kernel can evaluate (ports,
// addresses, states) compile to an inet_diag request, so that filtered-out
// sockets never leave the kernel; health and process names are matched in
// user space.
//
// It only parses and matches: it never reads the kernel or /proc itself
// (the poller asks it what to request and which rows it must resolve).
package query

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// PortRange is an inclusive range of ports.
type PortRange struct{ Lo, Hi uint16 }

// Query is a parsed filter. Terms of the same kind are alternatives (OR);
// kinds combine with AND.
type Query struct {
	Ports    []PortRange // either side
	SPorts   []PortRange // local
	DPorts   []PortRange // remote
	Src      []netip.Prefix
	Dst      []netip.Prefix
	Addrs    []netip.Prefix // either side
	States   inetdiag.StateMask
	Healths  []model.Health
	Unhealth bool // any unhealthy connection
	Dying    bool // any connection the kernel is counting down on
	Comms    []string
	// NetNSs and Pods match the namespace a row is in (with
	// --all-netns): a substring of its label, of its Kubernetes pod.
	NetNSs []string
	Pods   []string
	text   string
}

// String returns the filter as it was typed (or built from flags).
func (q Query) String() string { return q.text }

// IsZero reports whether the query matches everything.
func (q Query) IsZero() bool {
	return len(q.Ports)+len(q.SPorts)+len(q.DPorts)+len(q.Src)+len(q.Dst)+len(q.Addrs)+len(q.Healths)+len(q.Comms)+len(q.NetNSs)+len(q.Pods) == 0 && q.States == 0 && !q.Unhealth && !q.Dying
}

// ParsePortRange parses "5432" or "8000-8100".
func ParsePortRange(s string) (PortRange, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), ":")
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := strconv.ParseUint(lo, 10, 16)
	if err != nil || a == 0 {
		return PortRange{}, fmt.Errorf("bad port %q (want 1-65535 or a range like 8000-8100)", s)
	}
	b := a
	if isRange {
		b, err = strconv.ParseUint(hi, 10, 16)
		if err != nil || b < a || b == 0 {
			return PortRange{}, fmt.Errorf("bad port range %q (want LOW-HIGH, e.g. 8000-8100)", s)
		}
	}
	return PortRange{uint16(a), uint16(b)}, nil
}

// ParsePrefix parses an address ("10.0.0.1", "::1") or a prefix
// ("10.0.0.0/8", "[fd00::]/64").
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		s = strings.Replace(strings.TrimPrefix(s, "["), "]", "", 1)
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad address prefix %q (want e.g. 10.0.0.0/8 or fd00::/64)", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address %q (want e.g. 10.0.0.1 or fd00::1)", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Parse parses a filter expression: space-separated terms such as
// "port 5432", ":5432", "sport 8000-8100", "dport 443", "src 10.0.0.0/8",
// "dst fd00::1", "10.1.2.3" (either side), "state established",
// "health retransmitting", "dying" (the kernel is counting down),
// "unhealthy" (anything but ok and unguarded), "comm nginx" (process name
// substring), "netns blue" and "pod payments/api" (substrings of the
// namespace's label and of its pod, with --all-netns), or a bare port
// number.
func Parse(expr string) (Query, error) {
	q := Query{text: strings.TrimSpace(expr)}
	f := strings.Fields(expr)
	for i := 0; i < len(f); i++ {
		w := strings.ToLower(f[i])
		arg := func() (string, error) {
			if i+1 >= len(f) {
				return "", fmt.Errorf("%q needs a value", f[i])
			}
			i++
			return f[i], nil
		}
		switch w {
		case "port", "sport", "dport":
			v, err := arg()
			if err != nil {
				return q, err
			}
			r, err := ParsePortRange(v)
			if err != nil {
				return q, err
			}
			switch w {
			case "port":
				q.Ports = append(q.Ports, r)
			case "sport":
				q.SPorts = append(q.SPorts, r)
			default:
				q.DPorts = append(q.DPorts, r)
			}
		case "src", "dst", "addr", "host":
			v, err := arg()
			if err != nil {
				return q, err
			}
			p, err := ParsePrefix(v)
			if err != nil {
				return q, err
			}
			switch w {
			case "src":
				q.Src = append(q.Src, p)
			case "dst":
				q.Dst = append(q.Dst, p)
			default:
				q.Addrs = append(q.Addrs, p)
			}
		case "state":
			v, err := arg()
			if err != nil {
				return q, err
			}
			m, err := inetdiag.ParseState(v)
			if err != nil {
				return q, err
			}
			q.States |= m
		case "health":
			v, err := arg()
			if err != nil {
				return q, err
			}
			if err := q.addHealth(v); err != nil {
				return q, err
			}
		case "dying":
			q.Dying = true
		case "unhealthy", "bad":
			q.Unhealth = true
		case "comm", "proc", "process":
			v, err := arg()
			if err != nil {
				return q, err
			}
			q.Comms = append(q.Comms, v)
		case "netns", "pod":
			v, err := arg()
			if err != nil {
				return q, err
			}
			if w == "netns" {
				q.NetNSs = append(q.NetNSs, v)
			} else {
				q.Pods = append(q.Pods, v)
			}
		default:
			if err := q.addBare(f[i]); err != nil {
				return q, err
			}
		}
	}
	return q, nil
}

func (q *Query) addHealth(v string) error {
	switch v {
	case "dying":
		q.Dying = true
		return nil
	case "unhealthy":
		q.Unhealth = true
		return nil
	}
	h, err := model.ParseHealth(v)
	if err != nil {
		return err
	}
	q.Healths = append(q.Healths, h)
	return nil
}

// addBare interprets a term without a keyword: a port, an address or
// prefix, a health name, a state name, else a process name.
func (q *Query) addBare(v string) error {
	if strings.HasPrefix(v, ":") || isDigits(strings.ReplaceAll(v, "-", "")) {
		r, err := ParsePortRange(v)
		if err != nil {
			return err
		}
		q.Ports = append(q.Ports, r)
		return nil
	}
	if p, err := ParsePrefix(v); err == nil {
		q.Addrs = append(q.Addrs, p)
		return nil
	}
	if h, err := model.ParseHealth(v); err == nil {
		q.Healths = append(q.Healths, h)
		return nil
	}
	if m, err := inetdiag.ParseState(v); err == nil {
		q.States |= m
		return nil
	}
	q.Comms = append(q.Comms, v)
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Request returns the inet_diag request for the kernel-side part of the
// query: its states and its port and address bytecode.
func (q Query) Request() inetdiag.Request {
	var parts []inetdiag.Filter
	ports := func(rs []PortRange, mk func(lo, hi uint16) inetdiag.Filter) {
		var alts []inetdiag.Filter
		for _, r := range rs {
			alts = append(alts, mk(r.Lo, r.Hi))
		}
		parts = append(parts, inetdiag.Or(alts...))
	}
	if len(q.Ports) > 0 {
		ports(q.Ports, inetdiag.PortRange)
	}
	if len(q.SPorts) > 0 {
		ports(q.SPorts, inetdiag.SrcPortRange)
	}
	if len(q.DPorts) > 0 {
		ports(q.DPorts, inetdiag.DstPortRange)
	}
	prefixes := func(ps []netip.Prefix, mk func(netip.Prefix) []inetdiag.Filter) {
		var alts []inetdiag.Filter
		for _, p := range ps {
			alts = append(alts, mk(p)...)
		}
		parts = append(parts, inetdiag.Or(alts...))
	}
	if len(q.Src) > 0 {
		prefixes(q.Src, func(p netip.Prefix) []inetdiag.Filter { return []inetdiag.Filter{inetdiag.SrcPrefix(p)} })
	}
	if len(q.Dst) > 0 {
		prefixes(q.Dst, func(p netip.Prefix) []inetdiag.Filter { return []inetdiag.Filter{inetdiag.DstPrefix(p)} })
	}
	if len(q.Addrs) > 0 {
		prefixes(q.Addrs, func(p netip.Prefix) []inetdiag.Filter {
			return []inetdiag.Filter{inetdiag.SrcPrefix(p), inetdiag.DstPrefix(p)}
		})
	}
	return inetdiag.Request{States: q.States, Filter: inetdiag.And(parts...)}
}

// FiltersRows reports whether the query has a user-space part (health or
// process terms), which MatchRow must apply to every row the kernel sent.
func (q Query) FiltersRows() bool {
	return q.filtersHealth() || len(q.Comms) > 0 || len(q.NetNSs) > 0 || len(q.Pods) > 0
}

func (q Query) filtersHealth() bool { return q.Unhealth || q.Dying || len(q.Healths) > 0 }

// MatchRow applies the user-space part of the query (health, process
// name). The kernel has already applied the rest.
func (q Query) MatchRow(r *model.Row) bool {
	return q.MatchHealth(r) && q.matchComm(r) && q.matchNetNS(r)
}

// matchNetNS applies the namespace terms: a row of a single-namespace
// watch (no namespace attached) matches none of them.
func (q Query) matchNetNS(r *model.Row) bool {
	if len(q.NetNSs) == 0 && len(q.Pods) == 0 {
		return true
	}
	if r.NetNS == nil {
		return false
	}
	return (len(q.NetNSs) == 0 || containsFold(r.NetNS.Name, q.NetNSs)) &&
		(len(q.Pods) == 0 || containsFold(r.NetNS.Pod, q.Pods))
}

// containsFold reports whether s holds one of subs, ignoring case.
func containsFold(s string, subs []string) bool {
	s = strings.ToLower(s)
	for _, sub := range subs {
		if s != "" && strings.Contains(s, strings.ToLower(sub)) {
			return true
		}
	}
	return false
}

// MatchHealth applies the health terms alone: a poller that resolves
// process names only where it must resolves those of the rows that pass
// them (see NeedsOwners).
func (q Query) MatchHealth(r *model.Row) bool {
	if !q.filtersHealth() {
		return true
	}
	ok := (q.Unhealth && r.Health.Unhealthy()) || (q.Dying && r.Health.Dying())
	for _, h := range q.Healths {
		ok = ok || r.Health == h
	}
	return ok
}

// matchComm applies the process terms: a row without a known process
// matches none.
func (q Query) matchComm(r *model.Row) bool {
	if len(q.Comms) == 0 {
		return true
	}
	for _, c := range q.Comms {
		if r.Comm != "" && strings.Contains(strings.ToLower(r.Comm), strings.ToLower(c)) {
			return true
		}
	}
	return false
}

// NeedsOwners reports whether matching needs the process of every row
// that passes the health terms (a comm filter), not only of those a
// poller resolves anyway.
func (q Query) NeedsOwners() bool { return len(q.Comms) > 0 }

// WithText sets the text String returns (for queries built from flags).
func (q Query) WithText(s string) Query { q.text = s; return q }
