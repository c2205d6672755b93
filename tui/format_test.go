// Tests of the text formatters: durations, counts, widths and wrapping.

package tui

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/tcpwatch/tcpwatch/model"
)

func TestFormatters(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"countdown seconds", fmtCountdown(41 * time.Second), "41s"},
		{"countdown rounds", fmtCountdown(13*time.Minute + 1600*time.Millisecond), "13m02s"},
		{"countdown hours", fmtCountdown(2*time.Hour + 11*time.Minute + 15*time.Second), "2h11m15s"},
		{"remaining now", fmtRemaining(-400 * time.Millisecond), "now"},
		{"remaining late", fmtRemaining(-3 * time.Second), "late 3s"},
		{"age tenths", fmtAge(100 * time.Millisecond), "0.1s"},
		{"age minutes", fmtAge(5*time.Minute + 10*time.Second), "5m10s"},
		{"age hours", fmtAge(2*time.Hour + 3*time.Minute), "2h03m"},
		{"age days", fmtAge(50 * time.Hour), "2d02h"},
		{"dur µs", fmtDur(210 * time.Microsecond), "210µs"},
		{"dur ms fraction", fmtDur(2500 * time.Microsecond), "2.5ms"},
		{"dur ms", fmtDur(204 * time.Millisecond), "204ms"},
		{"dur s", fmtDur(6528 * time.Millisecond), "6.528s"},
		{"dur retries2 budget", fmtDur(model.ModelTimeout(15, model.RTOMin, model.RTOMaxDefault)), "15m24.6s"},
		{"dur keepalive budget", fmtDur(model.DefaultParams().KeepaliveBudget()), "2h11m15s"},
		{"dur whole minutes", fmtDur(2 * time.Minute), "2m"},
		{"secs", fmtSecs(924600 * time.Millisecond), "924.6s"},
		{"secs whole", fmtSecs(120 * time.Second), "120s"},
		{"bytes small", fmtBytes(90), "90"},
		{"bytes K", fmtBytes(14540), "14.2K"},
		{"bytes M", fmtBytes(3 << 20), "3.0M"},
		{"bytes long exact", fmtBytesLong(1448), "1448 B"},
		{"bytes long binary", fmtBytesLong(217088), "212.0KiB"},
		{"count", fmtCount(41203), "41,203"},
		{"count million", fmtCount(1234567), "1,234,567"},
		{"count small", fmtCount(999), "999"},
		{"plural one", plural(1, "socket"), "1 socket"},
		{"plural many", plural(41203, "socket"), "41,203 sockets"},
		{"rto ms", fmtRTO(204 * time.Millisecond), "204ms"},
		{"rto s", fmtRTO(6500 * time.Millisecond), "6.5s"},
		{"rto capped", fmtRTO(120 * time.Second), "120s"},
		{"tenth range same minute", tenthRange(t0, t0.Add(time.Second)), "14:02:09.0–10.0"},
		{"tenth range across minutes", tenthRange(t0.Add(50*time.Second), t0.Add(52*time.Second)), "14:02:59.0–14:03:01.0"},
		{"fit pads", fit("ab", 4, false), "ab  "},
		{"fit right", fit("ab", 4, true), "  ab"},
		{"fit truncates", fit("abcdef", 4, false), "abc…"},
		{"fitLeft keeps the port", fitLeft("[fd00::1234:5678]:5432", 12), "…:5678]:5432"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestEndpointWidth(t *testing.T) {
	tests := []struct {
		name string
		ap   string
	}{
		{"ipv4", "10.0.3.7:51630"},
		{"ipv4 short", "1.2.3.4:5"},
		{"ipv4 long", "255.255.255.255:65535"},
		{"mapped", "[::ffff:10.0.0.1]:443"},
		{"ipv6", "[fd00::1234:5678]:5432"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ap := netip.MustParseAddrPort(tt.ap)
			if got, want := endpointWidth(ap), ansi.StringWidth(model.Endpoint(ap)); got != want {
				t.Errorf("endpointWidth(%s) = %d, want %d (%q)", tt.ap, got, want, model.Endpoint(ap))
			}
		})
	}
}

func TestDigits(t *testing.T) {
	for _, v := range []uint64{0, 1, 9, 10, 99, 100, 255, 999, 1000, 9999, 10000, 65535, 99999, 100000, 999999, 1000000, 4194304, 1<<63 - 1, 1<<64 - 1} {
		if got, want := digits(v), len(strconv.FormatUint(v, 10)); got != want {
			t.Errorf("digits(%d) = %d, want %d", v, got, want)
		}
	}
}

func TestWrap(t *testing.T) {
	got := wrap("one two three four five six", 13, "  ")
	want := []string{"one two three", "  four five", "  six"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: got %q, want %q", i, got[i], want[i])
		}
	}
}
