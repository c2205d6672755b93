package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/tcpwatch/tcpwatch/internal/metrics"
	"github.com/tcpwatch/tcpwatch/internal/watch"
)

// runMetrics serves Prometheus metrics on o.metrics, headless, until a
// signal ends ctx. It checks the web configuration and binds before it
// says where it serves, and before the poller starts, so that a wrong
// address or file fails with one error and nothing else.
func runMetrics(ctx context.Context, w *watch.Watcher, o *options, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
		return 1
	}
	if err := metrics.CheckWebConfig(o.webConfig); err != nil {
		return fail(err)
	}
	scheme, err := metrics.Scheme(o.webConfig)
	if err != nil {
		return fail(err)
	}
	ln, err := metrics.Listen(ctx, o.metrics)
	if err != nil {
		return fail(err)
	}
	st := startStream(ctx, w, o.interval, stderr)
	defer st.Stop()
	fmt.Fprintf(stderr, "tcpwatch: serving metrics on %s://%s/metrics\n", scheme, ln.Addr())
	exp := metrics.New()
	if o.allNetNS {
		exp = metrics.NewWithNetNS()
	}
	// The toolkit reports at Info that TLS is on (said above already) and
	// at Error a web config file that became unreadable (worth a line).
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := exp.ServeWeb(ctx, ln, st.C, metrics.WebOptions{ConfigFile: o.webConfig, Logger: logger}); err != nil {
		return fail(err)
	}
	return 0
}
