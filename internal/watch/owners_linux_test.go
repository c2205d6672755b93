package watch

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
	"github.com/tcpwatch/tcpwatch/sockowner"
)

// TestCommFilterAboveOwnerLimit: on a host with more connections than
// Config.OwnerLimit, only unhealthy rows get their process by default; a
// comm filter must still find the healthy rows of the process it names.
// The test's own loopback connection stands for such a host (an owner
// limit of 1, three sockets, all healthy); no root needed.
func TestCommFilterAboveOwnerLimit(t *testing.T) {
	port := strconv.Itoa(loopbackPair(t))
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	self := string(comm[:len(comm)-1])
	for _, tt := range []struct {
		expr  string
		limit int
		want  int
	}{
		{"port " + port + " comm " + self, 1, 3},
		{"port " + port + " comm " + self[:3], 1, 3},
		{"port " + port + " comm no-such-process", 1, 0},
		// The health terms come first: no healthy row is resolved for
		// them, and none is kept.
		{"port " + port + " unhealthy comm " + self, 1, 0},
		// Under the limit every row had its process already.
		{"port " + port + " comm " + self, 0, 3},
	} {
		t.Run(tt.expr+" limit "+strconv.Itoa(tt.limit), func(t *testing.T) {
			q, err := query.Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			w, err := New(Config{Owners: OwnersFlagged, OwnerLimit: tt.limit, Query: q})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			// The owner index reads only so many descriptor tables a
			// poll: on a host of many large processes this one may be
			// reached a few polls later. Every poll is checked; the
			// rows wanted must come within ownerPolls.
			var snap *model.Snapshot
			for i := 0; i < ownerPolls; i++ {
				if snap != nil {
					snap.Release()
				}
				if snap, err = w.Poll(); err != nil {
					t.Fatal(err)
				}
				if len(snap.Rows) > tt.want {
					t.Fatalf("poll %d: %d rows, want %d", i, len(snap.Rows), tt.want)
				}
				if len(snap.Rows) == tt.want && (tt.want > 0 || i >= 2) {
					break
				}
			}
			defer snap.Release()
			if len(snap.Rows) != tt.want {
				t.Errorf("%d rows after %d polls, want %d", len(snap.Rows), ownerPolls, tt.want)
			}
			for _, r := range snap.Rows {
				if r.Comm != self || r.PID != os.Getpid() {
					t.Errorf("row %s -> %s: process %q[%d], want %q[%d]", r.Local(), r.Remote(), r.Comm, r.PID, self, os.Getpid())
				}
			}
		})
	}
}

// ownerPolls bounds the polls TestCommFilterAboveOwnerLimit waits for a
// process: the index reaches every process of a busy test host within a
// few polls (while a 10^5 load fixture runs beside the tests, its 28
// workers hold 200,000 descriptors).
const ownerPolls = 20

