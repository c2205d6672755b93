package sockowner

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Owner is one process descriptor that refers to a socket.
type Owner struct {
	PID int
	FD  int
	// Comm is /proc/PID/comm (at most 15 bytes, as the kernel truncates
	// it), read when the process was last scanned.
	Comm string
}

// String returns "comm[pid]", the form ss -p and the tcpwatch table show.
func (o Owner) String() string { return fmt.Sprintf("%s[%d]", o.Comm, o.PID) }

// Defaults of an Index's tunables, chosen for a poll of about one second on a
// host with thousands of processes.
const (
	// DefaultRescanAfter: a process scanned less than this long ago is not
	// scanned again for a lookup miss.
	DefaultRescanAfter = 10 * time.Second
	// DefaultMaxPids bounds the processes scanned by one Refresh.
	DefaultMaxPids = 256
	// DefaultMaxScanTime bounds the time one Refresh spends scanning.
	DefaultMaxScanTime = 20 * time.Millisecond
)

// Index maps socket inodes to the processes that hold them, doing work only
// for the inodes it is asked about. Its methods are safe for concurrent use.
//
// The tunables may be changed between calls to Refresh.
type Index struct {
	// RescanAfter is how long a scanned process is trusted: a lookup miss
	// scans only processes never scanned or scanned longer ago than this,
	// so an inode that has no visible owner (a socket of another PID
	// namespace, or of the kernel) costs nothing on the next polls.
	RescanAfter time.Duration
	// MaxPids bounds the number of processes whose descriptor table one
	// Refresh reads; zero means no bound.
	MaxPids int
	// MaxScanTime bounds the wall time one Refresh spends reading
	// descriptor tables; zero means no bound. It is checked between
	// processes, so one huge table can overshoot it.
	MaxScanTime time.Duration
	// RevalidateAfter lets a cached owner stand without re-reading its
	// descriptor link for this long; zero re-reads it on every Refresh.
	// Resolving every socket of a busy host on every poll costs a readlink
	// per socket: a few seconds of trust cuts that to the new ones, at the
	// price of a name that may be a few seconds stale after a descriptor
	// is reused (ReadOptions checks the cookie, so options never are).
	RevalidateAfter time.Duration

	mu   sync.Mutex
	root string
	pids map[int]*proc
	// owners holds each known socket's first descriptor by value, and
	// shared those of the sockets that several descriptors refer to (all
	// of them, in order): at 10^5 sockets a slice per inode cost 12 MB,
	// this 3 (see slots and setSlots).
	owners map[uint32]slot
	shared map[uint32][]slot
	// epoch is the first Refresh's time: a slot's check time is kept as
	// an offset from it (see since), so that a monotonic clock stays one.
	epoch time.Time
	// Scratch state of one Refresh, kept to avoid allocating per call.
	asked   map[uint32]struct{}
	missing map[uint32]struct{}
	// firstMiss is when each inode still without an owner was first asked
	// for. A process scanned before that may have opened the socket since;
	// one scanned after it would have shown it.
	firstMiss map[uint32]time.Time
	cands     []cand
	link      [64]byte
	comm      [64]byte
	path      []byte
	dirBuf    []byte
	fds       []int    // scratch of scan: a process's descriptors
	one       []slot   // scratch of slots
	links     []fdLink // scratch of scan: those that are sockets
}

// proc is what the index remembers of one process (a thread-group leader).
type proc struct {
	scanned time.Time // zero: never scanned
	comm    string
	denied  bool     // its fd directory was unreadable (EACCES) at the last scan
	inodes  []uint32 // sockets found at the last scan, to unindex on rescan
	listed  bool     // mark of the last /proc listing
}

// slot is one descriptor that referred to a socket when last checked.
// PIDs are below 2^22 and descriptors below 2^31 (parsePID, parseFD).
type slot struct {
	pid, fd int32
	checked time.Duration // when the link was last read (Index.since)
}

type cand struct {
	pid int
	p   *proc
}

