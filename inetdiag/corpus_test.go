package inetdiag

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// readCorpus reads the []byte value of a seed file in the go test -fuzz
// format ("go test fuzz v1\n[]byte(\"...\")\n").
func readCorpus(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rest, ok := bytes.CutPrefix(data, []byte("go test fuzz v1\n"))
	if !ok {
		t.Fatalf("%s: not a fuzz corpus file", path)
	}
	s := strings.TrimSpace(string(rest))
	if !strings.HasPrefix(s, "[]byte(") || !strings.HasSuffix(s, ")") {
		t.Fatalf("%s: not a single []byte value", path)
	}
	v, err := strconv.Unquote(s[len("[]byte(") : len(s)-1])
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(v)
}

// TestSeedCorpusRealReplies decodes the replies captured from a real
// kernel (see TestCaptureRealReplies) and checks that they cover every
// state of both families and decode as what they are. It needs no
// privilege.
func TestSeedCorpusRealReplies(t *testing.T) {
	checkRealReplies(t, filepath.Join("testdata", "fuzz", "FuzzDecodeSocket"), TCPInfoLen6_18) // the capture kernel's size
}

// checkRealReplies checks the real-* reply files of a corpus directory;
// infoLen is the size of the capturing kernel's tcp_info (the files named
// -infoN are resized to N).
func checkRealReplies(t *testing.T, dir string, infoLen int) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "real-*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no captured replies in %s (run TestCaptureRealReplies with -capture as root)", dir)
	}
	seen := map[string]bool{}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			b := readCorpus(t, path)
			var s Socket
			if err := DecodeSocketFull(&s, new(Full), b); err != nil {
				t.Fatalf("DecodeSocket: %v", err)
			}
			checkDecoded(t, &s, b)
			prefix := fmt.Sprintf("real-%s-%s-", s.Family, s.State.Name())
			if !strings.HasPrefix(name, prefix) {
				t.Fatalf("decodes as %s %s, file is named %s", s.Family, s.State.Name(), name)
			}
			seen[fmt.Sprintf("%s %s", s.Family, s.State)] = true
			if s.ID.Cookie == 0 || !s.ID.Src.IsValid() || s.ID.Src.Port() == 0 {
				t.Errorf("implausible id %+v", s.ID)
			}
			if s.State == StateTimeWait {
				if s.Inode != 0 || s.Timer != TimerTimeWait || s.Has(AttrInfo) {
					t.Errorf("time-wait reply: inode %d timer %s info %v", s.Inode, s.Timer, s.Has(AttrInfo))
				}
				return
			}
			if s.Inode == 0 || !s.Has(AttrInfo) || !s.Has(AttrShutdown) || s.Full.Cong == "" {
				t.Errorf("full socket: inode %d, info %v, shutdown %v, cong %q", s.Inode, s.Has(AttrInfo), s.Has(AttrShutdown), s.Full.Cong)
			}
			want := infoLen
			if _, l, ok := strings.Cut(name, "-info"); ok {
				want, _ = strconv.Atoi(l)
			}
			if int(s.Info.Len) != want {
				t.Errorf("Info.Len = %d, want %d", s.Info.Len, want)
			}
			if s.Info.Has(TCPInfoLen2_6) && s.Info.State != uint8(s.State) {
				t.Errorf("tcpi_state %d, idiag_state %d", s.Info.State, s.State)
			}
		})
	}
	for _, fam := range []Family{FamilyInet, FamilyInet6} {
		for _, st := range []State{StateListen, StateEstablished, StateFinWait2, StateCloseWait, StateTimeWait} {
			if k := fmt.Sprintf("%s %s", fam, st); !seen[k] {
				t.Errorf("no captured reply for %s", k)
			}
		}
	}
}

// readDatagramCorpus reads a seed of FuzzParseDatagram: a datagram, the
// sequence number of its request, and the callback's stopping point.
func readDatagramCorpus(t testing.TB, path string) (b []byte, seq uint32, stopAt uint16) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 4 || lines[0] != "go test fuzz v1" {
		t.Fatalf("%s: not a FuzzParseDatagram seed", path)
	}
	arg := func(line, typ string) string {
		v, ok := strings.CutPrefix(line, typ+"(")
		if !ok || !strings.HasSuffix(v, ")") {
			t.Fatalf("%s: %q is not a %s value", path, line, typ)
		}
		return v[:len(v)-1]
	}
	s, err := strconv.Unquote(arg(lines[1], "[]byte"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	q, err1 := strconv.ParseUint(arg(lines[2], "uint32"), 10, 32)
	st, err2 := strconv.ParseUint(arg(lines[3], "uint16"), 10, 16)
	if err1 != nil || err2 != nil {
		t.Fatalf("%s: %v %v", path, err1, err2)
	}
	return []byte(s), uint32(q), uint16(st)
}

// TestSeedCorpusRealDatagrams parses the datagrams captured from a real
// kernel (see TestCaptureRealDatagrams): every reply decodes, each dump
// ends, and a refused request ends with the kernel's errno. It needs no
// privilege.
func TestSeedCorpusRealDatagrams(t *testing.T) {
	checkRealDatagrams(t, filepath.Join("testdata", "fuzz", "FuzzParseDatagram"))
}

// checkRealDatagrams checks the real-* files of a FuzzParseDatagram corpus
// directory: real-NAME-I is the I-th datagram of the dump NAME.
func checkRealDatagrams(t *testing.T, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "real-*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no captured datagrams in %s (run TestCaptureRealDatagrams with -capture as root)", dir)
	}
	sockets, ended := map[string]int{}, map[string]bool{}
	for _, path := range files {
		name := filepath.Base(path)
		dump := name[:strings.LastIndex(name, "-")]
		b, seq, _ := readDatagramCorpus(t, path)
		p := replyParser{seq: seq}
		n, done, err := p.parse(b, func(pl []byte) error {
			var s Socket
			sockets[dump]++
			return DecodeSocket(&s, pl)
		})
		var errno syscall.Errno
		switch {
		case strings.HasPrefix(dump, "real-refused"):
			if !done || !errors.As(err, &errno) || errno != 2 { // ENOENT: no handler for the family
				t.Errorf("%s: done %v, error %v; want the end with ENOENT", name, done, err)
			}
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case n != len(b):
			t.Errorf("%s: read %d of %d bytes", name, n, len(b))
		}
		ended[dump] = ended[dump] || done
	}
	for dump, done := range ended {
		if !done {
			t.Errorf("%s: no datagram ends the dump", dump)
		}
	}
	// The capture lab holds a listener and six other sockets per family.
	if sockets["real-dump"] < 14 || sockets["real-dump-estab-inet6"] < 2 {
		t.Errorf("sockets per dump %v, want at least 14 in real-dump and 2 in real-dump-estab-inet6", sockets)
	}
}
