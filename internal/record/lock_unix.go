//go:build unix

package record

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockDir opens dir and takes an exclusive flock on it: two writers in
// one ring would delete each other's segments.
func lockDir(dir string) (*os.File, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		d.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("record: %s is being written by another tcpwatch", dir)
		}
		return nil, fmt.Errorf("record: lock %s: %w", dir, err)
	}
	return d, nil
}