// Stats describes the work one Refresh did; it serves tests, benchmarks and
// debugging output.
type Stats struct {
	Wanted      int  // distinct non-zero inodes asked for
	Hits        int  // inodes answered from the cache after revalidation
	Stale       int  // cached descriptors that no longer referred to their socket
	Listed      bool // procRoot was listed, because some inode was unknown
	NewPids     int  // processes seen for the first time by that listing
	GonePids    int  // processes that had exited and were forgotten
	PidsScanned int  // descriptor tables read
	LinksRead   int  // readlink calls, revalidation included
	Unresolved  int  // wanted inodes still without an owner
	OverBudget  bool // the scan stopped at MaxPids or MaxScanTime with processes left to scan
}

// New returns an empty Index reading procRoot (normally "/proc"; tests may
// point it at a tree of PID/fd/N symlinks to "socket:[INODE]" and PID/comm
// files).
func New(procRoot string) *Index {
	return &Index{
		RescanAfter: DefaultRescanAfter,
		MaxPids:     DefaultMaxPids,
		MaxScanTime: DefaultMaxScanTime,
		root:        strings.TrimRight(procRoot, "/"),
		pids:        make(map[int]*proc),
		owners:      make(map[uint32]slot),
		shared:      make(map[uint32][]slot),
		asked:       make(map[uint32]struct{}),
		missing:     make(map[uint32]struct{}),
		firstMiss:   make(map[uint32]time.Time),
	}
}

// Refresh makes sure the index knows the owners of the wanted inodes, as far
// as a bounded amount of work allows. Cached owners are revalidated by
// reading their one descriptor link. If any wanted inode is still unknown,
// procRoot is listed (exited processes are forgotten, new ones noted) and
// descriptor tables are read until every wanted inode is found or the budget
// is spent: new processes and those whose cached descriptors turned out
// stale first, then those that held sockets, then the others, each group the
// least recently scanned first. Inode 0 (an orphaned socket) is ignored: no
// process owns it.
//
// now stamps the scans and decides which processes are due again; the budget
// is measured on the real clock. Refresh fails only when procRoot cannot be
// listed; processes that exit or deny access meanwhile are not errors.
func (x *Index) Refresh(wanted []uint32, now time.Time) (Stats, error) {
	x.mu.Lock()
	defer x.mu.Unlock()

	var st Stats
	clear(x.asked)
	clear(x.missing)
	for _, ino := range wanted {
		if ino == 0 {
			continue
		}
		if _, dup := x.asked[ino]; dup {
			continue
		}
		x.asked[ino] = struct{}{}
		st.Wanted++
		if x.revalidate(ino, now, &st) {
			st.Hits++
			continue
		}
		x.missing[ino] = struct{}{}
	}
	for ino := range x.firstMiss {
		if _, ok := x.missing[ino]; !ok {
			delete(x.firstMiss, ino) // found, or no longer asked for
		}
	}
	if len(x.missing) == 0 {
		return st, nil
	}
	var newest time.Time
	for ino := range x.missing {
		t, ok := x.firstMiss[ino]
		if !ok {
			t = now
			x.firstMiss[ino] = t
		}
		if t.After(newest) {
			newest = t
		}
	}

	if err := x.list(&st); err != nil {
		st.Unresolved = len(x.missing)
		return st, err
	}
	x.cands = x.cands[:0]
	for pid, p := range x.pids {
		// Scan a process if it never was, if its scan is old, or if it
		// was scanned before some missing socket was first asked for: a
		// socket opened after a scan can only be found by a new one.
		if p.scanned.IsZero() || now.Sub(p.scanned) >= x.RescanAfter || p.scanned.Before(newest) {
			x.cands = append(x.cands, cand{pid, p})
		}
	}
	slices.SortFunc(x.cands, func(a, b cand) int {
		if an, bn := a.p.scanned.IsZero(), b.p.scanned.IsZero(); an != bn {
			return boolFirst(an)
		}
		if ah, bh := len(a.p.inodes) > 0, len(b.p.inodes) > 0; ah != bh {
			return boolFirst(ah)
		}
		if c := a.p.scanned.Compare(b.p.scanned); c != 0 {
			return c
		}
		return cmp.Compare(a.pid, b.pid)
	})
	start := time.Now()
	for i, c := range x.cands {
		if len(x.missing) == 0 {
			break
		}
		if (x.MaxPids > 0 && st.PidsScanned >= x.MaxPids) ||
			(x.MaxScanTime > 0 && i > 0 && time.Since(start) >= x.MaxScanTime) {
			st.OverBudget = true
			break
		}
		x.scan(c.pid, c.p, now, &st)
	}
	st.Unresolved = len(x.missing)
	return st, nil
}

