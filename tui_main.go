package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/tui"
)

func init() { runTUI = runInteractive }

// runInteractive runs the full-screen interface over a watcher.
func runInteractive(ctx context.Context, w *watch.Watcher, o *options, banner string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	snaps := make(chan *model.Snapshot, 1)
	go w.Loop(ctx, o.interval, snaps, nil)
	cfg := tui.Config{
		Snapshots: snaps,
		Query:     w.Query(),
		SetQuery:  w.SetQuery,
		NoColor:   o.noColor || os.Getenv("NO_COLOR") != "",
		Banner:    banner,
	}
	if o.allowKill {
		cfg.Kill = func(r model.Row) error {
			if err := w.Conn().Destroy(r.Sock.Family, r.Sock.ID); err != nil {
				return fmt.Errorf("destroy %s -> %s: %w", model.Endpoint(r.Sock.ID.Src), model.Endpoint(r.Sock.ID.Dst), err)
			}
			return nil
		}
	}
	err := tui.Run(ctx, cfg)
	cancel()
	// Drain so that the poller can finish and release its snapshots.
	for s := range snaps {
		s.Release()
	}
	return err
}
