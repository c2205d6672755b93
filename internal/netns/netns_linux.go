// Package netns is about the host's network namespaces: finding them
// (Discover: every process's, the named ones, docker's), naming them as a
// person knows them (LabelOf: the ip-netns name, the Kubernetes pod, the
// container, the first process), and running code inside one without
// moving the rest of the program (Do: the calling goroutine is locked to
// its OS thread, the thread enters the namespace, and it comes back before
// it is unlocked; sockets created there stay in that namespace for their
// whole life).
//
// It reads /proc, /run/netns, docker's and the kubelet's directories; it
// never changes a namespace, and needs no container runtime's API.
package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Path resolves a namespace given as a name (created by `ip netns add`) or
// as a path (/run/netns/NAME, /proc/PID/ns/net) to a path.
func Path(nameOrPath string) string {
	if strings.ContainsRune(nameOrPath, '/') {
		return nameOrPath
	}
	return filepath.Join("/run/netns", nameOrPath)
}

// Do runs fn on a thread that has entered the network namespace at path.
// An empty path runs fn in the caller's namespace.
func Do(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("netns: open %s: %w", path, err)
	}
	defer target.Close()

	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: open own namespace: %w", err)
	}
	defer self.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: enter %s: %w", path, err)
	}
	ferr := fn()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread is stuck in the other namespace: leave it locked so
		// that the runtime retires it when this goroutine ends.
		return fmt.Errorf("netns: return from %s: %w", path, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// ReadFile reads a file (typically under /proc/sys/net) as seen from
// inside the namespace at path. /proc/sys/net shows the namespace of the
// reading thread, so the read happens on a thread inside it.
func ReadFile(path, name string) ([]byte, error) {
	var b []byte
	err := Do(path, func() error {
		var err error
		b, err = os.ReadFile(name)
		return err
	})
	return b, err
}
