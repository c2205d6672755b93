package watch

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/sockowner"
)

// TestRefreshRowsOwnersPeers: a refresh makes only its suspects' rows
// anew and keeps the others' from the sweep, owners included; rows that
// come on screen get their owners from the next refresh on; a suspect
// found gone leaves the rows without misaligning the others; and each
// host's verdict after a refresh counts all its connections, as judging
// the snapshot's every row at once does.
func TestRefreshRowsOwnersPeers(t *testing.T) {
	a, b, c := fakePID(t, 0), fakePID(t, 1), fakePID(t, 2)
	other := netip.MustParseAddrPort("10.0.0.3:5432")
	var socks []inetdiag.Socket
	for c := uint64(1); c <= 6; c++ {
		s := okSock(c)
		if c > 4 {
			s.ID.Dst = other
		}
		socks = append(socks, s)
	}
	dying := func(retrans uint8) inetdiag.Socket { return retransSockAfter(7, retrans) }
	cw := closeWaitSock(8)
	cw.ID.Dst = other
	socks = append(socks, dying(2), cw)
	// api holds the dying connection, worker the one in CLOSE-WAIT,
	// batch only healthy ones: below the owner limit nothing makes its
	// descriptors read but being on screen.
	owners := map[int]fakeOwner{a: {comm: "api"}, b: {comm: "worker"}, c: {comm: "batch"}}
	for _, s := range socks {
		pid := a
		switch s.ID.Cookie {
		case 5, 6:
			pid = c
		case 8:
			pid = b
		}
		o := owners[pid]
		o.inodes = append(o.inodes, s.Inode)
		owners[pid] = o
	}
	clock := newFakeClock()
	d := &lookupDumper{
		fakeDumper: fakeDumper{socks: always(socks...), cost: func(int) time.Duration { return 200 * time.Millisecond }},
		answer: func(k int, cookie uint64) (inetdiag.Socket, bool) {
			switch {
			case cookie == 7:
				return dying(uint8(3 + k)), true
			case cookie == 8 && k == 0:
				return cw, true
			}
			return inetdiag.Socket{}, false // 8 is gone from the second look-up on
		},
	}
	w := lookupWatcher(t, Config{OwnerLimit: 2, ProcRoot: fakeProcs(t, owners)}, d, clock)
	// Snapshots 0 and 1 sweep, 2 and 3 refresh (see
	// TestRefreshBetweenSweeps); row 5 comes on screen before 3.
	snaps, _ := runLoop(t, w, clock, time.Second, 4, func(i int) {
		if i == 3 {
			w.SetShown([]uint32{socks[4].Inode}, nil)
		}
	})
	defer func() {
		for _, s := range snaps {
			s.Release()
		}
	}()
	if len(snaps) != 4 || !snaps[2].Refresh || !snaps[3].Refresh {
		t.Fatalf("want two sweeps then two refreshes, got %d snapshots", len(snaps))
	}
	type seen struct {
		comm    string
		retrans int
		sampled time.Time
	}
	rowsOf := func(s *model.Snapshot) map[uint64]seen {
		m := map[uint64]seen{}
		for _, r := range s.Rows {
			if _, dup := m[r.Sock.ID.Cookie]; dup {
				t.Errorf("cookie %d twice in the rows", r.Sock.ID.Cookie)
			}
			m[r.Sock.ID.Cookie] = seen{r.Comm, r.Retransmits(), r.Sampled.Time()}
		}
		return m
	}
	sweep, r2, r3 := rowsOf(snaps[1]), rowsOf(snaps[2]), rowsOf(snaps[3])
	if len(r2) != 8 || len(r3) != 7 {
		t.Fatalf("rows: %d after the first refresh, %d after the second (8 gone), want 8 and 7", len(r2), len(r3))
	}
	if _, ok := r3[8]; ok {
		t.Errorf("the gone suspect is still a row")
	}
	for k := uint64(1); k <= 6; k++ {
		if r2[k] != sweep[k] || (k != 5 && r3[k] != sweep[k]) {
			t.Errorf("row %d not the sweep's: %+v, %+v, sweep %+v", k, r2[k], r3[k], sweep[k])
		}
	}
	if r2[7].retrans != 3 || r3[7].retrans != 4 || r2[7].comm != "api" || r3[7].comm != "api" || !r3[7].sampled.Equal(snaps[3].Time) {
		t.Errorf("the dying row, refreshed: %+v then %+v", r2[7], r3[7])
	}
	if r2[8].comm != "worker" {
		t.Errorf("the CLOSE-WAIT suspect's owner: %q", r2[8].comm)
	}
	if r2[5].comm != "" || r3[5].comm != "batch" {
		t.Errorf("owner of the row shown before the second refresh: %q before, %q after", r2[5].comm, r3[5].comm)
	}
	for k, s := range snaps[2:] {
		want, _ := model.NewPeerTracker(model.PeerConfig{}).Update(s.Time, time.Millisecond, 4*time.Millisecond, s.Rows)
		if len(s.Peers) != len(want) {
			t.Fatalf("refresh %d: %d hosts, want %d", k, len(s.Peers), len(want))
		}
		for _, p := range s.Peers {
			wp := model.FindPeer(want, p.Addr)
			if wp == nil {
				t.Fatalf("refresh %d: host %v not among the rows' hosts", k, p.Addr)
			}
			type counts struct {
				Conns, Dying, NeverNotice int
				ByHealth                  string
				Groups                    []model.PeerGroup
				FirstAbort                time.Time
			}
			sortGroups := func(g []model.PeerGroup) []model.PeerGroup {
				g = slices.Clone(g)
				slices.SortFunc(g, func(x, y model.PeerGroup) int { return x.PID*1000 + int(x.Health) - y.PID*1000 - int(y.Health) })
				return g
			}
			got := counts{p.Conns, p.Dying, p.NeverNotice, fmt.Sprint(p.ByHealth), sortGroups(p.Groups), p.FirstAbort}
			exp := counts{wp.Conns, wp.Dying, wp.NeverNotice, fmt.Sprint(wp.ByHealth), sortGroups(wp.Groups), wp.FirstAbort}
			if !reflect.DeepEqual(got, exp) {
				t.Errorf("refresh %d, host %v: %+v\nfrom every row: %+v", k, p.Addr, got, exp)
			}
		}
	}
}

