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
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwatch/tcpwatch/internal/netns"
	"github.com/tcpwatch/tcpwatch/internal/report"
	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitUsage is the status for bad flags and values.
const exitUsage = 2

// options are the parsed command line.
type options struct {
	ports, sports, dports listFlag
	srcs, dsts, states    listFlag
	filter                string
	unhealthy             bool
	interval              time.Duration
	netns                 string
	noColor               bool
	allowKill             bool
	version               bool
	once                  bool
	json                  bool
	failOnDying           bool
	metrics               string
	closeWaitAfter        time.Duration
	demo                  bool
}

// listFlag is a repeatable flag; commas also separate values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

const usageText = `tcpwatch: see the TCP connections whose peer silently died, and when the kernel will give up on them.

Usage:
  tcpwatch [flags]            interactive view (full screen)
  tcpwatch --once [flags]     one snapshot as a table
  tcpwatch --json [flags]     NDJSON stream (with --once: one snapshot)
  tcpwatch --metrics ADDR     Prometheus exporter on ADDR, no interface
  tcpwatch demo               build a throw-away crash lab (root) and watch it

Filters (pushed into the kernel where possible; repeat a flag for "or"):
  -p, --port N|LO-HI          local or remote port
      --sport N|LO-HI         local port
      --dport N|LO-HI         remote port
      --src ADDR[/LEN]        local address or prefix
      --dst ADDR[/LEN]        remote address or prefix
      --state NAME            TCP state as ss names it (established, close-wait, syn-sent, …)
  -u, --unhealthy             only connections that need attention
  -f, --filter EXPR           the interactive filter syntax, e.g. "port 5432 dying comm postgres"

Output and behaviour:
  -i, --interval D            poll interval (default 1s)
      --netns NAME|PATH       watch another network namespace (/run/netns/NAME, /proc/PID/ns/net)
      --once                  print one snapshot and exit (0; 1 with --fail-on-dying if any is dying)
      --json                  NDJSON: one object per connection per poll, plus events
      --fail-on-dying         with --once: exit 1 when a connection is dying
      --metrics ADDR          serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9469); off by default
      --close-wait-after D    flag CLOSE-WAIT connections older than D (default 5s)
      --no-color              no colours (also: NO_COLOR=1)
      --allow-kill            enable K (destroy the selected socket, after confirmation; needs CAP_NET_ADMIN)
      --version               print the version
  -h, --help                  this help

Examples:
  tcpwatch -p 5432                          watch connections to or from PostgreSQL
  tcpwatch --once --unhealthy               what is dying right now
  tcpwatch --once --json -p 443 | jq 'select(.abort_in_s != null)'
  tcpwatch --netns /proc/$(pidof envoy)/ns/net
  sudo tcpwatch demo
`

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("tcpwatch", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.Var(&o.ports, "p", "")
	fs.Var(&o.ports, "port", "")
	fs.Var(&o.sports, "sport", "")
	fs.Var(&o.dports, "dport", "")
	fs.Var(&o.srcs, "src", "")
	fs.Var(&o.dsts, "dst", "")
	fs.Var(&o.states, "state", "")
	fs.StringVar(&o.filter, "f", "", "")
	fs.StringVar(&o.filter, "filter", "", "")
	fs.BoolVar(&o.unhealthy, "u", false, "")
	fs.BoolVar(&o.unhealthy, "unhealthy", false, "")
	fs.DurationVar(&o.interval, "i", time.Second, "")
	fs.DurationVar(&o.interval, "interval", time.Second, "")
	fs.StringVar(&o.netns, "netns", "", "")
	fs.BoolVar(&o.noColor, "no-color", false, "")
	fs.BoolVar(&o.allowKill, "allow-kill", false, "")
	fs.BoolVar(&o.version, "version", false, "")
	fs.BoolVar(&o.once, "once", false, "")
	fs.BoolVar(&o.json, "json", false, "")
	fs.BoolVar(&o.failOnDying, "fail-on-dying", false, "")
	fs.StringVar(&o.metrics, "metrics", "", "")
	fs.DurationVar(&o.closeWaitAfter, "close-wait-after", 5*time.Second, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, err
	}
	rest := fs.Args()
	if len(rest) > 0 && rest[0] == "demo" {
		o.demo = true
		rest = rest[1:]
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		rest = fs.Args()
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("unexpected argument %q (filters are flags, e.g. -p 5432)", rest[0])
	}
	if o.interval < 100*time.Millisecond {
		return nil, fmt.Errorf("invalid value %q for flag --interval: must be at least 100ms", o.interval)
	}
	if o.closeWaitAfter <= 0 {
		return nil, fmt.Errorf("invalid value %q for flag --close-wait-after: must be positive", o.closeWaitAfter)
	}
	if o.failOnDying && !o.once {
		return nil, errors.New("flag -fail-on-dying needs --once")
	}
	if o.metrics != "" && (o.once || o.json) {
		return nil, errors.New("flag -metrics runs headless: it does not combine with --once or --json")
	}
	return o, nil
}

