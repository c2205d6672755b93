package model

import (
	"fmt"
	"strconv"
	"strings"
)

// A kernel older than a rule's introduction lacks the sysctl or field
// that goes with it because it lacks the behaviour too: on 6.1 there is
// no tcp_rto_max_ms since the RTO cap is the constant TCP_RTO_MAX. Saying
// "using the built-in default" once per knob would sound like a fault;
// KernelNotice says once, in one line, which rules this kernel predates
// and how they are modelled.

// kernelFeature is a knob or tcp_info field and the release that brought it.
type kernelFeature struct {
	name         string
	major, minor int
	// before is how the model treats a kernel without it.
	before string
}

var kernelFeatures = []kernelFeature{
	{"tcp_syn_linear_timeouts", 6, 5, "SYN timeouts double from the first"},
	{"tcpi_total_rto_time", 6, 7, "the retransmission clock's start is reconstructed (wider windows)"},
	{"tcp_rto_min_us", 6, 11, "no namespace RTO floor other than 200 ms"},
	{"tcp_rto_max_ms", 6, 15, "the RTO cap is 120 s"},
}

// KernelRelease parses the major and minor version of a release string
// such as "6.1.0-57-amd64"; ok is false if it has none.
func KernelRelease(release string) (major, minor int, ok bool) {
	f := strings.SplitN(release, ".", 3)
	if len(f) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(f[0])
	end := strings.IndexFunc(f[1], func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(f[1])
	}
	minor, err2 := strconv.Atoi(f[1][:end])
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return major, minor, true
}

// PredatesRTOStats reports whether the release is older than 6.7, whose
// tcp_info first carries tcpi_total_rto_time (false when unknown).
func PredatesRTOStats(release string) bool {
	major, minor, ok := KernelRelease(release)
	return ok && (major < 6 || major == 6 && minor < 7)
}

// KernelNotice is the one line to say about the kernel (release, as uname
// -r gives it) whose namespace lacks the sysctls in missing; "" when there
// is nothing to say. Sysctls that the release predates are named with
// how the model treats their absence; any other missing one (a kernel
// new enough to have it, or a release that cannot be parsed) is named as
// such, with its built-in default in use.
func KernelNotice(release string, missing []string) string {
	major, minor, known := KernelRelease(release)
	gone := map[string]bool{}
	for _, m := range missing {
		gone[m] = true
	}
	var predates, how, odd []string
	for _, f := range kernelFeatures {
		older := known && (major < f.major || major == f.major && minor < f.minor)
		isField := strings.HasPrefix(f.name, "tcpi_")
		switch {
		case older && (gone[f.name] || isField):
			predates = append(predates, fmt.Sprintf("%s (%d.%d)", f.name, f.major, f.minor))
			how = append(how, f.before)
		case gone[f.name]:
			odd = append(odd, f.name)
		}
		delete(gone, f.name)
	}
	for _, m := range missing {
		if gone[m] {
			odd = append(odd, m)
		}
	}
	var parts []string
	if len(predates) > 0 {
		parts = append(parts, fmt.Sprintf("kernel %s predates %s: modelled as it behaves (%s)", release, strings.Join(predates, ", "), strings.Join(how, "; ")))
	}
	if len(odd) > 0 {
		p := fmt.Sprintf("no %s: using the built-in default", strings.Join(odd, ", "))
		if len(parts) == 0 {
			p = "kernel has " + p
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}
