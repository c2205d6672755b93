package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/replay"
	"github.com/tcpwatch/tcpwatch/internal/report"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
	"github.com/tcpwatch/tcpwatch/tui"
)

// runReplay shows a recording (tcpwatch replay PATH): the interface over
// it, its NDJSON (--json), or the snapshot of one moment (--once [--at]).
// Damage is reported on stderr with the file and offset, and what can be
// read around it still replays; the status is then 1.
func runReplay(ctx context.Context, o *options, q query.Query, stdout, stderr io.Writer) int {
	rp, err := replay.Open(o.replay, model.Config{CloseWaitAfter: o.closeWaitAfter}, q)
	if err != nil {
		fmt.Fprintf(stderr, "tcpwatch: replay: %v\n", err)
		return 1
	}
	defer rp.Close()
	switch {
	case o.once:
		return replayOnce(rp, o, stdout, stderr)
	case o.json:
		return replayJSON(ctx, rp, stdout, stderr)
	}
	return replayInteractive(ctx, rp, o, stderr)
}

// replayJSON prints the NDJSON the live --json run printed, poll after
// poll, as fast as it can.
func replayJSON(ctx context.Context, rp *replay.Replayer, stdout, stderr io.Writer) int {
	status := 0
	noted := 0
	for ctx.Err() == nil {
		st, err := rp.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The reader goes on after the damage, at the next segment.
			status = replayDamage(stderr, rp, err)
			continue
		}
		snap := rp.Snapshot(st)
		// Notices go to stderr once each, as they did live.
		for ; noted < len(snap.Notices); noted++ {
			fmt.Fprintf(stderr, "tcpwatch: note: %s\n", snap.Notices[noted])
		}
		if err := report.WriteJSON(stdout, snap); err != nil {
			if errors.Is(err, syscall.EPIPE) {
				return status
			}
			fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
			return 1
		}
	}
	printNotes(stderr, rp)
	return status
}

// replayOnce prints the snapshot at --at (the last poll without it).
func replayOnce(rp *replay.Replayer, o *options, stdout, stderr io.Writer) int {
	first, last, err := rp.Reader().Span()
	if err != nil {
		fmt.Fprintf(stderr, "tcpwatch: replay: %v\n", err)
	}
	t := last
	if o.at != "" {
		if t, err = parseAt(o.at, first, last); err != nil {
			fmt.Fprintf(stderr, "tcpwatch: replay: --at: %v\n", err)
			return exitUsage
		}
	}
	st, err := rp.SeekTime(t)
	status := 0
	if err != nil {
		status = replayDamage(stderr, rp, err)
		if st.Poll == nil {
			return 1
		}
		status = 1
	}
	snap := rp.Snapshot(st)
	if o.json {
		err = report.WriteJSON(stdout, snap)
	} else {
		err = report.WriteTable(stdout, snap)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
		return 1
	}
	printNotes(stderr, rp)
	return status
}

// replayDamage reports a reading error and returns the status it gives.
func replayDamage(stderr io.Writer, rp *replay.Replayer, err error) int {
	printNotes(stderr, rp)
	fmt.Fprintf(stderr, "tcpwatch: replay: %v\n", err)
	return 1
}

// printNotes writes what the reader skipped without failing (torn tails).
func printNotes(stderr io.Writer, rp *replay.Replayer) {
	for _, n := range rp.Notes {
		fmt.Fprintf(stderr, "tcpwatch: replay: note: %s\n", n)
	}
	rp.Notes = rp.Notes[:0]
}

// parseAt reads --at: RFC 3339, or a time of day (15:04:05, 15:04,
// 15:04:05.000) on the recording's day in the local zone. A recording
// that spans midnight takes the time of day on the day after its start
// when that is within it and the first day's is not.
func parseAt(s string, first, last time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"15:04:05.999999999", "15:04:05", "15:04"} {
		tod, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		f := first.Local()
		t := time.Date(f.Year(), f.Month(), f.Day(), tod.Hour(), tod.Minute(), tod.Second(), tod.Nanosecond(), time.Local)
		if t.Before(first) && !t.AddDate(0, 0, 1).After(last) {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("bad time %q: want a time of day (03:12:05) or RFC 3339 (%s)", s, strings.Replace(time.RFC3339, "Z07:00", "Z", 1))
}

// replayInteractive runs the interface over the recording, fed by a
// player instead of the poller.
func replayInteractive(ctx context.Context, rp *replay.Replayer, o *options, stderr io.Writer) int {
	if !isTerminal(os.Stdout) {
		fmt.Fprintln(stderr, "tcpwatch: replay: standard output is not a terminal: use --json, or --once [--at TIME]")
		return exitUsage
	}
	if err := runReplayTUI(ctx, rp, o); err != nil {
		fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
		return 1
	}
	printNotes(stderr, rp)
	return 0
}

// runReplayTUI runs the interface over a player of rp until the user
// quits or ctx ends.
func runReplayTUI(ctx context.Context, rp *replay.Replayer, o *options) error {
	ctx, cancel := context.WithCancel(ctx)
	pl := replay.NewPlayer(rp)
	pl.ParseTime = parseAt
	done := make(chan struct{})
	go func() {
		defer close(done)
		pl.Run(ctx)
	}()
	defer func() {
		cancel()
		for range pl.Snapshots() {
		}
		<-done
	}()
	moves := map[tui.ReplayMove]replay.MoveKind{
		tui.ReplayPlayPause: replay.MovePlayPause, tui.ReplayStepBack: replay.MoveStepBack,
		tui.ReplayStepForward: replay.MoveStepForward, tui.ReplayJump: replay.MoveJump,
		tui.ReplayGoTo: replay.MoveGoTo, tui.ReplaySpeed: replay.MoveSpeed,
	}
	cfg := tui.Config{
		Snapshots: pl.Snapshots(),
		Query:     rp.Query(),
		SetQuery: func(q query.Query) error {
			pl.Do(replay.Move{Kind: replay.MoveQuery, Query: q})
			return nil
		},
		NoColor: o.noColor || os.Getenv("NO_COLOR") != "",
		Now:     pl.Now,
		Replay: &tui.Replay{
			Do: func(c tui.ReplayCmd) { pl.Do(replay.Move{Kind: moves[c.Move], By: c.By, Text: c.Text}) },
			State: func() tui.ReplayState {
				s := pl.State()
				return tui.ReplayState{Host: s.Host, At: s.At, First: s.First, Last: s.Last, Playing: s.Playing, Speed: s.Speed, Problem: s.Problem}
			},
		},
	}
	return tui.Run(ctx, cfg)
}