// TestRefreshPatchesReusedRows: a snapshot released gives its rows
// back, and a refresh of the same sweep then writes only the suspects'
// rows into them. Every refresh's rows must still be what making them all
// anew gives: the dying row's latest sample, the others the sweep's, and
// the owner of a row that came on screen in every refresh after it,
// whichever buffer it lands in. Only the refreshes that wrote every row
// are charged to the sweep. Once with each snapshot released before the
// next refresh (an exporter: one row array serves every refresh), once
// with each held until the next is made (an interface: two alternate).
func TestRefreshPatchesReusedRows(t *testing.T) {
	for _, hold := range []bool{false, true} {
		t.Run(map[bool]string{false: "released", true: "held until the next"}[hold], func(t *testing.T) { refreshPatchesReusedRows(t, hold) })
	}
}

func refreshPatchesReusedRows(t *testing.T, hold bool) {
	a, b := fakePID(t, 0), fakePID(t, 1)
	dying := func(retrans uint8) inetdiag.Socket { return retransSockAfter(7, retrans) }
	var socks []inetdiag.Socket
	for c := uint64(1); c <= 6; c++ {
		socks = append(socks, okSock(c))
	}
	socks = append(socks, dying(2), closeWaitSock(8))
	const shownAt, goneAt = 5, 8 // a row comes on screen; 8 is gone
	owners := map[int]fakeOwner{a: {comm: "api", inodes: []uint32{socks[6].Inode, socks[7].Inode}}, b: {comm: "batch"}}
	for _, s := range socks[:6] {
		o := owners[b]
		o.inodes = append(o.inodes, s.Inode)
		owners[b] = o
	}
	clock := newFakeClock()
	d := &lookupDumper{
		fakeDumper: fakeDumper{socks: always(socks...), cost: func(int) time.Duration { return 200 * time.Millisecond }},
		answer: func(k int, cookie uint64) (inetdiag.Socket, bool) {
			switch {
			case cookie == 7:
				return dying(uint8(3 + k)), true
			case cookie == 8 && k < goneAt:
				return closeWaitSock(8), true
			}
			return inetdiag.Socket{}, false
		},
	}
	w := lookupWatcher(t, Config{OwnerLimit: 2, ProcRoot: fakeProcs(t, owners)}, d, clock)
	s, err := w.Poll()
	if err != nil {
		t.Fatal(err)
	}
	s.Release()
	backing := map[*model.Row]bool{}
	reused := 0
	epochs, compared := epochRows{}, 0
	var prev *model.Snapshot
	for k := range 12 {
		if k == shownAt {
			w.SetShown([]uint32{socks[2].Inode}, nil)
		}
		clock.advance(time.Second)
		s, err := w.Refresh()
		if err != nil {
			t.Fatal(err)
		}
		want := len(socks)
		if k >= goneAt {
			want--
		}
		if len(s.Rows) != want {
			t.Fatalf("refresh %d: %d rows, want %d", k, len(s.Rows), want)
		}
		// Only the refreshes that made or copied every row are the
		// sweep's setup (tiers.setup): the first and the one that drops
		// the gone from every row; with two buffers alternating, also
		// the first into the other buffer and the first into the other
		// buffer after the drop. The buffer that lacks the owner found
		// at shownAt is patched, not copied.
		setup := k == 0 || k == goneAt
		if hold {
			setup = setup || k == 1 || k == goneAt+1
		}
		if w.refreshSetup != setup {
			t.Errorf("refresh %d: setup %v, want %v", k, w.refreshSetup, setup)
		}
		if backing[&s.Rows[0]] {
			reused++
		}
		backing[&s.Rows[0]] = true
		for _, r := range s.Rows {
			c := r.Sock.ID.Cookie
			wantComm, wantRetrans := "", 0
			switch {
			case c == 7:
				wantComm, wantRetrans = "api", 3+k
			case c == 8:
				wantComm = "api"
			case c == 3 && k >= shownAt:
				wantComm = "batch"
			}
			if r.Comm != wantComm || r.Retransmits() != wantRetrans {
				t.Errorf("refresh %d, row %d: owner %q, %d retransmissions; want %q, %d", k, c, r.Comm, r.Retransmits(), wantComm, wantRetrans)
			}
		}
		// The host's blast radius names the process found for row 3, in
		// a group of its own (model.PeerTracker.Reown).
		named := 0
		for _, p := range s.Peers {
			for _, g := range p.Groups {
				if g.PID == b && g.Comm == "batch" {
					named += g.Count
				}
			}
		}
		if wantNamed := map[bool]int{false: 0, true: 1}[k >= shownAt]; named != wantNamed {
			t.Errorf("refresh %d: the peers' groups count %d connections of batch, want %d: %+v", k, named, wantNamed, s.Peers)
		}
		compared += epochs.check(t, k, s)
		if hold {
			if prev != nil {
				prev.Release()
			}
			prev = s
		} else {
			s.Release()
		}
	}
	if prev != nil {
		prev.Release()
	}
	if compared < 6 {
		t.Errorf("only %d of 12 refreshes came after another of their epoch: Snapshot.RowsEpoch went untested", compared)
	}
	if reused < 6 {
		t.Errorf("only %d of 12 refreshes wrote into a buffer an earlier one had: the patching went untested", reused)
	}
}

