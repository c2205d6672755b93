package vmtest

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"testing"
)

var kernelsDir = flag.String("vm.kernels", os.Getenv("TCPWATCH_VM_KERNELS"),
	"directory of unpacked kernel packages (DIR/X/boot/vmlinuz-R, DIR/X/lib/modules/R); .ci/run fills /var/cache/tcpwatch-kernels")

// kernels returns the kernels to boot, or skips the test saying what is
// missing.
func kernels(t *testing.T) []Kernel {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the guest reads the host's whole root filesystem and builds network namespaces")
	}
	if *kernelsDir == "" {
		t.Skip("no kernels: set TCPWATCH_VM_KERNELS (or -vm.kernels) to a directory of unpacked kernel packages, as .ci/run does")
	}
	for _, tool := range []string{"qemu-system-x86_64", "busybox"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (Debian packages qemu-system-x86, busybox-static)", tool)
		}
	}
	ks, err := FindKernels(*kernelsDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) == 0 {
		t.Skipf("no kernel images under %s", *kernelsDir)
	}
	return ks
}

// TestGuestBoots: each kernel boots, runs a job, reports its release and
// the job's output and exit status (a failing status must come back too).
func TestGuestBoots(t *testing.T) {
	for _, k := range kernels(t) {
		t.Run(k.Release, func(t *testing.T) {
			g, err := Run(context.Background(), Config{Kernel: k}, []Job{
				{Name: "uname", Argv: []string{"uname", "-r"}},
				{Name: "status", Argv: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}},
			})
			if err != nil {
				t.Fatalf("%v\nconsole:\n%s", err, g.Console)
			}
			t.Logf("%s: booted and ran in %v", k.Release, g.Elapsed)
			if g.Release != k.Release {
				t.Errorf("guest release %q, want %q", g.Release, k.Release)
			}
			if got := string(g.Results[0].Stdout); got != k.Release+"\n" || g.Results[0].Exit != 0 {
				t.Errorf("uname -r: %q status %d", got, g.Results[0].Exit)
			}
			if r := g.Results[1]; string(r.Stdout) != "out\n" || string(r.Stderr) != "err\n" || r.Exit != 3 {
				t.Errorf("status job: stdout %q stderr %q exit %d, want out, err, 3", r.Stdout, r.Stderr, r.Exit)
			}
		})
	}
}
