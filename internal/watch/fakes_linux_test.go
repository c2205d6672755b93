package watch

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// The poller on fakes: a scripted dump, a namespace reader whose answers
// the test sets, a clock that moves only when told, and a /proc tree of
// symlinks for owners. None of it needs root or a socket.

// fakeClock is a clock that moves only by advance (or by a fakeDumper's
// cost).
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// dumpCall is what one Dump was given.
type dumpCall struct {
	req inetdiag.Request
	dst []inetdiag.Socket // the destination slice as given (its memory)
	out []inetdiag.Socket // what the dump returned
}

// fakeDumper answers the i-th Dump with socks(i) (or err(i)), appended to
// the destination as the real one does, and takes cost of the clock.
type fakeDumper struct {
	socks  func(i int) []inetdiag.Socket
	err    func(i int) error
	clock  *fakeClock
	cost   func(i int) time.Duration
	calls  []dumpCall
	closed int
}

func (d *fakeDumper) Dump(req inetdiag.Request, dst []inetdiag.Socket) ([]inetdiag.Socket, error) {
	i := len(d.calls)
	d.calls = append(d.calls, dumpCall{req: req, dst: dst})
	if d.clock != nil && d.cost != nil {
		d.clock.advance(d.cost(i))
	}
	if d.err != nil {
		if err := d.err(i); err != nil {
			d.calls[i].out = dst
			return dst, err
		}
	}
	if d.socks != nil {
		start := len(dst)
		dst = append(dst, d.socks(i)...)
		for k := start; k < len(dst); k++ {
			keepWhole(&dst[k], req.Full)
		}
	}
	d.calls[i].out = dst
	return dst, nil
}

// keepWhole does to a fake's socket what the decoder does: the whole of
// it in the Full that full gives (from the fake's own Full, or its core),
// none without one.
func keepWhole(s *inetdiag.Socket, full inetdiag.FullFunc) {
	src := s.Full
	s.Full = nil
	if full == nil {
		return
	}
	f := full(s)
	if f == nil {
		return
	}
	if src != nil {
		*f = *src
	} else {
		*f = inetdiag.Full{Info: s.Info.AsInfo()}
	}
	s.Full = f
}

func (d *fakeDumper) Close() error { d.closed++; return nil }

// fakeNS is a namespace reader whose answers the test sets; it counts the
// readings.
type fakeNS struct {
	params      model.Params
	paramsErr   error
	counters    model.Counters
	countersErr error
	sockets     int
	socketsErr  error

	paramReads, counterReads, socketReads int
}

func (n *fakeNS) Params() (model.Params, error) {
	n.paramReads++
	if n.paramsErr != nil {
		return model.DefaultParams(), n.paramsErr
	}
	return n.params, nil
}

func (n *fakeNS) Counters() (*model.Counters, error) {
	n.counterReads++
	if n.countersErr != nil {
		return nil, n.countersErr
	}
	c := n.counters
	return &c, nil
}

func (n *fakeNS) Sockets() (int, error) {
	n.socketReads++
	return n.sockets, n.socketsErr
}

