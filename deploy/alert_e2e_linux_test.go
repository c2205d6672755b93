package deploy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwatch/tcpwatch/internal/crashlab"
)

// The retransmission budget of the lab's client host: with tcp_retries2=7
// and an RTO of about 0.2 s the kernel aborts about 51 s after the first
// unanswered send (0.2 s × (2^8 − 1)), long enough for the alert's 10 s
// "for", short enough for a test.
const e2eRetries2 = "7"

// TestAlertFiresBeforeAbort is the fleet setup end to end, on one machine:
// tcpwatch --metrics watches the crash lab's client host, a real
// Prometheus scrapes it every second with the shipped rules loaded (both on
// the client host, tcpwatch as nobody with the DaemonSet's capabilities), and
// the peer host is killed (a black-hole route) while two connections to it
// have data in flight. TCPWatchAbortImminent must become firing in
// Prometheus' API before the kernel aborts the connections, with the seconds
// left close to the real abort, and resolve after it; TCPWatchPeerUnresponsive
// must fire before the abort too.
func TestAlertFiresBeforeAbort(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the crash lab creates network namespaces, veth pairs and black-hole routes")
	}
	need(t, "prometheus", "install Prometheus (Debian: apt-get install prometheus) for the end-to-end alert test")
	lab, err := crashlab.New("twprom")
	if err != nil {
		t.Fatalf("crash lab: %v", err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("crash lab cleanup: %v", err)
		}
	})
	if err := lab.Sysctl(lab.Cli, "net.ipv4.tcp_retries2", e2eRetries2); err != nil {
		t.Fatal(err)
	}
	var pairs []*crashlab.Pair
	for range 2 {
		p, err := lab.Connect(false, net.Dialer{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		exchange(t, p)
		pairs = append(pairs, p)
	}

	// tcpwatch runs on the client host as the deployments run it: as an
	// unprivileged user with only the DaemonSet's capabilities, in the
	// host's network namespace; Prometheus scrapes it there.
	cli := netHost{ns: lab.Cli}
	caps := normCaps(daemonSet(t).Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add)
	target := startTCPWatch(t, cli, asNobody(t, caps), "--interval", "250ms")
	prom := startPrometheus(t, cli, target)
	if !waitFor(30*time.Second, func() bool {
		v, err := prom.query(`tcpwatch_kernel_tcp_retries2{job="tcpwatch"}`)
		return err == nil && len(v) == 1 && v[0].Value[1] == e2eRetries2
	}) {
		t.Fatal("Prometheus never scraped tcpwatch's series of the lab's client host")
	}
	if a := firing(t, prom, "TCPWatchAbortImminent"); a != nil {
		t.Fatalf("TCPWatchAbortImminent fires before the crash: %+v", a)
	}

	if err := lab.Crash(); err != nil {
		t.Fatal(err)
	}
	crash := time.Now()
	var done []<-chan crashlab.Outcome
	for _, p := range pairs {
		done = append(done, awaitError(p.Client))
		if _, err := p.Client.Write(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}

	// Watch the alerts until both connections are aborted.
	peer := lab.SrvAddr4.String()
	var imminent, unresponsive *alert
	var imminentAt, unresponsiveAt, gap time.Time
	var aborts []crashlab.Outcome
	deadline := crash.Add(90 * time.Second)
	for len(aborts) < len(done) {
		if time.Now().After(deadline) {
			t.Fatalf("no abort within 90 s of the crash")
		}
		for _, ch := range done {
			select {
			case o := <-ch:
				aborts = append(aborts, o)
			default:
			}
		}
		now := time.Now()
		a := firing(t, prom, "TCPWatchAbortImminent")
		switch {
		case imminent == nil && a != nil:
			imminent, imminentAt = a, now
			dashboardShowsCrash(t, prom)
		case imminent != nil && a == nil && len(aborts) == 0 && gap.IsZero():
			// Resolved while the connections are still there.
			gap = now
		}
		if unresponsive == nil {
			if a := firing(t, prom, "TCPWatchPeerUnresponsive"); a != nil {
				unresponsive, unresponsiveAt = a, now
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	abort := aborts[0].At
	for _, o := range aborts {
		if !errors.Is(o.Err, unix.ETIMEDOUT) {
			t.Errorf("client error %v, want ETIMEDOUT (a real timeout abort)", o.Err)
		}
		if o.At.Before(abort) {
			abort = o.At
		}
	}
	t.Logf("first abort %.1f s after the crash", abort.Sub(crash).Seconds())

	if imminent == nil {
		t.Fatalf("TCPWatchAbortImminent never fired before the abort %.1f s after the crash", abort.Sub(crash).Seconds())
	}
	// imminentAt is when the test saw it firing: it fired no later.
	if !imminentAt.Before(abort) {
		t.Errorf("TCPWatchAbortImminent seen firing %.1f s after the crash, the abort came at %.1f s", imminentAt.Sub(crash).Seconds(), abort.Sub(crash).Seconds())
	}
	t.Logf("TCPWatchAbortImminent seen firing %.1f s after the crash, %.1f s before the abort (pending since %.1f s)",
		imminentAt.Sub(crash).Seconds(), abort.Sub(imminentAt).Seconds(), imminent.ActiveAt.Sub(crash).Seconds())
	if !gap.IsZero() {
		t.Errorf("TCPWatchAbortImminent stopped firing %.1f s after the crash, before the abort", gap.Sub(crash).Seconds())
	}
	if imminent.Labels["peer"] != peer || imminent.Labels["reason"] != "tcp_retries2" || imminent.Labels["severity"] != "page" {
		t.Errorf("TCPWatchAbortImminent labels %v, want peer=%s reason=tcp_retries2 severity=page", imminent.Labels, peer)
	}
	if want := "tcpwatch --once -u --dst " + peer; !strings.Contains(imminent.Annotations["action"], want) {
		t.Errorf("TCPWatchAbortImminent action %q does not say %q", imminent.Annotations["action"], want)
	}
	// Exact: with those capabilities tcpwatch read the sockets' own
	// options, as root would.
	if !strings.Contains(imminent.Annotations["description"], "(tcp_retries2, exact)") {
		t.Errorf("TCPWatchAbortImminent description does not say the prediction is exact:\n%s", imminent.Annotations["description"])
	}
	// The connections' owner is this test process, named as the kernel
	// names it.
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	if want := "(" + strings.TrimSpace(string(comm)) + ")"; !strings.Contains(imminent.Annotations["description"], want) {
		t.Errorf("TCPWatchAbortImminent description does not name the owning process %s:\n%s", want, imminent.Annotations["description"])
	}
	for _, p := range pairs {
		if local := p.Client.LocalAddr().String(); !strings.Contains(imminent.Annotations["description"], local) {
			t.Errorf("TCPWatchAbortImminent description does not list the connection from %s:\n%s", local, imminent.Annotations["description"])
		}
	}
	// The alert's value is the seconds left at its last evaluation (at
	// most a second and a poll before the test saw it).
	if left, err := strconv.ParseFloat(imminent.Value, 64); err != nil {
		t.Errorf("TCPWatchAbortImminent value %q: %v", imminent.Value, err)
	} else if predicted := imminentAt.Add(time.Duration(left * float64(time.Second))); absDur(predicted.Sub(abort)) > 3*time.Second {
		t.Errorf("TCPWatchAbortImminent says the abort comes at %.1f s after the crash, it came at %.1f s", predicted.Sub(crash).Seconds(), abort.Sub(crash).Seconds())
	}

	if unresponsive == nil {
		t.Errorf("TCPWatchPeerUnresponsive never fired before the abort")
	} else {
		t.Logf("TCPWatchPeerUnresponsive seen firing %.1f s after the crash", unresponsiveAt.Sub(crash).Seconds())
		if unresponsive.Labels["peer"] != peer {
			t.Errorf("TCPWatchPeerUnresponsive labels %v, want peer=%s", unresponsive.Labels, peer)
		}
	}

	// The connections are gone: their series vanish from the next scrape,
	// and the alert resolves.
	var resolved time.Time
	if !waitFor(20*time.Second, func() bool {
		if firing(t, prom, "TCPWatchAbortImminent") == nil && pending(t, prom, "TCPWatchAbortImminent") == nil {
			resolved = time.Now()
			return true
		}
		return false
	}) {
		t.Fatalf("TCPWatchAbortImminent still active 20 s after the abort")
	}
	t.Logf("TCPWatchAbortImminent resolved %.1f s after the abort", resolved.Sub(abort).Seconds())
	// And the abort is counted, for the after-the-fact ticket.
	if !waitFor(10*time.Second, func() bool {
		v, err := prom.query(`tcpwatch_events_total{event="aborted"} >= 2`)
		return err == nil && len(v) == 1
	}) {
		t.Errorf("tcpwatch_events_total{event=\"aborted\"} did not count both aborts")
	}
}

// firing returns the named alert if it is firing, else nil.
func firing(t *testing.T, p *promServer, name string) *alert { return inState(t, p, name, "firing") }

// pending returns the named alert if it is pending, else nil.
func pending(t *testing.T, p *promServer, name string) *alert { return inState(t, p, name, "pending") }

func inState(t *testing.T, p *promServer, name, state string) *alert {
	t.Helper()
	as, err := p.alerts()
	if err != nil {
		t.Fatalf("alerts: %v", err)
	}
	for i := range as {
		if as[i].Labels["alertname"] == name && as[i].State == state {
			return &as[i]
		}
	}
	return nil
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// exchange lets the kernel measure the round-trip time (Pair.Exchange).
func exchange(t *testing.T, p *crashlab.Pair) {
	t.Helper()
	if err := p.Exchange(); err != nil {
		t.Fatal(err)
	}
}

// awaitError records when the kernel's error reaches a blocked reader.
func awaitError(c *net.TCPConn) <-chan crashlab.Outcome { return crashlab.AwaitError(c) }

// dashboardShowsCrash checks, while connections are dying, that each of
// the dashboard's panels about them shows them (in one of its queries at
// least: a panel may also plot what is zero now, such as probes).
func dashboardShowsCrash(t *testing.T, prom *promServer) {
	t.Helper()
	want := []string{"Hosts with dying connections", "Dying connections", "Soonest abort", "Soonest aborts by host", "Unresponsive peers", "Dying connections by host", "Dying connections by abort rule", "Unanswered retransmissions and probes"}
	shown := map[string]int{} // panel → queries with data; absent: no such panel
	for _, q := range readDashboard(t).queries(t) {
		for _, w := range want {
			if !strings.HasPrefix(q.where, fmt.Sprintf("panel %q ", w)) {
				continue
			}
			v, err := prom.query(expand(q.expr))
			if err != nil {
				t.Errorf("during the crash, %s: %s: %v", q.where, q.expr, err)
			}
			shown[w] += min(len(v), 1)
		}
	}
	for _, w := range want {
		n, ok := shown[w]
		switch {
		case !ok:
			t.Errorf("the dashboard has no panel %q", w)
		case n == 0:
			t.Errorf("during the crash, the dashboard's panel %q shows nothing", w)
		}
	}
}
