package watch

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// heldRun is n polls of Loop on the fake clock with a consumer that
// holds each snapshot until the next comes, as the interface does, and
// gives it back when Loop recalls it if answer (given the recall's
// number, from 1) says so; answer nil sets no recall. after is called
// once the consumer has taken in poll i's snapshot.
type heldRun struct {
	refresh    []bool              // each snapshot's Refresh
	rowArrays  map[*model.Row]bool // the snapshots' row arrays
	recalledAt []int               // the polls the recalls came before
}

func runHeld(t *testing.T, w *Watcher, clock *fakeClock, n int, answer func(k int) bool, after func(i int)) heldRun {
	t.Helper()
	var mu sync.Mutex
	var held *model.Snapshot
	giveBack := func() {
		mu.Lock()
		s := held
		held = nil
		mu.Unlock()
		s.Release()
	}
	run := heldRun{rowArrays: map[*model.Row]bool{}}
	polls := 0
	if answer != nil {
		w.SetRecall(func(context.Context) {
			run.recalledAt = append(run.recalledAt, polls)
			if answer(len(run.recalledAt)) {
				giveBack()
			}
		})
	}
	out := make(chan *model.Snapshot)
	ack := make(chan struct{})
	go func() {
		for s := range out {
			mu.Lock()
			prev := held
			held = s
			mu.Unlock()
			prev.Release()
			ack <- struct{}{}
		}
		close(ack)
	}()
	w.wait = func(_ context.Context, dt time.Duration) bool {
		<-ack // the consumer has taken the snapshot in
		mu.Lock()
		run.refresh = append(run.refresh, held.Refresh)
		run.rowArrays[unsafe.SliceData(held.Rows)] = true
		mu.Unlock()
		if after != nil {
			after(polls)
		}
		clock.advance(dt)
		polls++
		return polls < n
	}
	w.Loop(context.Background(), time.Second, out, nil)
	giveBack()
	return run
}

// idleBuffers is how many buffers p keeps free.
func idleBuffers(p *bufPool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free)
}

// TestRecallReusesTheBuffers: a consumer that holds each snapshot until
// the next (the interface) made every sweep of a large host dump beside
// the last one's sockets, and every poll write its rows beside the last
// one's: two socket buffers, two row arrays. Given back when Loop asks
// (SetRecall), the sweeps dump into one and every snapshot's rows are in
// one. Loop asks before every poll but the first (nothing is known of
// the sweeps' cost then). A recall declined (a paused interface) costs a
// second buffer, which is not kept once the recalls succeed again.
func TestRecallReusesTheBuffers(t *testing.T) {
	for _, tt := range []struct {
		recall      bool
		decline     int // the first recalls declined
		wantBuffers int
		wantRows    int
	}{{false, 0, 2, 2}, {true, 0, 1, 1}, {true, 1, 2, 2}} {
		t.Run(fmt.Sprintf("recall=%v,declined=%d", tt.recall, tt.decline), func(t *testing.T) {
			clock := newFakeClock()
			d := &lookupDumper{
				fakeDumper: fakeDumper{
					socks: always(okSock(1), retransSockAfter(2, 2), closeWaitSock(3)),
					cost:  func(int) time.Duration { return 200 * time.Millisecond },
				},
				answer: func(k int, cookie uint64) (inetdiag.Socket, bool) {
					switch cookie {
					case 2:
						return retransSockAfter(2, uint8(3+k)), true
					case 3:
						return closeWaitSock(3), true
					}
					return inetdiag.Socket{}, false
				},
			}
			w := lookupWatcher(t, Config{Owners: OwnersNone}, d, clock)
			var answer func(int) bool
			if tt.recall {
				answer = func(k int) bool { return k > tt.decline }
			}
			idle, idleRows := -1, -1 // free buffers once the last sweep's snapshot is taken in
			run := runHeld(t, w, clock, 10, answer, func(i int) {
				if i == 8 {
					idle, idleRows = idleBuffers(&w.src.bufs), idleBuffers(&w.rowBufs)
				}
			})

			// The pattern of TestRefreshBetweenSweeps: sweeps at 0, 1 and 8.
			if want := fmt.Sprint([]bool{false, false, true, true, true, true, true, true, false, true}); fmt.Sprint(run.refresh) != want {
				t.Fatalf("refresh pattern %v, want %v", run.refresh, want)
			}
			buffers := map[*inetdiag.Socket]bool{}
			for _, c := range d.calls {
				buffers[unsafe.SliceData(c.dst)] = true
			}
			if len(d.calls) != 3 || len(buffers) != tt.wantBuffers {
				t.Errorf("%d sweeps dumped into %d buffers, want 3 into %d", len(d.calls), len(buffers), tt.wantBuffers)
			}
			if len(run.rowArrays) != tt.wantRows {
				t.Errorf("the snapshots' rows were in %d arrays, want %d", len(run.rowArrays), tt.wantRows)
			}
			// Without recalls the buffer the consumer just let go is the
			// next sweep's; with them, one free then is idle for good.
			if tt.recall && (idle != 0 || idleRows != 0) {
				t.Errorf("%d sweep buffers and %d row arrays left idle after the last sweep, want none", idle, idleRows)
			}
			if tt.recall && fmt.Sprint(run.recalledAt) != "[1 2 3 4 5 6 7 8 9]" {
				t.Errorf("recalled before polls %v, want every one but the first", run.recalledAt)
			}
		})
	}
}

// TestRecallAllNS: watching every namespace, a recall lets the polls
// write every snapshot's rows into one array too. (Each namespace's last
// sweep is held through its next, for the events of a namespace that
// goes away meanwhile, so its sockets stay in two buffers.)
func TestRecallAllNS(t *testing.T) {
	for _, tt := range []struct {
		recall   bool
		wantRows int
	}{{false, 2}, {true, 1}} {
		t.Run(fmt.Sprintf("recall=%v", tt.recall), func(t *testing.T) {
			clock := newFakeClock()
			h := newFakeHostNS()
			mk := func(socks ...inetdiag.Socket) *lookupDumper {
				d := &lookupDumper{fakeDumper: fakeDumper{socks: always(socks...), clock: clock}}
				d.answer = func(_ int, cookie uint64) (inetdiag.Socket, bool) {
					for _, s := range socks {
						if s.ID.Cookie == cookie {
							return s, true
						}
					}
					return inetdiag.Socket{}, false
				}
				return d
			}
			hostD, podD := mk(retransSock(1), okSock(2)), mk(retransSock(1), closeWaitSock(3))
			hostD.fakeDumper.cost = func(int) time.Duration { return 200 * time.Millisecond }
			h.add(100, "host", paramsWith(15), hostD)
			h.add(200, "pod", paramsWith(5), podD)
			w := mustAllWatcher(t, h, clock)
			var answer func(int) bool
			if tt.recall {
				answer = func(int) bool { return true }
			}
			run := runHeld(t, w, clock, 10, answer, nil)
			if want := "[false false true true true true true true false true]"; fmt.Sprint(run.refresh) != want {
				t.Fatalf("refresh pattern %v, want %v", run.refresh, want)
			}
			if len(run.rowArrays) != tt.wantRows {
				t.Errorf("the snapshots' rows were in %d arrays, want %d", len(run.rowArrays), tt.wantRows)
			}
		})
	}
}
