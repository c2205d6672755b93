package sockowner

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeProc is one process of a fake /proc tree: its comm and its descriptor
// links (fd number → link target).
type fakeProc struct {
	comm string
	fds  map[int]string
}

// sock returns the link target of a socket descriptor.
func sock(ino uint32) string { return fmt.Sprintf("socket:[%d]", ino) }

// fakeTree builds a /proc-like tree of symlinks readable by any user (the
// denied test reads it as nobody) and returns its root.
func fakeTree(t *testing.T, procs map[int]fakeProc) string {
	t.Helper()
	root, err := os.MkdirTemp("", "sockowner-proc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Restore modes the test removed so that the tree can be deleted
		// without root.
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if d != nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
		os.RemoveAll(root)
	})
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// Entries that are not processes must be ignored.
	for _, name := range []string{"sys", "net", "0123"} {
		if err := os.Mkdir(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("1", filepath.Join(root, "self")); err != nil {
		t.Fatal(err)
	}
	for pid, p := range procs {
		addFakeProc(t, root, pid, p)
	}
	return root
}

func addFakeProc(t *testing.T, root string, pid int, p fakeProc) {
	t.Helper()
	dir := filepath.Join(root, strconv.Itoa(pid))
	if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "comm"), []byte(p.comm+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for fd, target := range p.fds {
		setFakeFD(t, root, pid, fd, target)
	}
}

// setFakeFD creates or replaces a descriptor link; an empty target removes it.
func setFakeFD(t *testing.T, root string, pid, fd int, target string) {
	t.Helper()
	link := filepath.Join(root, strconv.Itoa(pid), "fd", strconv.Itoa(fd))
	if err := os.Remove(link); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if target == "" {
		return
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// newTestIndex returns an index over root without a time budget, so that
// results never depend on the speed of the machine.
func newTestIndex(root string) *Index {
	idx := New(root)
	idx.MaxScanTime = 0
	return idx
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestRefreshResolves(t *testing.T) {
	tests := []struct {
		name   string
		procs  map[int]fakeProc
		want   []uint32
		owners map[uint32][]Owner
		count  map[uint32]int
	}{
		{
			name:   "single owner",
			procs:  map[int]fakeProc{10: {"nginx", map[int]string{0: "/dev/null", 3: sock(100)}}},
			want:   []uint32{100},
			owners: map[uint32][]Owner{100: {{10, 3, "nginx"}}},
			count:  map[uint32]int{100: 1},
		},
		{
			name: "shared after fork",
			procs: map[int]fakeProc{
				11: {"worker", map[int]string{3: sock(100)}},
				10: {"master", map[int]string{3: sock(100), 4: sock(101)}},
			},
			// 999 is owned by nobody, so every process is scanned and
			// every sharer found.
			want:   []uint32{100, 101, 999},
			owners: map[uint32][]Owner{100: {{10, 3, "master"}, {11, 3, "worker"}}, 101: {{10, 4, "master"}}},
			count:  map[uint32]int{100: 2, 101: 1},
		},
		{
			name:   "duplicated within one process",
			procs:  map[int]fakeProc{10: {"app", map[int]string{7: sock(100), 3: sock(100)}}},
			want:   []uint32{100},
			owners: map[uint32][]Owner{100: {{10, 3, "app"}, {10, 7, "app"}}},
			count:  map[uint32]int{100: 1},
		},
		{
			name: "targets that are not sockets",
			procs: map[int]fakeProc{10: {"app", map[int]string{
				3: "pipe:[100]", 4: "anon_inode:[eventpoll]", 5: "/tmp/socket:[100]", 6: "socket:[100", 7: "socket:[1x0]",
				8: "socket:[99999999999]",
			}}},
			want:   []uint32{100},
			owners: map[uint32][]Owner{100: nil},
			count:  map[uint32]int{100: 0},
		},
		{
			name:   "orphan inode zero and duplicates in the request",
			procs:  map[int]fakeProc{10: {"app", map[int]string{3: sock(100)}}},
			want:   []uint32{0, 100, 100, 0},
			owners: map[uint32][]Owner{100: {{10, 3, "app"}}, 0: nil},
			count:  map[uint32]int{100: 1, 0: 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idx := newTestIndex(fakeTree(t, tc.procs))
			if _, err := idx.Refresh(tc.want, t0); err != nil {
				t.Fatal(err)
			}
			for ino, want := range tc.owners {
				if got := idx.Owners(ino); !reflect.DeepEqual(got, want) {
					t.Errorf("Owners(%d) = %v, want %v", ino, got, want)
				}
				first, n := idx.Owner(ino)
				if n != tc.count[ino] {
					t.Errorf("Owner(%d) count = %d, want %d", ino, n, tc.count[ino])
				}
				if len(want) > 0 && first != want[0] {
					t.Errorf("Owner(%d) = %v, want %v", ino, first, want[0])
				}
			}
			if idx.Partial() {
				t.Errorf("Partial() = true on a readable tree")
			}
		})
	}
}

func TestRefreshOrphanOnlyDoesNoWork(t *testing.T) {
	idx := newTestIndex(fakeTree(t, map[int]fakeProc{10: {"app", map[int]string{3: sock(100)}}}))
	st, err := idx.Refresh([]uint32{0, 0}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if st != (Stats{}) {
		t.Errorf("Refresh of orphans only did work: %+v", st)
	}
}

// A hit is answered by one readlink per cached descriptor, without listing
// or scanning.
func TestRefreshHitRevalidatesOnly(t *testing.T) {
	idx := newTestIndex(fakeTree(t, map[int]fakeProc{
		10: {"a", map[int]string{3: sock(100), 4: sock(101), 5: "/dev/null"}},
		11: {"b", map[int]string{3: sock(100)}},
		12: {"c", map[int]string{3: sock(102)}},
	}))
	if _, err := idx.Refresh([]uint32{100, 101, 102}, t0); err != nil {
		t.Fatal(err)
	}
	st, err := idx.Refresh([]uint32{100, 101}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wantSt := Stats{Wanted: 2, Hits: 2, LinksRead: 3}
	if st != wantSt {
		t.Errorf("warm Refresh = %+v, want %+v", st, wantSt)
	}
}

// A cached descriptor whose link changed is dropped, and its process is
// rescanned at once, which also indexes the socket the descriptor now
// refers to.
func TestRefreshStaleDescriptor(t *testing.T) {
	root := fakeTree(t, map[int]fakeProc{
		10: {"a", map[int]string{3: sock(100)}},
		11: {"b", map[int]string{3: sock(200)}},
	})
	idx := newTestIndex(root)
	if _, err := idx.Refresh([]uint32{100, 200}, t0); err != nil {
		t.Fatal(err)
	}
	setFakeFD(t, root, 10, 3, sock(101)) // fd 3 closed and reused
	st, err := idx.Refresh([]uint32{100}, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	wantSt := Stats{Wanted: 1, Stale: 1, Listed: true, PidsScanned: 1, LinksRead: 2, Unresolved: 1}
	if st != wantSt {
		t.Errorf("Refresh after reuse = %+v, want %+v", st, wantSt)
	}
	if _, n := idx.Owner(100); n != 0 {
		t.Errorf("Owner(100) still known after its descriptor was reused")
	}
	if o, n := idx.Owner(101); n != 1 || o != (Owner{10, 3, "a"}) {
		t.Errorf("Owner(101) = %v, %d; want a[10] fd 3", o, n)
	}
}

// New processes are scanned on a miss; processes scanned recently are not.
func TestRefreshScansOnlyNewProcesses(t *testing.T) {
	root := fakeTree(t, map[int]fakeProc{
		10: {"a", map[int]string{3: sock(100)}},
		11: {"b", map[int]string{3: sock(101)}},
	})
	idx := newTestIndex(root)
	if _, err := idx.Refresh([]uint32{999}, t0); err != nil {
		t.Fatal(err)
	}
	addFakeProc(t, root, 12, fakeProc{"c", map[int]string{5: sock(300)}})
	st, err := idx.Refresh([]uint32{300}, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	wantSt := Stats{Wanted: 1, Listed: true, NewPids: 1, PidsScanned: 1, LinksRead: 1}
	if st != wantSt {
		t.Errorf("Refresh = %+v, want %+v", st, wantSt)
	}
	if o, _ := idx.Owner(300); o != (Owner{12, 5, "c"}) {
		t.Errorf("Owner(300) = %v, want c[12] fd 5", o)
	}
}

// A socket opened by a process after its last scan is found as soon as it
// is asked for, well within RescanAfter; an inode that no process holds
// costs one pass, not a scan on every poll.
func TestRefreshFindsSocketOpenedAfterScan(t *testing.T) {
	root := fakeTree(t, map[int]fakeProc{
		10: {"a", map[int]string{3: sock(100)}},
		11: {"b", map[int]string{3: sock(101)}},
	})
	idx := newTestIndex(root)
	if _, err := idx.Refresh([]uint32{100, 101}, t0); err != nil {
		t.Fatal(err)
	}
	setFakeFD(t, root, 11, 4, sock(102)) // opened after the scan
	st, err := idx.Refresh([]uint32{102}, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if o, n := idx.Owner(102); n != 1 || o != (Owner{11, 4, "b"}) {
		t.Fatalf("Owner(102) = %v (%d owners) after %+v, want b[11] fd 4", o, n, st)
	}
	// An inode nobody holds: the first miss scans, the next ones do not.
	if _, err := idx.Refresh([]uint32{999}, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	st, err = idx.Refresh([]uint32{999}, t0.Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.PidsScanned != 0 || st.Unresolved != 1 {
		t.Errorf("second miss of an unowned inode: %+v, want no scan and 1 unresolved", st)
	}
}

// Processes that exited are forgotten with their sockets at the next
// listing; a cached owner that exited fails revalidation.
func TestRefreshVanishedProcesses(t *testing.T) {
	root := fakeTree(t, map[int]fakeProc{
		10: {"a", map[int]string{3: sock(100)}},
		11: {"b", map[int]string{3: sock(100), 4: sock(101)}},
		12: {"c", map[int]string{3: sock(102)}},
	})
	idx := newTestIndex(root)
	if _, err := idx.Refresh([]uint32{100, 101, 102}, t0); err != nil {
		t.Fatal(err)
	}
	if pids, socks := idx.Size(); pids != 3 || socks != 3 {
		t.Fatalf("Size = %d pids, %d sockets; want 3, 3", pids, socks)
	}
	for _, pid := range []int{11, 12} {
		if err := os.RemoveAll(filepath.Join(root, strconv.Itoa(pid))); err != nil {
			t.Fatal(err)
		}
	}
	st, err := idx.Refresh([]uint32{100, 102}, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// 100: a[10] still valid, b[11] stale; 102: c[12] stale → listing
	// forgets 11 and 12; 10 was scanned a second ago and is not due.
	wantSt := Stats{Wanted: 2, Hits: 1, Stale: 2, Listed: true, GonePids: 2, LinksRead: 3, Unresolved: 1}
	if st != wantSt {
		t.Errorf("Refresh = %+v, want %+v", st, wantSt)
	}
	if got, want := idx.Owners(100), []Owner{{10, 3, "a"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Owners(100) = %v, want %v", got, want)
	}
	if got := idx.Owners(101); got != nil {
		t.Errorf("Owners(101) = %v after its process exited, want none", got)
	}
	if pids, socks := idx.Size(); pids != 1 || socks != 1 {
		t.Errorf("Size = %d pids, %d sockets; want 1, 1", pids, socks)
	}
}

// An inode nobody owns costs a bounded scan per call, each process is
// scanned once per RescanAfter, and processes that held sockets are due
// before the others.
func TestRefreshBudget(t *testing.T) {
	procs := map[int]fakeProc{}
	for pid := 20; pid < 30; pid++ {
		fds := map[int]string{0: "/dev/null"}
		if pid >= 25 {
			fds[3] = sock(uint32(pid * 10))
		}
		procs[pid] = fakeProc{"p" + strconv.Itoa(pid), fds}
	}
	idx := newTestIndex(fakeTree(t, procs))
	idx.MaxPids = 3
	idx.RescanAfter = time.Minute
	missing := []uint32{999}

	type step struct {
		at      time.Duration
		scanned int
		over    bool
	}
	steps := []step{
		{0, 3, true}, {time.Second, 3, true}, {2 * time.Second, 3, true}, {3 * time.Second, 1, false},
		{4 * time.Second, 0, false}, {5 * time.Second, 0, false},
	}
	for i, s := range steps {
		st, err := idx.Refresh(missing, t0.Add(s.at))
		if err != nil {
			t.Fatal(err)
		}
		if st.PidsScanned != s.scanned || st.OverBudget != s.over || !st.Listed || st.Unresolved != 1 {
			t.Errorf("call %d: scanned %d over %t listed %t unresolved %d; want scanned %d over %t listed, 1 unresolved",
				i, st.PidsScanned, st.OverBudget, st.Listed, st.Unresolved, s.scanned, s.over)
		}
	}
	// Every process has been scanned exactly once: the five socket holders
	// are indexed.
	if _, socks := idx.Size(); socks != 5 {
		t.Errorf("indexed %d sockets, want 5", socks)
	}

	// A minute after the first scans, the three due first must be socket
	// holders (25..29), not the older scans of 20..24 without sockets.
	st, err := idx.Refresh(missing, t0.Add(time.Minute+3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.PidsScanned != 3 {
		t.Fatalf("rescan after a minute scanned %d, want 3", st.PidsScanned)
	}
	// Scanned socket holders have LinksRead 2 each (stdin and the socket),
	// processes without sockets 1.
	if st.LinksRead != 6 {
		t.Errorf("rescan read %d links, want 6 (three socket holders first)", st.LinksRead)
	}
}

// The time budget stops the scan between processes: with a budget of one
// nanosecond exactly one process is scanned per call.
func TestRefreshTimeBudget(t *testing.T) {
	procs := map[int]fakeProc{}
	for pid := 1; pid <= 4; pid++ {
		procs[pid] = fakeProc{"p", map[int]string{3: sock(uint32(pid))}}
	}
	idx := New(fakeTree(t, procs))
	idx.MaxPids = 0
	idx.MaxScanTime = time.Nanosecond
	for i := 0; i < 4; i++ {
		st, err := idx.Refresh([]uint32{999}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if st.PidsScanned != 1 {
			t.Errorf("call %d scanned %d processes, want 1", i, st.PidsScanned)
		}
	}
}

func TestRefreshListError(t *testing.T) {
	idx := New(filepath.Join(t.TempDir(), "missing"))
	if _, err := idx.Refresh(nil, t0); err != nil {
		t.Errorf("Refresh without a miss = %v, want no I/O and no error", err)
	}
	st, err := idx.Refresh([]uint32{5}, t0)
	if err == nil || !strings.Contains(err.Error(), "sockowner: list processes") {
		t.Errorf("Refresh over a missing root = %v, want a listing error", err)
	}
	if st.Unresolved != 1 {
		t.Errorf("Unresolved = %d, want 1", st.Unresolved)
	}
}

// A descriptor table that cannot be read (EACCES) is counted, never fatal,
// and other processes are still resolved. As root the permission check does
// not apply, so the index is run by a copy of the test binary as nobody.
func TestRefreshDeniedCounted(t *testing.T) {
	root := fakeTree(t, map[int]fakeProc{
		10: {"mine", map[int]string{3: sock(100)}},
		20: {"theirs", map[int]string{3: sock(200)}},
	})
	if err := os.Chmod(filepath.Join(root, "20", "fd"), 0o700); err != nil {
		t.Fatal(err)
	}
	want := []uint32{100, 200}
	var got string
	if os.Geteuid() == 0 {
		got = runAsNobody(t, "tree", "SOCKOWNER_TREE="+root, "SOCKOWNER_INODES=100 200")
	} else {
		if err := os.Chmod(filepath.Join(root, "20", "fd"), 0); err != nil {
			t.Fatal(err)
		}
		idx := newTestIndex(root)
		if _, err := idx.Refresh(want, t0); err != nil {
			t.Fatal(err)
		}
		got = describeTree(idx, want)
	}
	wantOut := "100=[mine[10]]\n200=[]\ndenied=1 partial=true\n"
	if got != wantOut {
		t.Errorf("index over a partly unreadable tree:\n%s\nwant:\n%s", got, wantOut)
	}
}

func TestParseSocketLink(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ino  uint32
		ok   bool
	}{
		{"socket", "socket:[12345]", 12345, true},
		{"largest", "socket:[4294967295]", 4294967295, true},
		{"too large", "socket:[4294967296]", 0, false},
		{"eleven digits", "socket:[00000000001]", 0, false},
		{"empty inode", "socket:[]", 0, false},
		{"pipe", "pipe:[12345]", 0, false},
		{"path", "/run/socket:[1]", 0, false},
		{"unterminated", "socket:[12", 0, false},
		{"sign", "socket:[-1]", 0, false},
		{"empty", "", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ino, ok := parseSocketLink([]byte(tc.in))
			if ino != tc.ino || ok != tc.ok {
				t.Errorf("parseSocketLink(%q) = %d, %t; want %d, %t", tc.in, ino, ok, tc.ino, tc.ok)
			}
		})
	}
}

func TestParsePID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		pid  int
		ok   bool
	}{
		{"pid", "4242", 4242, true},
		{"one", "1", 1, true},
		{"self", "self", 0, false},
		{"leading zero", "0123", 0, false},
		{"zero", "0", 0, false},
		{"sign", "+12", 0, false},
		{"above PID_MAX_LIMIT", "4194305", 0, false},
		{"overlong", "12345678901", 0, false},
		{"empty", "", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pid, ok := parsePID([]byte(tc.in))
			if ok != tc.ok || (ok && pid != tc.pid) {
				t.Errorf("parsePID(%q) = %d, %t; want %d, %t", tc.in, pid, ok, tc.pid, tc.ok)
			}
		})
	}
}

func TestOwnerString(t *testing.T) {
	if got, want := (Owner{PID: 2211, FD: 7, Comm: "api"}).String(), "api[2211]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestSanitizeComm(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"nginx", "nginx"},
		{"tw\x1b[7mX", "tw?[7mX"},
		{"a\tb", "a?b"},
		{"c1\u009bx", "c1?x"},
		{"bad\xffutf8", "bad?utf8"},
		{"ünïcode", "ünïcode"},
	} {
		if got := sanitizeComm(tt.in); got != tt.want {
			t.Errorf("sanitizeComm(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// RevalidateAfter lets a cached owner stand without a readlink for that
// long, and no longer.
func TestRevalidateAfter(t *testing.T) {
	root := fakeTree(t, map[int]fakeProc{10: {"a", map[int]string{3: sock(100)}}})
	idx := newTestIndex(root)
	idx.RevalidateAfter = 10 * time.Second
	if _, err := idx.Refresh([]uint32{100}, t0); err != nil {
		t.Fatal(err)
	}
	st, err := idx.Refresh([]uint32{100}, t0.Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.LinksRead != 0 || st.Hits != 1 {
		t.Errorf("within RevalidateAfter: %+v, want a hit without reading the link", st)
	}
	setFakeFD(t, root, 10, 3, "/dev/null") // the descriptor was reused
	st, err = idx.Refresh([]uint32{100}, t0.Add(11*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.LinksRead == 0 || st.Stale != 1 {
		t.Errorf("after RevalidateAfter: %+v, want the link re-read and found stale", st)
	}
	if _, n := idx.Owner(100); n != 0 {
		t.Errorf("a stale owner is still known")
	}
}

// A socket's descriptors move between the by-value map and the shared one
// as holders come and go; the scratch slice that a single descriptor is
// read into must never become a shared socket's storage.
func TestSlotsSharedAndSingle(t *testing.T) {
	x := New(t.TempDir())
	a, b, c := slot{pid: 10, fd: 3}, slot{pid: 11, fd: 3}, slot{pid: 12, fd: 7}
	x.addSlot(1, b)
	x.addSlot(1, a) // shared now, ordered by PID
	x.addSlot(2, c)
	_ = x.slots(2) // overwrites the scratch slice
	if got, want := x.slots(1), []slot{a, b}; !reflect.DeepEqual(got, want) {
		t.Fatalf("slots(1) = %v, want %v", got, want)
	}
	if len(x.owners) != 2 || len(x.shared) != 1 {
		t.Errorf("%d owners, %d shared; want 2, 1", len(x.owners), len(x.shared))
	}
	x.addSlot(1, slot{pid: 10, fd: 3, checked: 5}) // known: refreshed in place
	if got := x.slots(1); len(got) != 2 || got[0].checked != 5 {
		t.Errorf("slots(1) after a re-check = %v", got)
	}
	x.unindex(10, &proc{inodes: []uint32{1}})
	if got, want := x.slots(1), []slot{b}; !reflect.DeepEqual(got, want) || len(x.shared) != 0 {
		t.Errorf("slots(1) after one holder left = %v (%d shared), want %v", got, len(x.shared), want)
	}
	x.unindex(11, &proc{inodes: []uint32{1}})
	x.unindex(12, &proc{inodes: []uint32{2}})
	if len(x.owners) != 0 || x.slots(1) != nil {
		t.Errorf("%d owners left after every holder left", len(x.owners))
	}
}
