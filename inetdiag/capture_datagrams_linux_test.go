package inetdiag

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/mdlayher/netlink"
)

// The seed corpus of FuzzParseDatagram holds whole datagrams a real kernel
// sent in answer to dumps (files named real-*), with the sequence number
// of their request. To capture them again, as root:
//
//	go test ./inetdiag -run TestCaptureRealDatagrams -capture
//
// Without -capture the datagrams go to a temporary directory and are
// checked as TestSeedCorpusRealDatagrams checks the committed ones.

// recordingTransport keeps a copy of every datagram a dump receives,
// with the sequence number of the request it answers.
type recordingTransport struct {
	transport
	seq       uint32
	datagrams [][]byte
	seqs      []uint32
}

func (r *recordingTransport) send(m netlink.Message) (uint32, error) {
	seq, err := r.transport.send(m)
	r.seq = seq
	return seq, err
}

func (r *recordingTransport) recv() ([]byte, error) {
	b, err := r.transport.recv()
	if err == nil {
		r.datagrams = append(r.datagrams, bytes.Clone(b))
		r.seqs = append(r.seqs, r.seq)
	}
	return b, err
}

func TestCaptureRealDatagrams(t *testing.T) {
	_, c := captureLab(t, "captures datagrams from sockets in a private network namespace")
	dir := filepath.Join("testdata", "fuzz", "FuzzParseDatagram")
	if !*capture {
		dir = filepath.Join(t.TempDir(), "FuzzParseDatagram")
	}
	clearCaptured(t, dir)
	rec := &recordingTransport{transport: c.tr}
	c.tr = rec
	defer func() { c.tr = rec.transport }()
	for _, d := range []struct {
		name string
		run  func() error
	}{
		{"dump", func() error { _, err := c.Dump(Request{}, nil); return err }},
		{"dump-estab-inet6", func() error {
			_, err := c.Dump(Request{Family: FamilyInet6, States: StateBit(StateEstablished)}, nil)
			return err
		}},
		{"refused-family", func() error {
			_, err := c.dumpFamily(3, Request{}, nil, func([]byte) error { return nil })
			if err == nil {
				return fmt.Errorf("a dump of family 3 succeeded")
			}
			return nil
		}},
	} {
		rec.datagrams, rec.seqs = nil, nil
		if err := d.run(); err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		for i, b := range rec.datagrams {
			writeDatagramCorpus(t, filepath.Join(dir, fmt.Sprintf("real-%s-%d", d.name, i)), b, rec.seqs[i])
		}
	}
	checkRealDatagrams(t, dir)
}

// writeDatagramCorpus writes a seed of FuzzParseDatagram.
func writeDatagramCorpus(t *testing.T, path string, b []byte, seq uint32) {
	t.Helper()
	data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint32(%d)\nuint16(0)\n", b, seq)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
