package netns

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Runtime is the container runtime that created a container.
type Runtime string

// Container runtimes recognised from cgroup paths.
const (
	Docker     Runtime = "docker"
	Containerd Runtime = "containerd"
	CRIO       Runtime = "cri-o"
	Podman     Runtime = "podman"
)

// Container is a container found in a process's cgroup path.
type Container struct {
	Runtime Runtime
	ID      string // the full 64-hex-digit ID
	// PodUID is the Kubernetes pod the container belongs to ("" if none),
	// with dashes, as in the pod's metadata.uid.
	PodUID string
}

// ShortID is the 12-digit form docker and crictl print.
func (c Container) ShortID() string {
	if len(c.ID) > 12 {
		return c.ID[:12]
	}
	return c.ID
}

var (
	// A container's cgroup leaf, as the runtimes name it with the systemd
	// cgroup driver ("docker-ID.scope", "cri-containerd-ID.scope",
	// "crio-ID.scope", "libpod-ID.scope") or with cgroupfs ("/docker/ID",
	// "/kubepods/burstable/podUID/ID", "/machine.slice/libpod-ID").
	scopeRE = regexp.MustCompile(`(?:^|/)(docker|cri-containerd|crio|libpod)-([0-9a-f]{64})(?:\.scope)?(?:/|$)`)
	plainRE = regexp.MustCompile(`(?:^|/)(docker|kubepods[^/]*(?:/[^/]+)*?)/([0-9a-f]{64})(?:/|$)`)
	// The pod's cgroup: "kubepods-burstable-pod<UID>.slice" (systemd
	// driver, dashes of the UID written as underscores) or "pod<UID>"
	// (cgroupfs).
	podRE = regexp.MustCompile(`pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?(?:/|$)`)
)

// ParseCgroup finds the container, if any, in the contents of
// /proc/PID/cgroup (cgroup v1 or v2). A process of no container returns
// false.
func ParseCgroup(b []byte) (Container, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if c, ok := parseCgroupPath(parts[2]); ok {
			return c, true
		}
	}
	return Container{}, false
}

func parseCgroupPath(path string) (Container, bool) {
	var c Container
	if m := podRE.FindStringSubmatch(path); m != nil {
		c.PodUID = strings.ReplaceAll(m[1], "_", "-")
	}
	if m := scopeRE.FindStringSubmatch(path); m != nil {
		c.ID = m[2]
		switch m[1] {
		case "docker":
			c.Runtime = Docker
		case "cri-containerd":
			c.Runtime = Containerd
		case "crio":
			c.Runtime = CRIO
		case "libpod":
			c.Runtime = Podman
		}
		return c, true
	}
	if m := plainRE.FindStringSubmatch(path); m != nil {
		c.ID = m[2]
		c.Runtime = Docker
		if strings.HasPrefix(m[1], "kubepods") {
			// cgroupfs driver: the path does not say which CRI runtime;
			// containerd is the common one.
			c.Runtime = Containerd
		}
		return c, true
	}
	return Container{}, false
}

// Pod is a Kubernetes pod as the kubelet names its log directory.
type Pod struct {
	Namespace, Name, UID string
}

// String is "namespace/name", as kubectl prints it.
func (p Pod) String() string { return p.Namespace + "/" + p.Name }

// ReadPods maps pod UIDs to pods from the kubelet's log directories
// (/var/log/pods/NAMESPACE_NAME_UID, kuberuntime.BuildPodLogsDirectory):
// no CRI socket or API access is needed. A missing directory is no pods.
func ReadPods(dir string) map[string]Pod {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	out := make(map[string]Pod, len(ents))
	for _, e := range ents {
		// Namespaces and pod names are DNS labels and subdomains: they
		// never contain "_", so the name splits in three.
		parts := strings.Split(e.Name(), "_")
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			continue
		}
		out[parts[2]] = Pod{Namespace: parts[0], Name: parts[1], UID: parts[2]}
	}
	return out
}

// DockerName reads a docker container's name from its configuration
// (/var/lib/docker/containers/ID/config.v2.json), without the leading "/".
func DockerName(containersDir, id string) string {
	b, err := os.ReadFile(filepath.Join(containersDir, id, "config.v2.json"))
	if err != nil {
		return ""
	}
	var cfg struct{ Name string }
	if json.Unmarshal(b, &cfg) != nil {
		return ""
	}
	return strings.TrimPrefix(cfg.Name, "/")
}

// Label is what a person calls a namespace.
type Label struct {
	// Name is shown in the NETNS column and the JSON "netns" field: the
	// `ip netns` name; else the pod as namespace/name; else the container
	// (docker's name, or runtime:short-ID); else comm[pid] of its first
	// process; "host" for the host's own.
	Name string
	// Pod ("namespace/name") and Container are set when known.
	Pod, Container string
	// Guessed is true when the name is a fallback that a later look may
	// improve (a pod whose log directory the kubelet has not made yet).
	Guessed bool
}
