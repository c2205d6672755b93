package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// get fetches a path from a running server.
func get(t *testing.T, addr net.Addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr.String() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// estab returns a snapshot at t with n established connections.
func estab(t time.Time, n int) (*model.Snapshot, *int) {
	var rows []model.Row
	for i := range n {
		rows = append(rows, model.Row{Sock: sk(inetdiag.StateEstablished, "10.0.0.1:40000", "10.0.0.2:80", inetdiag.TCPInfoLen2_6)})
		rows[i].Sock.ID.Cookie = uint64(i + 1)
	}
	return snapshot(t, rows)
}

func TestServeListener(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Unbuffered: a send returns only once the previous snapshot has been
	// published and released, and a nil snapshot (ignored) is a barrier.
	snaps := make(chan *model.Snapshot)
	done := make(chan error, 1)
	e := New()
	go func() { done <- e.ServeListener(ctx, ln, snaps) }()

	var counters []*int
	for i, n := range []int{2, 5} {
		snap, released := estab(t0.Add(time.Duration(i)*time.Second), n)
		counters = append(counters, released)
		snaps <- snap
	}
	snaps <- nil

	code, body := get(t, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: status %d", code)
	}
	mfs := parse(t, body)
	if got := series(mfs, "tcpwatch_connections")[`{state="ESTABLISHED"}`]; got != 5 {
		t.Errorf("ESTABLISHED = %v over HTTP, want 5 (the last snapshot)", got)
	}
	if mfs["go_goroutines"] == nil {
		t.Error("go_goroutines missing over HTTP")
	}
	if code, body := get(t, addr, "/"); code != http.StatusOK || !strings.Contains(body, `href="/metrics"`) {
		t.Errorf("/: status %d, body %q: want a link to /metrics", code, body)
	}
	if code, _ := get(t, addr, "/nothing-here"); code != http.StatusNotFound {
		t.Errorf("/nothing-here: status %d, want 404", code)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServeListener after cancel: %v, want nil", err)
	}
	for i, n := range counters {
		if *n != 1 {
			t.Errorf("snapshot %d released %d times, want 1", i, *n)
		}
	}
	if c, err := net.Dial("tcp", addr.String()); err == nil {
		c.Close()
		t.Errorf("server still accepts connections on %s after it returned", addr)
	}
}

func TestServeListenerStops(t *testing.T) {
	tests := []struct {
		name string
		// stop ends the serving, given the buffered channel of 4
		// snapshots that the test filled.
		stop    func(cancel context.CancelFunc, snaps chan *model.Snapshot, ln net.Listener)
		wantErr bool
	}{
		{"context cancelled", func(cancel context.CancelFunc, _ chan *model.Snapshot, _ net.Listener) { cancel() }, false},
		{"channel closed", func(_ context.CancelFunc, snaps chan *model.Snapshot, _ net.Listener) { close(snaps) }, false},
		{"listener fails", func(_ context.CancelFunc, _ chan *model.Snapshot, ln net.Listener) { ln.Close() }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			snaps := make(chan *model.Snapshot, 4)
			var counters []*int
			for i := range 4 {
				snap, released := estab(t0.Add(time.Duration(i)*time.Second), i+1)
				counters = append(counters, released)
				snaps <- snap
			}
			// Stopping before serving starts leaves snapshots in the
			// channel: they must be released all the same.
			tc.stop(cancel, snaps, ln)
			err := New().ServeListener(ctx, ln, snaps)
			if (err != nil) != tc.wantErr {
				t.Errorf("ServeListener: error %v, want error: %v", err, tc.wantErr)
			}
			for i, n := range counters {
				if *n != 1 {
					t.Errorf("snapshot %d released %d times, want 1", i, *n)
				}
			}
			if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
				c.Close()
				t.Errorf("server still accepts connections after it returned")
			}
		})
	}
}

func TestServeAddress(t *testing.T) {
	tests := []struct {
		name string
		addr string
		want string // in the error
	}{
		{"empty", "", "empty listen address"},
		{"no port", "127.0.0.1", "listen on 127.0.0.1"},
		{"bad port", "127.0.0.1:http-metrics-nope", "listen on 127.0.0.1:http-metrics-nope"},
		{"not on this host", "1.2.3.4:99", "metrics: listen on 1.2.3.4:99: bind: cannot assign requested address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snap, released := estab(t0, 1)
			snaps := make(chan *model.Snapshot, 1)
			snaps <- snap
			err := New().Serve(context.Background(), tc.addr, snaps)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Serve(%q) = %v, want an error containing %q", tc.addr, err, tc.want)
			}
			if tc.addr != "" && strings.Count(err.Error(), tc.addr) != 1 {
				t.Errorf("Serve(%q) = %v: the address should appear once", tc.addr, err)
			}
			if *released != 0 {
				t.Errorf("Serve read the channel although it could not listen")
			}
		})
	}
}

func TestServeOnAddress(t *testing.T) {
	// Serve binds exactly the address given: take a free loopback port,
	// free it, and ask Serve for it.
	probe := listen(t)
	addr := probe.Addr().String()
	probe.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snaps := make(chan *model.Snapshot)
	done := make(chan error, 1)
	go func() { done <- New().Serve(ctx, addr, snaps) }()
	snap, released := estab(t0, 3)
	select {
	case snaps <- snap:
	case err := <-done:
		t.Fatalf("Serve(%s) returned early: %v", addr, err)
	}
	snaps <- nil
	code, body := get(t, probe.Addr(), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: status %d", code)
	}
	if got := series(parse(t, body), "tcpwatch_connections")[`{state="ESTABLISHED"}`]; got != 3 {
		t.Errorf("ESTABLISHED = %v, want 3", got)
	}
	close(snaps)
	if err := <-done; err != nil {
		t.Errorf("Serve after the channel closed: %v, want nil", err)
	}
	if *released != 1 {
		t.Errorf("snapshot released %d times, want 1", *released)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("server still accepts connections on %s", addr)
	}
}
