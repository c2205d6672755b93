package main

import (
	"fmt"
	"io"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/report"
	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
)

// runOnceStream is runOnce for a watcher of one namespace: the JSON
// connections are written as the dump is decoded, and the table keeps
// only its cells (see watch.Watcher.Once), so that a one-shot of 10^5
// sockets does not hold the dump, the tracker and the rows at once.
func runOnceStream(w *watch.Watcher, o *options, stdout, stderr io.Writer) int {
	dying := false
	var js *report.JSONStream
	var ts *report.TableStream
	var emit watch.OnceFunc
	if o.json {
		js = report.NewJSONStream(stdout)
		emit = func(r *model.Row, t time.Time) error {
			dying = dying || r.Health.Dying()
			return js.Row(r, t)
		}
	} else {
		ts = report.NewTableStream()
		emit = func(r *model.Row, t time.Time) error {
			dying = dying || r.Health.Dying()
			return ts.Add(r, t)
		}
	}
	snap, err := w.Once(emit)
	if err != nil {
		fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
		return 1
	}
	if o.json {
		for _, n := range snap.Notices {
			fmt.Fprintf(stderr, "tcpwatch: note: %s\n", n)
		}
		err = js.Finish(snap)
	} else {
		err = ts.Finish(stdout, snap)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
		return 1
	}
	if o.failOnDying && dying {
		return 1
	}
	return 0
}
