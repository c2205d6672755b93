package metrics

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/tcpwatch/tcpwatch/internal/testcert"
	"github.com/tcpwatch/tcpwatch/model"
)

// selfSigned writes a fresh certificate for 127.0.0.1 and its key into dir
// and returns the pool that trusts it.
func selfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	pool, err := testcert.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServeTLSBasicAuth scrapes the exporter over real TLS with the web
// configuration file an operator would write: the right user gets the
// series, a wrong password, an unknown user, no credentials and plain
// HTTP get nothing.
func TestServeTLSBasicAuth(t *testing.T) {
	dir := t.TempDir()
	pool := selfSigned(t, dir)
	// The lowest cost bcrypt accepts: the test checks the wiring, not
	// the hash's strength.
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "web.yml")
	write(t, cfg, "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  prometheus: "+string(hash)+"\n")
	if err := CheckWebConfig(cfg); err != nil {
		t.Fatalf("CheckWebConfig: %v", err)
	}
	if s, err := Scheme(cfg); s != "https" || err != nil {
		t.Fatalf("Scheme = %q, %v; want https", s, err)
	}

	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snaps := make(chan *model.Snapshot)
	done := make(chan error, 1)
	go func() { done <- New().ServeWeb(ctx, ln, snaps, WebOptions{ConfigFile: cfg}) }()
	snap, _ := estab(t0, 4)
	snaps <- snap
	snaps <- nil

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := "https://" + ln.Addr().String() + "/metrics"
	for _, tc := range []struct {
		name       string
		user, pass string
		want       int
	}{
		{name: "right user", user: "prometheus", pass: "s3cret", want: http.StatusOK},
		{name: "wrong password", user: "prometheus", pass: "guess", want: http.StatusUnauthorized},
		{name: "unknown user", user: "mallory", pass: "s3cret", want: http.StatusUnauthorized},
		{name: "no credentials", want: http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("GET %s: %v", url, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if resp.TLS == nil {
				t.Error("the response did not come over TLS")
			}
			has := strings.Contains(string(body), "tcpwatch_connections{")
			if want := tc.want == http.StatusOK; has != want {
				t.Errorf("body has the series: %v, want %v", has, want)
			}
			if tc.want == http.StatusOK {
				if got := series(parse(t, string(body)), "tcpwatch_connections")[`{state="ESTABLISHED"}`]; got != 4 {
					t.Errorf("ESTABLISHED = %v over TLS, want 4", got)
				}
			}
		})
	}
	t.Run("plain HTTP", func(t *testing.T) {
		resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
		if err != nil {
			return // refused outright: fine
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || strings.Contains(string(body), "tcpwatch_") {
			t.Errorf("plain HTTP got status %d and %d bytes from a TLS exporter", resp.StatusCode, len(body))
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		_, err := http.Get(url)
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("GET with the system roots: %v, want a certificate error", err)
		}
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServeWeb after cancel: %v, want nil", err)
	}
}

// TestCheckWebConfig: a file that the toolkit would refuse on the first
// scrape is refused at start-up, with an error that names it.
func TestCheckWebConfig(t *testing.T) {
	dir := t.TempDir()
	selfSigned(t, dir)
	for _, tc := range []struct {
		name, content string
		wantErr       string // "" for valid
		scheme        string
	}{
		{name: "TLS", content: "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n", scheme: "https"},
		{name: "basic auth only", content: "basic_auth_users:\n  u: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n", scheme: "http"},
		{name: "empty", content: "", scheme: "http"},
		{name: "missing key", content: "tls_server_config:\n  cert_file: tls.crt\n", wantErr: "key"},
		{name: "certificate file absent", content: "tls_server_config:\n  cert_file: nope.crt\n  key_file: tls.key\n", wantErr: "nope.crt"},
		{name: "unknown field", content: "tls_server_config:\n  certfile: tls.crt\n", wantErr: "certfile"},
		{name: "password not hashed", content: "basic_auth_users:\n  u: plaintext\n", wantErr: "bcrypt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yml")
			write(t, path, tc.content)
			err := CheckWebConfig(path)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckWebConfig: %v, want nil", err)
				}
				if s, err := Scheme(path); s != tc.scheme || err != nil {
					t.Errorf("Scheme = %q, %v; want %q", s, err, tc.scheme)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "metrics: web config "+path+": ") || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("CheckWebConfig = %v, want \"metrics: web config %s: …%s…\"", err, path, tc.wantErr)
			}
		})
	}
	if err := CheckWebConfig(filepath.Join(dir, "absent.yml")); err == nil {
		t.Error("CheckWebConfig of a missing file: nil")
	}
	if err := CheckWebConfig(""); err != nil {
		t.Errorf("CheckWebConfig(\"\") = %v, want nil (plain HTTP)", err)
	}
}
