package watch

import (
	"testing"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

func TestSockstatSum(t *testing.T) {
	const v4 = "sockets: used 9\nTCP: inuse 12 orphan 3 tw 40 alloc 99 mem 7\nUDP: inuse 5 mem 0\n"
	tests := []struct {
		name, in, prefix string
		names            []string
		want             int
	}{
		{"inuse and tw", v4, "TCP:", []string{"inuse", "tw"}, 52},
		{"one value", v4, "TCP:", []string{"alloc"}, 99},
		{"another protocol's line", v4, "UDP:", []string{"inuse"}, 5},
		{"IPv6", "TCP6: inuse 4\nUDP6: inuse 1\n", "TCP6:", []string{"inuse", "tw"}, 4},
		{"prefix absent", v4, "TCP6:", []string{"inuse"}, 0},
		{"malformed values ignored", "TCP: inuse x tw -3 alloc\n", "TCP:", []string{"inuse", "tw", "alloc"}, 0},
		{"empty", "", "TCP:", []string{"inuse"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sockstatSum([]byte(tt.in), tt.prefix, tt.names...); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

// TestCountSockets compares the estimate with a dump of the test's own
// namespace, with a listener and a connection of the test's open (no root
// needed).
func TestCountSockets(t *testing.T) {
	loopbackPair(t)
	n, err := countSockets("")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := inetdiag.Dial(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	socks, err := conn.Dump(inetdiag.Request{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Other processes may open or close sockets in between: allow a few.
	if n < 3 || n < len(socks)-8 || n > len(socks)+8 {
		t.Errorf("sockstat counts %d TCP sockets, a dump found %d (the test holds 3)", n, len(socks))
	}
}
