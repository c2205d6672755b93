// Package vmtest boots Linux kernels other than the host's in qemu guests
// and runs commands inside them, so that the crash lab, the sock_diag
// decoders and the binary are proven on the kernels fleets run (Debian's
// 6.1 and 6.12), not only on the machine's own.
//
// A guest is cheap to make because it owns almost nothing: the host's root
// filesystem is shared read-only over 9p (the test binaries, iproute2, nft
// and tcpwatch are the host's own files), a second, writable 9p share
// carries the commands in and their output and exit status out, and a
// small initramfs holds only busybox and the modules needed before the
// root is mounted and by the tests (9p, veth, inet_diag, nf_tables). The
// kernel packages are unpacked, never installed: a kernel directory holds
// one `dpkg-deb -x` tree per kernel (boot/vmlinuz-VER and
// lib/modules/VER).
//
// Guests run under TCG (software emulation, about ten times slower than
// the host), since KVM is not available everywhere the suite runs. Timers
// still follow the host's clock, so anything that judges a prediction must
// measure from the time the sample was taken, never from when a command
// was started.
package vmtest
