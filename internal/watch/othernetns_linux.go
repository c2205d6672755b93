package watch

import (
	"time"

	"github.com/tcpwatch/tcpwatch/internal/netns"
)

// otherNetNSEvery is how often a single-namespace watcher counts the
// host's other network namespaces: a listing reads one link per process,
// cheap, but not worth doing every poll for a hint.
const otherNetNSEvery = 10 * time.Second

// otherNetNS counts, for the interface's hint ("37 other namespaces:
// --all-netns"), the network namespaces of the host besides the watched
// one. It never enters them: whether they hold TCP sockets is not known.
type otherNetNS struct {
	discover func() (netns.Found, error) // a seam for tests
	last     time.Time
	n        int
}

// count returns the latest count, listing the namespaces again when the
// last listing is older than otherNetNSEvery. A listing that fails keeps
// the hint off (0) rather than guessing.
func (o *otherNetNS) count(now time.Time) int {
	if !o.last.IsZero() && now.Sub(o.last) < otherNetNSEvery {
		return o.n
	}
	o.last = now
	if o.discover == nil {
		o.discover = func() (netns.Found, error) { return netns.Discover(netns.DefaultRoots) }
	}
	found, err := o.discover()
	if err != nil || len(found.Namespaces) == 0 {
		o.n = 0
		return 0
	}
	o.n = len(found.Namespaces) - 1 // the watched one is among them
	return o.n
}
