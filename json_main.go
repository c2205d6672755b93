package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/tcpwatch/tcpwatch/internal/report"
	"github.com/tcpwatch/tcpwatch/internal/watch"
)

// runJSON streams every poll as NDJSON until a signal or a closed pipe.
func runJSON(ctx context.Context, w *watch.Watcher, o *options, stdout, stderr io.Writer) int {
	st := startStream(ctx, w, o.interval, stderr)
	defer st.Stop()
	noted := 0
	for snap := range st.C {
		// Notices (missing privileges…) go to stderr once each, out of
		// the NDJSON stream.
		for ; noted < len(snap.Notices); noted++ {
			fmt.Fprintf(stderr, "tcpwatch: note: %s\n", snap.Notices[noted])
		}
		err := report.WriteJSON(stdout, snap)
		snap.Release()
		if err != nil {
			// A closed pipe (| head) ends the stream quietly.
			if errors.Is(err, syscall.EPIPE) {
				return 0
			}
			fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
			return 1
		}
	}
	return 0
}
