package record

import (
	"bytes"
	"testing"
)

func TestJoinSplitState(t *testing.T) {
	for _, parts := range [][][]byte{{}, {[]byte("tracker")}, {[]byte("tracker"), nil}, {[]byte("a"), []byte("bc"), bytes.Repeat([]byte{7}, 300)}} {
		got, err := SplitState(JoinState(parts...))
		if err != nil {
			t.Fatalf("%q: %v", parts, err)
		}
		if len(got) != len(parts) {
			t.Fatalf("%q: split into %d parts", parts, len(got))
		}
		for i := range parts {
			if !bytes.Equal(got[i], parts[i]) {
				t.Errorf("part %d: %q, want %q", i, got[i], parts[i])
			}
		}
	}
	for _, bad := range [][]byte{{5, 'a'}, {0x80}, {2, 'a', 'b', 9}} {
		if _, err := SplitState(bad); err == nil {
			t.Errorf("SplitState(%x) = nil error", bad)
		}
	}
}

func FuzzSplitState(f *testing.F) {
	f.Add(JoinState([]byte("tracker"), []byte("peers")))
	f.Fuzz(func(t *testing.T, b []byte) {
		parts, err := SplitState(b)
		if err != nil {
			return
		}
		again, err := SplitState(JoinState(parts...))
		if err != nil || len(again) != len(parts) {
			t.Fatalf("re-joined parts split into %d (%v), want %d", len(again), err, len(parts))
		}
	})
}
