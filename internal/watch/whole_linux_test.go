package watch

import (
	"path/filepath"
	"testing"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/record"
)

// wholeSock is okSock with a tcp_info field beyond the core, which only
// a socket kept whole carries.
func wholeSock(cookie uint64, acked uint64) inetdiag.Socket {
	s := okSock(cookie)
	s.Full = &inetdiag.Full{Info: s.Info.AsInfo(), Cong: "cubic"}
	s.Full.Info.BytesAcked = acked
	return s
}

// TestKeepWholeWhatIsShown: a dump keeps compact every socket but those
// of the rows on screen (SetShown's cookies), which carry all the kernel
// sent, from the next poll on; and the whole of each is this poll's, not
// an earlier poll's left in a reused buffer.
func TestKeepWholeWhatIsShown(t *testing.T) {
	poll := 0
	d := &fakeDumper{socks: func(i int) []inetdiag.Socket {
		poll = i
		var out []inetdiag.Socket
		for c := uint64(1); c <= 6; c++ {
			out = append(out, wholeSock(c, uint64(1000*i)+c))
		}
		return out
	}}
	w := fakeWatcher(t, Config{}, d, &fakeNS{}, newFakeClock())
	whole := func() map[uint64]uint64 {
		snap := mustPoll(t, w)
		defer snap.Release() // so that the next poll reuses the buffer
		got := map[uint64]uint64{}
		for _, r := range snap.Rows {
			if r.Sock.Full != nil {
				got[r.Sock.ID.Cookie] = r.Sock.Full.Info.BytesAcked
				if r.Sock.Info != r.Sock.Full.Info.Core() {
					t.Errorf("cookie %d: core %+v is not the whole's", r.Sock.ID.Cookie, r.Sock.Info)
				}
			}
		}
		return got
	}
	if got := whole(); len(got) != 0 {
		t.Fatalf("before anything is shown, kept whole: %v", got)
	}
	w.SetShown(nil, []uint64{2, 5})
	for range 3 {
		got := whole()
		want := map[uint64]uint64{2: uint64(1000*poll) + 2, 5: uint64(1000*poll) + 5}
		if len(got) != len(want) || got[2] != want[2] || got[5] != want[5] {
			t.Fatalf("poll %d: kept whole %v, want %v", poll, got, want)
		}
	}
	w.SetShown(nil, []uint64{3})
	if got := whole(); len(got) != 1 || got[3] != uint64(1000*poll)+3 {
		t.Fatalf("after the screen moved: kept whole %v, want only 3", got)
	}
}

// TestRecordingKeepsEveryoneWhole: while recording, every socket of a
// dump is kept whole, shown or not, for the recording holds all of it.
func TestRecordingKeepsEveryoneWhole(t *testing.T) {
	rw, err := record.Create(filepath.Join(t.TempDir(), "rec"), record.Options{Host: "testhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	w := fakeWatcher(t, Config{Record: rw}, &fakeDumper{socks: always(wholeSock(1, 11), wholeSock(2, 22), okSock(3))}, &fakeNS{}, newFakeClock())
	snap := mustPoll(t, w)
	defer snap.Release()
	for _, r := range snap.Rows {
		if r.Sock.Full == nil {
			t.Fatalf("cookie %d not kept whole while recording", r.Sock.ID.Cookie)
		}
		if want := map[uint64]uint64{1: 11, 2: 22, 3: 0}[r.Sock.ID.Cookie]; r.Sock.Full.Info.BytesAcked != want {
			t.Errorf("cookie %d: bytes_acked %d, want %d", r.Sock.ID.Cookie, r.Sock.Full.Info.BytesAcked, want)
		}
	}
}
