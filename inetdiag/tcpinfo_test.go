package inetdiag

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// historicalLens are the sizes of struct tcp_info that mainline kernels have
// sent (see the TCPInfoLen* constants).
var historicalLens = []int{
	TCPInfoLen2_6, TCPInfoLen3_15, TCPInfoLen4_1, TCPInfoLen4_2, TCPInfoLen4_6, TCPInfoLen4_9,
	TCPInfoLen4_10, TCPInfoLen4_18, TCPInfoLen4_19, TCPInfoLen5_4, TCPInfoLen6_2, TCPInfoLen6_7,
	TCPInfoLen6_18,
}

// oddLens are lengths no kernel sends: empty, cut inside a field, or longer
// than any struct tcp_info known today.
var oddLens = []int{0, 3, 7, 8, 50, 130, 247, 300, 400}

// handFields are the parts of struct tcp_info that x/sys does not name,
// written down from include/uapi/linux/tcp.h (6.18):
//
//	__u8 tcpi_snd_wscale : 4, tcpi_rcv_wscale : 4;                              byte 6
//	__u8 tcpi_delivery_rate_app_limited:1, tcpi_fastopen_client_fail:2;         byte 7
//	__u16 tcpi_accecn_fail_mode; __u16 tcpi_accecn_opt_seen;                    bytes 276..279
var handFields = map[string]struct{ off, size int }{
	"snd_wscale":                {6, 1},
	"rcv_wscale":                {6, 1},
	"delivery_rate_app_limited": {7, 1},
	"fastopen_client_fail":      {7, 1},
	"accecn_fail_mode":          {276, 2},
	"accecn_opt_seen":           {278, 2},
}

// TestTCPInfoFieldsMatchXSys checks every offset and size of the field table
// against golang.org/x/sys/unix.TCPInfo, whose layout is generated from the
// kernel headers, and the fields x/sys lacks against tcp.h by hand.
func TestTCPInfoFieldsMatchXSys(t *testing.T) {
	byName := map[string]TCPInfoField{}
	for _, f := range tcpInfoFields {
		if _, dup := byName[f.Name]; dup {
			t.Errorf("field %q listed twice", f.Name)
		}
		byName[f.Name] = f
	}

	typ := reflect.TypeFor[unix.TCPInfo]()
	seen := map[string]bool{}
	for i := range typ.NumField() {
		sf := typ.Field(i)
		if sf.Name == "_" {
			continue
		}
		name := strings.ToLower(sf.Name)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			f, ok := byName[name]
			if !ok {
				t.Fatalf("x/sys has tcpi_%s at %d, the table does not", name, sf.Offset)
			}
			if f.Offset != int(sf.Offset) || f.Size != int(sf.Type.Size()) {
				t.Errorf("table: offset %d size %d; x/sys: offset %d size %d", f.Offset, f.Size, sf.Offset, sf.Type.Size())
			}
		})
	}
	for name, want := range handFields {
		t.Run(name, func(t *testing.T) {
			f, ok := byName[name]
			if !ok {
				t.Fatalf("tcpi_%s missing from the table", name)
			}
			if f.Offset != want.off || f.Size != want.size {
				t.Errorf("table: offset %d size %d; tcp.h: offset %d size %d", f.Offset, f.Size, want.off, want.size)
			}
		})
		seen[name] = true
	}
	for _, f := range tcpInfoFields {
		if !seen[f.Name] {
			t.Errorf("table field %q is neither in x/sys nor in the hand-checked list", f.Name)
		}
	}

	// Spot checks with unsafe.Offsetof, independent of the name mapping.
	var x unix.TCPInfo
	spot := []struct {
		name string
		off  uintptr
	}{
		{"rto", unsafe.Offsetof(x.Rto)},
		{"total_retrans", unsafe.Offsetof(x.Total_retrans)},
		{"pacing_rate", unsafe.Offsetof(x.Pacing_rate)},
		{"bytes_acked", unsafe.Offsetof(x.Bytes_acked)},
		{"delivery_rate", unsafe.Offsetof(x.Delivery_rate)},
		{"total_rto", unsafe.Offsetof(x.Total_rto)},
		{"total_rto_time", unsafe.Offsetof(x.Total_rto_time)},
		{"received_ce_bytes", unsafe.Offsetof(x.Received_ce_bytes)},
	}
	for _, s := range spot {
		if got := byName[s.name].Offset; got != int(s.off) {
			t.Errorf("%s: table offset %d, unsafe.Offsetof %d", s.name, got, s.off)
		}
	}
	if got := int(unsafe.Sizeof(x)); got != TCPInfoLen6_18 {
		t.Errorf("sizeof(unix.TCPInfo) = %d, TCPInfoLen6_18 = %d", got, TCPInfoLen6_18)
	}
}

