//go:build linux

package main

import (
	"bytes"
	endian "encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/record"
	"github.com/tcpwatch/tcpwatch/model"
)

// writeRecording records polls of a tracker over a few connections, some
// retransmitting into a dead peer, in 10-second segments, and returns the
// directory and its segment files in order.
func writeRecording(t *testing.T, polls int) (string, []string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rec")
	w, err := record.Create(dir, record.Options{Host: "db1", SegmentDuration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tr := model.NewTracker(model.Config{Params: model.DefaultParams()})
	t0 := time.Date(2026, 3, 4, 3, 10, 0, 0, time.UTC)
	for i := range polls {
		now := t0.Add(time.Duration(i) * time.Second)
		var socks []inetdiag.Socket
		for c := uint64(1); c <= 30; c++ {
			s := inetdiag.Socket{Family: inetdiag.FamilyInet, State: inetdiag.StateEstablished, Inode: uint32(c),
				ID: inetdiag.SockID{Src: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(30000+c)),
					Dst: netip.MustParseAddrPort("10.0.0.2:5432"), Cookie: c},
				Info: inetdiag.TCPCore{Len: inetdiag.TCPInfoLen6_18, State: uint8(inetdiag.StateEstablished),
					RTO: inetdiag.MicrosOf(204 * time.Millisecond), RTT: inetdiag.MicrosOf(time.Millisecond), LastAckRecv: inetdiag.MillisOf(time.Duration(i) * time.Second)}}
			if c%5 == 0 {
				n := uint8(i%6 + 1)
				s.Timer, s.Retrans, s.SendQ, s.Expires = inetdiag.TimerRetransmit, n, 100, time.Second
				s.Info.Retransmits, s.Info.Backoff, s.Info.Unacked, s.Info.RTO = n, n, 1, inetdiag.MicrosOf(200*time.Millisecond<<n)
			}
			socks = append(socks, s)
		}
		p := &record.Poll{Time: now, Interval: time.Second, Parts: []record.Part{{Socks: socks, Params: tr.Params()}}}
		tr.Update(model.PollInput{Time: now, Socks: socks, Options: p.Parts[0].RecordOptions(nil)})
		if w.KeyframeDue(now) {
			p.State = record.JoinState(tr.MarshalState(now))
		}
		if err := w.Append(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "rec-*.twr"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no segments: %v", err)
	}
	slices.Sort(files)
	return dir, files
}

// runReplayCmd runs tcpwatch replay in this process.
func runReplayCmd(args ...string) (string, string, int) {
	var stdout, stderr bytes.Buffer
	rc := run(append([]string{"replay"}, args...), &stdout, &stderr)
	return stdout.String(), stderr.String(), rc
}

// copyFile copies src to a new file in a directory of the test's own,
// changed by edit.
func copyFile(t *testing.T, src string, edit func([]byte) []byte) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, edit(b), 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestReplayBadInput: a recording that is empty, foreign, of a newer
// format, truncated or corrupted gives a clear error naming the file,
// the offset and what was wrong (status 1), never a panic or a silent
// wrong answer; what can be read before and after the damage replays as
// it would from an intact recording; a torn tail is a note, not an error.
func TestReplayBadInput(t *testing.T) {
	dir, files := writeRecording(t, 35)
	if len(files) < 3 {
		t.Fatalf("%d segments, want 3 or more", len(files))
	}
	full, stderr, rc := runReplayCmd(dir, "--json")
	if rc != 0 || stderr != "" {
		t.Fatalf("the intact recording: status %d, stderr %q", rc, stderr)
	}
	fullPolls := polls(t, full)
	if len(fullPolls) != 35 {
		t.Fatalf("the intact recording replays %d polls, want 35", len(fullPolls))
	}
	// The polls of each segment of the intact replay (10 s each).
	seg := func(i int) [][]string { return fullPolls[i*10 : min(len(fullPolls), i*10+10)] }
	segFull, _, _ := runReplayCmd(files[0], "--json")

	emptyDir := t.TempDir()
	empty := filepath.Join(t.TempDir(), "empty.twr")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(foreign, []byte("these are not the polls you are looking for\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	newer := copyFile(t, files[0], func(b []byte) []byte {
		endian.LittleEndian.PutUint16(b[8:], record.Version+1)
		return b
	})
	headless := copyFile(t, files[0], func(b []byte) []byte { return b[:20] })

	for _, tc := range []struct {
		name string
		path string
		want []string // in the error line
	}{
		{"empty file", empty, []string{"empty.twr", "offset 0", "empty"}},
		{"empty directory", emptyDir, []string{"offset 0", "empty", "no segments"}},
		{"foreign file", foreign, []string{"notes.txt", "offset 0", "not a tcpwatch recording"}},
		{"newer version", newer, []string{"offset 8", "newer", "version"}},
		{"truncated in the header", headless, []string{"offset 12", "truncated"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range [][]string{{"--json"}, {"--once"}} {
				out, stderr, rc := runReplayCmd(append([]string{tc.path}, mode...)...)
				if rc != 1 || out != "" {
					t.Errorf("%v: status %d, stdout %q", mode, rc, out)
				}
				if !strings.HasPrefix(stderr, "tcpwatch: replay: ") || strings.Count(stderr, "\n") != 1 {
					t.Errorf("%v: want one error line, got %q", mode, stderr)
				}
				for _, w := range tc.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("%v: the error does not say %q: %q", mode, w, stderr)
					}
				}
			}
		})
	}

	t.Run("torn tail", func(t *testing.T) {
		// A writer killed mid-record: the file ends inside its last poll.
		fi, err := os.Stat(files[0])
		if err != nil {
			t.Fatal(err)
		}
		torn := copyFile(t, files[0], func(b []byte) []byte { return b[:fi.Size()-40] })
		out, stderr, rc := runReplayCmd(torn, "--json")
		if rc != 0 || !strings.Contains(stderr, "note:") || !strings.Contains(stderr, "offset") {
			t.Fatalf("status %d, stderr %q: want 0 and a note naming the offset", rc, stderr)
		}
		got := polls(t, out)
		if len(got) == 0 || len(got) >= 10 || !strings.HasPrefix(segFull, out) {
			t.Fatalf("%d polls, want those before the tear as the intact segment gives them", len(got))
		}
	})

	t.Run("corrupted byte", func(t *testing.T) {
		b, err := os.ReadFile(files[1])
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)*2/3] ^= 0x40
		if err := os.WriteFile(files[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
		out, stderr, rc := runReplayCmd(dir, "--json")
		if rc != 1 {
			t.Errorf("status %d, want 1", rc)
		}
		for _, w := range []string{"tcpwatch: replay: ", filepath.Base(files[1]), "offset ", "checksum"} {
			if !strings.Contains(stderr, w) {
				t.Errorf("stderr does not say %q: %q", w, stderr)
			}
		}
		got := polls(t, out)
		// The first segment whole, the second up to the damage, the
		// others whole (replay restarts at the next keyframe), each poll
		// as the intact recording gives it.
		want := slices.Concat(seg(0), seg(2), seg(3))
		kept := map[string]bool{}
		for _, p := range got {
			kept[strings.Join(p, "\n")] = true
		}
		all := map[string]bool{}
		for _, p := range fullPolls {
			all[strings.Join(p, "\n")] = true
		}
		for _, p := range want {
			if !kept[strings.Join(p, "\n")] {
				t.Fatalf("a poll of an intact segment is missing or differs:\n%s", strings.Join(p, "\n"))
			}
		}
		for _, p := range got {
			if !all[strings.Join(p, "\n")] {
				t.Fatalf("the damaged recording replays a poll the intact one does not give:\n%s", strings.Join(p, "\n"))
			}
		}
		if len(got) >= len(fullPolls) || len(got) < len(want) {
			t.Fatalf("%d polls of %d: the damage lost nothing, or too much", len(got), len(fullPolls))
		}
		// --once --at past the damage still finds its poll.
		at := time.Date(2026, 3, 4, 3, 10, 25, 0, time.UTC).Format(time.RFC3339)
		once, stderr, rc := runReplayCmd(dir, "--once", "--json", "--at", at)
		if rc != 0 || once != strings.Join(fullPolls[25], "\n")+"\n" {
			t.Errorf("--once --at %s past the damage: status %d, stderr %q\n%s", at, rc, stderr, once)
		}
	})
}
