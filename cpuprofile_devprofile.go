//go:build devprofile

package main

// The CPU side of the profiling build (see heapprofile_devprofile.go):
// started with TCPWATCH_CPUPROFILE=FILE, tcpwatch profiles its CPU from
// 10 to 40 seconds after start (the first sweeps and owner scans behind
// it, so the profile is of the steady state the README's CPU figures
// describe) and writes the profile to FILE, for go tool pprof.

import (
	"fmt"
	"os"
	"runtime/pprof"
	"time"
)

// The profiled span: after the start-up, as long as a scale run's window.
const (
	cpuProfileAfter = 10 * time.Second
	cpuProfileFor   = 30 * time.Second
)

func init() {
	path := os.Getenv("TCPWATCH_CPUPROFILE")
	if path == "" {
		return
	}
	go func() {
		time.Sleep(cpuProfileAfter)
		if err := writeCPUProfile(path, cpuProfileFor); err != nil {
			fmt.Fprintf(os.Stderr, "tcpwatch: CPU profile: %v\n", err)
		}
	}()
}

func writeCPUProfile(path string, d time.Duration) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	time.Sleep(d)
	pprof.StopCPUProfile()
	return f.Close()
}
