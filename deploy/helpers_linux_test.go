package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/netns"
)

// tcpwatchBin is the tcpwatch binary, built once by TestMain.
var (
	tcpwatchBin string
	buildErr    error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tcpwatch-deploy-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Runs as an unprivileged user (the deployments' capability test and
	// the end-to-end test) must reach the binary.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tcpwatchBin = filepath.Join(dir, "tcpwatch")
	build := exec.Command("go", "build", "-o", tcpwatchBin, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("go build: %v\n%s", err, out)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func binary(t *testing.T) string {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return tcpwatchBin
}

// need finds a tool, skipping the test when it is missing; under CI (which
// installs it) a missing tool fails instead.
func need(t *testing.T, tool, why string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found, but CI installs it (.ci/run): %s", tool, why)
		}
		t.Skipf("%s not found: %s", tool, why)
	}
	return p
}

// netHost is where a test runs tcpwatch and Prometheus: the test's own
// network namespace (ns empty) or a crash-lab host's (an ip-netns name).
type netHost struct{ ns string }

// command prefixes a command line so that it runs on the host.
func (h netHost) command(name string, args ...string) (string, []string) {
	if h.ns == "" {
		return name, args
	}
	return "ip", append([]string{"netns", "exec", h.ns, name}, args...)
}

// inside runs fn with its sockets created on the host.
func (h netHost) inside(fn func() error) error {
	if h.ns == "" {
		return fn()
	}
	return netns.Do(netns.Path(h.ns), fn)
}

// freePort returns a loopback address of the host whose port was free a
// moment ago.
func (h netHost) freePort(t *testing.T) string {
	t.Helper()
	var addr string
	err := h.inside(func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		addr = ln.Addr().String()
		return ln.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// client is an HTTP client whose connections start on the host.
func (h netHost) client() *http.Client {
	var d net.Dialer
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var c net.Conn
				err := h.inside(func() error {
					var err error
					c, err = d.DialContext(ctx, network, addr)
					return err
				})
				return c, err
			},
		},
	}
}

// lineLog collects a process's output lines for the test's failure report
// and for waiting on a line.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// find returns the first submatch of re in the lines so far.
func (l *lineLog) find(re *regexp.Regexp) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if m := re.FindStringSubmatch(s); m != nil {
			return m
		}
	}
	return nil
}

// start runs a command until the test ends, its output in a lineLog.
func start(t *testing.T, h netHost, name string, args ...string) *lineLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	label := filepath.Base(name)
	name, args = h.command(name, args...)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	log := &lineLog{}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log.add(sc.Text())
		}
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", label, log)
		}
	})
	return log
}

// startTCPWatch runs tcpwatch --metrics on a free loopback port of h with
// the extra flags, behind the wrapper command line wrap if any (setpriv),
// and returns the address it says it serves on, read from its own
// "serving metrics on" line.
func startTCPWatch(t *testing.T, h netHost, wrap []string, extra ...string) string {
	t.Helper()
	args := append(append(slices.Clone(wrap), binary(t), "--metrics", "127.0.0.1:0"), extra...)
	log := start(t, h, args[0], args[1:]...)
	re := regexp.MustCompile(`^tcpwatch: serving metrics on http://(127\.0\.0\.1:\d+)/metrics$`)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := log.find(re); m != nil {
			return m[1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("tcpwatch %s never said where it serves:\n%s", strings.Join(args, " "), log)
	return ""
}

// promServer is a Prometheus server started by a test.
type promServer struct {
	addr   string
	log    *lineLog
	client *http.Client
}

// startPrometheus runs Debian's prometheus on h with a temporary
// configuration and data directory: it scrapes tcpwatch at target every
// second (with the extra lines of YAML in its scrape configuration, such
// as a scheme and credentials) and evaluates the shipped rules every
// second.
func startPrometheus(t *testing.T, h netHost, target string, scrapeExtra ...string) *promServer {
	t.Helper()
	bin := need(t, "prometheus", "install Prometheus (Debian: apt-get install prometheus) to run the tests against a real server")
	rules, err := filepath.Abs("prometheus/tcpwatch.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: tcpwatch
    static_configs:
      - targets: [%q]
`, rules, target)
	for _, l := range scrapeExtra {
		conf += "    " + l + "\n"
	}
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := h.freePort(t)
	log := start(t, h, bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	p := &promServer{addr: addr, log: log, client: h.client()}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := p.client.Get("http://" + addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30 s: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

// apiResponse is the envelope of Prometheus' HTTP API.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

// api calls GET /api/v1/PATH and decodes its data into v. An error is
// the API's own ("bad_data: …") or the transport's.
func (p *promServer) api(path string, params url.Values, v any) error {
	u := "http://" + p.addr + "/api/v1/" + path
	if params != nil {
		u += "?" + params.Encode()
	}
	resp, err := p.client.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r apiResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s: decode: %w", path, err)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, r.ErrorType, r.Error)
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(r.Data, v)
}

// vectorSample is one sample of an instant query's result.
type vectorSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query evaluates an instant query and returns its vector (nil for a
// scalar or string result).
func (p *promServer) query(q string) ([]vectorSample, error) {
	var d struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.api("query", url.Values{"query": {q}}, &d); err != nil {
		return nil, err
	}
	if d.ResultType != "vector" {
		return nil, nil
	}
	var v []vectorSample
	err := json.Unmarshal(d.Result, &v)
	return v, err
}

// alert is one entry of /api/v1/alerts.
type alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	ActiveAt    time.Time         `json:"activeAt"`
	Value       string            `json:"value"`
}

func (p *promServer) alerts() ([]alert, error) {
	var d struct {
		Alerts []alert `json:"alerts"`
	}
	err := p.api("alerts", nil, &d)
	return d.Alerts, err
}

// waitFor polls cond every 100 ms until it is true or the timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