// TestCommFilterOwners runs the owner policies on a fake /proc tree: two
// processes, six sockets each, one of postgres's unhealthy. Above the
// owner limit only the owners of unhealthy rows are looked for (and the
// rows of a process found on the way get its name: the scan reads its
// whole descriptor table), unless a process filter must test the others.
func TestCommFilterOwners(t *testing.T) {
	// The index scans unknown processes by PID: postgres first, so that
	// looking for the unhealthy socket stops there.
	postgres, nginx := fakePID(t, 0), fakePID(t, 1)
	var socks []inetdiag.Socket
	owners := map[int]fakeOwner{nginx: {comm: "nginx"}, postgres: {comm: "postgres"}}
	for c := uint64(1); c <= 12; c++ {
		s := okSock(c)
		if c == 9 {
			s = closeWaitSock(c)
		}
		socks = append(socks, s)
		pid := nginx
		if c > 6 {
			pid = postgres
		}
		o := owners[pid]
		o.inodes = append(o.inodes, s.Inode)
		owners[pid] = o
	}
	root := fakeProcs(t, owners)
	all := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	tests := []struct {
		name   string
		expr   string
		owners OwnerPolicy
		limit  int
		want   []uint64
		// wantComm: the rows that have a process (the others have none).
		wantComm    []uint64
		wantIndexed int           // sockets whose owner the index knows after the poll
		wantReval   time.Duration // the index's RevalidateAfter after the poll
		wantReval2  time.Duration // after a poll without the filter
	}{
		{name: "no filter above the limit: the owners of unhealthy rows", limit: 4, wantIndexed: 6, want: all, wantComm: []uint64{7, 8, 9, 10, 11, 12}},
		{name: "no filter under the limit: every row", limit: 100, wantIndexed: 12, want: all, wantComm: all},
		{name: "comm above the limit", expr: "comm nginx", limit: 4, wantIndexed: 12, want: []uint64{1, 2, 3, 4, 5, 6}, wantReval: sockowner.DefaultRescanAfter},
		{name: "comm substring, either name", expr: "comm GRE comm ngi", limit: 4, wantIndexed: 12, want: all, wantReval: sockowner.DefaultRescanAfter},
		{name: "comm under the limit", expr: "comm postgres", limit: 100, wantIndexed: 12, want: []uint64{7, 8, 9, 10, 11, 12}},
		{name: "comm with a health term", expr: "unhealthy comm postgres", limit: 4, wantIndexed: 6, want: []uint64{9}, wantReval: sockowner.DefaultRescanAfter},
		{name: "comm with a health term no row of the process passes", expr: "unhealthy comm nginx", limit: 4, wantIndexed: 6, want: nil, wantReval: sockowner.DefaultRescanAfter},
		{name: "comm of nobody", expr: "comm redis", limit: 4, wantIndexed: 12, want: nil, wantReval: sockowner.DefaultRescanAfter},
		{name: "comm with every owner", expr: "comm nginx", owners: OwnersAll, limit: 4, wantIndexed: 12, want: []uint64{1, 2, 3, 4, 5, 6}, wantReval: sockowner.DefaultRescanAfter, wantReval2: sockowner.DefaultRescanAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := mustParse(t, tt.expr)
			d := &fakeDumper{socks: always(socks...)}
			w := fakeWatcher(t, Config{Query: q, Owners: tt.owners, OwnerLimit: tt.limit, ProcRoot: root}, d, &fakeNS{}, newFakeClock())
			snap := mustPoll(t, w)
			if fmt.Sprint(cookies(snap)) != fmt.Sprint(tt.want) {
				t.Errorf("rows %v, want %v", cookies(snap), tt.want)
			}
			wantComm := tt.wantComm
			if tt.expr != "" {
				wantComm = tt.want // every row a process filter keeps has its process
			}
			var withComm []uint64
			for _, r := range snap.Rows {
				if r.Comm == "" {
					continue
				}
				withComm = append(withComm, r.Sock.ID.Cookie)
				want := "nginx"
				if r.Sock.ID.Cookie > 6 {
					want = "postgres"
				}
				if r.Comm != want {
					t.Errorf("row %d: process %q, want %q", r.Sock.ID.Cookie, r.Comm, want)
				}
			}
			if fmt.Sprint(withComm) != fmt.Sprint(wantComm) {
				t.Errorf("rows with a process %v, want %v", withComm, wantComm)
			}
			snap.Release()
			if _, n := w.index.Size(); n != tt.wantIndexed {
				t.Errorf("the index knows the owners of %d sockets, want %d", n, tt.wantIndexed)
			}
			if got := w.index.RevalidateAfter; got != tt.wantReval {
				t.Errorf("cached owners trusted for %v, want %v", got, tt.wantReval)
			}
			if err := w.SetQuery(query.Query{}); err != nil {
				t.Fatal(err)
			}
			mustPoll(t, w).Release()
			if got := w.index.RevalidateAfter; got != tt.wantReval2 {
				t.Errorf("without the filter: cached owners trusted for %v, want %v", got, tt.wantReval2)
			}
		})
	}
}

// TestShownRowsGetOwners: above the owner limit no healthy row gets its
// process, until an interface shows it (SetShown): from the next poll on
// it has it. (Rows of processes the scan read on the way get theirs too:
// the index reads a process's whole descriptor table.)
func TestShownRowsGetOwners(t *testing.T) {
	a, b := fakePID(t, 0), fakePID(t, 1)
	var socks []inetdiag.Socket
	owners := map[int]fakeOwner{a: {comm: "api"}, b: {comm: "worker"}}
	for c := uint64(1); c <= 8; c++ {
		s := okSock(c)
		socks = append(socks, s)
		pid := a
		if c > 4 {
			pid = b
		}
		o := owners[pid]
		o.inodes = append(o.inodes, s.Inode)
		owners[pid] = o
	}
	root := fakeProcs(t, owners)
	w := fakeWatcher(t, Config{OwnerLimit: 2, ProcRoot: root}, &fakeDumper{socks: always(socks...)}, &fakeNS{}, newFakeClock())
	withComm := func() map[uint64]string {
		snap := mustPoll(t, w)
		defer snap.Release()
		got := map[uint64]string{}
		for _, r := range snap.Rows {
			if r.Comm != "" {
				got[r.Sock.ID.Cookie] = r.Comm
			}
		}
		return got
	}
	if got := withComm(); len(got) != 0 {
		t.Fatalf("healthy rows above the limit got processes before any was shown: %v", got)
	}
	w.SetShown([]uint32{socks[5].Inode, socks[6].Inode}, nil)
	if got := withComm(); got[6] != "worker" || got[7] != "worker" {
		t.Errorf("the rows shown: %v, want 6 and 7 owned by worker", got)
	}
}
