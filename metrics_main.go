package main

import (
	"context"
	"fmt"
	"io"

	"github.com/tcpwatch/tcpwatch/internal/metrics"
	"github.com/tcpwatch/tcpwatch/internal/watch"
)

// runMetrics serves Prometheus metrics on o.metrics, headless, until a
// signal ends ctx.
func runMetrics(ctx context.Context, w *watch.Watcher, o *options, stderr io.Writer) int {
	st := startStream(ctx, w, o.interval, stderr)
	defer st.Stop()
	fmt.Fprintf(stderr, "tcpwatch: serving metrics on http://%s/metrics\n", o.metrics)
	exp := metrics.New()
	if o.allNetNS {
		exp = metrics.NewWithNetNS()
	}
	if err := exp.Serve(ctx, o.metrics, st.C); err != nil {
		fmt.Fprintf(stderr, "tcpwatch: metrics: %v\n", err)
		return 1
	}
	return 0
}
