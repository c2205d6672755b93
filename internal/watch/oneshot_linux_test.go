package watch

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/report"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// onceRow is a row copied out of Once's callback, with its socket.
type onceRow struct {
	row  model.Row
	sock inetdiag.Socket
	t    time.Time
}

func collectOnce(t *testing.T, w *Watcher) ([]onceRow, *model.Snapshot) {
	t.Helper()
	var rows []onceRow
	snap, err := w.Once(func(r *model.Row, at time.Time) error {
		rows = append(rows, onceRow{row: *r, sock: *r.Sock, t: at})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows, snap
}

// sameRows compares Once's rows with a poll's, socket by socket.
func sameRows(t *testing.T, got []onceRow, want []model.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Once gave %d rows, Poll %d", len(got), len(want))
	}
	for i := range want {
		g := got[i].row
		g.Sock = nil
		w := want[i]
		w.Sock = nil
		if got[i].sock != *want[i].Sock || !reflect.DeepEqual(g, w) {
			t.Errorf("row %d (cookie %x):\nOnce %+v\nPoll %+v", i, want[i].Sock.ID.Cookie, got[i].row, want[i])
		}
	}
}

// TestOnceIsFirstPoll: on the same dump (and a clock that does not move,
// so that both sample at one instant), Once hands on the rows of a first
// Poll, in its order, with the same owners, one row per cookie; its
// hosts that are not alive are Poll's; and it reads no TCP counters.
func TestOnceIsFirstPoll(t *testing.T) {
	pid := fakePID(t, 0)
	dup := idleSock(2)
	other := retransSock(9)
	other.ID.Dst = netip.MustParseAddrPort("10.0.0.3:5432")
	listener := fakeSock(5, inetdiag.StateListen)
	listener.ID.Src, listener.ID.Dst = netip.MustParseAddrPort("0.0.0.0:443"), netip.MustParseAddrPort("0.0.0.0:0")
	socks := []inetdiag.Socket{okSock(1), dup, closeWaitSock(3), retransSock(4), listener, dup, other}
	root := fakeProcs(t, map[int]fakeOwner{pid: {comm: "api", inodes: []uint32{7001, 7002, 7003, 7004, 7009}}})
	for _, q := range []string{"", "unhealthy"} {
		t.Run("query "+q, func(t *testing.T) {
			qq, err := query.Parse(q)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{Owners: OwnersAll, ProcRoot: root, Query: qq}
			pollNS, onceNS := &fakeNS{}, &fakeNS{}
			pw := fakeWatcher(t, cfg, &fakeDumper{socks: always(socks...)}, pollNS, newFakeClock())
			ow := fakeWatcher(t, cfg, &fakeDumper{socks: always(socks...)}, onceNS, newFakeClock())
			want, err := pw.Poll()
			if err != nil {
				t.Fatal(err)
			}
			got, snap := collectOnce(t, ow)
			sameRows(t, got, want.Rows)
			if len(got) > 0 && got[0].row.PID != pid {
				t.Errorf("first row's owner %d, want %d", got[0].row.PID, pid)
			}
			for i := range got {
				if !got[i].t.Equal(want.Time) {
					t.Errorf("row %d sampled at %v, Poll at %v", i, got[i].t, want.Time)
				}
			}
			var wantPeers []model.Peer
			for _, p := range want.Peers {
				if p.Status != model.PeerAlive {
					wantPeers = append(wantPeers, p)
				}
			}
			if len(wantPeers) == 0 || !reflect.DeepEqual(snap.Peers, wantPeers) {
				t.Errorf("Once's hosts\n%+v\nwant Poll's that are not alive\n%+v", snap.Peers, wantPeers)
			}
			if !reflect.DeepEqual(snap.Listening, want.Listening) || !reflect.DeepEqual(snap.Notices, want.Notices) || !reflect.DeepEqual(snap.Params, want.Params) {
				t.Errorf("Once's listening %v, notices %q; Poll's %v, %q", snap.Listening, snap.Notices, want.Listening, want.Notices)
			}
			if onceNS.counterReads != 0 {
				t.Errorf("Once read the TCP counters %d times, want none", onceNS.counterReads)
			}
			if tr := ow.Tracker(); tr.Len() != 0 {
				t.Errorf("Once left %d connections in the tracker", tr.Len())
			}
		})
	}
}

// TestOnceNoSuspectsOneDump: without a connection waiting for an answer
// no host can be judged other than alive, and Once dumps once.
func TestOnceNoSuspectsOneDump(t *testing.T) {
	d := &fakeDumper{socks: always(okSock(1), idleSock(2), closeWaitSock(3))}
	w := fakeWatcher(t, Config{}, d, &fakeNS{}, newFakeClock())
	rows, snap := collectOnce(t, w)
	if len(rows) != 3 || len(snap.Peers) != 0 || len(d.calls) != 1 {
		t.Errorf("%d rows, %d hosts, %d dumps; want 3, 0, 1", len(rows), len(snap.Peers), len(d.calls))
	}
}

// TestOnceErrors: a failed dump and a failed writer end the one-shot with
// their error.
func TestOnceErrors(t *testing.T) {
	d := &fakeDumper{err: func(int) error { return errFakeDump }}
	w := fakeWatcher(t, Config{}, d, &fakeNS{}, newFakeClock())
	if _, err := w.Once(func(*model.Row, time.Time) error { return nil }); err == nil {
		t.Error("Once of a failed dump: no error")
	}
	w = fakeWatcher(t, Config{}, &fakeDumper{socks: always(okSock(1))}, &fakeNS{}, newFakeClock())
	errWrite := fmt.Errorf("write failed")
	if _, err := w.Once(func(*model.Row, time.Time) error { return errWrite }); err == nil {
		t.Error("Once with a failing writer: no error")
	}
}

// TestOnceRealDump: on the kernel's dump (DumpFunc) of a loopback
// connection, Once gives the rows and owners Poll gives, each row sampled
// within the dump.
func TestOnceRealDump(t *testing.T) {
	port := strconv.Itoa(loopbackPair(t))
	q, err := query.Parse("port " + port)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Config{Owners: OwnersAll, Query: q})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	before := time.Now()
	rows, _ := collectOnce(t, w)
	after := time.Now()
	if len(rows) != 3 {
		t.Fatalf("%d rows for a listener and a connection, want 3", len(rows))
	}
	for _, r := range rows {
		if r.row.PID != os.Getpid() {
			t.Errorf("%s -> %s: owner %d %q, want this process %d", r.row.Local(), r.row.Remote(), r.row.PID, r.row.Comm, os.Getpid())
		}
		if r.t.Before(before) || r.t.After(after) {
			t.Errorf("sampled at %v, outside the call [%v, %v]", r.t, before, after)
		}
	}
}

