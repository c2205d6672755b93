package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcpwatch/tcpwatch/internal/crashlab"
	"github.com/tcpwatch/tcpwatch/query"
)

// runDemo builds a throw-away crash lab — a client and a server host in two
// network namespaces — opens a few kinds of connections, kills the server
// host, and watches the client. Everything is removed on exit.
func runDemo(ctx context.Context, o *options, q query.Query, stdout, stderr io.Writer) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "tcpwatch: demo builds network namespaces and needs root: sudo tcpwatch demo (or: sudo go run . demo)")
		return 1
	}
	lab, err := crashlab.New("tw-demo")
	if err != nil {
		fmt.Fprintf(stderr, "tcpwatch: demo: %v\n", err)
		return 1
	}
	defer lab.Close()
	d, err := startDemo(lab)
	if err != nil {
		fmt.Fprintf(stderr, "tcpwatch: demo: %v\n", err)
		return 1
	}
	defer d.close()
	// Wait for the first retransmission timeouts to fire, so that the
	// first screen already counts down.
	if !d.awaitRetransmissions(ctx, 15*time.Second) {
		return 0
	}
	banner := fmt.Sprintf("demo: host %s (%s) died at %s; namespaces %s and %s are removed on exit",
		lab.SrvAddr4, "db, api, cache", d.crashed.Format("15:04:05"), lab.Cli, lab.Srv)
	if o.once || o.json || o.metrics != "" || !isTerminal(os.Stdout) {
		fmt.Fprintln(stderr, "tcpwatch: "+banner)
	}
	cfg := watchConfig(o, q)
	cfg.NetNS, cfg.NetNSName = lab.CliPath(), lab.Cli
	return watchAndShow(ctx, o, cfg, stdout, stderr, banner)
}

// demo holds the lab's connections open.
type demo struct {
	pairs   []*crashlab.Pair
	crashed time.Time
	cancel  context.CancelFunc
	// sending are the connections with data in flight to the dead host.
	sending []*net.TCPConn
}

// awaitRetransmissions waits until every connection sending to the dead
// host has had its first retransmission timeout (its tcp_info counts
// one), or at most limit: a fixed wait was too short in a slow virtual
// machine, whose first screen then showed no countdown. It reports false
// when ctx ended first.
func (d *demo) awaitRetransmissions(ctx context.Context, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		done := true
		for _, c := range d.sending {
			n, err := retransmits(c)
			if err != nil {
				return true // nothing to wait for: the watcher will show it
			}
			done = done && n > 0
		}
		if done || time.Now().After(deadline) {
			return true
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return false
		}
	}
}

// retransmits is the connection's count of retransmission timeouts in its
// current episode (tcpi_retransmits).
func retransmits(c *net.TCPConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var info *unix.TCPInfo
	var serr error
	if err := raw.Control(func(fd uintptr) { info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	return int(info.Retransmits), nil
}

func (d *demo) close() {
	d.cancel()
	for _, p := range d.pairs {
		p.Close()
	}
}

func setInt(c *net.TCPConn, level, opt, v int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, v) }); err != nil {
		return err
	}
	return serr
}

// startDemo opens the connections and kills the server host:
//   - db: data in flight to the dead host, tcp_retries2 decides (about 15 min);
//   - api: the same with TCP_USER_TIMEOUT=45 s;
//   - cache: idle with keepalive 5 s/2 s/3: probes, then abort;
//   - replica: idle without keepalive: would never notice;
//   - on the client's loopback, live peers: a busy connection, one whose
//     peer stops reading (zero window), one whose peer closed (close-wait).
func startDemo(lab *crashlab.Lab) (*demo, error) {
	ctx, cancel := context.WithCancel(context.Background())
	d := &demo{cancel: cancel}
	fail := func(err error) (*demo, error) { d.close(); return nil, err }
	connect := func(port uint16) (*crashlab.Pair, error) {
		ln, err := lab.Listen(netip.AddrPortFrom(lab.SrvAddr4, port))
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		acc := make(chan *net.TCPConn, 1)
		go func() {
			c, _ := ln.AcceptTCP()
			acc <- c
		}()
		c, err := lab.Dial(net.Dialer{}, netip.AddrPortFrom(lab.SrvAddr4, port))
		if err != nil {
			return nil, err
		}
		p := &crashlab.Pair{Client: c, Server: <-acc}
		d.pairs = append(d.pairs, p)
		// A little traffic, so that the kernel knows the round-trip time.
		if err := p.Exchange(); err != nil {
			return nil, err
		}
		return p, nil
	}
	db, err := connect(5432)
	if err != nil {
		return fail(err)
	}
	api, err := connect(8080)
	if err != nil {
		return fail(err)
	}
	if err := setInt(api.Client, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, 45000); err != nil {
		return fail(err)
	}
	cache, err := connect(6379)
	if err != nil {
		return fail(err)
	}
	for _, kv := range [][2]int{{unix.TCP_KEEPIDLE, 5}, {unix.TCP_KEEPINTVL, 2}, {unix.TCP_KEEPCNT, 3}} {
		if err := setInt(cache.Client, unix.IPPROTO_TCP, kv[0], kv[1]); err != nil {
			return fail(err)
		}
	}
	if err := setInt(cache.Client, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return fail(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := connect(5433); err != nil {
			return fail(err)
		}
	}
	if err := loopbackPeers(ctx, lab, d); err != nil {
		return fail(err)
	}
	if err := lab.Crash(); err != nil {
		return fail(err)
	}
	d.crashed = time.Now()
	for _, p := range []*crashlab.Pair{db, api} {
		if _, err := p.Client.Write(make([]byte, 1000)); err != nil {
			return fail(err)
		}
		d.sending = append(d.sending, p.Client)
	}
	return d, nil
}

// loopbackPeers opens connections with live peers on the client host.
func loopbackPeers(ctx context.Context, lab *crashlab.Lab, d *demo) error {
	local := func(port uint16, rcvbuf int) (*crashlab.Pair, error) {
		var ln net.Listener
		err := lab.InClient(func() error {
			lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
				if rcvbuf == 0 {
					return nil
				}
				return c.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf) })
			}}
			var err error
			ln, err = lc.Listen(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
			return err
		})
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		acc := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			acc <- c
		}()
		c, err := lab.Dial(net.Dialer{}, netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", port)))
		if err != nil {
			return nil, err
		}
		s := <-acc
		if s == nil {
			c.Close()
			return nil, fmt.Errorf("accept on 127.0.0.1:%d failed", port)
		}
		p := &crashlab.Pair{Client: c, Server: s.(*net.TCPConn)}
		d.pairs = append(d.pairs, p)
		return p, nil
	}
	busy, err := local(9000, 0)
	if err != nil {
		return err
	}
	go func() {
		buf := make([]byte, 4096)
		for ctx.Err() == nil {
			if _, err := busy.Client.Write(buf[:512]); err != nil {
				return
			}
			if _, err := busy.Server.Read(buf); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	stalled, err := local(9001, 4096)
	if err != nil {
		return err
	}
	go func() {
		buf := make([]byte, 4096)
		for ctx.Err() == nil {
			if _, err := stalled.Client.Write(buf); err != nil {
				return
			}
		}
	}()
	closed, err := local(9002, 0)
	if err != nil {
		return err
	}
	closed.Server.Close()
	return nil
}
