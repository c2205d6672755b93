package watch

import (
	"testing"

	"github.com/tcpwatch/tcpwatch/model"
)

// TestCounter reads a value from the two-line format of /proc/net/snmp
// and /proc/net/netstat, without a final newline too.
func TestCounter(t *testing.T) {
	const snmp = "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm ActiveOpens EstabResets\nTcp: 1 52 7\nUdp: InDatagrams\nUdp: 3"
	tests := []struct {
		in           string
		prefix, name string
		want         uint64
		ok           bool
	}{
		{snmp, "Tcp:", "EstabResets", 7, true},
		{snmp, "Tcp:", "ActiveOpens", 52, true},
		{snmp, "Udp:", "InDatagrams", 3, true},
		{snmp, "Tcp:", "NoSuch", 0, false},
		{snmp, "TcpExt:", "TCPAbortOnTimeout", 0, false},
		{"Tcp: EstabResets\n", "Tcp:", "EstabResets", 0, false}, // a header without values
		{"Tcp: EstabResets\nTcp: x\n", "Tcp:", "EstabResets", 0, false},
		{"", "Tcp:", "EstabResets", 0, false},
	}
	for _, tt := range tests {
		got, err := counter([]byte(tt.in), tt.prefix, tt.name)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("counter(%q, %s %s) = %d, %v; want %d, ok %v", tt.in, tt.prefix, tt.name, got, err, tt.want, tt.ok)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = counter([]byte(snmp), "Tcp:", "EstabResets") }); n > 8 {
		t.Errorf("%v allocations a counter read", n)
	}
}

// TestParseCounters: the two counters a poll needs are required; the
// RTO firings (TCPTimeouts, TCPSynRetrans) are taken when listed, and
// their absence only turns the early sweeps off (HasTimeouts).
func TestParseCounters(t *testing.T) {
	const snmp = "Tcp: RtoAlgorithm EstabResets\nTcp: 1 7\n"
	tests := []struct {
		name    string
		netstat string
		want    model.Counters
		ok      bool
	}{
		{"all", "TcpExt: TCPTimeouts TCPAbortOnTimeout TCPSynRetrans\nTcpExt: 41 3 9\n",
			model.Counters{EstabResets: 7, AbortOnTimeout: 3, Timeouts: 41, SynRetrans: 9, HasTimeouts: true}, true},
		{"no TCPSynRetrans", "TcpExt: TCPTimeouts TCPAbortOnTimeout\nTcpExt: 41 3\n",
			model.Counters{EstabResets: 7, AbortOnTimeout: 3}, true},
		{"a garbled TCPTimeouts", "TcpExt: TCPTimeouts TCPAbortOnTimeout TCPSynRetrans\nTcpExt: x 3 9\n",
			model.Counters{EstabResets: 7, AbortOnTimeout: 3}, true},
		{"no TCPAbortOnTimeout", "TcpExt: TCPTimeouts TCPSynRetrans\nTcpExt: 41 9\n", model.Counters{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCounters([]byte(snmp), []byte(tt.netstat))
			if (err == nil) != tt.ok || tt.ok && got != tt.want {
				t.Errorf("parseCounters = %+v, %v; want %+v, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}

// FuzzParseCounters: any content of the two files gives counters or an
// error, never a panic; counters given are the values the files list.
func FuzzParseCounters(f *testing.F) {
	f.Add([]byte("Tcp: RtoAlgorithm EstabResets\nTcp: 1 7\n"), []byte("TcpExt: TCPTimeouts TCPAbortOnTimeout TCPSynRetrans\nTcpExt: 41 3 9\n"))
	f.Add([]byte("Tcp: EstabResets\nTcp: 18446744073709551615"), []byte("TcpExt: TCPAbortOnTimeout\nTcpExt: 0\n"))
	f.Add([]byte(""), []byte("TcpExt:\nTcpExt:"))
	f.Fuzz(func(t *testing.T, snmp, netstat []byte) {
		c, err := parseCounters(snmp, netstat)
		if err != nil {
			return
		}
		if v, err := counter(snmp, "Tcp:", "EstabResets"); err != nil || v != c.EstabResets {
			t.Fatalf("EstabResets %d, but the file says %d (%v)", c.EstabResets, v, err)
		}
		if c.HasTimeouts {
			if v, err := counter(netstat, "TcpExt:", "TCPTimeouts"); err != nil || v != c.Timeouts {
				t.Fatalf("Timeouts %d, but the file says %d (%v)", c.Timeouts, v, err)
			}
		}
	})
}
