package netns

import (
	"os"
	"path/filepath"
	"testing"
)

const (
	id1 = "4f3c2b1a09e8d7c6b5a49382716059483f2e1d0c9b8a79685746352413021f0e"
	id2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	uid = "7c1e5b2a-3d4f-4a6b-9c8d-0e1f2a3b4c5d"
)

func TestParseCgroup(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
		want Container
	}{
		{"docker, cgroup v2, systemd driver", "0::/system.slice/docker-" + id1 + ".scope\n", true, Container{Runtime: Docker, ID: id1}},
		{"docker, cgroup v1, cgroupfs driver", "12:pids:/docker/" + id1 + "\n11:memory:/docker/" + id1 + "\n", true, Container{Runtime: Docker, ID: id1}},
		{"kubernetes containerd, systemd driver", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c1e5b2a_3d4f_4a6b_9c8d_0e1f2a3b4c5d.slice/cri-containerd-" + id2 + ".scope\n",
			true, Container{Runtime: Containerd, ID: id2, PodUID: uid}},
		{"kubernetes, cgroupfs driver", "4:memory:/kubepods/besteffort/pod" + uid + "/" + id2 + "\n", true, Container{Runtime: Containerd, ID: id2, PodUID: uid}},
		{"kubernetes cri-o", "0::/kubepods.slice/kubepods-pod7c1e5b2a_3d4f_4a6b_9c8d_0e1f2a3b4c5d.slice/crio-" + id1 + ".scope\n", true, Container{Runtime: CRIO, ID: id1, PodUID: uid}},
		{"podman, root", "0::/machine.slice/libpod-" + id2 + ".scope/container\n", true, Container{Runtime: Podman, ID: id2}},
		{"podman, rootless", "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id2 + ".scope\n", true, Container{Runtime: Podman, ID: id2}},
		{"podman's conmon is not the container", "0::/machine.slice/libpod-conmon-" + id2 + ".scope\n", false, Container{}},
		{"cri-o's conmon is not the container", "0::/kubepods.slice/crio-conmon-" + id1 + ".scope\n", false, Container{}},
		{"a login session", "0::/user.slice/user-1000.slice/session-3.scope\n", false, Container{}},
		{"the root cgroup", "0::/\n", false, Container{}},
		{"garbage", "no colons here\n::\n", false, Container{}},
		{"an ID too short", "0::/system.slice/docker-4f3c2b1a.scope\n", false, Container{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseCgroup([]byte(tt.in))
			if ok != tt.ok || got != tt.want {
				t.Errorf("ParseCgroup(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestReadPods(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"kube-system_coredns-5d78c9869d-x2kqp_" + uid, "default_web-0_1b2c3d4e-0000-4000-8000-000000000001", "not-a-pod", "a_b", "_x_y"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pods := ReadPods(dir)
	if len(pods) != 2 {
		t.Fatalf("ReadPods: %d pods, want 2: %v", len(pods), pods)
	}
	if got, want := pods[uid].String(), "kube-system/coredns-5d78c9869d-x2kqp"; got != want {
		t.Errorf("pod %s = %q, want %q", uid, got, want)
	}
	if ReadPods(filepath.Join(dir, "missing")) != nil {
		t.Errorf("a missing directory gave pods")
	}
}

func TestDockerName(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, id1), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, id1, "config.v2.json"), []byte(`{"ID":"`+id1+`","Name":"/billing-db"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := DockerName(dir, id1); got != "billing-db" {
		t.Errorf("DockerName = %q, want billing-db", got)
	}
	if got := DockerName(dir, id2); got != "" {
		t.Errorf("DockerName of an unknown container = %q, want empty", got)
	}
}
