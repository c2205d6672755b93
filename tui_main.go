package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/tui"
)

// runInteractive runs the full-screen interface over a watcher.
func runInteractive(ctx context.Context, w *watch.Watcher, o *options, banner string) error {
	st := startStream(ctx, w, o.interval, nil)
	defer st.Stop()
	cfg := tui.Config{
		Snapshots: st.C,
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
