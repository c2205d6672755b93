package record

import (
	"encoding/binary"
	"hash/crc32"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// A segment file is a preamble and a sequence of frames:
//
//	preamble  magic (8 bytes), format version (u16), reserved (u16, 0)
//	frame     payload length (u32), CRC32C (u32) of the rest of the
//	          header and the payload, kind (u8), time (i64, Unix ns),
//	          raw length (u32, the payload's length once decompressed),
//	          payload
//
// Integers are little-endian whatever the host. The first frame is the
// segment header, the second a keyframe (every socket whole), then delta
// records, and, once the writer has closed the segment, an end frame. The
// checksum lets a reader tell a record torn by a crash from a whole one;
// the time in the clear lets it list a segment's polls without
// decompressing them.
const (
	magic          = "\x89TWR\r\n\x1a\n" // PNG's trick: a high byte, CR LF, EOF and LF catch text-mode mangling
	preambleLen    = len(magic) + 4
	frameHeaderLen = 21
	// endPayloadLen is fixed, so that a closed segment's end frame can be
	// read from the end of the file.
	endPayloadLen = 8
	endFrameLen   = frameHeaderLen + endPayloadLen
)

// Version is the format version this package writes, and the newest it
// reads.
const Version = 1

// Frame kinds; kindCompressed marks a zstd payload.
const (
	kindHeader     = 1
	kindKey        = 2
	kindDelta      = 3
	kindEnd        = 4
	kindCompressed = 0x80
)

// maxRawRecord bounds the decompressed size of a record a reader accepts
// (a keyframe of 10^6 sockets is ~100 MB): a length read from a file is
// checked against it before anything is allocated.
const maxRawRecord = 1 << 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Every record is compressed as a zstd frame of its own. A stream
// flushed after every poll, which lets a record refer to those before it,
// was only 3-4 % smaller at 10^4 sockets (BenchmarkFrameVersusStream: 99
// against 103 bytes a record with every socket idle, 3449 against 3582
// with 1 % active, 6431 against 6657 with 2 %), and a frame per record
// keeps each record decodable from its own bytes: a torn or damaged record
// costs nothing but itself.
var (
	zstdFast = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(err) // only for invalid options
		}
		return e
	})
	zstdDec = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecodeAllCapLimit(true),
			zstd.WithDecoderMaxMemory(maxRawRecord))
		if err != nil {
			panic(err) // only for invalid options
		}
		return d
	})
)

// appendFrame appends a frame of kind holding raw to dst; compressed says
// whether to try zstd (kept only when smaller).
func appendFrame(dst []byte, kind byte, unixNano int64, raw []byte, compressed bool) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeaderLen)...)
	payload := raw
	if compressed {
		dst = zstdFast().EncodeAll(raw, dst)
		if len(dst)-start-frameHeaderLen < len(raw) {
			kind |= kindCompressed
			payload = nil
		} else {
			dst = dst[:start+frameHeaderLen]
		}
	}
	if payload != nil {
		dst = append(dst, payload...)
	}
	h := dst[start:]
	le := binary.LittleEndian
	le.PutUint32(h[0:], uint32(len(h)-frameHeaderLen))
	h[8] = kind
	le.PutUint64(h[9:], uint64(unixNano))
	le.PutUint32(h[17:], uint32(len(raw)))
	le.PutUint32(h[4:], crc32.Checksum(h[8:], castagnoli))
	return dst
}

// frameHeader is a frame's header as read from a file.
type frameHeader struct {
	length uint32
	crc    uint32
	kind   byte
	time   int64
	rawLen uint32
}

func parseFrameHeader(b []byte) frameHeader {
	le := binary.LittleEndian
	return frameHeader{
		length: le.Uint32(b[0:]), crc: le.Uint32(b[4:]), kind: b[8],
		time: int64(le.Uint64(b[9:])), rawLen: le.Uint32(b[17:]),
	}
}

func appendPreamble(dst []byte) []byte {
	dst = append(dst, magic...)
	dst = binary.LittleEndian.AppendUint16(dst, Version)
	return binary.LittleEndian.AppendUint16(dst, 0)
}
