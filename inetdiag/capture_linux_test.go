package inetdiag

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The seed corpora of FuzzDecodeSocket and FuzzDecodeTCPInfo hold real
// replies of the kernel they were captured on (files named real-*). To
// capture them again, as root:
//
//	go test ./inetdiag -run TestCaptureRealReplies -capture
//
// TestCaptureRealReplies builds a private network namespace with IPv4 and
// IPv6 loopback sockets in the LISTEN, ESTABLISHED, FIN-WAIT-2, CLOSE-WAIT
// and TIME-WAIT states and dumps them with netlink directly, so that the
// bytes are exactly what the kernel sent. With -capture it rewrites every
// real-* file under testdata/fuzz; without, it writes them to a temporary
// directory and checks them as TestSeedCorpusRealReplies checks the
// committed ones, so that a kernel whose replies no longer fit the corpus
// is noticed.
var capture = flag.Bool("capture", false, "rewrite the real-reply seed corpora under testdata/fuzz (needs root)")

func TestCaptureRealReplies(t *testing.T) {
	n, _ := captureLab(t, "captures replies from sockets in a private network namespace")
	ns, err := os.Open(n.path())
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	nl, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, &netlink.Config{NetNS: int(ns.Fd())})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()

	root := filepath.Join("testdata", "fuzz")
	if !*capture {
		root = t.TempDir()
	}
	sockDir := filepath.Join(root, "FuzzDecodeSocket")
	infoDir := filepath.Join(root, "FuzzDecodeTCPInfo")
	for _, dir := range []string{sockDir, infoDir} {
		clearCaptured(t, dir)
	}

	count := map[string]int{}
	for _, fam := range []Family{FamilyInet, FamilyInet6} {
		msgs, err := nl.Execute(netlink.Message{
			Header: netlink.Header{Type: unix.SOCK_DIAG_BY_FAMILY, Flags: netlink.Request | netlink.Dump},
			Data:   marshalRequest(fam, ExtDefault|ExtTOS|ExtTClass, AllStates, SockID{Cookie: NoCookie}, nil),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Header.Type != unix.SOCK_DIAG_BY_FAMILY {
				continue
			}
			var s Socket
			if err := DecodeSocket(&s, m.Data); err != nil {
				t.Fatalf("a real reply does not decode: %v", err)
			}
			base := fmt.Sprintf("real-%s-%s", fam, s.State.Name())
			i := count[base]
			count[base]++
			writeCorpus(t, sockDir, fmt.Sprintf("%s-%d", base, i), m.Data)
			info, ok := attrPayload(m.Data, AttrInfo)
			if !ok || i > 0 {
				continue
			}
			writeCorpus(t, infoDir, base, info)
			if s.State != StateEstablished {
				continue
			}
			// The same reply as an older or a newer kernel would send
			// it: tcp_info cut at every historical size, or longer
			// than any known one.
			for _, l := range append(append([]int(nil), historicalLens...), 300, 400) {
				v := resizeInfo(info, l)
				writeCorpus(t, infoDir, fmt.Sprintf("%s-len%d", base, l), v)
				writeCorpus(t, sockDir, fmt.Sprintf("%s-info%d", base, l), replaceAttr(m.Data, AttrInfo, v))
			}
		}
	}
	t.Logf("captured %v", count)
	checkRealReplies(t, sockDir, runningInfoLen(t))
}

// runningInfoLen is the size of the running kernel's tcp_info, as
// getsockopt(TCP_INFO) gives it: what a dump of this kernel must carry
// (232 bytes on 6.1, 280 on 6.18).
func runningInfoLen(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return tcpInfoLenOf(t, c.(*net.TCPConn))
}

// captureLab builds a private namespace holding the sockets of both
// families' labs, all in their final states, and a Conn inside it.
func captureLab(t *testing.T, why string) (testNet, *Conn) {
	t.Helper()
	requireRoot(t, why)
	n := newNetNS(t)
	c := n.dial(t)
	labs := []*lab{buildLab(t, n, c, FamilyInet), buildLab(t, n, c, FamilyInet6)}
	socks := pollDump(t, c, Request{}, func(s []Socket) bool { return labs[0].settled(s) && labs[1].settled(s) })
	if !labs[0].settled(socks) || !labs[1].settled(socks) {
		t.Fatalf("transitions not done:%s", dumpString(socks))
	}
	return n, c
}

// clearCaptured removes the real-* files of a corpus directory, creating
// it if need be.
func clearCaptured(t *testing.T, dir string) {
	t.Helper()
	old, _ := filepath.Glob(filepath.Join(dir, "real-*"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// resizeInfo cuts tcp_info to n bytes, or extends it with a non-zero tail
// standing for fields a future kernel may add.
func resizeInfo(info []byte, n int) []byte {
	if n <= len(info) {
		return append([]byte(nil), info[:n]...)
	}
	return append(append([]byte(nil), info...), patternInfo(n-len(info))...)
}

// attrPayload returns the payload of the first attribute of type a in a
// reply.
func attrPayload(msg []byte, a Attr) (p []byte, ok bool) {
	walkAttrs(msg, func(typ uint16, payload []byte) {
		if !ok && Attr(typ&0x3fff) == a {
			p, ok = payload, true
		}
	})
	return p, ok
}

// replaceAttr returns the reply with the payload of every attribute of
// type a replaced by p.
func replaceAttr(msg []byte, a Attr, p []byte) []byte {
	out := append([]byte(nil), msg[:72]...)
	walkAttrs(msg, func(typ uint16, payload []byte) {
		if Attr(typ&0x3fff) == a {
			payload = p
		}
		out = append(out, nla(typ, payload)...)
	})
	return out
}

// writeCorpus writes b as a seed file in the format of go test -fuzz.
func writeCorpus(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
