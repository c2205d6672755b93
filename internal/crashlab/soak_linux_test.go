package crashlab

import (
	"flag"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwatch/tcpwatch/query"
)

var soakDuration = flag.Duration("lab.soak", 0, "run the crash-lab soak for this long (e.g. 30m); by default one round")

// TestLabSoak creates and crashes connections in a loop for -lab.soak (one
// round by default), with one watcher running the whole time, and checks
// that every prediction keeps containing the real abort. Each round:
// revive the server host, open connections under different settings
// (retries2=3, TCP_USER_TIMEOUT, keepalive), crash the host, wait for
// every abort.
func TestLabSoak(t *testing.T) {
	needRoot(t)
	l := newLab(t)
	sysctl(t, l, "net.ipv4.tcp_retries2", "3")
	lw := startWatcher(t, l, query.Query{})
	deadline := time.Now().Add(*soakDuration)
	rounds, checked := 0, 0
	var worst time.Duration
	for rounds == 0 || time.Now().Before(deadline) {
		rounds++
		if err := l.Revive(); err != nil {
			t.Fatal(err)
		}
		type conn struct {
			p      *Pair
			kind   string
			reason string
			health string
			done   <-chan Outcome
		}
		var conns []conn
		for i, kind := range []string{"retries2", "user_timeout", "keepalive"} {
			p, err := l.Connect(i%2 == 1, net.Dialer{})
			if err != nil {
				t.Fatal(err)
			}
			exchange(t, p)
			c := conn{p: p, kind: kind}
			switch kind {
			case "retries2":
				c.reason, c.health = "tcp_retries2", "retransmitting"
			case "user_timeout":
				setOpt(t, p.Client, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, 2500)
				c.reason, c.health = "user_timeout", "retransmitting"
			case "keepalive":
				setOpt(t, p.Client, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
				setOpt(t, p.Client, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 1)
				setOpt(t, p.Client, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 1)
				setOpt(t, p.Client, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 2)
				c.reason, c.health = "keepalive", "keepalive-probing"
			}
			conns = append(conns, c)
		}
		if err := l.Crash(); err != nil {
			t.Fatal(err)
		}
		for i := range conns {
			conns[i].done = awaitError(conns[i].p.Client)
			if conns[i].kind != "keepalive" {
				if _, err := conns[i].p.Client.Write(make([]byte, 100)); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, c := range conns {
			o := waitOutcome(t, c.done, 30*time.Second)
			time.Sleep(300 * time.Millisecond)
			_, e := checkAbort(t, fmt.Sprintf("round %d %s", rounds, c.kind), lw.of(c.p.Client), o.At, c.reason, c.health, 1)
			worst = max(worst, e)
			checked++
			c.p.Close()
		}
	}
	t.Logf("soak: %d rounds, %d aborts checked, worst best-estimate error %v", rounds, checked, worst)
	label := "soak, one round"
	if *soakDuration > 0 {
		label = "soak " + soakDuration.String()
	}
	held := "every window held"
	if t.Failed() {
		held = "SOME PREDICTIONS MISSED (see the log)"
	}
	results.addOutcome(label, fmt.Sprintf("%d aborts in %d round(s), %s, worst error %v", checked, rounds, held, worst.Round(time.Millisecond)))
}