// TestTCPInfoFieldsCoverStruct checks that the table tiles struct tcp_info:
// sorted by offset, no gaps, no overlaps except the bitfields sharing bytes
// 6 and 7, and ending at TCPInfoLen6_18.
func TestTCPInfoFieldsCoverStruct(t *testing.T) {
	next := 0
	for i, f := range tcpInfoFields {
		if f.Size <= 0 {
			t.Fatalf("%s: size %d", f.Name, f.Size)
		}
		if i > 0 && tcpInfoFields[i-1].Offset == f.Offset && (f.Offset == 6 || f.Offset == 7) {
			continue // second bitfield of the same byte
		}
		if f.Offset != next {
			t.Fatalf("%s starts at %d, previous field ended at %d", f.Name, f.Offset, next)
		}
		next = f.Offset + f.Size
	}
	if next != TCPInfoLen6_18 {
		t.Fatalf("table ends at %d, want %d", next, TCPInfoLen6_18)
	}
	// Every historical length must be a field boundary, or Has(len) would
	// be meaningless for the fields introduced at that version.
	for _, n := range historicalLens {
		if fieldFloor(n) != n {
			t.Errorf("historical length %d is not a field boundary (floor %d)", n, fieldFloor(n))
		}
	}
}

// patternInfo returns n non-zero bytes, each different from its
// neighbours, so that a getter reading the wrong offset, the wrong width or
// the wrong byte order gets a different number, and a field decoded from a
// partial range is never zero by chance.
func patternInfo(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i*37+0x5b)%251) + 1
	}
	return b
}

// rawField reads the field's raw value from b the way the kernel lays it
// out: little-endian host order for integers, bitfields from the low bit.
func rawField(f TCPInfoField, b []byte) uint64 {
	ne := binary.NativeEndian
	switch f.Name {
	case "snd_wscale":
		return uint64(b[6] & 0xf)
	case "rcv_wscale":
		return uint64(b[6] >> 4)
	case "delivery_rate_app_limited":
		return uint64(b[7] & 1)
	case "fastopen_client_fail":
		return uint64(b[7]>>1) & 3
	}
	p := b[f.Offset:]
	switch f.Size {
	case 1:
		return uint64(p[0])
	case 2:
		return uint64(ne.Uint16(p))
	case 4:
		return uint64(ne.Uint32(p))
	case 8:
		return ne.Uint64(p)
	}
	panic(fmt.Sprintf("field %s has size %d", f.Name, f.Size))
}

// wantValue is what a field's Value should return for the raw value the
// kernel sent: the raw value itself, except that a 64-bit microsecond count
// beyond what time.Duration holds (292 years) saturates.
func wantValue(f TCPInfoField, raw uint64) uint64 {
	if f.Unit == UnitMicroseconds && f.Size == 8 && raw > maxDurationUS {
		return maxDurationUS
	}
	return raw
}