// epochRows keeps the rows of the first snapshot of each epoch and Fresh
// (Snapshot.RowsEpoch), deep copies, to hold the later ones to its
// promise: the same rows but at Fresh.
type epochRows map[string]struct {
	rows  []model.Row
	fresh []int
}

// check holds refresh k's snapshot s to its epoch's promise, and says
// whether an earlier snapshot of the epoch was there to compare with.
func (e epochRows) check(t *testing.T, k int, s *model.Snapshot) int {
	t.Helper()
	if s.RowsEpoch == 0 {
		t.Errorf("refresh %d: no RowsEpoch", k)
		return 0
	}
	dying := slices.IndexFunc(s.Rows, func(r model.Row) bool { return r.Sock.ID.Cookie == 7 })
	if !slices.Contains(s.Fresh, dying) {
		t.Errorf("refresh %d: Fresh %v lacks the dying connection's row %d", k, s.Fresh, dying)
	}
	copyOf := func(rows []model.Row) []model.Row {
		out := make([]model.Row, len(rows))
		for i, r := range rows {
			sock := *r.Sock
			r.Sock = &sock
			out[i] = r
		}
		return out
	}
	key := fmt.Sprint(s.RowsEpoch, s.Fresh)
	first, ok := e[key]
	if !ok {
		e[key] = struct {
			rows  []model.Row
			fresh []int
		}{copyOf(s.Rows), slices.Clone(s.Fresh)}
		return 0
	}
	if len(s.Rows) != len(first.rows) {
		t.Errorf("refresh %d: %d rows; its epoch began with %d", k, len(s.Rows), len(first.rows))
		return 1
	}
	for i, r := range copyOf(s.Rows) {
		if !slices.Contains(s.Fresh, i) && !reflect.DeepEqual(r, first.rows[i]) {
			t.Errorf("refresh %d: row %d (cookie %d) is not its epoch's:\n%+v\nwant\n%+v", k, i, r.Sock.ID.Cookie, r, first.rows[i])
		}
	}
	return 1
}

