// The connection table's columns: what each one is, and the layout that
// chooses which of them fit a terminal's width and how wide each gets.

package tui

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/tcpwatch/tcpwatch/model"
)

// column is a column of the connection table.
type column uint8

// Columns, in display order.
const (
	colHealth column = iota
	colLocal
	colRemote
	colState
	colProcess
	colSendQ
	colRecvQ
	colRTT
	colRTO
	colRetrans
	colProbes
	colUnacked
	colLastAck
	colAbort
	// colNetNS is shown only when the rows carry namespaces
	// (--all-netns); last, so that the sort cycle of the other columns
	// stays as it was.
	colNetNS
	numColumns
)

// colSpec describes a column: its title, its width range, its priority
// when the terminal is too narrow for all of them (0 is kept longest),
// its alignment and its natural sort direction.
type colSpec struct {
	title    string
	name     string // for "sorted by ..."
	min, max int
	prio     int
	right    bool
	desc     bool
}

var colSpecs = [numColumns]colSpec{
	colHealth:  {"HEALTH", "health", 12, 19, 0, false, false},
	colLocal:   {"LOCAL", "local address", 0, 0, 3, false, false},
	colRemote:  {"REMOTE", "remote address", 0, 0, 2, false, false},
	colState:   {"STATE", "state", 10, 10, 9, false, false},
	colNetNS:   {"NETNS", "namespace", 0, 0, 4, false, false},
	colProcess: {"PROCESS", "process", 0, 0, 4, false, false},
	colSendQ:   {"SEND-Q", "send-q", 6, 6, 5, true, true},
	colRecvQ:   {"RECV-Q", "recv-q", 6, 6, 11, true, true},
	colRTT:     {"RTT", "rtt", 7, 7, 13, true, true},
	colRTO:     {"RTO/BO", "rto", 8, 8, 6, true, true},
	colRetrans: {"RETR", "retransmits", 5, 5, 7, true, true},
	colProbes:  {"PROBES", "probes", 6, 6, 10, true, true},
	colUnacked: {"UNACK", "unacked", 5, 5, 12, true, true},
	colLastAck: {"LAST ACK", "last ack", 8, 8, 8, true, true},
	colAbort:   {"ABORT IN", "abort time", 9, 9, 1, true, false},
}

// placed is a column given a width by the layout.
type placed struct {
	col column
	w   int
}

// Widest an endpoint column grows (an IPv6 address with a port).
const maxEndpointW = 47

// naturalWidths are the widths the variable columns would need for the
// rows shown, measured once per rebuild so that frames do not.
type naturalWidths struct {
	local, remote, proc int
	netns               int // 0: no row has a namespace (the column is not shown)
}

// measure widens the natural widths to fit row r.
func (n *naturalWidths) measure(r *model.Row) {
	n.local = max(n.local, endpointWidth(r.Sock.ID.Src))
	n.remote = max(n.remote, endpointWidth(r.Sock.ID.Dst))
	if r.Comm != "" {
		n.proc = max(n.proc, len(r.Comm)+2+digits(uint64(r.PID)))
	}
	if r.NetNS != nil {
		n.netns = max(n.netns, len(r.NetNS.Name), len("NETNS"))
	}
}

// layout chooses the columns that fit in width w (one cell is the cursor
// marker, one space separates columns) and their widths: columns are
// taken by priority at their minimum width, then widened.
func (n naturalWidths) layout(w int) []placed {
	var minW, maxW [numColumns]int
	for c := range numColumns {
		minW[c], maxW[c] = colSpecs[c].min, colSpecs[c].max
	}
	endpoint := func(natural int) (int, int) {
		natural = min(max(natural, 6), maxEndpointW)
		return min(natural, 21), natural
	}
	minW[colLocal], maxW[colLocal] = endpoint(n.local)
	minW[colRemote], maxW[colRemote] = endpoint(n.remote)
	pw := min(max(n.proc, len("PROCESS")), 24)
	minW[colProcess], maxW[colProcess] = min(pw, 12), pw
	nw := min(n.netns, 24)
	minW[colNetNS], maxW[colNetNS] = min(nw, 10), nw

	order := make([]column, 0, numColumns)
	for c := range numColumns {
		order = append(order, c)
	}
	slices.SortStableFunc(order, func(a, b column) int { return cmp.Compare(colSpecs[a].prio, colSpecs[b].prio) })
	var chosen [numColumns]bool
	used := 1 // the cursor marker
	for _, c := range order {
		need := minW[c]
		if need == 0 && c == colNetNS {
			continue // one namespace: no column
		}
		if used > 1 {
			need++
		}
		if used+need <= w {
			chosen[c] = true
			used += need
		}
	}
	width := minW
	// Leftover space goes first to the endpoints (a cut address is worse
	// than a short health name), then to the process and the health.
	for _, c := range []column{colRemote, colLocal, colNetNS, colProcess, colHealth} {
		if !chosen[c] {
			continue
		}
		grow := min(maxW[c]-width[c], w-used)
		if c == colHealth && width[c]+grow < maxW[c] {
			grow = 0 // full health names fit or short ones are used: nothing between
		}
		if grow > 0 {
			width[c] += grow
			used += grow
		}
	}
	out := make([]placed, 0, numColumns)
	for c := range numColumns {
		if chosen[c] {
			out = append(out, placed{c, width[c]})
		}
	}
	return out
}

// mergedTries reports whether the retransmissions column also shows
// probes, because the terminal is too narrow for a probes column.
func mergedTries(cols []placed) bool {
	retr, probes := false, false
	for _, p := range cols {
		retr = retr || p.col == colRetrans
		probes = probes || p.col == colProbes
	}
	return retr && !probes
}

// lineWidth is the width of a row of the placed columns, without the
// cursor marker.
func lineWidth(cols []placed) int {
	w := 0
	for i, p := range cols {
		if i > 0 {
			w++
		}
		w += p.w
	}
	return w
}

// endpointWidth is the width of model.Endpoint(ap), computed without
// formatting for IPv4 (the common case among 10^5 rows).
func endpointWidth(ap netip.AddrPort) int {
	a := ap.Addr()
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		n := 4 + digits(uint64(ap.Port()))
		for _, x := range b {
			n += digits(uint64(x))
		}
		return n
	}
	return len(model.Endpoint(ap))
}

// digits is the number of decimal digits of v. Comparisons, not
// divisions, for the values of 10^5 rows (bytes, ports, PIDs): measuring
// the columns' widths is part of each snapshot's ingest.
func digits(v uint64) int {
	switch {
	case v < 10:
		return 1
	case v < 100:
		return 2
	case v < 1000:
		return 3
	case v < 10000:
		return 4
	case v < 100000:
		return 5
	}
	n := 6
	for v >= 1000000 {
		v /= 10
		n++
	}
	return n
}