// boolFirst orders true before false.
func boolFirst(a bool) int {
	if a {
		return -1
	}
	return 1
}

// Owner returns the first known owner of inode (the lowest PID, usually the
// parent of processes that share the descriptor after fork) and the number
// of distinct processes known to hold it; zero means unknown. Refresh stops
// scanning once every wanted inode has an owner, so processes not scanned yet
// may share the socket too. It does no I/O: call Refresh first.
func (x *Index) Owner(inode uint32) (Owner, int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	slots := x.slots(inode)
	if len(slots) == 0 {
		return Owner{}, 0
	}
	n := 0
	for i, s := range slots {
		if i == 0 || s.pid != slots[i-1].pid {
			n++
		}
	}
	return x.owner(slots[0]), n
}

// Owners returns every known descriptor that refers to inode, ordered by PID
// and FD. It does no I/O: call Refresh first.
func (x *Index) Owners(inode uint32) []Owner {
	x.mu.Lock()
	defer x.mu.Unlock()
	slots := x.slots(inode)
	if len(slots) == 0 {
		return nil
	}
	out := make([]Owner, len(slots))
	for i, s := range slots {
		out[i] = x.owner(s)
	}
	return out
}

func (x *Index) owner(s slot) Owner {
	o := Owner{PID: int(s.pid), FD: int(s.fd)}
	if p := x.pids[int(s.pid)]; p != nil {
		o.Comm = p.comm
	}
	return o
}

// Denied returns how many known processes had a descriptor table that could
// not be read (EACCES) when last scanned: their sockets have no owner in the
// index. It is non-zero when tcpwatch runs without root and other users'
// processes hold sockets.
func (x *Index) Denied() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, p := range x.pids {
		if p.denied {
			n++
		}
	}
	return n
}

// Partial reports whether some processes could not be read, so that owners
// may be missing ("process names limited: run as root").
func (x *Index) Partial() bool { return x.Denied() > 0 }

// Size returns how many processes and socket inodes the index knows.
func (x *Index) Size() (pids, sockets int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.pids), len(x.owners)
}

// revalidate re-reads the link of each cached descriptor of ino, drops those
// that no longer refer to it, and reports whether any is left.
func (x *Index) revalidate(ino uint32, now time.Time, st *Stats) bool {
	slots := x.slots(ino)
	if len(slots) == 0 {
		return false
	}
	kept := slots[:0]
	for _, s := range slots {
		if x.RevalidateAfter > 0 && x.since(now)-s.checked < x.RevalidateAfter {
			kept = append(kept, s)
			continue
		}
		x.path = append(x.path[:0], x.root...)
		x.path = append(x.path, '/')
		x.path = strconv.AppendInt(x.path, int64(s.pid), 10)
		x.path = append(x.path, "/fd/"...)
		x.path = strconv.AppendInt(x.path, int64(s.fd), 10)
		n, err := unix.Readlink(string(x.path), x.link[:])
		st.LinksRead++
		if err == nil {
			if got, ok := parseSocketLink(x.link[:n]); ok && got == ino {
				s.checked = x.since(now)
				kept = append(kept, s)
				continue
			}
		}
		st.Stale++
		// The process's table changed since its scan (or the process
		// went away): make it due again so a miss rescans it first.
		if p := x.pids[int(s.pid)]; p != nil {
			p.scanned = time.Time{}
		}
	}
	x.setSlots(ino, kept)
	return len(kept) > 0
}

