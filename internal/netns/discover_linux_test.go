package netns

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// fakeHost is a fake /proc, /run/netns, docker and kubelet tree. A
// namespace is a plain file: /proc/PID/ns/net and the named entries are
// symlinks to it, so that they stat to the same device and inode, as the
// real ones do.
type fakeHost struct {
	t    *testing.T
	root string
	r    Roots
}

func newFakeHost(t *testing.T) *fakeHost {
	root := t.TempDir()
	h := &fakeHost{t: t, root: root, r: Roots{
		Proc: filepath.Join(root, "proc"), Named: filepath.Join(root, "run/netns"), Docker: filepath.Join(root, "run/docker/netns"),
		Pods: filepath.Join(root, "log/pods"), Containers: filepath.Join(root, "lib/docker/containers"),
	}}
	for _, d := range []string{h.r.Proc, h.r.Named, h.r.Docker, h.r.Pods, h.r.Containers, filepath.Join(root, "nsfs")} {
		h.mkdir(d)
	}
	return h
}

func (h *fakeHost) mkdir(d string) {
	if err := os.MkdirAll(d, 0o755); err != nil {
		h.t.Fatal(err)
	}
}

func (h *fakeHost) write(p, s string) {
	h.mkdir(filepath.Dir(p))
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// ns makes a namespace and returns its file.
func (h *fakeHost) ns(name string) string {
	p := filepath.Join(h.root, "nsfs", name)
	h.write(p, "")
	return p
}

func (h *fakeHost) link(target, p string) {
	h.mkdir(filepath.Dir(p))
	if err := os.Symlink(target, p); err != nil {
		h.t.Fatal(err)
	}
}

// proc makes a process in namespace ns.
func (h *fakeHost) proc(pid int, ns, comm, cgroup string) {
	d := filepath.Join(h.r.Proc, strconv.Itoa(pid))
	h.link(ns, filepath.Join(d, "ns", "net"))
	h.write(filepath.Join(d, "comm"), comm+"\n")
	h.write(filepath.Join(d, "cgroup"), cgroup)
}

func TestDiscoverAndLabel(t *testing.T) {
	h := newFakeHost(t)
	host := h.ns("host")
	h.proc(1, host, "systemd", "0::/init.scope\n")
	h.proc(700, host, "kubelet", "0::/system.slice/kubelet.service\n")
	h.link(host, filepath.Join(h.r.Proc, "thread-self", "ns", "net"))

	// A Kubernetes pod: the pause container and an application share it.
	pod := h.ns("pod")
	podCg := "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod7c1e5b2a_3d4f_4a6b_9c8d_0e1f2a3b4c5d.slice/cri-containerd-"
	h.proc(900, pod, "pause", podCg+id1+".scope\n")
	h.proc(950, pod, "envoy", podCg+id2+".scope\n")
	h.mkdir(filepath.Join(h.r.Pods, "payments_api-7f9c_"+uid))

	// A docker container with its name, and its netns under docker's dir.
	dk := h.ns("docker")
	h.proc(1200, dk, "postgres", "0::/system.slice/docker-"+id1[:60]+"abcd.scope\n")
	h.write(filepath.Join(h.r.Containers, id1[:60]+"abcd", "config.v2.json"), `{"Name":"/billing-db"}`)
	h.link(dk, filepath.Join(h.r.Docker, "a1b2c3"))

	// A named namespace held only by its bind mount, and one named
	// namespace with a process.
	h.link(h.ns("lab"), filepath.Join(h.r.Named, "lab"))
	named := h.ns("named")
	h.link(named, filepath.Join(h.r.Named, "blue"))
	h.proc(1300, named, "nc", "0::/user.slice\n")

	// A process alone in an unnamed namespace, not in any container.
	h.proc(1400, h.ns("solo"), "unshare", "0::/user.slice/user-0.slice/session-1.scope\n")

	// Something that is not a process, and a process without a namespace
	// (gone between the listing and the stat).
	h.write(filepath.Join(h.r.Proc, "meminfo"), "")
	h.mkdir(filepath.Join(h.r.Proc, "1500"))

	f, err := Discover(h.r)
	if err != nil {
		t.Fatal(err)
	}
	pods := ReadPods(h.r.Pods)
	got := map[string]Namespace{}
	for i := range f.Namespaces {
		ns := f.Namespaces[i]
		l := LabelOf(h.r, &ns, pods)
		got[l.Name] = ns
		t.Logf("%-22s pids %v path %s pod %q container %q", l.Name, ns.PIDs, ns.Path, l.Pod, l.Container)
	}
	if len(f.Namespaces) != 6 {
		t.Fatalf("found %d namespaces, want 6", len(f.Namespaces))
	}
	if !f.Namespaces[0].Host || !f.Namespaces[0].Self {
		t.Errorf("the first namespace is not the host's own: %+v", f.Namespaces[0])
	}
	want := []struct {
		label string
		pids  []int
		path  string
	}{
		{"host", []int{1, 700}, filepath.Join(h.r.Proc, "1/ns/net")},
		{"payments/api-7f9c", []int{900, 950}, filepath.Join(h.r.Proc, "900/ns/net")},
		{"billing-db", []int{1200}, filepath.Join(h.r.Docker, "a1b2c3")},
		{"lab", nil, filepath.Join(h.r.Named, "lab")},
		{"blue", []int{1300}, filepath.Join(h.r.Named, "blue")},
		{"unshare[1400]", []int{1400}, filepath.Join(h.r.Proc, "1400/ns/net")},
	}
	for _, w := range want {
		ns, ok := got[w.label]
		if !ok {
			t.Errorf("no namespace labelled %q", w.label)
			continue
		}
		if !slices.Equal(ns.PIDs, w.pids) || ns.Path != w.path {
			t.Errorf("%s: pids %v path %s, want %v %s", w.label, ns.PIDs, ns.Path, w.pids, w.path)
		}
	}
	l := LabelOf(h.r, ptr(got["payments/api-7f9c"]), pods)
	if l.Pod != "payments/api-7f9c" || l.Container != "" || l.Guessed {
		t.Errorf("pod label %+v: want the pod, no single container, not guessed", l)
	}
	// Before the kubelet made the log directory, the pod is named by UID
	// and the label is marked as a guess to be improved.
	l = LabelOf(h.r, ptr(got["payments/api-7f9c"]), nil)
	if l.Name != "pod "+uid || !l.Guessed {
		t.Errorf("pod label without log directories %+v", l)
	}
	if l := LabelOf(h.r, ptr(got["billing-db"]), pods); l.Container != "billing-db" {
		t.Errorf("docker label %+v", l)
	}
}

func ptr[T any](v T) *T { return &v }

// TestDiscoverRealNamespaces (root): a namespace held only by its bind
// mount (ip netns add), one held only by a process (unshare), and both
// disappearing.
func TestDiscoverRealNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (run the suite as root)")
	}
	name := "tw-disc-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	cmd := exec.Command("unshare", "--net", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	// unshare enters the new namespace before it execs sleep.
	var soloID ID
	for deadline := time.Now().Add(5 * time.Second); ; {
		own, _ := statID("/proc/self/ns/net")
		id, err := statID("/proc/" + strconv.Itoa(pid) + "/ns/net")
		if err == nil && id != own {
			soloID = id
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the unshared process never left our namespace")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f, err := Discover(DefaultRoots)
	if err != nil {
		t.Fatal(err)
	}
	var named, solo *Namespace
	for i := range f.Namespaces {
		ns := &f.Namespaces[i]
		if ns.Named == name {
			named = ns
		}
		if ns.ID == soloID {
			solo = ns
		}
	}
	if named == nil || len(named.PIDs) != 0 || named.Path != "/run/netns/"+name {
		t.Errorf("bind-mounted namespace: %+v", named)
	}
	if solo == nil || !slices.Contains(solo.PIDs, pid) || solo.Named != "" {
		t.Fatalf("process-held namespace: %+v", solo)
	}
	if l := LabelOf(DefaultRoots, solo, nil); l.Name != "sleep["+strconv.Itoa(solo.PIDs[0])+"]" {
		t.Errorf("label of the unshared process's namespace: %+v", l)
	}
	self := 0
	for _, ns := range f.Namespaces {
		if ns.Self {
			self++
		}
	}
	if self != 1 {
		t.Errorf("%d namespaces marked as ours, want 1", self)
	}
	// Both go away: the process exits, the bind mount is removed.
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del: %v: %s", err, out)
	}
	f, err = Discover(DefaultRoots)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range f.Namespaces {
		if ns.Named == name || ns.ID == soloID {
			t.Errorf("namespace still found after it was removed: %+v", ns)
		}
	}
}
