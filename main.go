// Command tcpwatch shows the TCP connections whose peer has silently died,
// explains why, and counts down to the moment the kernel will abort them.
//
// It reads every TCP socket through sock_diag (inet_diag) netlink, predicts
// each abort with the kernel's own rules (tcp_retries2, TCP_USER_TIMEOUT,
// keepalive, zero-window probes, SYN retries, orphan retries) and shows
// them in a terminal interface, as one table (--once), as NDJSON (--json)
// or as Prometheus metrics (--metrics). It is read-only unless started with
// --allow-kill. Linux only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwatch/tcpwatch/internal/netns"
	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitUsage is the status for bad flags and values.
const exitUsage = 2

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// gcPercent is the collector's headroom for a run with options o when
// GOGC is not set. At 10^5 sockets 80-95 MB stay live (socket buffers,
// the tracker, the rows) and little garbage is made per poll: the
// default GOGC=100 lets the heap double that before collecting. The
// runs that last and hold that state, the exporter and the interface,
// get a quarter. The exporter then collects every ~25 s at 10^5 (30-60
// ms of CPU each) and peaks at 79 MiB instead of 85.6; the interface
// peaked at 125.8 MiB instead of 142.9 over its first 90 s, at 3.4 % of
// a core either way. The JSON stream makes garbage with every row of
// every poll and the one-shots end within seconds: half.
func gcPercent(o *options) int {
	if o.json || o.once {
		return 50
	}
	return 25
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usageText)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "tcpwatch: %v (see tcpwatch --help)\n", err)
		return exitUsage
	}
	if o.version {
		fmt.Fprintf(stdout, "tcpwatch %s\n", version)
		return 0
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent(o))
	}
	q, err := buildQuery(o)
	if err != nil {
		fmt.Fprintf(stderr, "tcpwatch: %v (see tcpwatch --help)\n", err)
		return exitUsage
	}
	if o.allowKill && !watch.HasNetAdmin() {
		fmt.Fprintln(stderr, "tcpwatch: --allow-kill needs CAP_NET_ADMIN to destroy sockets (run as root or grant the capability)")
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if o.demo {
		return runDemo(ctx, o, q, stdout, stderr)
	}
	if o.replay != "" {
		return runReplay(ctx, o, q, stdout, stderr)
	}
	cfg := watchConfig(o, q)
	return watchAndShow(ctx, o, cfg, stdout, stderr, "")
}

func watchConfig(o *options, q query.Query) watch.Config {
	cfg := watch.Config{Query: q, Tracker: model.Config{CloseWaitAfter: o.closeWaitAfter}}
	if o.netns != "" {
		cfg.NetNS = netns.Path(o.netns)
		cfg.NetNSName = o.netns
	}
	cfg.AllNetNS = o.allNetNS
	cfg.SweepEvery = time.Duration(o.sweep)
	// The interface hints at --all-netns when other namespaces exist.
	cfg.CountOtherNetNS = !o.allNetNS && !o.once && !o.json && o.metrics == ""
	// A snapshot printed because stdout is not a terminal is --once:
	// it gets every owner too.
	if o.once || o.json || (o.metrics == "" && !isTerminal(os.Stdout)) {
		cfg.Owners = watch.OwnersAll
	}
	return cfg
}

// watchAndShow runs the chosen output over a watcher.
func watchAndShow(ctx context.Context, o *options, cfg watch.Config, stdout, stderr io.Writer, banner string) int {
	rec, err := createRecording(o)
	if err != nil {
		fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
		return 1
	}
	if rec != nil {
		defer rec.Close() // after the watcher's loop has stopped
		cfg.Record = rec
	}
	w, err := watch.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
		return 1
	}
	defer w.Close()
	switch {
	case o.once:
		return runOnce(w, o, stdout, stderr)
	case o.json:
		return runJSON(ctx, w, o, stdout, stderr)
	case o.metrics != "":
		return runMetrics(ctx, w, o, stderr)
	}
	if !isTerminal(os.Stdout) {
		fmt.Fprintln(stderr, "tcpwatch: standard output is not a terminal: printing one snapshot (use --json for a stream)")
		return runOnce(w, o, stdout, stderr)
	}
	if err := runInteractive(ctx, w, o, banner); err != nil {
		fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
		return 1
	}
	return 0
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
