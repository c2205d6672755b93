package vmtest

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// initScript is the guest's first process: it loads the modules, mounts
// the host's root read-only and the share writable, puts tmpfs where a
// system writes (/tmp, /run), and hands over to the jobs' script (which
// mounts /proc, /sys and /dev itself, on the final root). Any
// failure powers the guest off at once, with the reason on the console.
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
fail() { echo "vmtest: init: $*"; echo o > /proc/sysrq-trigger; sleep 10; }
mkdir -p /proc /sys /dev /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do
	insmod /modules/$m.ko || fail "insmod $m"
done
share=
for x in $(cat /proc/cmdline); do
	case "$x" in vmtest.share=*) share="${x#vmtest.share=}";; esac
done
[ -n "$share" ] || fail "no vmtest.share= on the command line"
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose root /newroot || fail "mount the host root"
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp || fail "tmpfs on /tmp"
mount -t tmpfs -o mode=0755 tmpfs /newroot/run || fail "tmpfs on /run"
mkdir -p "/newroot$share"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share "/newroot$share" || fail "mount the share"
exec switch_root /newroot /bin/sh "$share/guest.sh"
`

// BuildInitramfs makes the initramfs for kernel k: busybox (the host's
// static one), the init script, and GuestModules with their dependencies,
// decompressed, in load order.
func BuildInitramfs(k Kernel) ([]byte, error) {
	bb, err := staticBusybox()
	if err != nil {
		return nil, err
	}
	tree, err := readModuleTree(k.Modules)
	if err != nil {
		return nil, err
	}
	mods, err := tree.loadOrder(GuestModules, optionalModules)
	if err != nil {
		return nil, err
	}
	var w cpioWriter
	for _, d := range []string{"bin", "dev", "modules"} {
		if err := w.dir(d); err != nil {
			return nil, err
		}
	}
	if err := w.chardev("dev/console", 5, 1); err != nil {
		return nil, err
	}
	if err := w.file("bin/busybox", 0o755, bb); err != nil {
		return nil, err
	}
	if err := w.file("init", 0o755, []byte(initScript)); err != nil {
		return nil, err
	}
	var order []string
	for _, m := range mods {
		if err := w.file("modules/"+m.name+".ko", 0o644, m.ko); err != nil {
			return nil, err
		}
		order = append(order, m.name)
	}
	if err := w.file("modules/order", 0o644, []byte(strings.Join(order, "\n")+"\n")); err != nil {
		return nil, err
	}
	return w.bytes(), nil
}

// staticBusybox returns the host's busybox, which must be statically
// linked (Debian package busybox-static): the initramfs has no libc.
func staticBusybox() ([]byte, error) {
	path, err := exec.LookPath("busybox")
	if err != nil {
		return nil, fmt.Errorf("vmtest: busybox (Debian package busybox-static) is needed: %w", err)
	}
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vmtest: busybox: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("vmtest: %s is dynamically linked: install busybox-static", path)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vmtest: busybox: %w", err)
	}
	return b, nil
}
