package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tcpwatch/tcpwatch/query"
)

// options are the parsed command line.
type options struct {
	ports, sports, dports listFlag
	srcs, dsts, states    listFlag
	filter                string
	unhealthy             bool
	interval              time.Duration
	sweep                 sweepFlag
	netns                 string
	allNetNS              bool
	noColor               bool
	allowKill             bool
	version               bool
	once                  bool
	json                  bool
	failOnDying           bool
	metrics               string
	webConfig             string
	closeWaitAfter        time.Duration
	demo                  bool
	// The flight recorder (record_main.go) and replay (replay_main.go).
	record    string
	recordMax sizeFlag
	replay    string
	at        string
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
  tcpwatch replay PATH        the interactive view over a recording (--json, --once --at TIME)

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
      --sweep auto|always|D   full dumps: auto (default) spaces them out when they cost more than 1/12 of the
                              interval and looks up only the dying connections in between; always: every poll;
                              D: at most every D
      --netns NAME|PATH       watch another network namespace (/run/netns/NAME, /proc/PID/ns/net)
  -A, --all-netns             watch every network namespace of the host (containers, pods), each with its own sysctls (root)
      --once                  print one snapshot and exit (0; 1 with --fail-on-dying if any is dying)
      --json                  NDJSON: one object per connection per poll, plus events
      --fail-on-dying         with --once: exit 1 when a connection is dying
      --metrics ADDR          serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9469); off by default
      --web.config.file FILE  with --metrics: TLS and basic auth, in the Prometheus exporters' web config format
      --close-wait-after D    flag CLOSE-WAIT connections older than D (default 5s)
      --no-color              no colours (also: NO_COLOR=1)
      --record PATH           record every poll into the directory PATH (files 0600) for replay
      --record-max SIZE       bound the recording to SIZE, oldest minutes dropped (default 256MiB)
      --at TIME               replay: the moment to show (15:04:05 on the recording's day, or RFC 3339)
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
	fs.Var(&o.sweep, "sweep", "")
	fs.StringVar(&o.netns, "netns", "", "")
	fs.BoolVar(&o.allNetNS, "A", false, "")
	fs.BoolVar(&o.allNetNS, "all-netns", false, "")
	fs.BoolVar(&o.noColor, "no-color", false, "")
	fs.BoolVar(&o.allowKill, "allow-kill", false, "")
	fs.BoolVar(&o.version, "version", false, "")
	fs.BoolVar(&o.once, "once", false, "")
	fs.BoolVar(&o.json, "json", false, "")
	fs.BoolVar(&o.failOnDying, "fail-on-dying", false, "")
	fs.StringVar(&o.metrics, "metrics", "", "")
	fs.StringVar(&o.webConfig, "web.config.file", "", "")
	fs.DurationVar(&o.closeWaitAfter, "close-wait-after", 5*time.Second, "")
	fs.StringVar(&o.record, "record", "", "")
	o.recordMax = defaultRecordMax
	fs.Var(&o.recordMax, "record-max", "")
	fs.StringVar(&o.at, "at", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, err
	}
	rest := fs.Args()
	if len(rest) > 0 && rest[0] == "replay" {
		var err error
		if rest, err = parseReplayArgs(fs, o, rest[1:]); err != nil {
			return nil, err
		}
	}
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
	if d := time.Duration(o.sweep); d > 0 && d < o.interval {
		return nil, fmt.Errorf("invalid value %q for flag --sweep: must be at least the interval (%v)", d, o.interval)
	}
	if o.closeWaitAfter <= 0 {
		return nil, fmt.Errorf("invalid value %q for flag --close-wait-after: must be positive", o.closeWaitAfter)
	}
	if o.failOnDying && !o.once {
		return nil, errors.New("flag -fail-on-dying needs --once")
	}
	if o.allNetNS && o.netns != "" {
		return nil, errors.New("flag --all-netns watches every namespace: it does not combine with --netns")
	}
	if o.allNetNS && o.record != "" {
		// The recording format holds namespaces, but the poller of every
		// namespace does not feed the recorder yet: refuse rather than
		// write a recording that misses them.
		return nil, errors.New("flag --record does not combine with --all-netns yet: record one namespace (--netns) at a time")
	}
	if o.allNetNS && o.demo {
		return nil, errors.New("flag --all-netns does not combine with demo (the demo watches its own lab)")
	}
	if o.metrics != "" && (o.once || o.json) {
		return nil, errors.New("flag -metrics runs headless: it does not combine with --once or --json")
	}
	if err := checkRecordFlags(o); err != nil {
		return nil, err
	}
	if o.webConfig != "" && o.metrics == "" {
		return nil, errors.New("flag -web.config.file needs --metrics")
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

// sweepFlag is --sweep: auto (0), always (-1) or a duration.
type sweepFlag time.Duration

func (f *sweepFlag) String() string {
	switch {
	case *f == 0:
		return "auto"
	case *f < 0:
		return "always"
	}
	return time.Duration(*f).String()
}

func (f *sweepFlag) Set(v string) error {
	switch v {
	case "auto":
		*f = 0
		return nil
	case "always":
		*f = -1
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("want auto, always or a positive duration such as 10s")
	}
	*f = sweepFlag(d)
	return nil
}
