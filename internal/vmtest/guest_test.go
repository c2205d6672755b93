package vmtest

import (
	"strings"
	"testing"
)

// TestHiddenSource: a source under the guest's own tmpfs mounts (/tmp,
// /run) is shared on its own and mounted at its path before the jobs run;
// one elsewhere is seen through the host's root as it is.
func TestHiddenSource(t *testing.T) {
	for _, tc := range []struct{ dir, want string }{
		{"/tmp/ci-clone", "/tmp/ci-clone"},
		{"/tmp/ci-clone/", "/tmp/ci-clone"},
		{"/run/build/src", "/run/build/src"},
		{"/work/main", ""},
		{"/tmp", ""},
		{"/tmpfoo/x", ""},
		{"", ""},
	} {
		if got := hiddenSource(tc.dir); got != tc.want {
			t.Errorf("hiddenSource(%q) = %q, want %q", tc.dir, got, tc.want)
		}
	}
	jobs := []Job{{Name: "inetdiag", Dir: "/tmp/ci-clone/inetdiag", Argv: []string{"/tmp/s/inetdiag.test"}}}
	script := guestScript("/tmp/s", "/tmp/ci-clone", jobs)
	mount := strings.Index(script, "src '/tmp/ci-clone'")
	cd := strings.Index(script, "cd '/tmp/ci-clone/inetdiag'")
	if mount < 0 || cd < 0 || mount > cd {
		t.Errorf("the source is not mounted before the job enters it:\n%s", script)
	}
	if s := guestScript("/tmp/s", "", jobs); strings.Contains(s, " src ") {
		t.Errorf("a source mounted though none is hidden:\n%s", s)
	}
}
