package record

import (
	"encoding/binary"
	"fmt"
)

// JoinState packs the program's states of a keyframe (the connection
// tracker's, the peer tracker's) into one Poll.State: each part with its
// length before it, so that a reader splits them without knowing them.
func JoinState(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += binary.MaxVarintLen64 + len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	return b
}

// SplitState is JoinState's inverse. Lengths are checked: damaged bytes
// are an error, never a panic.
func SplitState(b []byte) ([][]byte, error) {
	var parts [][]byte
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, fmt.Errorf("record: state: part %d: bad length", len(parts))
		}
		parts = append(parts, b[k:k+int(n)])
		b = b[k+int(n):]
	}
	return parts, nil
}
