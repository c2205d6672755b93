//go:build linux

package loadgen_test

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/netns"
	"github.com/tcpwatch/tcpwatch/model"
)

// dyingConn is a healthy loopback connection in the fixture's namespace
// that a test makes die: its packets to the listener are dropped where
// they arrive (nft, input hook: dropped on the way out, the send itself
// would fail, and the data would wait unsent) and data is written, so
// that it retransmits as under a dead peer.
type dyingConn struct {
	path        string
	client      net.Conn
	local, peer netip.AddrPort
	table       string
}

// newDyingConn makes the connection, or returns nil (with a log line)
// where nft is missing.
func newDyingConn(t *testing.T, path string) *dyingConn {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Logf("no nft (Debian package nftables): no connection is made to die during the run")
		return nil
	}
	var ln net.Listener
	var c net.Conn
	if err := netns.Do(path, func() error {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
		d := net.Dialer{KeepAlive: -1}
		c, err = d.Dial("tcp", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := c.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	d := &dyingConn{path: path, client: c, table: fmt.Sprintf("twloop%d", time.Now().UnixNano()%1e6),
		local: netip.MustParseAddrPort(c.LocalAddr().String()), peer: netip.MustParseAddrPort(c.RemoteAddr().String())}
	t.Cleanup(func() { _ = d.nft("delete table inet " + d.table) })
	return d
}

func (d *dyingConn) nft(script string) error {
	cmd := exec.Command("nsenter", "--net="+d.path, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// die drops the connection's packets to the listener, writes, and
// returns when it wrote. The rule names the whole four-tuple: the
// fixture's million sockets use every port number, several times.
func (d *dyingConn) die(t *testing.T) time.Time {
	if err := d.nft(fmt.Sprintf("table inet %s {\n\tchain in {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tip saddr %s ip daddr %s tcp sport %d tcp dport %d drop\n\t}\n}", d.table, d.local.Addr(), d.peer.Addr(), d.local.Port(), d.peer.Port())); err != nil {
		t.Error(err)
		return time.Time{}
	}
	at := time.Now()
	if _, err := d.client.Write(make([]byte, 100)); err != nil {
		t.Error(err)
	}
	return at
}

// is reports whether the row is either end of the connection: the
// listener's end is a suspect too once its keepalive probes (15 s after
// the last data: Go's default) go unanswered.
func (d *dyingConn) is(r *model.Row) bool {
	return d != nil && (r.Sock.ID.Src == d.local && r.Sock.ID.Dst == d.peer || r.Sock.ID.Src == d.peer && r.Sock.ID.Dst == d.local)
}

// rowIn returns the row of the connection's dying end (the client's).
func (d *dyingConn) rowIn(s *model.Snapshot) *model.Row {
	for i := range s.Rows {
		if r := &s.Rows[i]; r.Sock.ID.Src == d.local && r.Sock.ID.Dst == d.peer {
			return &s.Rows[i]
		}
	}
	return nil
}
