//go:build linux

package inetdiag

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
)

// BenchmarkLookupBatch looks up 1,000 sockets of a private namespace
// with tcp_info, as one look-up per system call and in batches: what a
// batch saves is the sendmsg(2) of each look-up; every answer is still a
// datagram of its own (one recvmsg). A batch of 256 loses answers on the
// default 208 KiB receive buffer (recvmsg fails with ENOBUFS), so the
// sizes stop at 128. Needs root.
func BenchmarkLookupBatch(b *testing.B) {
	requireRoot(b, "creates sockets in a private network namespace")
	n := newNetNS(b)
	c := n.dial(b)
	lo := netip.MustParseAddr("127.0.0.1")
	var ln *net.TCPListener
	if err := n.do(func() error {
		var err error
		ln, err = listenTCP(netip.AddrPortFrom(lo, 0), 512, 0, true)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	const conns = 500
	for range conns {
		var p tcpPair
		err := n.do(func() error {
			var err error
			p, err = connect(ln, netip.AddrPortFrom(lo, 0), addrPort(ln.Addr()))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.close)
	}
	socks, err := c.Dump(Request{Family: FamilyInet, States: StateBit(StateEstablished)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	targets := make([]Target, len(socks))
	for i := range socks {
		targets[i] = Target{Family: socks[i].Family, ID: socks[i].ID}
	}
	for _, batch := range []int{1, 8, 32, 64, 128} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			c.lookupBatch = batch
			defer func() { c.lookupBatch = 0 }()
			found := 0
			fn := func(_ int, _ *Socket, err error) {
				if err != nil {
					b.Fatal(err)
				}
				found++
			}
			b.ReportAllocs()
			for b.Loop() {
				found = 0
				if err := c.Lookup(targets, ExtInfo, nil, fn); err != nil {
					b.Fatal(err)
				}
			}
			if found != len(targets) {
				b.Fatalf("%d of %d found", found, len(targets))
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(targets)), "ns/lookup")
		})
	}
}