// buildQuery turns the filter flags into one query.
func buildQuery(o *options) (query.Query, error) {
	var terms []string
	add := func(kind string, vals []string) {
		for _, v := range vals {
			terms = append(terms, kind+" "+v)
		}
	}
	add("port", o.ports)
	add("sport", o.sports)
	add("dport", o.dports)
	add("src", o.srcs)
	add("dst", o.dsts)
	add("state", o.states)
	if o.unhealthy {
		terms = append(terms, "unhealthy")
	}
	if o.filter != "" {
		terms = append(terms, o.filter)
	}
	// Check each flag on its own first so that the error names it.
	for _, c := range []struct {
		flag string
		vals []string
		kind string
	}{{"--port", o.ports, "port"}, {"--sport", o.sports, "sport"}, {"--dport", o.dports, "dport"}, {"--src", o.srcs, "src"}, {"--dst", o.dsts, "dst"}, {"--state", o.states, "state"}} {
		for _, v := range c.vals {
			if _, err := query.Parse(c.kind + " " + v); err != nil {
				return query.Query{}, fmt.Errorf("invalid value %q for flag %s: %v", v, c.flag, strings.TrimPrefix(err.Error(), "inetdiag: "))
			}
		}
	}
	q, err := query.Parse(strings.Join(terms, " "))
	if err != nil {
		return q, fmt.Errorf("invalid value %q for flag --filter: %v", o.filter, err)
	}
	if _, err := q.Request().Filter.Bytecode(); err != nil {
		return q, fmt.Errorf("filter: %v", err)
	}
	return q, nil
}

func main() {
	if os.Getenv("GOGC") == "" {
		// At 10^5 sockets ~130 MB stay live (a socket buffer of ~58 MB,
		// the tracker, the rows), and little garbage is made per poll;
		// the default GOGC=100 lets the heap double that before
		// collecting. Half as much headroom keeps the peak RSS about a
		// third lower for a few percent more collection work.
		debug.SetGCPercent(50)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
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
	cfg := watchConfig(o, q)
	return watchAndShow(ctx, o, cfg, stdout, stderr, "")
}

func watchConfig(o *options, q query.Query) watch.Config {
	cfg := watch.Config{Query: q, Tracker: model.Config{CloseWaitAfter: o.closeWaitAfter}}
	if o.netns != "" {
		cfg.NetNS = netns.Path(o.netns)
		cfg.NetNSName = o.netns
	}
	// A snapshot printed because stdout is not a terminal is --once:
	// it gets every owner too.
	if o.once || o.json || (o.metrics == "" && !isTerminal(os.Stdout)) {
		cfg.Owners = watch.OwnersAll
	}
	return cfg
}

// watchAndShow runs the chosen output over a watcher.
func watchAndShow(ctx context.Context, o *options, cfg watch.Config, stdout, stderr io.Writer, banner string) int {
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
	if runTUI == nil {
		fmt.Fprintln(stderr, "tcpwatch: this build has no interactive interface; use --once or --json")
		return 1
	}
	if err := runTUI(ctx, w, o, banner); err != nil {
		fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
		return 1
	}
	return 0
}

// runTUI is set by tui_main.go.
var runTUI func(ctx context.Context, w *watch.Watcher, o *options, banner string) error

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func runOnce(w *watch.Watcher, o *options, stdout, stderr io.Writer) int {
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

func runJSON(ctx context.Context, w *watch.Watcher, o *options, stdout, stderr io.Writer) int {
	snaps := make(chan *model.Snapshot, 1)
	errs := make(chan error, 1)
	go w.Loop(ctx, o.interval, snaps, errs)
	noted := 0
	for {
		select {
		case snap, ok := <-snaps:
			if !ok {
				return 0
			}
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
		case err := <-errs:
			fmt.Fprintf(stderr, "tcpwatch: %v\n", err)
		}
	}
}
