package sockowner

import (
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// parallelLinks is the number of descriptors from which scan reads a
// process's links on two threads. A proxy or a broker holding 10^5
// connections has as many descriptors, and a readlink of each (a few µs
// of the kernel's time apiece) was 40 % of a one-shot's CPU at 40k
// sockets: on two cores two readers take about half the wall time. A
// small table is not worth a goroutine.
const parallelLinks = 2048

// fdLink is a descriptor that refers to a socket.
type fdLink struct {
	fd  int
	ino uint32
}

// readLinks reads the links of the descriptors fds of the directory open
// at dfd and returns those that refer to sockets, in no particular order.
// Descriptors closed meanwhile are skipped.
func (x *Index) readLinks(dfd int, fds []int, st *Stats) []fdLink {
	st.LinksRead += len(fds)
	x.links = x.links[:0]
	if len(fds) < parallelLinks || runtime.GOMAXPROCS(0) < 2 {
		x.links = readSocketLinks(dfd, fds, x.links)
		return x.links
	}
	half := len(fds) / 2
	var other []fdLink
	done := make(chan struct{})
	go func() {
		defer close(done)
		other = readSocketLinks(dfd, fds[half:], make([]fdLink, 0, len(fds)-half))
	}()
	x.links = readSocketLinks(dfd, fds[:half], x.links)
	<-done
	x.links = append(x.links, other...)
	return x.links
}

// readSocketLinks appends to out the descriptors of fds whose link names
// a socket. It uses no state of the index, so that two can run at once.
func readSocketLinks(dfd int, fds []int, out []fdLink) []fdLink {
	var link [64]byte
	var name [20]byte
	for _, fd := range fds {
		n, err := unix.Readlinkat(dfd, string(strconv.AppendInt(name[:0], int64(fd), 10)), link[:])
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := parseSocketLink(link[:n]); ok {
			out = append(out, fdLink{fd: fd, ino: ino})
		}
	}
	return out
}
