package tui

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

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

// table is the state of the connection table. vis holds the indices of
// the rows of the snapshot on screen that pass the filter, in display
// order: it is rebuilt once per snapshot (or when the filter or the sort
// changes), never per frame.
type table struct {
	vis    []int32
	keys   []sortKey
	quiet  []int32 // scratch for the default sort
	cursor int
	offset int
	// selCookie follows the selected connection across polls, once the
	// user has moved the cursor (follow); until then, and after Home,
	// the cursor stays on the first row, the most urgent one.
	selCookie uint64
	selValid  bool
	follow    bool

	sortCol       column
	sortRev       bool
	unhealthyOnly bool

	// Natural widths of the variable columns, over vis.
	localW, remoteW, procW int
}

// placed is a column given a width by the layout.
type placed struct {
	col column
	w   int
}

// Widest an endpoint column grows (an IPv6 address with a port).
const maxEndpointW = 47

// layout chooses the columns that fit in width w (one cell is the cursor
// marker, one space separates columns) and their widths: columns are
// taken by priority at their minimum width, then widened.
func (t *table) layout(w int) []placed {
	var minW, maxW [numColumns]int
	for c := range numColumns {
		minW[c], maxW[c] = colSpecs[c].min, colSpecs[c].max
	}
	endpoint := func(natural int) (int, int) {
		natural = min(max(natural, 6), maxEndpointW)
		return min(natural, 21), natural
	}
	minW[colLocal], maxW[colLocal] = endpoint(t.localW)
	minW[colRemote], maxW[colRemote] = endpoint(t.remoteW)
	pw := min(max(t.procW, len("PROCESS")), 24)
	minW[colProcess], maxW[colProcess] = min(pw, 12), pw

	order := make([]column, 0, numColumns)
	for c := range numColumns {
		order = append(order, c)
	}
	slices.SortStableFunc(order, func(a, b column) int { return cmp.Compare(colSpecs[a].prio, colSpecs[b].prio) })
	var chosen [numColumns]bool
	used := 1 // the cursor marker
	for _, c := range order {
		need := minW[c]
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
	for _, c := range []column{colRemote, colLocal, colProcess, colHealth} {
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

// sortKey is a row's position in the current sort: rows missing the
// value come last whatever the direction, then a and b decide, then the
// dump order.
type sortKey struct {
	miss bool
	a, b int64
	idx  int32
}

// healthRank orders rows for the default sort: predicted aborts first
// (by time), then other dying rows, zero-window and close-wait (oldest
// first), other unhealthy ones, unguarded and finally healthy rows.
func healthRank(r *model.Row) (rank, t int64) {
	switch {
	case r.Prediction != nil:
		return 0, r.Prediction.At.UnixNano()
	case r.Health.Dying():
		return 1, r.HealthSince.UnixNano()
	case r.Health == model.HealthZeroWindow:
		return 2, r.HealthSince.UnixNano()
	case r.Health == model.HealthCloseWait:
		return 3, r.HealthSince.UnixNano()
	case r.Health.Unhealthy():
		return 4, r.HealthSince.UnixNano()
	case r.Health == model.HealthUnguarded:
		return 5, 0
	}
	return 6, 0
}

// numericKey extracts the sort key of a numeric column.
func numericKey(c column, r *model.Row) (miss bool, a, b int64) {
	s := r.Sock
	info := &s.Info
	switch c {
	case colHealth:
		a, b = healthRank(r)
		return false, a, b
	case colState:
		return false, int64(s.State), 0
	case colSendQ:
		return false, int64(s.SendQ), 0
	case colRecvQ:
		return false, int64(s.RecvQ), 0
	case colRTT:
		return !r.HasInfo(), int64(info.RTT), 0
	case colRTO:
		return !r.HasInfo(), int64(info.RTO), int64(info.Backoff)
	case colRetrans:
		return false, int64(r.Retransmits()), int64(info.TotalRetrans)
	case colProbes:
		return false, int64(r.Probes()), 0
	case colUnacked:
		return !r.HasInfo(), int64(info.Unacked), 0
	case colLastAck:
		return !r.HasInfo(), int64(info.LastAckRecv), 0
	case colAbort:
		if r.Prediction == nil {
			return true, 0, 0
		}
		return false, r.Prediction.At.UnixNano(), 0
	}
	return true, 0, 0
}

// rebuildTable filters and sorts the snapshot on screen, and puts the
// cursor back on the connection that was selected.
func (m *Model) rebuildTable() {
	t := &m.tbl
	t.vis = t.vis[:0]
	t.localW, t.remoteW, t.procW = 0, 0, 0
	if m.snap == nil {
		t.cursor, t.offset = 0, 0
		return
	}
	rows := m.snap.Rows
	for i := range rows {
		if rows[i].Sock != nil && m.matches(&rows[i]) {
			t.vis = append(t.vis, int32(i))
		}
	}
	m.sortVisible()
	for _, i := range t.vis {
		r := &rows[i]
		t.localW = max(t.localW, endpointWidth(r.Sock.ID.Src))
		t.remoteW = max(t.remoteW, endpointWidth(r.Sock.ID.Dst))
		if r.Comm != "" {
			t.procW = max(t.procW, len(r.Comm)+2+digits(uint64(r.PID)))
		}
	}
	pos := -1
	if t.selValid && t.follow {
		for i, idx := range t.vis {
			if rows[idx].Sock.ID.Cookie == t.selCookie {
				pos = i
				break
			}
		}
	}
	if pos < 0 {
		pos = t.cursor
	}
	m.moveTo(pos)
}

// sortVisible sorts vis by the current column. Numeric columns sort on
// keys extracted once; addresses and process names compare rows.
func (m *Model) sortVisible() {
	t := &m.tbl
	rows := m.snap.Rows
	spec := colSpecs[t.sortCol]
	rev := spec.desc != t.sortRev
	switch t.sortCol {
	case colLocal, colRemote, colProcess:
		c := t.sortCol
		slices.SortFunc(t.vis, func(x, y int32) int {
			a, b := &rows[x], &rows[y]
			var r int
			switch c {
			case colLocal:
				r = a.Sock.ID.Src.Compare(b.Sock.ID.Src)
			case colRemote:
				r = a.Sock.ID.Dst.Compare(b.Sock.ID.Dst)
			case colProcess:
				if (a.Comm == "") != (b.Comm == "") {
					// Unknown processes last, whatever the direction.
					if a.Comm == "" {
						return 1
					}
					return -1
				}
				r = strings.Compare(a.Comm, b.Comm)
				if r == 0 {
					r = cmp.Compare(a.PID, b.PID)
				}
			}
			if rev {
				r = -r
			}
			if r == 0 {
				r = cmp.Compare(x, y)
			}
			return r
		})
		return
	}
	t.keys = t.keys[:0]
	var quiet []int32
	if t.sortCol == colHealth && !t.sortRev {
		// The default order keeps healthy rows in dump order after the
		// others: only the few rows in trouble need sorting, which keeps
		// a poll of 10^5 mostly healthy sockets linear.
		quiet = t.quiet[:0]
		for _, i := range t.vis {
			r := &rows[i]
			if r.Health == model.HealthOK && r.Prediction == nil {
				quiet = append(quiet, i)
				continue
			}
			_, a, b := numericKey(colHealth, r)
			t.keys = append(t.keys, sortKey{false, a, b, i})
		}
		t.quiet = quiet
	} else {
		for _, i := range t.vis {
			miss, a, b := numericKey(t.sortCol, &rows[i])
			t.keys = append(t.keys, sortKey{miss, a, b, i})
		}
	}
	slices.SortFunc(t.keys, func(x, y sortKey) int {
		if x.miss != y.miss {
			if x.miss {
				return 1
			}
			return -1
		}
		r := cmp.Compare(x.a, y.a)
		if r == 0 {
			r = cmp.Compare(x.b, y.b)
		}
		if rev {
			r = -r
		}
		if r == 0 {
			r = cmp.Compare(x.idx, y.idx)
		}
		return r
	})
	for i, k := range t.keys {
		t.vis[i] = k.idx
	}
	copy(t.vis[len(t.keys):], quiet)
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

func digits(v uint64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// moveTo puts the cursor on position i of vis (clamped) and remembers
// the connection there.
func (m *Model) moveTo(i int) {
	t := &m.tbl
	if i >= len(t.vis) {
		i = len(t.vis) - 1
	}
	if i < 0 {
		i = 0
	}
	t.cursor = i
	if len(t.vis) > 0 {
		t.selCookie = m.snap.Rows[t.vis[i]].Sock.ID.Cookie
		t.selValid = true
	}
	t.scrollTo(i, m.tableRows())
}

// scrollTo moves the window of n rows so that row i is visible.
func (t *table) scrollTo(i, n int) { t.offset = t.window(i, n) }

// window is the first row of a window of n rows that shows row i and
// moves as little as possible from the current one.
func (t *table) window(i, n int) int {
	off := t.offset
	if n < 1 {
		n = 1
	}
	if off > i {
		off = i
	}
	if i >= off+n {
		off = i - n + 1
	}
	if maxOff := len(t.vis) - n; off > maxOff {
		off = max(maxOff, 0)
	}
	return max(off, 0)
}

// selected returns the row under the cursor, or nil.
func (m *Model) selected() *model.Row {
	t := &m.tbl
	if m.snap == nil || len(t.vis) == 0 || t.cursor >= len(t.vis) {
		return nil
	}
	return &m.snap.Rows[t.vis[t.cursor]]
}

// tableKey handles keys on the table screen.
func (m *Model) tableKey(k tea.KeyPressMsg) tea.Cmd {
	page := max(m.tableRows()-1, 1)
	switch {
	case key.Matches(k, m.keys.Up):
		m.tbl.follow = true
		m.moveTo(m.tbl.cursor - 1)
	case key.Matches(k, m.keys.Down):
		m.tbl.follow = true
		m.moveTo(m.tbl.cursor + 1)
	case key.Matches(k, m.keys.PageUp):
		m.tbl.follow = true
		m.moveTo(m.tbl.cursor - page)
	case key.Matches(k, m.keys.PageDown):
		m.tbl.follow = true
		m.moveTo(m.tbl.cursor + page)
	case key.Matches(k, m.keys.Home):
		m.tbl.follow = false
		m.moveTo(0)
	case key.Matches(k, m.keys.End):
		m.tbl.follow = true
		m.moveTo(len(m.tbl.vis) - 1)
	case key.Matches(k, m.keys.Detail):
		m.openDetail()
	case key.Matches(k, m.keys.Unhealthy):
		m.tbl.unhealthyOnly = !m.tbl.unhealthyOnly
		m.rebuildTable()
	case key.Matches(k, m.keys.Sort):
		m.tbl.sortCol = (m.tbl.sortCol + 1) % numColumns
		m.tbl.sortRev = false
		m.rebuildTable()
	case key.Matches(k, m.keys.SortReverse):
		m.tbl.sortRev = !m.tbl.sortRev
		m.rebuildTable()
	case key.Matches(k, m.keys.Events):
		m.showEvents = !m.showEvents
		m.tbl.scrollTo(m.tbl.cursor, m.tableRows())
	case key.Matches(k, m.keys.Filter):
		return m.openFilter()
	case key.Matches(k, m.keys.Kill):
		m.askKill(m.selected())
	case key.Matches(k, m.keys.Back):
		m.status = ""
	}
	return nil
}

// renderTable renders the column header and n rows.
func (m *Model) renderTable(n int) []string {
	cols := m.tbl.layout(m.width)
	lines := make([]string, 0, n+1)
	lines = append(lines, m.renderColumnHeader(cols))
	t := &m.tbl
	switch {
	case m.snap == nil:
		lines = append(lines, m.styles.dim.Render(" waiting for the first poll…"))
	case len(m.snap.Rows) == 0:
		lines = append(lines, m.styles.dim.Render(" no TCP connections"))
	case len(t.vis) == 0:
		msg := " no connection matches the filter"
		if t.unhealthyOnly {
			msg += " among the unhealthy ones (u shows all)"
		}
		lines = append(lines, m.styles.dim.Render(msg))
	default:
		off := t.window(t.cursor, n)
		end := min(off+n, len(t.vis))
		merged := mergedTries(cols)
		for i := off; i < end; i++ {
			lines = append(lines, m.renderRow(cols, merged, &m.snap.Rows[t.vis[i]], i == t.cursor))
		}
	}
	for len(lines) < n+1 {
		lines = append(lines, "")
	}
	return lines
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

func (m *Model) renderColumnHeader(cols []placed) string {
	var b strings.Builder
	b.WriteString(" ")
	merged := mergedTries(cols)
	for i, p := range cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		spec := colSpecs[p.col]
		title := spec.title
		if p.col == colRetrans && merged {
			title = "TRIES"
		}
		st := m.styles.colHeader
		if p.col == m.tbl.sortCol && (p.col != colHealth || m.tbl.sortRev) {
			arrow := "↑"
			if spec.desc != m.tbl.sortRev {
				arrow = "↓"
			}
			title += arrow
			st = m.styles.colSorted
		}
		b.WriteString(st.Render(fit(title, p.w, spec.right)))
	}
	return b.String()
}

// renderRow renders one connection: a cursor marker, the cells, and the
// health's style over the whole line (reversed when selected).
func (m *Model) renderRow(cols []placed, merged bool, r *model.Row, sel bool) string {
	var b strings.Builder
	if sel {
		b.WriteString("▶")
	} else {
		b.WriteString(" ")
	}
	for i, p := range cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		c := p.col
		if c == colRetrans && merged && countsProbes(r) {
			c = colProbes
		}
		text := m.cell(c, r, p.w)
		switch {
		case p.col == colLocal || p.col == colRemote:
			b.WriteString(fitLeft(text, p.w))
		default:
			b.WriteString(fit(text, p.w, colSpecs[p.col].right))
		}
	}
	line := b.String()
	if pad := m.width - 1 - lineWidth(cols); pad > 0 && sel {
		line += strings.Repeat(" ", pad)
	}
	st := m.styles.healthStyle(r.Health)
	if sel {
		st = st.Reverse(true)
	}
	return st.Render(line)
}

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

// cell formats one value of a row for a column of width w.
func (m *Model) cell(c column, r *model.Row, w int) string {
	s := r.Sock
	info := &s.Info
	switch c {
	case colHealth:
		l := look(r.Health)
		if w >= colSpecs[colHealth].max {
			return l.symbol + " " + r.Health.String()
		}
		return l.symbol + " " + l.short
	case colLocal:
		return r.Local()
	case colRemote:
		return r.Remote()
	case colState:
		return s.State.String()
	case colProcess:
		return process(r)
	case colSendQ:
		return fmtBytes(uint64(s.SendQ))
	case colRecvQ:
		return fmtBytes(uint64(s.RecvQ))
	case colRTT:
		if !r.HasInfo() {
			return "—"
		}
		return fmtDur(info.RTT)
	case colRTO:
		if !r.HasInfo() {
			return "—"
		}
		return fmtRTO(info.RTO) + "/" + strconv.Itoa(int(info.Backoff))
	case colRetrans:
		n := strconv.Itoa(r.Retransmits())
		if p := r.Prediction; p != nil && !probeSchedule(p) && p.Count > 0 {
			n += "/" + strconv.Itoa(p.Count)
		}
		return n
	case colProbes:
		n := strconv.Itoa(r.Probes())
		if p := r.Prediction; p != nil && probeSchedule(p) && p.Count > 0 {
			n += "/" + strconv.Itoa(p.Count)
		}
		return n
	case colUnacked:
		if !r.HasInfo() {
			return "—"
		}
		return strconv.Itoa(int(info.Unacked))
	case colLastAck:
		if !r.HasInfo() {
			return "—"
		}
		return fmtAge(info.LastAckRecv)
	case colAbort:
		return m.countdown(r.Prediction)
	}
	return ""
}

// countdown is the abort-in cell: the time left at the current clock,
// "~" when the prediction assumed the namespace's sysctls.
func (m *Model) countdown(p *model.Prediction) string {
	if p == nil {
		return "—"
	}
	s := fmtRemaining(p.Remaining(m.now))
	if p.Confidence == model.Assumed {
		return "~" + s
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

// fmtRTO fits an RTO in four or five characters.
func fmtRTO(d time.Duration) string {
	switch {
	case d < time.Second:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	case d < 10*time.Second:
		return trimFloat(d.Seconds(), 1) + "s"
	}
	return strconv.FormatInt(int64(d.Round(time.Second)/time.Second), 10) + "s"
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
