package vmtest

import (
	"bytes"
	"fmt"
	"io/fs"
)

// cpioWriter writes the "newc" cpio format, the only one the kernel
// unpacks as an initramfs. It is written here rather than run through
// cpio(1) because that tool is not on every machine, and because device
// nodes (the initial console) can then be made without privileges.
type cpioWriter struct {
	buf bytes.Buffer
	ino uint32
}

// entry appends one archive member. mode carries the file type bits
// (syscall.S_IF*); rdev is major, minor for device nodes.
func (w *cpioWriter) entry(name string, mode uint32, data []byte, rmajor, rminor uint32) error {
	if name == "" || len(name) > 4096 {
		return fmt.Errorf("vmtest: cpio: bad member name %q", name)
	}
	w.ino++
	nlink := uint32(1)
	if mode&sIFMT == sIFDIR {
		nlink = 2
	}
	fmt.Fprintf(&w.buf, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		w.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rmajor, rminor, len(name)+1, 0)
	w.buf.WriteString(name)
	w.buf.WriteByte(0)
	w.pad()
	w.buf.Write(data)
	w.pad()
	return nil
}

func (w *cpioWriter) pad() {
	for w.buf.Len()%4 != 0 {
		w.buf.WriteByte(0)
	}
}

const (
	sIFMT  = 0o170000
	sIFDIR = 0o040000
	sIFREG = 0o100000
	sIFCHR = 0o020000
)

// dir, file and chardev are the three kinds of member an initramfs needs.
func (w *cpioWriter) dir(name string) error { return w.entry(name, sIFDIR|0o755, nil, 0, 0) }

func (w *cpioWriter) file(name string, perm fs.FileMode, data []byte) error {
	return w.entry(name, sIFREG|uint32(perm.Perm()), data, 0, 0)
}

func (w *cpioWriter) chardev(name string, major, minor uint32) error {
	return w.entry(name, sIFCHR|0o600, nil, major, minor)
}

// bytes ends the archive with its trailer and returns it.
func (w *cpioWriter) bytes() []byte {
	w.entry("TRAILER!!!", 0, nil, 0, 0)
	return w.buf.Bytes()
}