// TestDecodeTCPInfoPattern fills a full buffer with a pattern and checks
// that every getter of the hand-written decoder returns the raw bytes at the
// field's offset: the decoder and the table agree.
func TestDecodeTCPInfoPattern(t *testing.T) {
	for _, fill := range []struct {
		name string
		b    []byte
	}{
		{"pattern", patternInfo(TCPInfoLen6_18)},
		{"ones", bytesOf(TCPInfoLen6_18, 0xff)},
	} {
		t.Run(fill.name, func(t *testing.T) {
			var ti TCPInfo
			decodeTCPInfo(&ti, fill.b)
			for _, f := range tcpInfoFields {
				got, ok := f.Value(&ti)
				if !ok {
					t.Errorf("%s: absent in a full buffer", f.Name)
					continue
				}
				if want := wantValue(f, rawField(f, fill.b)); got != want {
					t.Errorf("%s (offset %d size %d): got %#x, raw bytes say %#x", f.Name, f.Offset, f.Size, got, want)
				}
			}
		})
	}
}

func bytesOf(n int, v byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = v
	}
	return b
}

// TestDecodeTCPInfoLengths decodes every historical and several odd lengths
// and checks that a field is present iff it lies entirely within the
// buffer, that absent fields are zero, and that Has, HasRTOStats and Value
// agree.
func TestDecodeTCPInfoLengths(t *testing.T) {
	lens := append(append([]int(nil), historicalLens...), oddLens...)
	for _, n := range lens {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			b := patternInfo(n)
			var ti TCPInfo
			// Start from a dirty value: decoding must not keep old fields.
			decodeTCPInfo(&ti, patternInfo(TCPInfoLen6_18))
			decodeTCPInfo(&ti, b)
			if ti.Len != n {
				t.Fatalf("Len = %d, want %d", ti.Len, n)
			}
			if got, want := ti.HasRTOStats(), n >= 248; got != want {
				t.Errorf("HasRTOStats() = %v, want %v", got, want)
			}
			var zero TCPInfo
			zero.Len = n
			for _, f := range tcpInfoFields {
				end := f.Offset + f.Size
				present := end <= n
				if ti.Has(end) != present {
					t.Errorf("%s: Has(%d) = %v, want %v", f.Name, end, ti.Has(end), present)
				}
				got, ok := f.Value(&ti)
				if ok != present {
					t.Errorf("%s: Value ok = %v, want %v", f.Name, ok, present)
				}
				// The raw getter must read zero for absent fields, so
				// that code that forgets Has still sees no fact.
				if raw := f.get(&ti); !present && raw != 0 {
					t.Errorf("%s (ends at %d): absent but holds %#x", f.Name, end, raw)
				}
				if present {
					if want := wantValue(f, rawField(f, b)); got != want {
						t.Errorf("%s: got %#x, raw %#x", f.Name, got, want)
					}
				}
				if zv, zok := f.Value(&zero); zok != present || zv != 0 {
					t.Errorf("%s: Value on zero info with Len %d = %d, %v", f.Name, n, zv, zok)
				}
			}
		})
	}
}

// TestDecodeTCPInfoDoesNotAlias checks that the decoded value does not keep
// a reference to the input buffer, which Dump reuses.
func TestDecodeTCPInfoDoesNotAlias(t *testing.T) {
	b := patternInfo(TCPInfoLen6_18)
	var ti TCPInfo
	decodeTCPInfo(&ti, b)
	before := ti
	for i := range b {
		b[i] = 0
	}
	if ti != before {
		t.Fatal("decoded TCPInfo changed when the input buffer was overwritten")
	}
}

