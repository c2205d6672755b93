package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Kernel is one unpacked kernel package.
type Kernel struct {
	// Release is the kernel's uname -r, e.g. "6.1.0-57-amd64".
	Release string
	// Image is the bootable bzImage.
	Image string
	// Modules is lib/modules/RELEASE.
	Modules string
}

// FindKernels lists the kernels under dir: every dir/X/boot/vmlinuz-R with
// a matching dir/X/lib/modules/R, as `dpkg-deb -x PACKAGE dir/X` leaves
// them. They are sorted by release, oldest first.
func FindKernels(dir string) ([]Kernel, error) {
	images, err := filepath.Glob(filepath.Join(dir, "*", "boot", "vmlinuz-*"))
	if err != nil {
		return nil, fmt.Errorf("vmtest: find kernels: %w", err)
	}
	var ks []Kernel
	for _, img := range images {
		rel := strings.TrimPrefix(filepath.Base(img), "vmlinuz-")
		mods := filepath.Join(filepath.Dir(filepath.Dir(img)), "lib", "modules", rel)
		if st, err := os.Stat(mods); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("vmtest: kernel %s has no modules directory %s", img, mods)
		}
		ks = append(ks, Kernel{Release: rel, Image: img, Modules: mods})
	}
	sort.Slice(ks, func(i, j int) bool { return releaseLess(ks[i].Release, ks[j].Release) })
	return ks, nil
}

// releaseLess orders releases by their numeric parts ("6.1.0-57" before
// "6.12.117"), not as strings.
func releaseLess(a, b string) bool {
	na, nb := releaseNumbers(a), releaseNumbers(b)
	for i := 0; i < len(na) && i < len(nb); i++ {
		if na[i] != nb[i] {
			return na[i] < nb[i]
		}
	}
	if len(na) != len(nb) {
		return len(na) < len(nb)
	}
	return a < b
}

func releaseNumbers(s string) []int {
	var out []int
	n, in := 0, false
	for _, c := range s {
		if c >= '0' && c <= '9' {
			n, in = n*10+int(c-'0'), true
			continue
		}
		if in {
			out = append(out, n)
		}
		n, in = 0, false
		if c != '.' && c != '-' && c != '+' {
			break
		}
	}
	if in {
		out = append(out, n)
	}
	return out
}