// list reads the process IDs in procRoot, adds new ones and forgets those
// that have exited. Only thread-group leaders are listed there; /proc/PID/task
// is never read (threads normally share the leader's descriptor table).
func (x *Index) list(st *Stats) error {
	dfd, err := unix.Open(x.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sockowner: list processes: open %s: %w", x.root, err)
	}
	defer unix.Close(dfd)
	for _, p := range x.pids {
		p.listed = false
	}
	err = x.eachEntry(dfd, func(name []byte) {
		pid, ok := parsePID(name)
		if !ok {
			return
		}
		if p := x.pids[pid]; p != nil {
			p.listed = true
			return
		}
		x.pids[pid] = &proc{listed: true}
		st.NewPids++
	})
	if err != nil {
		// Without a complete listing, forgetting unlisted processes
		// would drop live ones.
		return fmt.Errorf("sockowner: list processes: %w", err)
	}
	st.Listed = true
	for pid, p := range x.pids {
		if !p.listed {
			x.forget(pid, p)
			st.GonePids++
		}
	}
	return nil
}

// scan reads the descriptor table of one process and indexes its sockets.
func (x *Index) scan(pid int, p *proc, now time.Time, st *Stats) {
	st.PidsScanned++
	x.unindex(pid, p)
	p.scanned = now
	p.denied = false
	dir := x.root + "/" + strconv.Itoa(pid)
	dfd, err := unix.Open(dir+"/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		switch {
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
			p.denied = true
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ESRCH):
			x.forget(pid, p)
		}
		// Anything else (EMFILE, say) is retried at the next due scan;
		// the process keeps its stamp so that the budget is not spent on
		// it again at once.
		return
	}
	defer unix.Close(dfd)
	// A listing cut short by the process exiting still yields what was
	// read, so the error is not needed.
	x.fds = x.fds[:0]
	_ = x.eachEntry(dfd, func(name []byte) {
		if fd, ok := parseFD(name); ok {
			x.fds = append(x.fds, fd)
		}
	})
	for _, l := range x.readLinks(dfd, x.fds, st) {
		p.inodes = append(p.inodes, l.ino)
		x.addSlot(l.ino, slot{pid: int32(pid), fd: int32(l.fd), checked: x.since(now)})
		delete(x.missing, l.ino)
	}
	if len(p.inodes) > 0 {
		p.comm = x.readComm(dir + "/comm")
	}
}

