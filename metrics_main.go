package main

import (
	"context"
	"fmt"
	"io"

	"github.com/tcpwatch/tcpwatch/internal/metrics"
	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
)

// runMetrics serves Prometheus metrics on o.metrics, headless, until a
// signal ends ctx.
func runMetrics(ctx context.Context, w *watch.Watcher, o *options, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	snaps := make(chan *model.Snapshot, 1)
	errs := make(chan error, 1)
	go w.Loop(ctx, o.interval, snaps, errs)
	go func() {
		for {
			select {
			case err := <-errs:
				fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
			case <-ctx.Done():
				return
			}
		}
	}()
	fmt.Fprintf(stderr, "tcpwatch: serving metrics on http://%s/metrics\n", o.metrics)
	err := metrics.New().Serve(ctx, o.metrics, snaps)
	cancel()
	for s := range snaps {
		s.Release()
	}
	if err != nil {
		fmt.Fprintf(stderr, "tcpwatch: metrics: %v\n", err)
		return 1
	}
	return 0
}
