//go:build linux

package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMetricsListenFails runs tcpwatch --metrics on an address that is not
// on this host (and on one already taken): it must fail at once with one
// error that names the address under a single "metrics:" prefix, and never
// claim to be serving first.
func TestMetricsListenFails(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	badWeb := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(badWeb, []byte("tls_server_config:\n  cert_file: absent.crt\n  key_file: absent.key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, addr, cause string
		extra             []string
		want              string // the error's start; default "metrics: listen on ADDR: "
	}{
		{name: "not on this host", addr: "1.2.3.4:99", cause: "cannot assign requested address"},
		{name: "port taken", addr: taken.Addr().String(), cause: "address already in use"},
		{name: "no port", addr: "127.0.0.1", cause: "missing port"},
		{name: "web config names absent files", addr: "127.0.0.1:0", extra: []string{"--web.config.file", badWeb},
			want: "metrics: web config " + badWeb + ": ", cause: "absent.crt"},
		{name: "web config absent", addr: "127.0.0.1:0", extra: []string{"--web.config.file", badWeb + ".nope"},
			want: "metrics: web config " + badWeb + ".nope: ", cause: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			done := make(chan int, 1)
			go func() { done <- run(append([]string{"--metrics", tc.addr}, tc.extra...), &stdout, &stderr) }()
			var rc int
			select {
			case rc = <-done:
			case <-ctx.Done():
				t.Fatalf("tcpwatch --metrics %s did not fail (stderr %q)", tc.addr, stderr.String())
			}
			if rc != 1 {
				t.Errorf("exit status %d, want 1", rc)
			}
			got := stderr.String()
			want := "tcpwatch: metrics: listen on " + tc.addr + ": "
			if tc.want != "" {
				want = "tcpwatch: " + tc.want
			}
			if !strings.HasPrefix(got, want) || !strings.Contains(got, tc.cause) {
				t.Errorf("stderr %q, want %q…%q", got, want, tc.cause)
			}
			if n := strings.Count(got, "\n"); n != 1 {
				t.Errorf("stderr has %d lines, want exactly one error: %q", n, got)
			}
			if strings.Count(got, "metrics:") != 1 || strings.Contains(got, "serving") {
				t.Errorf("stderr %q repeats the prefix or claims to serve", got)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}
