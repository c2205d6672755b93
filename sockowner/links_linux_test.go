package sockowner

import (
	"testing"
)

// A process with more descriptors than parallelLinks is read on two
// threads: every socket is found with its descriptor, nothing else is
// taken for one, and every link is counted once.
func TestScanManyDescriptors(t *testing.T) {
	const n = parallelLinks*2 + 7
	fds := map[int]string{}
	var wanted []uint32
	for fd := 3; fd < 3+n; fd++ {
		switch {
		case fd%10 == 0:
			fds[fd] = "/dev/null"
		case fd%10 == 1:
			fds[fd] = "anon_inode:[eventpoll]"
		default:
			fds[fd] = sock(uint32(100000 + fd))
			wanted = append(wanted, uint32(100000+fd))
		}
	}
	root := fakeTree(t, map[int]fakeProc{4242: {comm: "proxy", fds: fds}, 4243: {comm: "small", fds: map[int]string{3: sock(7)}}})
	idx := newTestIndex(root)
	st, err := idx.Refresh(append(wanted, 7), t0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Unresolved != 0 {
		t.Errorf("%d of %d sockets unresolved", st.Unresolved, len(wanted)+1)
	}
	for _, ino := range wanted {
		o, k := idx.Owner(ino)
		if k != 1 || o.PID != 4242 || o.FD != int(ino-100000) || o.Comm != "proxy" {
			t.Fatalf("inode %d: owner %+v (%d), want proxy[4242] fd %d", ino, o, k, ino-100000)
		}
	}
	if pids, sockets := idx.Size(); sockets != len(wanted)+1 {
		t.Errorf("index holds %d sockets of %d processes, want %d", sockets, pids, len(wanted)+1)
	}
	if st.LinksRead > n+1 || st.LinksRead < len(wanted)+1 {
		t.Errorf("%d links read for %d descriptors", st.LinksRead, n+1)
	}
}
