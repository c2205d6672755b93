package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/netns"
	"github.com/tcpwatch/tcpwatch/model"
)

// A dump costs the kernel a walk of the host's whole established-socket
// hash table, once per address family, whichever namespace asks: the
// table is shared by every namespace (unless tcp_child_ehash_entries
// gave one its own), and the walk visits every bucket, empty or not.
// With 262144 buckets (a 23 GB host) that is about 1 ms per family, so
// that a namespace with no IPv6 sockets, or none at all, is cheaper not
// dumped for them. The namespace's socket counts say so
// (/proc/net/sockstat and sockstat6, per namespace), and nsProbe reads
// them in the same entry into the namespace as the counters the poll
// reads anyway before its dump: no extra cost.

// nsProbe is the nsReader of a namespace watched among all of them: as
// procNS, but each reading of the counters also reads the namespace's
// TCP socket counts by family, for the dump that follows (sparseDump).
type nsProbe struct {
	procNS
	// v4 and v6 are the counts of the last Counters reading (TIME-WAIT
	// sockets, counted for both families together, in both); known is
	// false when they could not be read.
	v4, v6 int
	known  bool
}

// Counters reads the TCP counters and the socket counts, in one entry
// into the namespace.
func (p *nsProbe) Counters() (*model.Counters, error) {
	var c model.Counters
	p.known = false
	err := netns.Do(p.path, func() error {
		var err error
		if c, err = readCountersHere(); err != nil {
			return err
		}
		st, err := os.ReadFile("/proc/thread-self/net/sockstat")
		if err != nil {
			return nil // the counters are what was asked for
		}
		st6, err := os.ReadFile("/proc/thread-self/net/sockstat6")
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		tw := sockstatSum(st, "TCP:", "tw")
		p.v4 = sockstatSum(st, "TCP:", "inuse") + tw
		p.v6 = sockstatSum(st6, "TCP6:", "inuse") + tw
		p.known = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("watch: read TCP counters: %w", err)
	}
	return &c, nil
}

// sparseDump is the dump of a namespace watched among all of them: it
// skips the families of which the namespace has no socket, as counted
// just before by its probe.
type sparseDump struct {
	dumper
	probe *nsProbe
}

func (s sparseDump) Dump(req inetdiag.Request, dst []inetdiag.Socket) ([]inetdiag.Socket, error) {
	if p := s.probe; p.known && req.Family == 0 {
		p.known = false // for this dump only
		switch {
		case p.v4 == 0 && p.v6 == 0:
			return dst, nil
		case p.v6 == 0:
			req.Family = inetdiag.FamilyInet
		case p.v4 == 0:
			req.Family = inetdiag.FamilyInet6
		}
	}
	return s.dumper.Dump(req, dst)
}

// Lookup forwards look-ups to the namespace's socket (refresh_linux.go):
// they name their family, and need no count.
func (s sparseDump) Lookup(targets []inetdiag.Target, ext inetdiag.Extensions, full inetdiag.FullFunc, fn func(int, *inetdiag.Socket, error)) error {
	l, ok := s.dumper.(lookuper)
	if !ok {
		return errors.New("watch: this namespace's socket answers no look-ups")
	}
	return l.Lookup(targets, ext, full, fn)
}