// TestTCPInfoUnits checks the unit conversions on known values.
func TestTCPInfoUnits(t *testing.T) {
	b := make([]byte, TCPInfoLen6_18)
	ne := binary.NativeEndian
	ne.PutUint32(b[8:], 204000)    // rto µs
	ne.PutUint32(b[44:], 1500)     // last_data_sent ms
	ne.PutUint64(b[168:], 3000000) // busy_time µs
	ne.PutUint16(b[240:], 5)       // total_rto
	ne.PutUint32(b[244:], 13105)   // total_rto_time ms
	var ti TCPInfo
	decodeTCPInfo(&ti, b)
	checks := []struct {
		name      string
		got, want any
	}{
		{"RTO", ti.RTO.String(), "204ms"},
		{"LastDataSent", ti.LastDataSent.String(), "1.5s"},
		{"BusyTime", ti.BusyTime.String(), "3s"},
		{"TotalRTO", ti.TotalRTO, uint16(5)},
		{"TotalRTOTime", ti.TotalRTOTime.String(), "13.105s"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestTCPInfoFieldsCopy checks that TCPInfoFields returns a copy callers
// may modify.
func TestTCPInfoFieldsCopy(t *testing.T) {
	a := TCPInfoFields()
	if len(a) != len(tcpInfoFields) {
		t.Fatalf("len = %d, want %d", len(a), len(tcpInfoFields))
	}
	a[0].Name = "changed"
	if tcpInfoFields[0].Name == "changed" {
		t.Fatal("TCPInfoFields exposes the package table")
	}
}

// FuzzDecodeTCPInfo decodes any byte string as tcp_info: it must not panic,
// must record the length, and must decode exactly the complete fields.
func FuzzDecodeTCPInfo(f *testing.F) {
	for _, n := range append(append([]int(nil), historicalLens...), oddLens...) {
		f.Add(patternInfo(n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ti TCPInfo
		decodeTCPInfo(&ti, b)
		if ti.Len != len(b) {
			t.Fatalf("Len = %d, want %d", ti.Len, len(b))
		}
		for _, f := range tcpInfoFields {
			v, ok := f.Value(&ti)
			if present := f.Offset+f.Size <= len(b); ok != present {
				t.Fatalf("%s: present = %v with %d bytes", f.Name, ok, len(b))
			}
			if ok && v != wantValue(f, rawField(f, b)) {
				t.Fatalf("%s = %#x, raw %#x", f.Name, v, rawField(f, b))
			}
			if !ok && f.get(&ti) != 0 {
				t.Fatalf("%s absent but non-zero", f.Name)
			}
		}
	})
}

// TestCoreFields: the compact form holds exactly the fields the table
// marks InCore (TCPCore's fields but Len), each read as from the whole,
// and decodeTCPCore agrees with the core of decodeTCPInfo at every
// length a kernel sends, and at lengths that cut a field.
func TestCoreFields(t *testing.T) {
	inCore := 0
	for _, f := range tcpInfoFields {
		if f.InCore() {
			inCore++
		}
	}
	if want := reflect.TypeFor[TCPCore]().NumField() - 1; inCore != want {
		t.Errorf("%d fields of the table are InCore, TCPCore holds %d", inCore, want)
	}
	for _, n := range []int{0, 1, 5, TCPInfoLen2_6 - 1, TCPInfoLen2_6, TCPInfoLen4_19, TCPInfoLen5_4 - 2, TCPInfoLen5_4, TCPInfoLen6_2, TCPInfoLen6_7 - 1, TCPInfoLen6_7, TCPInfoLen6_18, 400} {
		b := patternInfo(n)
		var whole TCPInfo
		decodeTCPInfo(&whole, b)
		var core TCPCore
		decodeTCPCore(&core, b)
		if core != whole.Core() {
			t.Errorf("%d bytes: decodeTCPCore\n got %+v\nwant %+v", n, core, whole.Core())
		}
		for _, f := range tcpInfoFields {
			v, ok := f.CoreValue(&core)
			wv, wok := f.Value(&whole)
			if ok != (wok && f.InCore()) || ok && v != wv {
				t.Errorf("%d bytes: %s: CoreValue %d %v, Value %d %v", n, f.Name, v, ok, wv, wok)
			}
		}
	}
}
