package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/tui"
)

// runInteractive runs the full-screen interface over a watcher.
func runInteractive(ctx context.Context, w *watch.Watcher, o *options, banner string) error {
	recall := make(chan chan<- struct{})
	w.SetRecall(recaller(recall))
	st := startStream(ctx, w, o.interval, nil)
	defer st.Stop()
	cfg := tui.Config{
		Snapshots: st.C,
		Recall:    recall,
		Query:     w.Query(),
		SetQuery:  w.SetQuery,
		Shown:     w.SetShown,
		NoColor:   o.noColor || os.Getenv("NO_COLOR") != "",
		Banner:    banner,
	}
	if o.allowKill {
		cfg.Kill = func(r model.Row) error {
			if err := w.Destroy(&r); err != nil {
				return fmt.Errorf("destroy %s -> %s: %w", model.Endpoint(r.Sock.ID.Src), model.Endpoint(r.Sock.ID.Dst), err)
			}
			return nil
		}
	}
	return tui.Run(ctx, cfg)
}

// recallWait bounds how long a poll waits for the interface to give its
// snapshot back: it answers within a frame unless busy (taking in a
// snapshot of 10^6 rows takes a few hundred milliseconds), and a poll
// that waits longer is late for nothing: it can work beside the snapshot.
const recallWait = time.Second

// recaller is the watcher's side of tui.Config.Recall: it asks the
// interface over ask and waits for the answer, at most recallWait in all.
func recaller(ask chan<- chan<- struct{}) func(ctx context.Context) {
	return func(ctx context.Context) {
		t := time.NewTimer(recallWait)
		defer t.Stop()
		done := make(chan struct{})
		select {
		case ask <- done:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
		select {
		case <-done:
		case <-t.C:
		case <-ctx.Done():
		}
	}
}