// TestRefreshRetriesShownOwners: the owner index reads a few processes'
// descriptor tables a poll (here one), so the rows on screen of a host
// whose sockets are spread over many processes get their owners over
// several polls. Between two sweeps the refreshes go on asking for the
// shown rows still without one, rather than leaving them empty until the
// next sweep.
func TestRefreshRetriesShownOwners(t *testing.T) {
	const procs = 5
	owners := map[int]fakeOwner{}
	var socks []inetdiag.Socket
	var shown []uint32
	for i := range procs {
		pid := fakePID(t, i)
		o := fakeOwner{comm: fmt.Sprintf("svc%d", i)}
		for k := range 3 {
			s := okSock(uint64(10*i + k + 1))
			o.inodes = append(o.inodes, s.Inode)
			socks = append(socks, s)
		}
		shown = append(shown, o.inodes[0]) // one row of each process on screen
		owners[pid] = o
	}
	clock := newFakeClock()
	d := &lookupDumper{
		fakeDumper: fakeDumper{socks: always(socks...), cost: func(int) time.Duration { return 200 * time.Millisecond }},
		answer:     func(int, uint64) (inetdiag.Socket, bool) { return inetdiag.Socket{}, false },
	}
	w := lookupWatcher(t, Config{OwnerLimit: 2, ProcRoot: fakeProcs(t, owners)}, d, clock)
	w.index.MaxPids = 1
	w.SetShown(shown, nil)
	// Two sweeps (the second splits the tiers), then refreshes: a sweep
	// every 7.2 s (see TestRefreshBetweenSweeps), none in these.
	snaps, _ := runLoop(t, w, clock, time.Second, 6, nil)
	defer func() {
		for _, s := range snaps {
			s.Release()
		}
	}()
	for i, s := range snaps {
		if s.Refresh != (i >= 2) {
			t.Fatalf("snapshot %d: refresh %v, want two sweeps then refreshes", i, s.Refresh)
		}
	}
	isShown := map[uint32]bool{}
	for _, ino := range shown {
		isShown[ino] = true
	}
	named := func(s *model.Snapshot) int {
		n := 0
		for _, r := range s.Rows {
			if r.Comm != "" && isShown[r.Sock.Inode] {
				n++
			}
		}
		return n
	}
	// One process a poll: two sweeps and the refresh after them (which
	// makes every row) reach three processes; the next two refreshes
	// the other two.
	last := snaps[len(snaps)-1]
	if n := named(last); n != procs {
		var each []int
		for _, s := range snaps {
			each = append(each, named(s))
		}
		t.Errorf("shown rows named by the last refresh: %d of %d (by snapshot %v)", n, procs, each)
	}
	// Naming rows on screen is timed apart, for the sweeps' spacing (see
	// tiers.refreshed): a refresh that asked for them says what it took
	// (a clock that ticks a millisecond a reading), the next, with
	// nothing new on screen, nothing.
	w.cfg.Clock = func() time.Time {
		clock.advance(time.Millisecond)
		return clock.Now()
	}
	for k, named := range []bool{true, false} {
		if k == 0 {
			w.SetShown(shown[:2], nil)
		}
		s, err := w.Refresh()
		if err != nil {
			t.Fatal(err)
		}
		s.Release()
		if (w.refreshScreen > 0) != named || w.refreshScreen > time.Duration(len(shown))*time.Millisecond {
			t.Errorf("refresh %d after the rows on screen changed: %v naming them (want some: %v)", k, w.refreshScreen, named)
		}
	}
	if n := named(snaps[2]); n >= procs {
		t.Errorf("the first refresh already names all %d shown rows: the premise wants the budget to fall short", n)
	}
}

