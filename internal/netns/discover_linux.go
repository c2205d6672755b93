package netns

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Roots are where discovery looks; DefaultRoots are the host's. Tests
// point them at fake trees.
type Roots struct {
	Proc string // /proc
	// Named holds `ip netns` bind mounts (/run/netns), Docker docker's own
	// (/var/run/docker/netns).
	Named, Docker string
	// Pods is the kubelet's log directory (/var/log/pods), Containers
	// docker's container configurations (/var/lib/docker/containers).
	Pods, Containers string
	// PID is our own process's entry under Proc (0 in a fake tree: none
	// is ours). Its ns/net is not where we run but where the process's
	// first thread is at the moment, which may be visiting another
	// namespace (Do), so that discovery reads ours from the calling
	// thread instead (Proc/thread-self).
	PID int
}

// DefaultRoots are the standard locations.
var DefaultRoots = Roots{
	Proc: "/proc", Named: "/run/netns", Docker: "/var/run/docker/netns",
	Pods: "/var/log/pods", Containers: "/var/lib/docker/containers",
	PID: os.Getpid(),
}

// ID identifies a network namespace for its whole life: the device and
// inode of its nsfs file, which every path to it (/proc/PID/ns/net, a
// bind mount) stats to.
type ID struct {
	Dev   uint64
	Inode uint64
}

// Namespace is one network namespace of the host.
type Namespace struct {
	ID ID
	// Path opens the namespace: the bind mount if it has one, else
	// /proc/PID/ns/net of its lowest PID (valid while that process lives).
	Path string
	// Named is its `ip netns` name, DockerNetns its name under docker's
	// netns directory ("" if none).
	Named, DockerNetns string
	// PIDs are the processes in it (ascending); a namespace held only by
	// a bind mount has none.
	PIDs []int
	// Host marks the host's own namespace (that of PID 1, or when PID 1
	// cannot be read, the one tcpwatch runs in); Self the one tcpwatch
	// runs in (a poller opens it without entering anything).
	Host, Self bool
}

// Found is the result of a discovery.
type Found struct {
	Namespaces []Namespace // ordered: the host first, then by inode
	// Unreadable counts processes whose namespace could not be read (no
	// permission: it needs CAP_SYS_PTRACE over them).
	Unreadable int
}

// statID returns the namespace ID a path stats to (following the
// /proc/PID/ns/net magic link or a bind mount).
func statID(path string) (ID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return ID{}, err
	}
	return ID{Dev: st.Dev, Inode: st.Ino}, nil
}

// Discover lists every distinct network namespace: those of all
// processes, the named ones and docker's. It never enters a namespace.
//
// Ours is read from Proc/thread-self, never Proc/self: /proc/self is the
// first thread's, and a thread of ours that is inside another namespace
// (Do, locked to its goroutine: none other runs on it) may be that one.
// Taken from it, a container's namespace would be marked as ours, and
// watched through our own sockets instead of its own, for its whole life.
// The calling goroutine is not locked, so its thread is in ours.
func Discover(r Roots) (Found, error) {
	var f Found
	byID := map[ID]*Namespace{}
	get := func(id ID) *Namespace {
		ns := byID[id]
		if ns == nil {
			ns = &Namespace{ID: id}
			byID[id] = ns
		}
		return ns
	}
	ents, err := os.ReadDir(r.Proc)
	if err != nil {
		return f, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		entry := e.Name()
		if pid == r.PID {
			entry = "thread-self"
		}
		id, err := statID(filepath.Join(r.Proc, entry, "ns", "net"))
		if err != nil {
			// Gone since the listing, a kernel thread without one, or not
			// ours to read.
			if errors.Is(err, fs.ErrPermission) {
				f.Unreadable++
			}
			continue
		}
		ns := get(id)
		ns.PIDs = append(ns.PIDs, pid)
	}
	named := func(dir string, set func(*Namespace, string)) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			id, err := statID(p)
			if err != nil || id == (ID{}) {
				continue
			}
			ns := get(id)
			set(ns, e.Name())
			if ns.Path == "" || strings.HasPrefix(ns.Path, r.Proc) {
				ns.Path = p
			}
		}
	}
	named(r.Named, func(ns *Namespace, n string) { ns.Named = n })
	named(r.Docker, func(ns *Namespace, n string) { ns.DockerNetns = n })

	host, err := statID(filepath.Join(r.Proc, "1", "ns", "net"))
	if err != nil {
		host, err = statID(filepath.Join(r.Proc, "thread-self", "ns", "net"))
		if err != nil {
			return f, err
		}
	}
	get(host).Host = true
	if self, err := statID(filepath.Join(r.Proc, "thread-self", "ns", "net")); err == nil {
		get(self).Self = true
	}
	for _, ns := range byID {
		slices.Sort(ns.PIDs)
		if ns.Path == "" && len(ns.PIDs) > 0 {
			ns.Path = filepath.Join(r.Proc, strconv.Itoa(ns.PIDs[0]), "ns", "net")
		}
		f.Namespaces = append(f.Namespaces, *ns)
	}
	slices.SortFunc(f.Namespaces, func(a, b Namespace) int {
		switch {
		case a.Host != b.Host:
			if a.Host {
				return -1
			}
			return 1
		case a.ID.Inode != b.ID.Inode:
			if a.ID.Inode < b.ID.Inode {
				return -1
			}
			return 1
		}
		return 0
	})
	return f, nil
}
