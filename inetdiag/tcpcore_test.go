package inetdiag

import (
	"math"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// TestCoreSize: TCPCore and Socket are held once per socket of the host;
// a field that widens them costs megabytes at 10^6 sockets.
func TestCoreSize(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("sizes are checked on amd64, not %s", runtime.GOARCH)
	}
	if got := unsafe.Sizeof(TCPCore{}); got != 64 {
		t.Errorf("TCPCore is %d bytes, want 64", got)
	}
	if got := unsafe.Sizeof(Socket{}); got != 192 {
		t.Errorf("Socket is %d bytes, want 192", got)
	}
}

// TestMicrosMillisOf: the constructors truncate to whole units and clamp
// to the 32-bit range instead of wrapping.
func TestMicrosMillisOf(t *testing.T) {
	const maxUS = time.Duration(math.MaxUint32) * time.Microsecond
	const maxMS = time.Duration(math.MaxUint32) * time.Millisecond
	tests := []struct {
		d      time.Duration
		micros Micros
		millis Millis
	}{
		{0, 0, 0},
		{-1, 0, 0},
		{-time.Hour, 0, 0},
		{math.MinInt64, 0, 0},
		{999, 0, 0},
		{time.Microsecond, 1, 0},
		{1500 * time.Microsecond, 1500, 1},
		{204 * time.Millisecond, 204_000, 204},
		{time.Hour, 3_600_000_000, 3_600_000},
		{maxUS, math.MaxUint32, 4_294_967},
		{maxUS + time.Microsecond, math.MaxUint32, 4_294_967},
		{maxMS, math.MaxUint32, math.MaxUint32},
		{maxMS + time.Millisecond, math.MaxUint32, math.MaxUint32},
		{math.MaxInt64, math.MaxUint32, math.MaxUint32},
	}
	for _, tt := range tests {
		if got := MicrosOf(tt.d); got != tt.micros {
			t.Errorf("MicrosOf(%d) = %d, want %d", tt.d, got, tt.micros)
		}
		if got := MillisOf(tt.d); got != tt.millis {
			t.Errorf("MillisOf(%d) = %d, want %d", tt.d, got, tt.millis)
		}
	}
	// Every value the kernel can send converts and comes back exactly.
	for _, v := range []uint32{0, 1, 204_000, math.MaxUint32 - 1, math.MaxUint32} {
		if got := MicrosOf(Micros(v).Duration()); got != Micros(v) {
			t.Errorf("MicrosOf(Micros(%d).Duration()) = %d", v, got)
		}
		if got := MillisOf(Millis(v).Duration()); got != Millis(v) {
			t.Errorf("MillisOf(Millis(%d).Duration()) = %d", v, got)
		}
	}
	if got, want := Micros(204_000).String(), "204ms"; got != want {
		t.Errorf("Micros.String = %q, want %q", got, want)
	}
	if got, want := Millis(90_000).String(), "1m30s"; got != want {
		t.Errorf("Millis.String = %q, want %q", got, want)
	}
}

// TestCoreOfOutOfRange: a TCPInfo not from the kernel (a damaged
// recording's) gives a core clamped to its range, and Has answers for its
// Len as for the TCPInfo's.
func TestCoreOfOutOfRange(t *testing.T) {
	tests := []struct {
		name string
		in   TCPInfo
		want TCPCore
	}{
		{"negative", TCPInfo{Len: -5, RTO: -1, RTT: math.MinInt64, LastDataSent: -time.Second, TotalRTOTime: -1},
			TCPCore{Len: -5}},
		{"too large", TCPInfo{Len: math.MaxInt, RTO: math.MaxInt64, RTT: 2 * time.Hour, LastAckSent: math.MaxInt64, LastAckRecv: 100 * 24 * time.Hour},
			TCPCore{Len: math.MaxInt32, RTO: math.MaxUint32, RTT: math.MaxUint32, LastAckSent: math.MaxUint32, LastAckRecv: math.MaxUint32}},
		{"too small", TCPInfo{Len: math.MinInt}, TCPCore{Len: math.MinInt32}},
		{"not whole units", TCPInfo{Len: TCPInfoLen6_7, RTT: 3*time.Millisecond + 7, LastDataRecv: 1999 * time.Microsecond, TotalRTOTime: 999_999},
			TCPCore{Len: TCPInfoLen6_7, RTT: 3000, LastDataRecv: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.Core()
			if got != tt.want {
				t.Errorf("Core() = %+v, want %+v", got, tt.want)
			}
			for _, end := range historicalLens {
				if got.Has(end) != tt.in.Has(end) {
					t.Errorf("Has(%d) = %v, TCPInfo's %v", end, got.Has(end), tt.in.Has(end))
				}
			}
		})
	}
}

// TestCoreAsInfoRoundTrip: a core gives back the durations it holds, at
// the ends of their range as anywhere.
func TestCoreAsInfoRoundTrip(t *testing.T) {
	for _, c := range []TCPCore{
		{},
		{Len: TCPInfoLen6_18, RTO: 204_000, RTT: 61, LastDataSent: 5, LastAckSent: 0, LastDataRecv: 8212, LastAckRecv: 8212, TotalRTOTime: 41_000},
		{Len: math.MaxInt32, RTO: math.MaxUint32, RTT: math.MaxUint32, LastDataSent: math.MaxUint32, LastAckSent: math.MaxUint32,
			LastDataRecv: math.MaxUint32, LastAckRecv: math.MaxUint32, TotalRTOTime: math.MaxUint32},
	} {
		in := c.AsInfo()
		if in.RTO != c.RTO.Duration() || in.LastAckRecv != c.LastAckRecv.Duration() || in.Len != int(c.Len) {
			t.Errorf("AsInfo(%+v) = RTO %v, LastAckRecv %v, Len %d", c, in.RTO, in.LastAckRecv, in.Len)
		}
		if got := in.Core(); got != c {
			t.Errorf("AsInfo().Core() = %+v, want %+v", got, c)
		}
	}
}