// fakeWatcher is a Watcher over a fake dump and namespace reader, with a
// fake clock, a known tick rate and no owners unless cfg asks.
func fakeWatcher(t *testing.T, cfg Config, d *fakeDumper, ns *fakeNS, clock *fakeClock) *Watcher {
	t.Helper()
	if cfg.Owners == OwnersFlagged && cfg.ProcRoot == "" {
		cfg.Owners = OwnersNone
	}
	cfg.Clock = clock.Now
	if d.clock == nil {
		d.clock = clock
	}
	if ns.params.Retries2 == 0 {
		ns.params = model.DefaultParams()
	}
	w, err := newWatcher(cfg, d, ns, 250)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Sockets of the fake dumps, in the healths the model gives them (checked
// by TestFakeSocketHealths, so that a change of the model's rules shows
// there rather than as a filter bug).
func fakeSock(cookie uint64, st inetdiag.State) inetdiag.Socket {
	return inetdiag.Socket{
		Family: inetdiag.FamilyInet,
		State:  st,
		ID: inetdiag.SockID{
			Src:    netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(40000+cookie%20000)),
			Dst:    netip.MustParseAddrPort("10.0.0.2:443"),
			Cookie: cookie,
		},
		Inode: 7000 + uint32(cookie),
		Info: inetdiag.TCPCore{
			Len: inetdiag.TCPInfoLen6_18, State: uint8(st),
			RTO: inetdiag.MicrosOf(204 * time.Millisecond), RTT: inetdiag.MicrosOf(time.Millisecond),
			LastDataSent: inetdiag.MillisOf(50 * time.Millisecond), LastDataRecv: inetdiag.MillisOf(50 * time.Millisecond), LastAckRecv: inetdiag.MillisOf(50 * time.Millisecond),
			SndWnd: 65536,
		},
	}
}

// okSock is an active established connection (HealthOK).
func okSock(cookie uint64) inetdiag.Socket { return fakeSock(cookie, inetdiag.StateEstablished) }

// idleSock has carried nothing for 10 s, without keepalive
// (HealthUnguarded: not unhealthy).
func idleSock(cookie uint64) inetdiag.Socket {
	s := fakeSock(cookie, inetdiag.StateEstablished)
	s.Info.LastDataSent, s.Info.LastDataRecv, s.Info.LastAckRecv = inetdiag.MillisOf(10*time.Second), inetdiag.MillisOf(10*time.Second), inetdiag.MillisOf(10*time.Second)
	return s
}

// closeWaitSock got the peer's FIN 10 s ago (HealthCloseWait: unhealthy,
// not dying).
func closeWaitSock(cookie uint64) inetdiag.Socket {
	s := fakeSock(cookie, inetdiag.StateCloseWait)
	s.Info.LastDataSent, s.Info.LastDataRecv, s.Info.LastAckRecv = inetdiag.MillisOf(10*time.Second), inetdiag.MillisOf(10*time.Second), inetdiag.MillisOf(10*time.Second)
	return s
}

// retransSock is in RTO backoff (HealthRetransmitting: dying).
func retransSock(cookie uint64) inetdiag.Socket {
	s := fakeSock(cookie, inetdiag.StateEstablished)
	s.Timer, s.Retrans, s.Expires, s.SendQ = inetdiag.TimerRetransmit, 2, 600*time.Millisecond, 100
	s.Info.CAState, s.Info.Retransmits, s.Info.Backoff, s.Info.RTO, s.Info.Unacked = 4, 2, 2, inetdiag.MicrosOf(816*time.Millisecond), 1
	s.Info.LastDataSent = inetdiag.MillisOf(200 * time.Millisecond)
	s.Info.TotalRTO, s.Info.TotalRTORecoveries, s.Info.TotalRTOTime = 2, 1, inetdiag.MillisOf(800*time.Millisecond)
	return s
}

// retransSockAfter is retransSock after n retransmissions (and as many
// backoffs), for a connection whose look-ups show it dying further.
func retransSockAfter(cookie uint64, n uint8) inetdiag.Socket {
	s := retransSock(cookie)
	s.Retrans, s.Info.Retransmits, s.Info.Backoff = n, n, n
	return s
}

// fakeProcs builds a /proc tree in which process pid (named comm) holds
// the sockets of the given inodes, and returns its root. The PIDs are
// above the kernel's pid_max, so that reading a socket's options through
// them (pidfd_getfd) can never reach a real process.
func fakeProcs(t *testing.T, owners map[int]fakeOwner) string {
	t.Helper()
	root := t.TempDir()
	for pid, o := range owners {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "comm"), []byte(o.comm+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for i, ino := range o.inodes {
			if err := os.Symlink(fmt.Sprintf("socket:[%d]", ino), filepath.Join(dir, "fd", strconv.Itoa(3+i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

type fakeOwner struct {
	comm   string
	inodes []uint32
}

// fakePID returns the i-th PID of a fake /proc tree: above pid_max.
func fakePID(t *testing.T, i int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	max, err := strconv.Atoi(string(b[:len(b)-1]))
	if err != nil {
		t.Fatal(err)
	}
	pid := max + 1 + i
	if pid > 1<<22 {
		t.Skip("pid_max is PID_MAX_LIMIT: no PID is sure to be free for a fake process")
	}
	return pid
}

var errFakeDump = errors.New("fake dump failed")

// sockets returns a fakeDumper script that answers every dump with socks.
func always(socks ...inetdiag.Socket) func(int) []inetdiag.Socket {
	return func(int) []inetdiag.Socket { return socks }
}
