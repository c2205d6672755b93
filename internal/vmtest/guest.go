package vmtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// GuestModules are loaded before the guest's root is mounted: the 9p
// transport for the shares, and what the tests use (veth pairs, sock_diag
// for TCP and UDP, nf_tables to send ICMP errors). Their dependencies
// (netfs, nfnetlink, nf_reject_*) follow from the modules themselves.
var GuestModules = []string{
	"virtio_pci", "9pnet_virtio", "9p",
	"veth", "inet_diag", "tcp_diag", "udp_diag",
	"nf_tables", "nft_reject_inet",
}

// optionalModules may be missing from a kernel without failing the boot.
var optionalModules = map[string]bool{"udp_diag": true, "nft_reject_inet": true, "nf_tables": true}

// Job is one command run inside the guest, as root, with the host's files.
type Job struct {
	Name    string
	Dir     string   // working directory (read-only unless under the share)
	Env     []string // KEY=VALUE added to the environment
	Argv    []string
	Timeout time.Duration // killed after this (default 5 minutes)
}

// Result is what a job left behind.
type Result struct {
	Job            Job
	Stdout, Stderr []byte
	// Exit is the exit status; -1 if the job never finished (the guest
	// died or ran out of time first).
	Exit int
}

// Config describes a guest.
type Config struct {
	Kernel   Kernel
	MemoryMB int // default 1024
	CPUs     int // default 2
	// Timeout bounds the whole boot (default: the jobs' timeouts + 2 min).
	Timeout time.Duration
	// Share is the host directory shared writable with the guest, at the
	// same path. It must be under /tmp (the guest puts a tmpfs there,
	// since its root is read-only). Run creates one if empty.
	Share string
	// Source is a host directory that jobs work in (the module's root: the
	// tests read their testdata relative to it). The guest sees the host's
	// root, but its own tmpfs hides the host's /tmp and /run: a Source
	// under them is shared on its own, read-only, at the same path.
	Source string
}

// Guest is the outcome of one boot.
type Guest struct {
	Results []Result
	// Release is uname -r as the guest saw it.
	Release string
	// Console is the serial console: the kernel's log and anything the
	// initramfs said.
	Console []byte
	Elapsed time.Duration
}

// Run boots cfg.Kernel in qemu (TCG), runs the jobs one after the other
// inside it, powers it off and returns their results. An error means the
// guest did not boot or did not get through its jobs; a job that fails
// is only a nonzero Exit.
func Run(ctx context.Context, cfg Config, jobs []Job) (*Guest, error) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, fmt.Errorf("vmtest: qemu-system-x86_64 (Debian package qemu-system-x86) is needed: %w", err)
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 1024
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 2
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
		for _, j := range jobs {
			cfg.Timeout += jobTimeout(j)
		}
	}
	if cfg.Share == "" {
		d, err := os.MkdirTemp("/tmp", "tcpwatch-vm-")
		if err != nil {
			return nil, fmt.Errorf("vmtest: share: %w", err)
		}
		defer os.RemoveAll(d)
		cfg.Share = d
	}
	if !strings.HasPrefix(filepath.Clean(cfg.Share), "/tmp/") {
		return nil, fmt.Errorf("vmtest: share %s must be under /tmp", cfg.Share)
	}
	initrd, err := BuildInitramfs(cfg.Kernel)
	if err != nil {
		return nil, err
	}
	initrdPath := filepath.Join(cfg.Share, "initramfs.cpio")
	if err := os.WriteFile(initrdPath, initrd, 0o600); err != nil {
		return nil, fmt.Errorf("vmtest: write initramfs: %w", err)
	}
	script := guestScript(cfg.Share, hiddenSource(cfg.Source), jobs)
	if err := os.WriteFile(filepath.Join(cfg.Share, "guest.sh"), []byte(script), 0o755); err != nil {
		return nil, fmt.Errorf("vmtest: write guest script: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	// multidevs=remap: the host's root spans several filesystems (/proc,
	// /sys, /tmp are mounts), whose inode numbers collide; without the
	// remap the guest took the directory /proc for /sys and mounted its
	// procfs where nobody could find it.
	args := []string{
		"-accel", "tcg", "-cpu", "max",
		"-m", strconv.Itoa(cfg.MemoryMB), "-smp", strconv.Itoa(cfg.CPUs),
		"-nographic", "-no-reboot", "-nic", "none",
		"-kernel", cfg.Kernel.Image, "-initrd", initrdPath,
		"-append", "console=ttyS0 panic=-1 loglevel=4 vmtest.share=" + cfg.Share,
		"-virtfs", "local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap",
		"-virtfs", "local,path=" + cfg.Share + ",mount_tag=share,security_model=none",
	}
	src := hiddenSource(cfg.Source)
	if src != "" {
		args = append(args, "-virtfs", "local,path="+src+",mount_tag=src,security_model=none,readonly=on,multidevs=remap")
	}
	cmd := exec.CommandContext(ctx, qemu, args...)
	var console bytes.Buffer
	cmd.Stdout, cmd.Stderr = &console, &console
	start := time.Now()
	runErr := cmd.Run()
	g := &Guest{Console: console.Bytes(), Elapsed: time.Since(start)}
	if b, err := os.ReadFile(filepath.Join(cfg.Share, "uname")); err == nil {
		g.Release = strings.TrimSpace(string(b))
	}
	for i, j := range jobs {
		r := Result{Job: j, Exit: -1}
		base := filepath.Join(cfg.Share, "job"+strconv.Itoa(i))
		r.Stdout, _ = os.ReadFile(base + ".out")
		r.Stderr, _ = os.ReadFile(base + ".err")
		if b, err := os.ReadFile(base + ".rc"); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				r.Exit = n
			}
		}
		g.Results = append(g.Results, r)
	}
	if ctx.Err() != nil {
		return g, fmt.Errorf("vmtest: guest %s did not finish within %v", cfg.Kernel.Release, cfg.Timeout)
	}
	if runErr != nil {
		return g, fmt.Errorf("vmtest: qemu: %w", runErr)
	}
	if _, err := os.Stat(filepath.Join(cfg.Share, "done")); err != nil {
		return g, errors.New("vmtest: the guest stopped before its last job (see the console)")
	}
	return g, nil
}

