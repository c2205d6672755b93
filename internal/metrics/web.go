package metrics

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"
)

// WebOptions say how the exporter is served beyond its address. The series
// name remote addresses and process names, so an exporter reachable from
// other hosts should be behind TLS, basic auth or both; the web
// configuration file is the one every Prometheus exporter reads (the
// format of prometheus/exporter-toolkit, as node_exporter's
// --web.config.file), so that a fleet manages it like the others.
type WebOptions struct {
	// ConfigFile is the web configuration file (tls_server_config,
	// basic_auth_users, http_server_config); empty serves plain HTTP
	// without authentication. It is read again on every request and TLS
	// handshake, so that certificates and users can be rotated without a
	// restart.
	ConfigFile string
	// Logger receives the toolkit's messages (TLS on or off, a file that
	// became unreadable) and the HTTP server's (failed TLS handshakes);
	// nil drops them.
	Logger *slog.Logger
}

// CheckWebConfig reads a web configuration file and the certificates it
// names, so that a mistake fails at start-up with a clear error rather
// than on the first scrape. An empty path is valid (plain HTTP).
func CheckWebConfig(path string) error {
	if path == "" {
		return nil
	}
	if err := web.Validate(path); err != nil {
		return fmt.Errorf("metrics: web config %s: %w", path, err)
	}
	return nil
}

// Scheme returns the scheme a web configuration file serves with: "https"
// when it configures a server certificate, else "http". It only reads the
// file; call CheckWebConfig first for a full check.
func Scheme(path string) (string, error) {
	if path == "" {
		return "http", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("metrics: web config: %w", err)
	}
	// The toolkit's own test of whether the file turns TLS on.
	var c struct {
		TLS web.TLSConfig `yaml:"tls_server_config"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return "", fmt.Errorf("metrics: web config %s: %w", path, err)
	}
	if c.TLS.IsEnabled() {
		return "https", nil
	}
	return "http", nil
}

// serveWeb serves srv on ln, through the toolkit when a web configuration
// file is given.
func serveWeb(srv *http.Server, ln net.Listener, o WebOptions) error {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	if o.ConfigFile == "" {
		return srv.Serve(ln)
	}
	path := o.ConfigFile
	return web.Serve(ln, srv, &web.FlagConfig{
		WebListenAddresses: &[]string{ln.Addr().String()},
		WebSystemdSocket:   new(bool),
		WebConfigFile:      &path,
	}, logger)
}
