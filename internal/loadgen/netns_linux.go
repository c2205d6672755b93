//go:build linux

package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// RunInNetNS runs fn on an OS thread that has entered the network
// namespace at path (such as /run/netns/NAME). Sockets fn creates belong
// to that namespace for their whole life, whichever thread uses them
// later; the rest of the program stays where it is. If the thread cannot
// be moved back, it is discarded rather than returned to the scheduler.
func RunInNetNS(path string, fn func() error) error {
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("loadgen: open network namespace: %w", err)
	}
	defer target.Close()

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("loadgen: open own network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("loadgen: enter network namespace %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// The thread stays locked: the runtime ends it with this
			// goroutine instead of reusing it in the wrong namespace.
			errc <- fmt.Errorf("loadgen: leave network namespace %s: %w", path, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// netnsPath is where ip-netns(8) mounts a named namespace.
func netnsPath(name string) string { return "/run/netns/" + name }

// runIP runs ip(8) and returns its error output with the error.
func runIP(args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.Command("ip", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// createNetNS creates the named namespace, brings its loopback up and
// widens its ephemeral port range so that tens of thousands of loopback
// connections fit. On failure nothing is left behind.
func createNetNS(name string) (err error) {
	if err := runIP("netns", "add", name); err != nil {
		return fmt.Errorf("loadgen: create network namespace: %w", err)
	}
	defer func() {
		if err != nil {
			_ = runIP("netns", "del", name)
		}
	}()
	if err := runIP("-n", name, "link", "set", "lo", "up"); err != nil {
		return fmt.Errorf("loadgen: bring up lo: %w", err)
	}
	return RunInNetNS(netnsPath(name), func() error {
		// /proc/sys/net shows the namespace of the thread that opens it.
		const f = "/proc/sys/net/ipv4/ip_local_port_range"
		if err := os.WriteFile(f, []byte(portRange), 0); err != nil {
			return fmt.Errorf("loadgen: widen ephemeral ports: %w", err)
		}
		return nil
	})
}

// portRange is the ephemeral port range set in the namespace: every port
// above the privileged ones. The listeners' ports are inside it, which is
// harmless: connect(2) skips ports that are bound.
const portRange = "1024 65535"

func deleteNetNS(name string) error {
	if err := runIP("netns", "del", name); err != nil {
		return fmt.Errorf("loadgen: delete network namespace: %w", err)
	}
	return nil
}
