package model

import "testing"

func TestKernelRelease(t *testing.T) {
	for _, tt := range []struct {
		in           string
		major, minor int
		ok           bool
	}{
		{"6.1.0-57-amd64", 6, 1, true},
		{"6.12.117+deb12-amd64", 6, 12, true},
		{"6.18.44-fc-v1045", 6, 18, true},
		{"5.14.0-427.el9.x86_64", 5, 14, true},
		{"4.18.0-553.el8_10.x86_64", 4, 18, true},
		{"6.7-rc1", 6, 7, true},
		{"6", 0, 0, false},
		{"", 0, 0, false},
		{"x.y.z", 0, 0, false},
		{"6.x", 0, 0, false},
	} {
		major, minor, ok := KernelRelease(tt.in)
		if major != tt.major || minor != tt.minor || ok != tt.ok {
			t.Errorf("KernelRelease(%q) = %d, %d, %v; want %d, %d, %v", tt.in, major, minor, ok, tt.major, tt.minor, tt.ok)
		}
	}
}

func TestKernelNotice(t *testing.T) {
	all := []string{"tcp_syn_linear_timeouts", "tcp_rto_min_us", "tcp_rto_max_ms"}
	for _, tt := range []struct {
		name    string
		release string
		missing []string
		want    string
	}{
		{"6.1: one line for all three sysctls and the short tcp_info", "6.1.0-57-amd64", all,
			"kernel 6.1.0-57-amd64 predates tcp_syn_linear_timeouts (6.5), tcpi_total_rto_time (6.7), tcp_rto_min_us (6.11), tcp_rto_max_ms (6.15): " +
				"modelled as it behaves (SYN timeouts double from the first; the retransmission clock's start is reconstructed (wider windows); " +
				"no namespace RTO floor other than 200 ms; the RTO cap is 120 s)"},
		{"6.12: only the RTO cap", "6.12.117+deb12-amd64", []string{"tcp_rto_max_ms"},
			"kernel 6.12.117+deb12-amd64 predates tcp_rto_max_ms (6.15): modelled as it behaves (the RTO cap is 120 s)"},
		{"6.18: nothing missing, nothing said", "6.18.44", nil, ""},
		{"a new kernel without a knob it should have", "6.18.44", []string{"tcp_rto_max_ms"},
			"kernel has no tcp_rto_max_ms: using the built-in default"},
		{"a backport: 6.1 with the RTO cap knob", "6.1.0-57-amd64", []string{"tcp_syn_linear_timeouts", "tcp_rto_min_us"},
			"kernel 6.1.0-57-amd64 predates tcp_syn_linear_timeouts (6.5), tcpi_total_rto_time (6.7), tcp_rto_min_us (6.11): " +
				"modelled as it behaves (SYN timeouts double from the first; the retransmission clock's start is reconstructed (wider windows); " +
				"no namespace RTO floor other than 200 ms)"},
		{"unknown release", "custom", all, "kernel has no tcp_syn_linear_timeouts, tcp_rto_min_us, tcp_rto_max_ms: using the built-in default"},
		{"an old kernel also missing a knob older than itself", "6.1.0", append([]string{"tcp_retries2"}, all...),
			"kernel 6.1.0 predates tcp_syn_linear_timeouts (6.5), tcpi_total_rto_time (6.7), tcp_rto_min_us (6.11), tcp_rto_max_ms (6.15): " +
				"modelled as it behaves (SYN timeouts double from the first; the retransmission clock's start is reconstructed (wider windows); " +
				"no namespace RTO floor other than 200 ms; the RTO cap is 120 s); no tcp_retries2: using the built-in default"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := KernelNotice(tt.release, tt.missing); got != tt.want {
				t.Errorf("KernelNotice(%q, %q)\n got %q\nwant %q", tt.release, tt.missing, got, tt.want)
			}
		})
	}
}

func TestPredatesRTOStats(t *testing.T) {
	for rel, want := range map[string]bool{"6.1.0-57-amd64": true, "6.6.30": true, "6.7.0": false, "6.12.117+deb12-amd64": false, "5.14.0": true, "weird": false} {
		if got := PredatesRTOStats(rel); got != want {
			t.Errorf("PredatesRTOStats(%q) = %v, want %v", rel, got, want)
		}
	}
}