// TestRefreshGivesUpUnheldOwners: a row on screen whose socket no process
// holds (the kernel's own, as an NFS mount's) is asked for until the
// owner index has read every process since, not at every refresh after:
// each ask would read descriptor tables again.
func TestRefreshGivesUpUnheldOwners(t *testing.T) {
	const procs = 3
	owners := map[int]fakeOwner{}
	var socks []inetdiag.Socket
	var shown []uint32
	for i := range procs {
		s := okSock(uint64(i + 1))
		owners[fakePID(t, i)] = fakeOwner{comm: fmt.Sprintf("svc%d", i), inodes: []uint32{s.Inode}}
		socks = append(socks, s)
		shown = append(shown, s.Inode)
	}
	kernels := okSock(99) // no process holds it
	socks = append(socks, kernels)
	shown = append(shown, kernels.Inode)
	socks = append(socks, okSock(100), okSock(101)) // above the owner limit
	clock := newFakeClock()
	d := &lookupDumper{
		fakeDumper: fakeDumper{socks: always(socks...), cost: func(int) time.Duration { return 200 * time.Millisecond }},
		answer:     func(int, uint64) (inetdiag.Socket, bool) { return inetdiag.Socket{}, false },
	}
	w := lookupWatcher(t, Config{OwnerLimit: 2, ProcRoot: fakeProcs(t, owners)}, d, clock)
	w.index.MaxPids = 1
	w.SetShown(shown, nil)
	snaps, _ := runLoop(t, w, clock, time.Second, 6, nil)
	last := snaps[len(snaps)-1]
	named := 0
	for _, r := range last.Rows {
		if r.Comm != "" {
			named++
		}
	}
	for _, s := range snaps {
		s.Release()
	}
	if !last.Refresh || named != procs {
		t.Fatalf("last snapshot: refresh %v, %d rows named; want a refresh naming the %d held", last.Refresh, named, procs)
	}
	// Past the index's trust in its scans: asked again, it would read
	// every process anew.
	clock.advance(sockowner.DefaultRescanAfter)
	w.cfg.Clock = func() time.Time {
		clock.advance(time.Millisecond)
		return clock.Now()
	}
	for k := range 3 {
		s, err := w.Refresh()
		if err != nil {
			t.Fatal(err)
		}
		s.Release()
		if w.refreshScreen != 0 || w.ownerStats.PidsScanned != 0 {
			t.Errorf("refresh %d after every process was read: %v naming rows on screen, %d processes read", k, w.refreshScreen, w.ownerStats.PidsScanned)
		}
	}
}

// TestOwnerTable: rows' owners kept between sweeps as indices into the
// distinct owners: each row gets back what it was given (none included),
// a set replaces one row's, and a reset forgets the names.
func TestOwnerTable(t *testing.T) {
	var tab ownerTable
	nginx, pg := rowOwner{pid: 10, comm: "nginx"}, rowOwner{pid: 20, comm: "postgres"}
	want := []rowOwner{nginx, {}, pg, nginx, nginx, {}, pg}
	for i := 0; i < 1000; i++ {
		tab.add(want[i%len(want)])
	}
	for i := 0; i < 1000; i++ {
		if got := tab.at(i); got != want[i%len(want)] {
			t.Fatalf("row %d: %+v, want %+v", i, got, want[i%len(want)])
		}
	}
	if len(tab.names) != 3 { // the unused 0 and the two processes
		t.Errorf("%d names for two processes", len(tab.names))
	}
	tab.set(1, pg)
	tab.set(0, rowOwner{})
	if tab.at(1) != pg || tab.at(0) != (rowOwner{}) || tab.at(2) != pg {
		t.Errorf("after set: %+v %+v %+v", tab.at(0), tab.at(1), tab.at(2))
	}
	tab.reset()
	tab.add(pg)
	if len(tab.ids) != 1 || tab.at(0) != pg || len(tab.names) != 2 {
		t.Errorf("after reset: %d rows, %+v, %d names", len(tab.ids), tab.at(0), len(tab.names))
	}
}
