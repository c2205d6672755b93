package deploy

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tcpwatch/tcpwatch/internal/testcert"
)

// TestPrometheusScrapesOverTLS runs tcpwatch with a web configuration
// file as the README shows it (a certificate, a bcrypt-hashed user) and a
// real Prometheus that scrapes it with scheme https, the CA and the
// password: the target is up and its series arrive. The same scrape
// without the password is refused.
func TestPrometheusScrapesOverTLS(t *testing.T) {
	need(t, "prometheus", "install Prometheus (Debian: apt-get install prometheus) to scrape over TLS")
	dir := t.TempDir()
	pool, err := testcert.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"web.yml": "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  prometheus: " + string(hash) + "\n",
		"pass":    "s3cret",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	log := start(t, netHost{}, binary(t), "--metrics", "127.0.0.1:0", "--web.config.file", filepath.Join(dir, "web.yml"))
	re := regexp.MustCompile(`^tcpwatch: serving metrics on https://(127\.0\.0\.1:\d+)/metrics$`)
	var target string
	if !waitFor(20*time.Second, func() bool {
		if m := log.find(re); m != nil {
			target = m[1]
			return true
		}
		return false
	}) {
		t.Fatalf("tcpwatch never said it serves over https:\n%s", log)
	}
	prom := startPrometheus(t, netHost{}, target,
		"scheme: https",
		"tls_config: {ca_file: "+filepath.Join(dir, "tls.crt")+"}",
		"basic_auth: {username: prometheus, password_file: "+filepath.Join(dir, "pass")+"}",
	)
	if !waitFor(30*time.Second, func() bool {
		v, err := prom.query(`up{job="tcpwatch"} == 1 and on (instance) count by (instance) (tcpwatch_connections) == 12`)
		return err == nil && len(v) == 1
	}) {
		v, _ := prom.query(`up`)
		t.Fatalf("Prometheus did not scrape tcpwatch over TLS with basic auth (up: %v)\n%s", v, prom.log)
	}
	// Without the password, the same scrape is refused.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get("https://" + target + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("scrape without credentials: status %d, want 401", resp.StatusCode)
	}
}
