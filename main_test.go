package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/query"
)

// TestBadFlags: every bad command line exits with the usage status and
// one line on stderr that names the flag at fault, before anything is
// watched.
func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		// names are the ways the message may name the flag (the one
		// typed or its long form).
		names []string
	}{
		{name: "unknown flag", args: []string{"--no-such-flag"}, names: []string{"no-such-flag"}},
		{name: "unknown short flag", args: []string{"-Z"}, names: []string{"-Z"}},
		{name: "flag without its value", args: []string{"-p"}, names: []string{"-p"}},
		{name: "port out of range", args: []string{"-p", "99999"}, names: []string{"-p", "--port"}},
		{name: "reversed port range", args: []string{"-p", "10-5"}, names: []string{"-p", "--port"}},
		{name: "remote port out of range", args: []string{"--dport", "70000"}, names: []string{"--dport"}},
		{name: "source not an address", args: []string{"--src", "not-an-ip"}, names: []string{"--src"}},
		{name: "destination prefix too long", args: []string{"--dst", "10.0.0.0/33"}, names: []string{"--dst"}},
		{name: "unknown state", args: []string{"--state", "bogus"}, names: []string{"--state"}},
		{name: "interval too short", args: []string{"-i", "10ms"}, names: []string{"-i", "interval"}},
		{name: "interval not a duration", args: []string{"--interval", "soon"}, names: []string{"interval"}},
		{name: "sweep not a duration", args: []string{"--sweep", "rarely"}, names: []string{"sweep"}},
		{name: "sweep shorter than the interval", args: []string{"--sweep", "500ms"}, names: []string{"sweep"}},
		{name: "sweep negative", args: []string{"--sweep", "-5s"}, names: []string{"sweep"}},
		{name: "fail-on-dying without --once", args: []string{"--fail-on-dying"}, names: []string{"fail-on-dying"}},
		{name: "metrics with --once", args: []string{"--metrics", "127.0.0.1:9469", "--once"}, names: []string{"metrics"}},
		{name: "metrics with --json", args: []string{"--metrics", "127.0.0.1:9469", "--json"}, names: []string{"metrics"}},
		{name: "web config without metrics", args: []string{"--web.config.file", "web.yml"}, names: []string{"web.config.file", "metrics"}},
		{name: "bad filter", args: []string{"-f", "port"}, names: []string{"-f", "filter"}},
		{name: "stray argument", args: []string{"5432"}, names: []string{"5432"}},
		{name: "all-netns with --netns", args: []string{"-A", "--netns", "blue"}, names: []string{"all-netns"}},
		{name: "all-netns with record", args: []string{"-A", "--record", "/tmp/x"}, names: []string{"all-netns", "record"}},
		{name: "all-netns with demo", args: []string{"demo", "--all-netns"}, names: []string{"all-netns"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if rc := run(tc.args, &stdout, &stderr); rc != exitUsage {
				t.Errorf("exit status %d, want %d", rc, exitUsage)
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") || !strings.HasPrefix(msg, "tcpwatch: ") {
				t.Errorf("want one line starting with \"tcpwatch: \" on stderr, got %q", msg)
			}
			named := false
			for _, n := range tc.names {
				named = named || strings.Contains(msg, n)
			}
			if !named {
				t.Errorf("stderr names none of %q: %q", tc.names, msg)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
		})
	}
}

// TestHelpAndVersion: --help and -h print the usage on stdout and exit
// 0; --version prints the version.
func TestHelpAndVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want func(stdout string) bool
	}{
		{name: "--help", args: []string{"--help"}, want: func(s string) bool { return s == usageText }},
		{name: "-h", args: []string{"-h"}, want: func(s string) bool { return s == usageText }},
		{name: "--help after other flags", args: []string{"-p", "5432", "--help"}, want: func(s string) bool { return s == usageText }},
		{name: "--version", args: []string{"--version"}, want: func(s string) bool { return s == "tcpwatch "+version+"\n" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if rc := run(tc.args, &stdout, &stderr); rc != 0 {
				t.Errorf("exit status %d, want 0", rc)
			}
			if !tc.want(stdout.String()) {
				t.Errorf("unexpected stdout:\n%s", stdout.String())
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr: %q", stderr.String())
			}
		})
	}
}

// TestUsageNamesEveryFlag: each flag of the list is known to the parser
// and documented in the usage text (an unknown name is refused, which
// shows that the parser check can fail).
func TestUsageNamesEveryFlag(t *testing.T) {
	for _, name := range []string{
		"p", "port", "sport", "dport", "src", "dst", "state", "f", "filter", "u", "unhealthy",
		"i", "interval", "netns", "no-color", "allow-kill", "version", "once", "json",
		"fail-on-dying", "metrics", "web.config.file", "close-wait-after", "h", "help", "A", "all-netns", "sweep",
	} {
		t.Run(name, func(t *testing.T) {
			dash := "--"
			if len(name) == 1 {
				dash = "-"
			}
			_, err := parseFlags([]string{dash + name}, io.Discard)
			if err != nil && strings.Contains(err.Error(), "not defined") {
				t.Fatalf("the parser does not know %s%s: %v", dash, name, err)
			}
			if !strings.Contains(usageText, dash+name) {
				t.Errorf("the usage text does not mention %s%s", dash, name)
			}
		})
	}
	if _, err := parseFlags([]string{"--no-such-flag"}, io.Discard); err == nil || !strings.Contains(err.Error(), "not defined") {
		t.Errorf("an unknown flag is not reported as such: %v", err)
	}
}

// TestSweepFlag: --sweep's three forms reach the watcher's configuration
// as its SweepEvery means them.
func TestSweepFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 0},
		{[]string{"--sweep", "auto"}, 0},
		{[]string{"--sweep", "always"}, -1},
		{[]string{"--sweep", "10s"}, 10 * time.Second},
		{[]string{"--sweep", "3s", "-i", "3s"}, 3 * time.Second},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if got := watchConfig(o, query.Query{}).SweepEvery; got != tc.want {
			t.Errorf("%q: SweepEvery %v, want %v", tc.args, got, tc.want)
		}
	}
}
