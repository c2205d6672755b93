package main

import (
	"context"
	"fmt"
	"io"

	"github.com/tcpwatch/tcpwatch/internal/watch"
)

func runMetrics(ctx context.Context, w *watch.Watcher, o *options, stderr io.Writer) int {
	fmt.Fprintln(stderr, "tcpwatch: metrics not built yet")
	return 1
}
