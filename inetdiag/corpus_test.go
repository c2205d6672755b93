package inetdiag

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readCorpus reads the []byte value of a seed file in the go test -fuzz
// format ("go test fuzz v1\n[]byte(\"...\")\n").
func readCorpus(t *testing.T, path string) []byte {
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
	checkRealReplies(t, filepath.Join("testdata", "fuzz", "FuzzDecodeSocket"))
}

// checkRealReplies checks the real-* reply files of a corpus directory.
func checkRealReplies(t *testing.T, dir string) {
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
			if err := DecodeSocket(&s, b); err != nil {
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
			if s.Inode == 0 || !s.Has(AttrInfo) || !s.Has(AttrShutdown) || s.Cong == "" {
				t.Errorf("full socket: inode %d, info %v, shutdown %v, cong %q", s.Inode, s.Has(AttrInfo), s.Has(AttrShutdown), s.Cong)
			}
			want := TCPInfoLen6_18 // the capture kernel's size
			if _, l, ok := strings.Cut(name, "-info"); ok {
				want, _ = strconv.Atoi(l)
			}
			if s.Info.Len != want {
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
