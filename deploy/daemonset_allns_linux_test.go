package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/tcpwatch/tcpwatch/internal/netns"
)

// TestDaemonSetAllNetNS checks the DaemonSet of every pod's namespace: it
// differs from the node's one by --all-netns (accepted by the binary),
// CAP_SYS_ADMIN beside the owner capabilities and nothing else, and the
// node's directories where discovery and labels look (DefaultRoots),
// mounted read-only from the same paths on the node.
func TestDaemonSetAllNetNS(t *testing.T) {
	base, ds := daemonSet(t), daemonSetIn(t, daemonSetAllNSFile)
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork || !spec.HostPID {
		t.Errorf("hostNetwork %v, hostPID %v: the node's namespace is the host's, the pods' are found through the node's processes", spec.HostNetwork, spec.HostPID)
	}
	c := spec.Containers[0]
	if !slices.Contains(c.Args, "--all-netns") {
		t.Errorf("args %q: no --all-netns", c.Args)
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = strings.ReplaceAll(a, "$(POD_IP)", "127.0.0.1")
	}
	if err := acceptsFlags(t, args); err != nil {
		t.Errorf("tcpwatch refuses the DaemonSet's args %q: %v", args, err)
	}
	if want := normCaps(append(slices.Clone(ownerCaps), daemonSetAllNSExtra)); !slices.Equal(normCaps(c.SecurityContext.Capabilities.Add), want) {
		t.Errorf("capabilities add %q, want exactly %q", c.SecurityContext.Capabilities.Add, want)
	}
	sc := c.SecurityContext
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Privileged || !sc.ReadOnlyRootFilesystem || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("securityContext %+v: want the node DaemonSet's restrictions", sc)
	}
	hostPaths := map[string]string{}
	for _, v := range spec.Volumes {
		hostPaths[v.Name] = v.HostPath.Path
	}
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		if !m.ReadOnly || hostPaths[m.Name] != m.MountPath {
			t.Errorf("mount %+v: want read-only, from the same path on the node (volume: %q)", m, hostPaths[m.Name])
		}
		mounted[m.MountPath] = true
	}
	for _, p := range []string{netns.DefaultRoots.Named, netns.DefaultRoots.Docker, netns.DefaultRoots.Pods} {
		if !mounted[p] {
			t.Errorf("%s is not mounted: discovery or the pods' names look there", p)
		}
	}
	// Everything else as in the node's DaemonSet.
	if fmt.Sprint(base.Spec.Template.Metadata.Annotations) != fmt.Sprint(ds.Spec.Template.Metadata.Annotations) {
		t.Errorf("scrape annotations differ from the node DaemonSet's")
	}
}

// TestAllNetNSCapabilities runs tcpwatch -A as nobody with the
// capabilities of the all-namespaces DaemonSet, and without
// CAP_SYS_ADMIN, beside a namespace holding a listener: with them the
// listener's row comes from its namespace, labelled; without, tcpwatch
// still runs (the host's namespace) and says why the other is missing.
func TestAllNetNSCapabilities(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and runs tcpwatch as another user with chosen capabilities")
	}
	ds := daemonSetIn(t, daemonSetAllNSFile)
	granted := normCaps(ds.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add)
	name := fmt.Sprintf("tw-caps-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link: %v: %s", err, out)
	}
	// The listener lives in the namespace; this process holds it.
	var ln net.Listener
	if err := netns.Do("/run/netns/"+name, func() error {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:7779")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	run := func(caps []string) (netnsLabels []string, stderr string) {
		argv := append(asNobody(t, caps), binary(t), "-A", "--once", "--json", "--sport", "7779", "--state", "listen")
		cmd := exec.Command(argv[0], argv[1:]...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%q: %v\n%s", argv, err, errb.String())
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line == "" {
				continue
			}
			var row struct {
				NetNS string `json:"netns"`
			}
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				t.Fatalf("%q: %v: %q", argv, err, line)
			}
			netnsLabels = append(netnsLabels, row.NetNS)
		}
		return netnsLabels, errb.String()
	}
	got, stderr := run(granted)
	if !slices.Equal(got, []string{name}) {
		t.Errorf("with %q: rows from namespaces %q, want the listener's from %s\n%s", granted, got, name, stderr)
	}
	without := slices.DeleteFunc(slices.Clone(granted), func(c string) bool { return c == daemonSetAllNSExtra })
	got, stderr = run(without)
	if len(got) != 0 || !strings.Contains(stderr, name) || !strings.Contains(stderr, "not permitted") {
		t.Errorf("without CAP_SYS_ADMIN: rows from %q, stderr %q; want none, and a notice naming %s", got, stderr, name)
	}
}
