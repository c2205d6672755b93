package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/tcpwatch/tcpwatch/model"
)

// ShutdownTimeout is how long Serve lets scrapes in progress finish once
// it is told to stop, before it closes their connections.
const ShutdownTimeout = 5 * time.Second

// errEmptyAddr is returned for an empty listen address: listening on ":0"
// or on every interface by default would expose the exporter somewhere the
// operator did not choose.
var errEmptyAddr = errors.New("metrics: empty listen address (want host:port, e.g. 127.0.0.1:9469)")

// Listen binds addr exactly as given (host:port; ":9469" means every
// interface). It exists apart from Serve so that a caller can bind before
// it says where it serves: an address that is not on the host must fail
// before anything claims the exporter is up. An empty addr is refused.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	if addr == "" {
		return nil, errEmptyAddr
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		// net's error already names the address ("listen tcp 1.2.3.4:99:
		// bind: …"); keep only its cause so that the address is said once.
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			err = op.Err
		}
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve listens on addr (see Listen) and serves the metrics until ctx is
// done or snaps is closed; see ServeListener. When listening fails, Serve
// returns at once without reading snaps: the caller should cancel the
// producer.
func (e *Exporter) Serve(ctx context.Context, addr string, snaps <-chan *model.Snapshot) error {
	ln, err := Listen(ctx, addr)
	if err != nil {
		return err
	}
	return e.ServeListener(ctx, ln, snaps)
}

// ServeListener serves /metrics (and a short page on / that links to it)
// on ln, which it closes, and publishes every snapshot received on snaps,
// releasing each one once its numbers are copied. It returns when ctx is
// done or snaps is closed, after shutting the server down gracefully
// (scrapes in progress get ShutdownTimeout to finish) and releasing the
// snapshots still buffered in snaps. It returns nil after a requested
// stop, and an error if the server fails on its own.
func (e *Exporter) ServeListener(ctx context.Context, ln net.Listener, snaps <-chan *model.Snapshot) error {
	return e.ServeWeb(ctx, ln, snaps, WebOptions{})
}

// ServeWeb is ServeListener with TLS and basic auth as o's web
// configuration file says (see WebOptions).
func (e *Exporter) ServeWeb(ctx context.Context, ln net.Listener, snaps <-chan *model.Snapshot, o WebOptions) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", e.Handler())
	mux.HandleFunc("GET /{$}", index)
	srv := &http.Server{
		Handler: mux,
		// Slow or idle clients must not hold connections forever: the
		// exporter may face a whole fleet of scrapers.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	served := make(chan error, 1)
	go func() { served <- serveWeb(srv, ln, o) }()

	var failed error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case snap, ok := <-snaps:
			if !ok {
				break loop
			}
			e.Update(snap)
			snap.Release()
		case err := <-served:
			failed = err
			break loop
		}
	}

	if failed == nil {
		// ctx may already be done: shut down under a context of its own.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
		err := srv.Shutdown(sctx)
		cancel()
		if err != nil {
			// Scrapes still running after the grace period are cut off.
			srv.Close()
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			failed = err
		}
	}
	drain(snaps)
	if failed != nil && !errors.Is(failed, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve on %s: %w", ln.Addr(), failed)
	}
	return nil
}

// drain releases the snapshots already waiting in snaps, without blocking:
// the producer stops on its own when its context is done.
func drain(snaps <-chan *model.Snapshot) {
	for {
		select {
		case snap, ok := <-snaps:
			if !ok {
				return
			}
			snap.Release()
		default:
			return
		}
	}
}

const indexPage = `<!DOCTYPE html>
<title>tcpwatch exporter</title>
<p>tcpwatch Prometheus exporter: <a href="/metrics">/metrics</a></p>
`

// index tells a person who opens the exporter in a browser where the
// metrics are.
func index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, indexPage)
}
