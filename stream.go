package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
)

// stream is the watcher's poll loop running in the background, the one
// way every continuous output (the interface, --json, --metrics) gets its
// snapshots.
type stream struct {
	// C delivers one snapshot per poll; the consumer releases each one
	// when it is done with it. It is closed when the loop ends.
	C      <-chan *model.Snapshot
	cancel context.CancelFunc
}

// startStream polls w every interval until ctx ends or Stop is called.
// Poll errors are written to errOut as they happen; with errOut nil (the
// full-screen interface, which owns the terminal) they are dropped and
// the loop goes on.
func startStream(ctx context.Context, w *watch.Watcher, interval time.Duration, errOut io.Writer) *stream {
	ctx, cancel := context.WithCancel(ctx)
	snaps := make(chan *model.Snapshot, 1)
	var errs chan error
	if errOut != nil {
		errs = make(chan error, 1)
		go func() {
			for {
				select {
				case err := <-errs:
					fmt.Fprintf(errOut, "tcpwatch: %v\n", err)
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go w.Loop(ctx, interval, snaps, errs)
	return &stream{C: snaps, cancel: cancel}
}

// Stop ends the loop and releases every snapshot still on its way, so
// that the poller finishes and hands its buffers back. It returns when
// the loop has ended.
func (s *stream) Stop() {
	s.cancel()
	for snap := range s.C {
		snap.Release()
	}
}
