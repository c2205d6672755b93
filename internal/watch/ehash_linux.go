package watch

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tcpwatch/tcpwatch/internal/netns"
)

// The established-socket hash table, shared or not. A namespace created
// while net.ipv4.tcp_child_ehash_entries is 0 (the default) shares the
// host's table, and a sock_diag dump walks the whole of it — every socket
// of every namespace — to report the asking namespace's own: each
// namespace then costs a dump of the whole host. Measured with 200
// namespaces of 250 connections each (100,801 sockets): a sweep of all
// of them took 1.84 s sharing the table, 0.17 s with a table of 1024
// buckets each. tcpwatch cannot change it for running namespaces, so it
// says so once, with the remedy.

// sharedTableNotice is said once when this many namespaces or more share
// the host's table: with fewer the cost is small.
const sharedTableNotice = 10

// sharesHostTable reports whether the namespace at path uses the host's
// established-socket hash table: its tcp_ehash_entries reads negative
// then (the host's own namespace and one with a table of its own read
// positive). Kernels before 5.19 have no such file: every namespace
// shares, and the error says the file is missing.
func sharesHostTable(path string) (bool, error) {
	var b []byte
	err := netns.Do(path, func() error {
		var err error
		b, err = os.ReadFile("/proc/sys/net/ipv4/tcp_ehash_entries")
		return err
	})
	if err != nil {
		return false, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return false, fmt.Errorf("watch: tcp_ehash_entries: %w", err)
	}
	return n < 0, nil
}

// noticeSharedTable tells once how many of the watched namespaces share
// the host's table, when that is many.
func (a *allNS) noticeSharedTable() {
	if a.sharedSaid {
		return
	}
	n := 0
	for _, m := range a.order {
		if m.h.sharedTable {
			n++
		}
	}
	if n >= sharedTableNotice {
		a.sharedSaid = true
		a.notice(fmt.Sprintf("%d namespaces share the host's TCP socket table: each of their dumps walks every socket of the host; "+
			"net.ipv4.tcp_child_ehash_entries=1024 (Linux 5.19+), set before namespaces are created, gives each its own (10x cheaper polls at 200 namespaces)", n))
	}
}
