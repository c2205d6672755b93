package watch

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/tcpwatch/tcpwatch/internal/netns"
	"github.com/tcpwatch/tcpwatch/model"
)

// nsReader reads what a poll needs of one network namespace besides the
// dump: its TCP sysctls, its TCP counters and the number of its sockets.
// They are per namespace, so a poller of several namespaces has one
// reader each; procNS reads them through /proc, tests fake them.
type nsReader interface {
	// Params reads the namespace's TCP sysctls (with a missing one, the
	// built-in default and its name in Params.Missing).
	Params() (model.Params, error)
	// Counters reads the namespace's TCP counters.
	Counters() (*model.Counters, error)
	// Sockets estimates how many TCP sockets a dump of it returns.
	Sockets() (int, error)
}

// procNS is the nsReader of the namespace at path ("" = ours): the files
// under /proc read from a thread inside it.
type procNS struct {
	path string
	hz   int // the kernel's tick rate, for timer lateness (0: unknown)
}

func (p procNS) Params() (model.Params, error)      { return readParams(p.path, p.hz) }
func (p procNS) Counters() (*model.Counters, error) { return readCounters(p.path) }
func (p procNS) Sockets() (int, error)              { return countSockets(p.path) }

// readParams reads the TCP sysctls of the namespace at path ("" = ours).
func readParams(path string, hz int) (model.Params, error) {
	var files map[string][]byte
	err := netns.Do(path, func() error {
		files = map[string][]byte{}
		for _, name := range model.Sysctls {
			b, err := os.ReadFile("/proc/sys/net/ipv4/" + name)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return err
			}
			files[name] = b
		}
		return nil
	})
	if err != nil {
		return model.DefaultParams(), fmt.Errorf("watch: read sysctls: %w", err)
	}
	return model.ParseParams(func(name string) ([]byte, error) {
		if b, ok := files[name]; ok {
			return b, nil
		}
		return nil, fs.ErrNotExist
	}, hz)
}

// readCounters reads the TCP counters of the namespace at path
// (/proc/net/snmp and /proc/net/netstat, see parseCounters). The files
// under /proc/thread-self/net show the reading thread's namespace.
func readCounters(path string) (*model.Counters, error) {
	var c model.Counters
	err := netns.Do(path, func() error {
		var err error
		c, err = readCountersHere()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("watch: read TCP counters: %w", err)
	}
	return &c, nil
}

// readCountersHere reads the TCP counters of the calling thread's
// namespace.
func readCountersHere() (model.Counters, error) {
	snmp, err := os.ReadFile("/proc/thread-self/net/snmp")
	if err != nil {
		return model.Counters{}, err
	}
	netstat, err := os.ReadFile("/proc/thread-self/net/netstat")
	if err != nil {
		return model.Counters{}, err
	}
	return parseCounters(snmp, netstat)
}

// parseCounters takes EstabResets from /proc/net/snmp, TCPAbortOnTimeout
// from /proc/net/netstat (both required), and TCPTimeouts with
// TCPSynRetrans when the kernel lists them (HasTimeouts).
func parseCounters(snmp, netstat []byte) (model.Counters, error) {
	var c model.Counters
	var err error
	if c.EstabResets, err = counter(snmp, "Tcp:", "EstabResets"); err != nil {
		return c, err
	}
	if c.AbortOnTimeout, err = counter(netstat, "TcpExt:", "TCPAbortOnTimeout"); err != nil {
		return c, err
	}
	to, terr := counter(netstat, "TcpExt:", "TCPTimeouts")
	syn, serr := counter(netstat, "TcpExt:", "TCPSynRetrans")
	if terr == nil && serr == nil {
		c.Timeouts, c.SynRetrans, c.HasTimeouts = to, syn, true
	}
	return c, nil
}

// countSockets estimates how many TCP sockets a dump of the namespace at
// path returns, from /proc/net/sockstat ("TCP: inuse N … tw T …") and
// /proc/net/sockstat6 ("TCP6: inuse N"), both per namespace.
func countSockets(path string) (int, error) {
	n := 0
	err := netns.Do(path, func() error {
		for _, f := range [...]struct{ file, prefix string }{{"sockstat", "TCP:"}, {"sockstat6", "TCP6:"}} {
			b, err := os.ReadFile("/proc/thread-self/net/" + f.file)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // no IPv6
				}
				return err
			}
			n += sockstatSum(b, f.prefix, "inuse", "tw")
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("watch: read sockstat: %w", err)
	}
	return n, nil
}

// sockstatSum adds the named values of the line that starts with prefix
// in the "PREFIX: name value name value…" format of /proc/net/sockstat.
func sockstatSum(b []byte, prefix string, names ...string) int {
	sum := 0
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != prefix {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			for _, name := range names {
				if f[i] == name {
					if v, err := strconv.Atoi(f[i+1]); err == nil && v > 0 {
						sum += v
					}
				}
			}
		}
	}
	return sum
}

// counter finds a value in the two-line "Prefix: names…" / "Prefix:
// values…" format of /proc/net/snmp and /proc/net/netstat.
func counter(b []byte, prefix, name string) (uint64, error) {
	// The file is already in memory: walk its lines in place (a scanner
	// allocated a 64 KiB buffer per counter, per poll, per namespace).
	var header []string
	for line := range bytes.Lines(b) {
		if !bytes.HasPrefix(line, []byte(prefix)) {
			continue
		}
		f := strings.Fields(string(line))
		if header == nil {
			header = f
			continue
		}
		for i, h := range header {
			if h == name && i < len(f) {
				return strconv.ParseUint(f[i], 10, 64)
			}
		}
		return 0, fmt.Errorf("counter %s %s not found", prefix, name)
	}
	return 0, fmt.Errorf("counter %s %s not found", prefix, name)
}
