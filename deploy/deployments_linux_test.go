package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"
)

// ownerCaps are the capabilities tcpwatch asks for, and the only ones the
// deployments grant: CAP_DAC_READ_SEARCH to list other users'
// /proc/PID/fd (sockowner: process names), CAP_SYS_PTRACE for pidfd_getfd
// (sockowner: the sockets' own options). TestCapabilitiesAreNeeded shows
// that both are needed and enough.
var ownerCaps = []string{"CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"}

// k8sObject is the part of a Kubernetes object the tests read.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name        string            `yaml:"name"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec struct {
		Template struct {
			Metadata struct {
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				HostNetwork bool `yaml:"hostNetwork"`
				HostPID     bool `yaml:"hostPID"`
				Containers  []struct {
					Name string   `yaml:"name"`
					Args []string `yaml:"args"`
					Env  []struct {
						Name      string `yaml:"name"`
						ValueFrom *struct {
							FieldRef struct {
								FieldPath string `yaml:"fieldPath"`
							} `yaml:"fieldRef"`
						} `yaml:"valueFrom"`
					} `yaml:"env"`
					Ports []struct {
						ContainerPort int `yaml:"containerPort"`
					} `yaml:"ports"`
					Resources struct {
						Requests map[string]string `yaml:"requests"`
						Limits   map[string]string `yaml:"limits"`
					} `yaml:"resources"`
					VolumeMounts []struct {
						Name        string `yaml:"name"`
						MountPath   string `yaml:"mountPath"`
						ReadOnly    bool   `yaml:"readOnly"`
						Propagation string `yaml:"mountPropagation"`
					} `yaml:"volumeMounts"`
					SecurityContext struct {
						AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
						ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
						Privileged               bool  `yaml:"privileged"`
						Capabilities             struct {
							Drop []string `yaml:"drop"`
							Add  []string `yaml:"add"`
						} `yaml:"capabilities"`
					} `yaml:"securityContext"`
				} `yaml:"containers"`
				Volumes []struct {
					Name     string `yaml:"name"`
					HostPath struct {
						Path string `yaml:"path"`
					} `yaml:"hostPath"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// readK8s decodes every document of a manifest, failing on a field the
// structure above does not expect only where it matters: the YAML must
// parse, and each document must have a kind.
func readK8s(t *testing.T, path string) []k8sObject {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []k8sObject
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if o.Kind == "" {
			t.Fatalf("%s: a document without a kind", path)
		}
		out = append(out, o)
	}
	return out
}

// The two DaemonSets: the node's own namespace, and every pod's.
const (
	daemonSetFile       = "kubernetes/tcpwatch-daemonset.yaml"
	daemonSetAllNSFile  = "kubernetes/tcpwatch-daemonset-all-netns.yaml"
	daemonSetAllNSExtra = "CAP_SYS_ADMIN" // what -A needs beyond ownerCaps: setns
)

func daemonSet(t *testing.T) k8sObject { return daemonSetIn(t, daemonSetFile) }

func daemonSetIn(t *testing.T, path string) k8sObject {
	t.Helper()
	for _, o := range readK8s(t, path) {
		if o.Kind == "DaemonSet" {
			return o
		}
	}
	t.Fatalf("no DaemonSet in %s", path)
	return k8sObject{}
}

// unitFile returns the directives of a systemd unit, by name, in order.
func unitFile(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=VALUE", path, line)
		}
		out[k] = append(out[k], v)
	}
	return out
}

// acceptsFlags runs the binary with args and --version: the flag parser
// checks every flag and value before --version is honoured, so exit 0
// means every flag is accepted.
func acceptsFlags(t *testing.T, args []string) error {
	t.Helper()
	cmd := exec.Command(binary(t), append(slices.Clone(args), "--version")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	return nil
}

func normCaps(caps []string) []string {
	var out []string
	for _, c := range caps {
		c = strings.ToUpper(strings.TrimSpace(c))
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// TestDaemonSet checks the Kubernetes manifest: it parses, the pod is in
// the node's network and PID namespaces, tcpwatch listens on the pod's IP
// with flags the binary accepts, requests and limits are set, and the
// capabilities are exactly the ones tcpwatch asks for, everything else
// dropped, no escalation.
func TestDaemonSet(t *testing.T) {
	ds := daemonSet(t)
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork || !spec.HostPID {
		t.Errorf("hostNetwork %v, hostPID %v: both are needed to watch the node's sockets and name their processes", spec.HostNetwork, spec.HostPID)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	// Kubernetes expands $(POD_IP) from the env; so does this test.
	var podIPVar string
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP" {
			podIPVar = "$(" + e.Name + ")"
		}
	}
	i := slices.Index(c.Args, "--metrics")
	if i < 0 || i+1 >= len(c.Args) || !strings.HasPrefix(c.Args[i+1], podIPVar+":") || podIPVar == "" {
		t.Errorf("args %q: want --metrics on the pod's IP (an env from status.podIP)", c.Args)
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = strings.ReplaceAll(a, podIPVar, "127.0.0.1")
	}
	if err := acceptsFlags(t, args); err != nil {
		t.Errorf("tcpwatch refuses the DaemonSet's args %q: %v", args, err)
	}
	if err := acceptsFlags(t, append(args, "--no-such-flag")); err == nil {
		t.Error("an unknown flag was accepted: the flag check cannot fail")
	}
	port := strconv.Itoa(c.Ports[0].ContainerPort)
	if _, p, _ := net.SplitHostPort(args[i+1]); p != port {
		t.Errorf("listens on port %s, the container declares %s", p, port)
	}
	a := ds.Spec.Template.Metadata.Annotations
	if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != port {
		t.Errorf("scrape annotations %v, want scrape true on port %s", a, port)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	sc := c.SecurityContext
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Privileged || !sc.ReadOnlyRootFilesystem {
		t.Errorf("securityContext %+v: want no privilege escalation, not privileged, read-only root", sc)
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("capabilities drop %q, want [ALL]", sc.Capabilities.Drop)
	}
	if got := normCaps(sc.Capabilities.Add); !slices.Equal(got, ownerCaps) {
		t.Errorf("capabilities add %q, want exactly %q", got, ownerCaps)
	}
	for _, o := range readK8s(t, "kubernetes/servicemonitor.yaml") {
		if o.Kind != "Service" && o.Kind != "ServiceMonitor" {
			t.Errorf("servicemonitor.yaml: unexpected %s", o.Kind)
		}
	}
}

// TestSystemdUnit checks the systemd unit: systemd-analyze verify finds
// nothing to say about it, its ExecStart flags are accepted by the binary,
// its capabilities are exactly tcpwatch's, and systemd-analyze security
// rates its exposure as OK or better.
func TestSystemdUnit(t *testing.T) {
	const path = "systemd/tcpwatch.service"
	u := unitFile(t, path)
	if len(u["ExecStart"]) != 1 {
		t.Fatalf("ExecStart %q, want one", u["ExecStart"])
	}
	exec0 := strings.Fields(u["ExecStart"][0])
	if err := acceptsFlags(t, exec0[1:]); err != nil {
		t.Errorf("tcpwatch refuses the unit's ExecStart flags %q: %v", exec0[1:], err)
	}
	for _, k := range []string{"AmbientCapabilities", "CapabilityBoundingSet"} {
		if got := normCaps(strings.Fields(strings.Join(u[k], " "))); !slices.Equal(got, ownerCaps) {
			t.Errorf("%s %q, want exactly %q", k, got, ownerCaps)
		}
	}
	for k, want := range map[string]string{"NoNewPrivileges": "yes", "ProtectSystem": "strict", "DynamicUser": "yes", "ProtectHome": "yes"} {
		if got := strings.Join(u[k], " "); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	// Not installed by CI (a machine without systemd has no use for the
	// unit): skipped there too when missing, saying so.
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found: the unit's flags and capabilities were checked, systemd's verify and security ratings were not (install systemd to run them)")
	}
	// verify checks that the ExecStart binary exists: point it at the
	// one just built, the only change.
	dir := t.TempDir()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "tcpwatch.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(b, []byte(exec0[0]), []byte(binary(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "verify", "--man=no", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	text, err := exec.Command(bin, "security", "--offline=true", unit).Output()
	if err != nil {
		t.Skipf("systemd-analyze security --offline: %v (systemd older than 252?)", err)
	}
	last := strings.TrimSpace(string(text))
	if i := strings.LastIndex(last, "\n"); i >= 0 {
		last = last[i+1:]
	}
	t.Logf("systemd-analyze security: %s", last)
	if !strings.Contains(last, " OK ") && !strings.Contains(last, " SAFE ") {
		t.Errorf("systemd-analyze security rates the unit %q, want OK or SAFE", last)
	}
}

// TestContainerBuildFile checks the container build file without a
// container runtime: a static build (CGO off), an empty final base, the
// binary as entry point, and no capability baked into the image.
func TestContainerBuildFile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		lines = append(lines, l)
		if f, ok := strings.CutPrefix(l, "FROM "); ok {
			froms = append(froms, f)
		}
	}
	if len(froms) < 2 || (froms[len(froms)-1] != "scratch" && !strings.HasPrefix(froms[len(froms)-1], "gcr.io/distroless/static")) {
		t.Errorf("stages %q: want a build stage and a scratch or distroless/static final stage", froms)
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{"CGO_ENABLED=0", `ENTRYPOINT ["/tcpwatch"]`, "USER 65534"} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	if strings.Contains(text, "setcap") {
		t.Error("Dockerfile sets file capabilities: they are ignored under no-new-privileges, and widen every container of the image")
	}
	// The default command must be flags the binary accepts.
	for _, l := range lines {
		if c, ok := strings.CutPrefix(l, "CMD "); ok {
			var args []string
			if err := json.Unmarshal([]byte(c), &args); err != nil {
				t.Fatalf("CMD %s: %v", c, err)
			}
			if err := acceptsFlags(t, args); err != nil {
				t.Errorf("tcpwatch refuses the image's CMD %q: %v", args, err)
			}
		}
	}
}

// asNobody is the setpriv command line that runs a program as nobody with
// exactly caps (ambient, so that they survive the exec, as systemd's
// AmbientCapabilities gives them) and no other in its bounding set.
func asNobody(t *testing.T, caps []string) []string {
	t.Helper()
	bin := need(t, "setpriv", "install util-linux's setpriv to run tcpwatch with the deployments' capabilities")
	args := []string{bin, "--reuid=65534", "--regid=65534", "--clear-groups"}
	if len(caps) == 0 {
		return append(args, "--inh-caps=-all", "--bounding-set=-all")
	}
	var list []string
	for _, c := range caps {
		list = append(list, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	l := strings.Join(list, ",")
	return append(args, "--inh-caps="+l, "--ambient-caps="+l, "--bounding-set=-all,"+l)
}

// TestCapabilitiesAreNeeded runs tcpwatch as nobody with the deployments'
// capabilities and with fewer, on a socket of this (root) process: with
// both, tcpwatch names the owning process and says nothing about missing
// privileges; without either one, it cannot.
func TestCapabilitiesAreNeeded(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs tcpwatch as another user with chosen capabilities")
	}
	ds := daemonSet(t)
	granted := normCaps(ds.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	run := func(caps []string) (pid int, stderr string) {
		argv := append(asNobody(t, caps), binary(t), "--once", "--json", "--sport", port, "--state", "listen")
		cmd := exec.Command(argv[0], argv[1:]...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%q: %v\n%s", argv, err, errb.String())
		}
		var row struct {
			PID int `json:"pid"`
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &row) != nil {
			t.Fatalf("%q: want one JSON row for the listener, got %q", argv, out)
		}
		return row.PID, errb.String()
	}
	for _, tc := range []struct {
		name string
		caps []string
		want bool
	}{
		{"the deployments' capabilities", granted, true},
		{"none", nil, false},
		{"CAP_SYS_PTRACE only", []string{"CAP_SYS_PTRACE"}, false},
		{"CAP_DAC_READ_SEARCH only", []string{"CAP_DAC_READ_SEARCH"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pid, stderr := run(tc.caps)
			if named := pid == os.Getpid(); named != tc.want {
				t.Errorf("with %q: owner pid %d (this process is %d), want named: %v", tc.caps, pid, os.Getpid(), tc.want)
			}
			if warned := strings.Contains(stderr, "not root"); warned == tc.want {
				t.Errorf("with %q: stderr %q: want a note about missing privileges: %v", tc.caps, stderr, !tc.want)
			}
		})
	}
}
