package watch

import "testing"

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
