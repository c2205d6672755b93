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

			// The consumer holds each snapshot until the next comes, and
			// gives it back when asked.
			var mu sync.Mutex
			var held *model.Snapshot
			giveBack := func() {
				mu.Lock()
				s := held
				held = nil
				mu.Unlock()
				s.Release()
			}
			var recalledAt []int
			polls := 0
			if tt.recall {
				w.SetRecall(func(context.Context) {
					recalledAt = append(recalledAt, polls)
					if len(recalledAt) > tt.decline {
						giveBack()
					}
				})
			}
			const n = 10
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
			var refresh []bool
			rowArrays := map[*model.Row]bool{}
			idle, idleRows := -1, -1 // free buffers once the last sweep's snapshot is taken in
			w.wait = func(_ context.Context, dt time.Duration) bool {
				<-ack // the consumer has taken the snapshot in
				mu.Lock()
				refresh = append(refresh, held.Refresh)
				rowArrays[unsafe.SliceData(held.Rows)] = true
				mu.Unlock()
				if polls == 8 {
					w.src.bufs.mu.Lock()
					idle = len(w.src.bufs.free)
					w.src.bufs.mu.Unlock()
					w.rowBufs.mu.Lock()
					idleRows = len(w.rowBufs.free)
					w.rowBufs.mu.Unlock()
				}
				clock.advance(dt)
				polls++
				return polls < n
			}
			w.Loop(context.Background(), time.Second, out, nil)
			giveBack()

			// The pattern of TestRefreshBetweenSweeps: sweeps at 0, 1 and 8.
			if want := fmt.Sprint([]bool{false, false, true, true, true, true, true, true, false, true}); fmt.Sprint(refresh) != want {
				t.Fatalf("refresh pattern %v, want %v", refresh, want)
			}
			buffers := map[*inetdiag.Socket]bool{}
			for _, c := range d.calls {
				buffers[unsafe.SliceData(c.dst)] = true
			}
			if len(d.calls) != 3 || len(buffers) != tt.wantBuffers {
				t.Errorf("%d sweeps dumped into %d buffers, want 3 into %d", len(d.calls), len(buffers), tt.wantBuffers)
			}
			// Without recalls the buffer the consumer just let go is the
			// next sweep's; with them, one free then is idle for good.
			if tt.recall && (idle != 0 || idleRows != 0) {
				t.Errorf("%d sweep buffers and %d row arrays left idle after the last sweep, want none", idle, idleRows)
			}
			if len(rowArrays) != tt.wantRows {
				t.Errorf("the snapshots' rows were in %d arrays, want %d", len(rowArrays), tt.wantRows)
			}
			if tt.recall && fmt.Sprint(recalledAt) != "[1 2 3 4 5 6 7 8 9]" {
				t.Errorf("recalled before polls %v, want every one but the first", recalledAt)
			}
		})
	}
}
