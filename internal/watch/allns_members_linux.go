package watch

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/netns"
	"github.com/tcpwatch/tcpwatch/model"
)

// rediscover lists the namespaces again: new ones are opened and joined,
// gone ones leave with an EventNetNSGone for each of their connections,
// and labels that were guesses (a pod before the kubelet named its
// directory) are looked at again. Only the first listing's failure is an
// error; later ones keep the namespaces as they were.
func (a *allNS) rediscover(now time.Time) error {
	a.lastFound = now
	f, err := a.discover()
	if err != nil {
		return fmt.Errorf("watch: list network namespaces: %w", err)
	}
	a.listed = true
	if f.Unreadable > 0 {
		a.notice("some processes' network namespaces are unreadable (needs CAP_SYS_PTRACE): namespaces held only by them are not shown")
	}
	var pods map[string]netns.Pod
	podsRead := false
	podsOnce := func() map[string]netns.Pod {
		if !podsRead {
			pods, podsRead = a.pods(), true
		}
		return pods
	}
	seen := make(map[netns.ID]bool, len(f.Namespaces))
	order := make([]*member, 0, len(f.Namespaces))
	for i := range f.Namespaces {
		ns := &f.Namespaces[i]
		seen[ns.ID] = true
		m := a.members[ns.ID]
		switch {
		case m != nil:
			m.ns.PIDs, m.ns.Named, m.ns.DockerNetns = ns.PIDs, ns.Named, ns.DockerNetns
			if m.label.Guessed {
				if l := a.label(ns, podsOnce()); l != m.label {
					m.label, m.info = l, nil
				}
			}
		case a.failed[ns.ID] != nil && now.Before(a.failed[ns.ID].at):
			continue
		default:
			m, err = a.join(ns, podsOnce())
			if err != nil {
				a.retryLater(ns.ID, now)
				a.notice(err.Error())
				continue
			}
			delete(a.failed, ns.ID)
			a.members[ns.ID] = m
		}
		order = append(order, m)
	}
	for _, m := range a.order {
		if !seen[m.ns.ID] {
			a.leave(m, now)
			delete(a.members, m.ns.ID)
		}
	}
	for id := range a.failed {
		if !seen[id] {
			delete(a.failed, id)
		}
	}
	a.orderMu.Lock()
	a.order = order
	a.orderMu.Unlock()
	a.noticeSharedTable()
	return nil
}

// retryLater sets when a namespace that could not be opened is tried
// again: rediscoverEvery after its first failure, twice the last wait
// after each next one, at most retryAtMost.
func (a *allNS) retryLater(id netns.ID, now time.Time) {
	r := a.failed[id]
	if r == nil {
		r = &retry{wait: rediscoverEvery}
		a.failed[id] = r
	} else {
		r.wait = min(2*r.wait, retryAtMost)
	}
	r.at = now.Add(r.wait)
}

// join opens a namespace and starts its source (its parameters read
// inside it).
func (a *allNS) join(ns *netns.Namespace, pods map[string]netns.Pod) (*member, error) {
	l := a.label(ns, pods)
	h, err := a.open(ns)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s cannot be watched: %w", l.Name, err)
	}
	src, err := newSource(h.dump, h.ns, a.w.cfg.Tracker, a.w.cfg.Clock, a.notice)
	if err != nil {
		m := &member{h: h, src: &source{dump: h.dump}}
		_ = m.close()
		return nil, fmt.Errorf("network namespace %s cannot be watched: %w", l.Name, err)
	}
	src.keep = a.w.keepWhole
	return &member{ns: *ns, label: l, h: h, src: src}, nil
}

// leave ends a namespace found gone: each connection of its last poll
// ends with EventNetNSGone (its last sample is still in the buffer the
// member holds), and its socket and file are closed, which lets the kernel
// dismantle it.
func (a *allNS) leave(m *member, now time.Time) {
	info := m.currentInfo()
	for _, c := range m.last.Conns {
		s := c.Sock
		a.pending = append(a.pending, model.Event{
			Time: now, Kind: model.EventNetNSGone,
			ID:    model.EventID{Family: s.Family, Local: s.ID.Src, Remote: s.ID.Dst, Cookie: s.ID.Cookie, Inode: s.Inode},
			State: s.State, Health: c.Health, LastSeen: c.LastSeen.Time(), Predicted: c.Prediction, NetNS: info,
		})
	}
	m.last = model.Poll{}
	if m.held != nil {
		m.held.release()
		m.held = nil
	}
	if m.src.prev != nil {
		m.src.prev.release()
		m.src.prev = nil
	}
	if err := m.close(); err != nil {
		a.notice(fmt.Sprintf("network namespace %s: close: %v", m.label.Name, err))
	}
}

// openNS opens a discovered namespace: a file that holds it (checked to be
// the namespace discovery saw: a PID may have been reused since), the
// sock_diag socket created inside it, and a reader that enters it through
// that file. Our own namespace is opened without entering anything.
func openNS(ns *netns.Namespace, hz int) (nsHandle, error) {
	if ns.Self {
		conn, err := inetdiag.Dial(nil)
		if err != nil {
			return nsHandle{}, err
		}
		probe := &nsProbe{procNS: procNS{hz: hz}}
		return nsHandle{dump: sparseDump{conn, probe}, ns: probe, conn: conn}, nil
	}
	if ns.Path == "" {
		return nsHandle{}, errors.New("no path to it")
	}
	f, err := os.Open(ns.Path)
	if err != nil {
		return nsHandle{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nsHandle{}, err
	}
	if st.Dev != ns.ID.Dev || st.Ino != ns.ID.Inode {
		f.Close()
		return nsHandle{}, fmt.Errorf("%s is another namespace by now", ns.Path)
	}
	path := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	conn, err := inetdiag.Dial(&inetdiag.Config{NetNS: path})
	if err != nil {
		f.Close()
		return nsHandle{}, err
	}
	probe := &nsProbe{procNS: procNS{path: path, hz: hz}}
	shared, _ := sharesHostTable(path) // unknown: not counted
	return nsHandle{dump: sparseDump{conn, probe}, ns: probe, conn: conn, hold: f.Close, sharedTable: shared}, nil
}

// Destroy destroys the socket of a row (SOCK_DESTROY) through the
// sock_diag socket of the row's namespace.
func (w *Watcher) Destroy(r *model.Row) error {
	conn := w.conn
	if w.all != nil {
		conn = nil
		w.all.orderMu.Lock()
		defer w.all.orderMu.Unlock()
		if r.NetNS != nil {
			i := slices.IndexFunc(w.all.order, func(m *member) bool { return m.ns.ID.Inode == r.NetNS.Inode })
			if i >= 0 {
				conn = w.all.order[i].h.conn
			}
		}
	}
	if conn == nil {
		return errors.New("watch: the connection's namespace is no longer watched")
	}
	return conn.Destroy(r.Sock.Family, r.Sock.ID)
}
