package record

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/tcpwatch/tcpwatch/inetdiag"
)

// attrBits is how many attribute types Socket.Has can report.
const attrBits = 32

// attrsOf returns the set of attributes the kernel sent with s, bit a for
// inetdiag.Attr a.
func attrsOf(s *inetdiag.Socket) uint32 {
	var m uint32
	for a := range inetdiag.Attr(attrBits) {
		if s.Has(a) {
			m |= 1 << a
		}
	}
	return m
}

// setAttrs gives s the attribute set m, keeping every exported field.
//
// inetdiag keeps the set in an unexported field that only its decoder
// writes, so a decoded socket is rebuilt from a template that
// inetdiag.DecodeSocket made out of a synthetic reply carrying exactly
// those attributes. This is the one place that works around the missing
// setter; with inetdiag exporting one (see the package documentation) it
// becomes a single assignment.
func setAttrs(s *inetdiag.Socket, m uint32) error {
	if attrsOf(s) == m {
		return nil
	}
	t, err := attrTemplate(m)
	if err != nil {
		return err
	}
	copyExported(&t, s)
	*s = t
	return nil
}

// copyExported copies every exported field of src into dst, leaving
// dst's attribute set alone. TestCopyExportedCoversSocket fails when
// inetdiag adds a field this misses.
func copyExported(dst, src *inetdiag.Socket) {
	dst.Family, dst.State, dst.Timer, dst.Expires, dst.Retrans = src.Family, src.State, src.Timer, src.Expires, src.Retrans
	dst.ID, dst.RecvQ, dst.SendQ, dst.UID, dst.Inode = src.ID, src.RecvQ, src.SendQ, src.UID, src.Inode
	dst.Info, dst.Full, dst.Shutdown = src.Info, src.Full, src.Shutdown
}

// templates caches the sockets made by attrTemplate: a host's sockets
// have a handful of attribute sets. The cache is bounded so that forged
// input cannot grow it without end.
var templates = struct {
	sync.Mutex
	m map[uint32]inetdiag.Socket
}{m: map[uint32]inetdiag.Socket{}}

const maxTemplates = 64

// attrTemplateLen is the payload given to each synthetic attribute: the
// largest that inetdiag checks for (SKMEMINFO's nine counters).
const attrTemplateLen = 36

// attrTemplate returns a zero socket whose attribute set is m.
func attrTemplate(m uint32) (inetdiag.Socket, error) {
	templates.Lock()
	t, ok := templates.m[m]
	templates.Unlock()
	if ok {
		return t, nil
	}
	const msgLen = 72 // struct inet_diag_msg
	b := make([]byte, msgLen, msgLen+attrBits*(4+attrTemplateLen))
	b[0] = byte(inetdiag.FamilyInet)
	for a := range uint16(attrBits) {
		if m&(1<<a) == 0 {
			continue
		}
		b = binary.NativeEndian.AppendUint16(b, 4+attrTemplateLen)
		b = binary.NativeEndian.AppendUint16(b, a)
		b = append(b, make([]byte, attrTemplateLen)...)
	}
	if err := inetdiag.DecodeSocket(&t, b); err != nil {
		return t, fmt.Errorf("record: attribute set %#x: %w", m, err)
	}
	if got := attrsOf(&t); got != m {
		return t, fmt.Errorf("record: attribute set %#x cannot be restored (inetdiag gave %#x)", m, got)
	}
	copyExported(&t, &inetdiag.Socket{})
	templates.Lock()
	if len(templates.m) < maxTemplates {
		templates.m[m] = t
	}
	templates.Unlock()
	return t, nil
}