// eachEntry calls fn with the name of every entry of the directory open at
// dfd. It reads linux_dirent64 records with getdents64 directly, which costs
// a third of the system calls of os.File for the small directories of /proc.
// name is only valid during the call.
func (x *Index) eachEntry(dfd int, fn func(name []byte)) error {
	if x.dirBuf == nil {
		x.dirBuf = make([]byte, 32<<10)
	}
	for {
		n, err := unix.Getdents(dfd, x.dirBuf)
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		b := x.dirBuf[:n]
		// struct linux_dirent64: ino u64, off s64, reclen u16, type u8,
		// name NUL-terminated, padded to reclen.
		const nameOff = 19
		for len(b) > nameOff {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen <= nameOff || reclen > len(b) {
				return fmt.Errorf("malformed directory entry (reclen %d)", reclen)
			}
			name := b[nameOff:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			fn(name)
			b = b[reclen:]
		}
	}
}

// unindex removes the process's descriptors found at its last scan.
func (x *Index) unindex(pid int, p *proc) {
	for _, ino := range p.inodes {
		slots := x.slots(ino)
		kept := slots[:0]
		for _, s := range slots {
			if int(s.pid) != pid {
				kept = append(kept, s)
			}
		}
		x.setSlots(ino, kept)
	}
	p.inodes = p.inodes[:0]
}

// forget drops an exited process and its descriptors.
func (x *Index) forget(pid int, p *proc) {
	x.unindex(pid, p)
	delete(x.pids, pid)
}

// addSlot records s as an owner of ino, keeping the slots ordered by PID and
// FD so that the first one is stable.
func (x *Index) addSlot(ino uint32, s slot) {
	slots := x.slots(ino)
	i, found := slices.BinarySearchFunc(slots, s, func(a, b slot) int {
		if c := cmp.Compare(a.pid, b.pid); c != 0 {
			return c
		}
		return cmp.Compare(a.fd, b.fd)
	})
	if found {
		slots[i].checked = s.checked
	} else {
		slots = slices.Insert(slots, i, s)
	}
	x.setSlots(ino, slots)
}

// since returns now as an offset from the index's epoch, the first time it
// was given: the difference of two Times, unlike that of their Unix
// nanoseconds, uses the monotonic clock when both carry it, so a wall
// clock stepped back by NTP does not leave cached owners unchecked.
func (x *Index) since(now time.Time) time.Duration {
	if x.epoch.IsZero() {
		x.epoch = now
	}
	return now.Sub(x.epoch)
}

// slots returns the descriptors known to refer to ino, ordered by PID and
// FD. A socket with one descriptor (nearly all) comes back in a scratch
// slice that the next call reuses: modify it only to pass it to setSlots.
func (x *Index) slots(ino uint32) []slot {
	if many := x.shared[ino]; many != nil {
		return many
	}
	s, ok := x.owners[ino]
	if !ok {
		return nil
	}
	x.one = append(x.one[:0], s)
	return x.one
}

// setSlots stores the descriptors of ino (none forgets it).
func (x *Index) setSlots(ino uint32, slots []slot) {
	switch len(slots) {
	case 0:
		delete(x.owners, ino)
		delete(x.shared, ino)
	case 1:
		x.owners[ino] = slots[0]
		delete(x.shared, ino)
	default:
		x.owners[ino] = slots[0]
		if many := x.shared[ino]; len(many) == 0 || &many[0] != &slots[0] {
			slots = slices.Clone(slots) // it may be the scratch slice
		}
		x.shared[ino] = slots
	}
}

// parsePID accepts a decimal process ID as /proc names them (no sign, no
// leading zero), rejecting "self", "thread-self" and the other entries.
func parsePID(name []byte) (int, bool) {
	if len(name) == 0 || name[0] == '0' {
		return 0, false
	}
	n, ok := parseFD(name)
	return n, ok && n <= 1<<22 // PID_MAX_LIMIT
}

// parseFD parses a decimal descriptor number as /proc/PID/fd names them,
// rejecting ".", ".." and anything else.
func parseFD(name []byte) (int, bool) {
	if len(name) == 0 || len(name) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range name {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= 1<<31-1
}

// parseSocketLink decodes the target of a /proc/PID/fd link to a socket,
// "socket:[INODE]". Any other target (a path, "pipe:[…]", "anon_inode:…")
// is not a socket.
func parseSocketLink(b []byte) (uint32, bool) {
	const prefix = "socket:["
	if len(b) < len(prefix)+2 || string(b[:len(prefix)]) != prefix || b[len(b)-1] != ']' {
		return 0, false
	}
	digits := b[len(prefix) : len(b)-1]
	if len(digits) > 10 {
		return 0, false
	}
	var n uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > 1<<32-1 {
		return 0, false
	}
	return uint32(n), true
}

// readComm returns /proc/PID/comm without its newline, or "" if the process
// has gone.
func (x *Index) readComm(path string) string {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	n, err := unix.Read(fd, x.comm[:])
	if err != nil || n <= 0 {
		return ""
	}
	return sanitizeComm(strings.TrimSpace(string(x.comm[:n])))
}

// sanitizeComm replaces control characters in a process name: any process
// may name itself with escape sequences, and the name is printed on
// terminals and in reports.
func sanitizeComm(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 && utf8.ValidString(s) {
		return s
	}
	b := []rune(strings.ToValidUTF8(s, "?"))
	for i, r := range b {
		if unicode.IsControl(r) {
			b[i] = '?'
		}
	}
	return string(b)
}