func jobTimeout(j Job) time.Duration {
	if j.Timeout > 0 {
		return j.Timeout
	}
	return 5 * time.Minute
}

// guestScript is run by the host's /bin/sh as the guest's init once the
// root is mounted: each job in turn, its output and status into the share.
func guestScript(share, src string, jobs []Job) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/sh\nexport PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp TMPDIR=/tmp\n")
	b.WriteString("mount -t proc proc /proc\nmount -t sysfs sysfs /sys\nmount -t devtmpfs devtmpfs /dev\n" +
		"mkdir -p /dev/pts /dev/shm\nmount -t devpts devpts /dev/pts\nmount -t tmpfs tmpfs /dev/shm\n")
	fmt.Fprintf(&b, "S=%s\nip link set lo up\nuname -r > \"$S/uname\"\n", shQuote(share))
	if src != "" {
		fmt.Fprintf(&b, "mkdir -p %[1]s && mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 src %[1]s || echo 'vmtest: cannot mount the source' > /dev/console\n", shQuote(src))
	}
	for i, j := range jobs {
		dir := j.Dir
		if dir == "" {
			dir = share
		}
		argv := make([]string, 0, len(j.Argv)+len(j.Env)+6)
		secs := strconv.Itoa(int(jobTimeout(j).Seconds()))
		argv = append(argv, "timeout", "-k", "10", secs, "env")
		for _, e := range j.Env {
			argv = append(argv, shQuote(e))
		}
		for _, a := range j.Argv {
			argv = append(argv, shQuote(a))
		}
		fmt.Fprintf(&b, "echo 'vmtest: job %d: %s' > /dev/console\n", i, strings.ReplaceAll(j.Name, "'", ""))
		fmt.Fprintf(&b, "(cd %s && exec %s) > \"$S/job%d.out\" 2> \"$S/job%d.err\" < /dev/null\necho $? > \"$S/job%d.rc\"\n",
			shQuote(dir), strings.Join(argv, " "), i, i, i)
	}
	b.WriteString("sync\necho done > \"$S/done\"\nsync\necho o > /proc/sysrq-trigger\nsleep 10\n")
	return b.String()
}

// hiddenSource returns dir if the guest's own tmpfs would hide it (under
// /tmp or /run), else "": the host's root shows it as it is.
func hiddenSource(dir string) string {
	if dir == "" {
		return ""
	}
	d := filepath.Clean(dir)
	for _, p := range []string{"/tmp/", "/run/"} {
		if strings.HasPrefix(d+"/", p) && d+"/" != p {
			return d
		}
	}
	return ""
}

// shQuote quotes s for sh.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
