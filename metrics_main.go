package main

import (
	"context"
	"fmt"
	"io"

	"github.com/tcpwatch/tcpwatch/internal/metrics"
	"github.com/tcpwatch/tcpwatch/internal/watch"
)

// runMetrics serves Prometheus metrics on o.metrics, headless, until a
// signal ends ctx. It binds before it says where it serves, and before
// the poller starts, so that a wrong address fails with one error and
// nothing else.
func runMetrics(ctx context.Context, w *watch.Watcher, o *options, stderr io.Writer) int {
	ln, err := metrics.Listen(ctx, o.metrics)
	if err != nil {
		fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
		return 1
	}
	st := startStream(ctx, w, o.interval, stderr)
	defer st.Stop()
	fmt.Fprintf(stderr, "tcpwatch: serving metrics on http://%s/metrics\n", ln.Addr())
	if err := metrics.New().ServeListener(ctx, ln, st.C); err != nil {
		fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
		return 1
	}
	return 0
}
