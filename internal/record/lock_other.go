//go:build !unix

package record

import (
	"fmt"
	"os"
)

// lockDir opens dir; without flock the single-writer rule is not enforced.
func lockDir(dir string) (*os.File, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	return d, nil
}