// genDumper generates n idle connections one at a time, as the kernel's
// dump does; Dump (Poll's way) decodes them all into the slice.
type genDumper struct{ n int }

func (g genDumper) sock(i int) inetdiag.Socket {
	s := idleSock(uint64(i + 1))
	s.ID.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 16), byte(i >> 8)}), uint16(i))
	return s
}

func (g genDumper) DumpFunc(_ inetdiag.Request, fn func(*inetdiag.Socket) error) error {
	var s inetdiag.Socket
	for i := range g.n {
		s = g.sock(i)
		if err := fn(&s); err != nil {
			return err
		}
	}
	return nil
}

func (g genDumper) Dump(_ inetdiag.Request, dst []inetdiag.Socket) ([]inetdiag.Socket, error) {
	for i := range g.n {
		dst = append(dst, g.sock(i))
	}
	return dst, nil
}

func (g genDumper) Close() error { return nil }

// liveHeap is the heap still reachable, after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// onceBytesPerSocket bounds what a one-shot holds per socket: a row's
// table cells and place (~130 bytes), a cookie seen (~20 bytes). Holding
// the dump alone would be 192 bytes a socket; Poll holds ~1 KB.
const onceBytesPerSocket = 300

// TestOnceHoldsLittlePerSocket: the memory a one-shot holds while it
// runs, per socket of a 40k-socket dump, stays below onceBytesPerSocket
// for the JSON and the table, and the same yardstick finds Poll's
// holding above it (so that a one-shot that went back to holding the
// dump, the tracker or the rows fails here).
func TestOnceHoldsLittlePerSocket(t *testing.T) {
	const n = 40000
	every := n / 8
	measure := func(t *testing.T, name string, run func(w *Watcher, sample func()) error) {
		t.Helper()
		w := fakeWatcher(t, Config{}, &fakeDumper{}, &fakeNS{}, newFakeClock())
		w.src.dump = genDumper{n: n}
		base := liveHeap()
		var peak uint64
		sample := func() { peak = max(peak, liveHeap()) }
		if err := run(w, sample); err != nil {
			t.Fatal(err)
		}
		per := float64(peak-min(peak, base)) / n
		t.Logf("%s: %.0f bytes held per socket", name, per)
		if name == "poll" {
			if per <= onceBytesPerSocket {
				t.Errorf("Poll holds %.0f bytes per socket: the yardstick (%d) would not catch a one-shot that holds the dump", per, onceBytesPerSocket)
			}
			return
		}
		if per > onceBytesPerSocket {
			t.Errorf("%s holds %.0f bytes per socket at its peak, want at most %d", name, per, onceBytesPerSocket)
		}
	}
	measure(t, "json", func(w *Watcher, sample func()) error {
		js := report.NewJSONStream(io.Discard)
		i := 0
		snap, err := w.Once(func(r *model.Row, at time.Time) error {
			if i++; i%every == 0 {
				sample()
			}
			return js.Row(r, at)
		})
		if err != nil {
			return err
		}
		sample()
		return js.Finish(snap)
	})
	measure(t, "table", func(w *Watcher, sample func()) error {
		ts := report.NewTableStream()
		i := 0
		snap, err := w.Once(func(r *model.Row, at time.Time) error {
			if i++; i%every == 0 {
				sample()
			}
			return ts.Add(r, at)
		})
		if err != nil {
			return err
		}
		sample()
		return ts.Finish(io.Discard, snap)
	})
	measure(t, "poll", func(w *Watcher, sample func()) error {
		snap, err := w.Poll()
		if err != nil {
			return err
		}
		sample()
		defer snap.Release()
		return report.WriteJSON(io.Discard, snap)
	})
}
