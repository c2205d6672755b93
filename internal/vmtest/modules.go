package vmtest

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// A kernel package ships its modules without modules.dep (depmod writes it
// at installation, and the package is never installed here), so the load
// order is worked out from each module's own .modinfo "depends=" list.

// modName is the name the kernel knows a module by: its file name without
// the extension, with dashes as underscores (modprobe treats the two as one).
func modName(file string) string {
	b := filepath.Base(file)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(b, ".ko"), "-", "_")
}

// moduleTree indexes a kernel's lib/modules/VER directory.
type moduleTree struct {
	dir     string
	files   map[string]string // module name -> path
	builtin map[string]bool
}

func readModuleTree(dir string) (*moduleTree, error) {
	t := &moduleTree{dir: dir, files: map[string]string{}, builtin: map[string]bool{}}
	err := filepath.WalkDir(filepath.Join(dir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(d.Name(), ".ko") {
			t.files[modName(p)] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vmtest: modules of %s: %w", dir, err)
	}
	if len(t.files) == 0 {
		return nil, fmt.Errorf("vmtest: no modules under %s/kernel", dir)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				t.builtin[modName(line)] = true
			}
		}
	}
	return t, nil
}

// module is one module to load, decompressed.
type module struct {
	name string
	ko   []byte
}

// loadOrder returns the modules named in want and everything they depend
// on, each after its dependencies. Names in want that are built into the
// kernel are skipped; optional ones that do not exist are too. A required
// module that is neither built in nor shipped is an error.
func (t *moduleTree) loadOrder(want []string, optional map[string]bool) ([]module, error) {
	var out []module
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		name = strings.ReplaceAll(name, "-", "_")
		switch state[name] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("vmtest: module dependency cycle: %s", strings.Join(append(chain, name), " -> "))
		}
		if t.builtin[name] {
			state[name] = 2
			return nil
		}
		path, ok := t.files[name]
		if !ok {
			if len(chain) == 0 && optional[name] {
				state[name] = 2
				return nil
			}
			return fmt.Errorf("vmtest: module %s (needed by %s) is neither built in nor under %s", name, strings.Join(append(chain, "the guest"), " <- "), t.dir)
		}
		state[name] = 1
		ko, err := readModule(path)
		if err != nil {
			return err
		}
		deps, soft, err := moduleDepends(ko)
		if err != nil {
			return fmt.Errorf("vmtest: %s: %w", path, err)
		}
		// A soft dependency is what modprobe loads first although no
		// symbol requires it (libcrc32c asks the crypto API for "crc32c"
		// at init and fails without it). It names a module or an alias;
		// the one alias that matters here is an algorithm's generic
		// implementation, so NAME_generic is tried too.
		for _, s := range soft {
			for _, cand := range []string{s, s + "_generic"} {
				if _, ok := t.files[strings.ReplaceAll(cand, "-", "_")]; ok {
					deps = append(deps, cand)
					break
				}
			}
		}
		for _, d := range deps {
			if err := visit(d, append(chain, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		out = append(out, module{name: name, ko: ko})
		return nil
	}
	for _, w := range want {
		if err := visit(w, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readModule returns a module's ELF image. busybox's insmod takes only
// plain .ko files, so compressed ones are expanded here, on the host.
func readModule(path string) ([]byte, error) {
	var tool string
	switch {
	case strings.HasSuffix(path, ".ko"):
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("vmtest: read module: %w", err)
		}
		return b, nil
	case strings.HasSuffix(path, ".ko.xz"):
		tool = "xz"
	case strings.HasSuffix(path, ".ko.zst"):
		tool = "zstd"
	case strings.HasSuffix(path, ".ko.gz"):
		tool = "gzip"
	default:
		return nil, fmt.Errorf("vmtest: %s: unknown module compression", path)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(tool, "-dc", path)
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("vmtest: decompress %s with %s: %w: %s", path, tool, err, strings.TrimSpace(stderr.String()))
	}
	return b, nil
}

// moduleDepends reads the "depends=" entry of a module's .modinfo section
// (NUL-separated key=value strings), and the modules its "softdep=" entries
// want loaded before it ("pre: a b post: c").
func moduleDepends(ko []byte) (deps, softPre []string, err error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, nil, fmt.Errorf("not an ELF module: %w", err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, nil, errors.New("no .modinfo section")
	}
	data, err := sec.Data()
	if err != nil {
		return nil, nil, fmt.Errorf("read .modinfo: %w", err)
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			for _, d := range strings.Split(string(v), ",") {
				if d = strings.TrimSpace(d); d != "" {
					deps = append(deps, d)
				}
			}
		}
		if v, ok := bytes.CutPrefix(kv, []byte("softdep=")); ok {
			pre := false
			for _, w := range strings.Fields(string(v)) {
				switch w {
				case "pre:":
					pre = true
				case "post:":
					pre = false
				default:
					if pre {
						softPre = append(softPre, w)
					}
				}
			}
		}
	}
	return deps, softPre, nil
}
