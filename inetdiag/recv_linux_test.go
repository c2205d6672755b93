//go:build linux

package inetdiag

import (
	"errors"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// recvLab is a namespace holding enough listeners that a dump spans many
// datagrams (each listener is ~450 bytes of reply with ExtDefault).
const recvLabListeners = 2000

func buildRecvLab(t *testing.T) (*Conn, testNet) {
	t.Helper()
	n := newNetNS(t)
	var fds []int
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	err := n.do(func() error {
		for i := range recvLabListeners {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			fds = append(fds, fd)
			if err := unix.Bind(fd, &unix.SockaddrInet4{Port: 20000 + i, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				return err
			}
			if err := unix.Listen(fd, 1); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n.dial(t), n
}

func countListeners(socks []Socket) int {
	n := 0
	for i := range socks {
		if socks[i].State == StateListen {
			n++
		}
	}
	return n
}

// TestDumpReceivePath checks the receive loop on dumps of many datagrams:
// kernel errors come back as errnos, a dump abandoned by its callback or
// ended by a kernel error leaves the Conn usable, and a dump does not
// allocate per datagram.
func TestDumpReceivePath(t *testing.T) {
	c, _ := buildRecvLab(t)
	errStop := errors.New("stop")
	tests := []struct {
		name string
		run  func() error
		want error // nil: success
	}{
		{
			name: "complete dump",
			run: func() error {
				s, err := c.Dump(Request{}, nil)
				if err != nil {
					return err
				}
				if got := countListeners(s); got != recvLabListeners {
					t.Errorf("listeners: got %d, want %d", got, recvLabListeners)
				}
				return nil
			},
		},
		{
			name: "callback stops at the first socket",
			run: func() error {
				return c.DumpFunc(Request{}, func(*Socket) error { return errStop })
			},
			want: errStop,
		},
		{
			name: "callback stops half way",
			run: func() error {
				n := 0
				return c.DumpFunc(Request{}, func(*Socket) error {
					if n++; n == recvLabListeners/2 {
						return errStop
					}
					return nil
				})
			},
			want: errStop,
		},
		{
			// Dump refuses such a family itself; the kernel's own error
			// reply is reached through the unexported request path.
			name: "family without a sock_diag handler",
			run:  func() error { _, err := c.dumpFamily(3, Request{}, nil, func([]byte) error { return nil }); return err },
			want: unix.ENOENT,
		},
		{
			name: "family out of range",
			run: func() error {
				_, err := c.dumpFamily(200, Request{}, nil, func([]byte) error { return nil })
				return err
			},
			want: unix.EINVAL,
		},
		{
			name: "family refused before asking the kernel",
			run:  func() error { _, err := c.Dump(Request{Family: 3}, nil); return err },
			want: errBadRequestFamily,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("got %v, want success", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("got %v, want an error wrapping %v", err, tt.want)
			}
			// Whatever happened, the next dump on the same Conn must be
			// complete.
			s, err := c.Dump(Request{}, nil)
			if err != nil {
				t.Fatalf("next dump: %v", err)
			}
			if got := countListeners(s); got != recvLabListeners {
				t.Errorf("next dump: %d listeners, want %d", got, recvLabListeners)
			}
		})
	}
}

// TestDumpReusesReceiveBuffer guards against a receive path that allocates
// a buffer per datagram: a dump of ~900 KB must allocate less than one
// 32 KiB receive buffer when its destination slice is reused.
func TestDumpReusesReceiveBuffer(t *testing.T) {
	c, _ := buildRecvLab(t)
	buf, err := c.Dump(Request{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const runs = 5
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		if buf, err = c.Dump(Request{}, buf[:0]); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if got := countListeners(buf); got != recvLabListeners {
		t.Fatalf("listeners: got %d, want %d", got, recvLabListeners)
	}
	perDump := (after.TotalAlloc - before.TotalAlloc) / runs
	if perDump >= recvBufferSize {
		t.Errorf("a dump of %d sockets allocated %d bytes, want less than %d", len(buf), perDump, recvBufferSize)
	}
}
