package main

import (
	"fmt"
	"io"

	"github.com/tcpwatch/tcpwatch/internal/report"
	"github.com/tcpwatch/tcpwatch/internal/watch"
)

// runOnce prints one snapshot, as a table or as JSON, and exits.
func runOnce(w *watch.Watcher, o *options, stdout, stderr io.Writer) int {
	if w.CanStream() {
		return runOnceStream(w, o, stdout, stderr)
	}
	snap, err := w.Poll()
	if err != nil {
		fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
		return 1
	}
	defer snap.Release()
	if o.json {
		for _, n := range snap.Notices {
			fmt.Fprintf(stderr, "tcpwatch: note: %s\n", n)
		}
		err = report.WriteJSON(stdout, snap)
	} else {
		err = report.WriteTable(stdout, snap)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
		return 1
	}
	if o.failOnDying {
		for i := range snap.Rows {
			if snap.Rows[i].Health.Dying() {
				return 1
			}
		}
	}
	return 0
}
