package watch

import "golang.org/x/sys/unix"

// kernelRelease is uname -r: which kernel rules apply (a variable, so that
// tests can pose as another kernel).
var kernelRelease = func() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
