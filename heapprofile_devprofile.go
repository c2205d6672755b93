//go:build devprofile

package main

// A build for finding where the memory goes (the memory figures of the
// README's "At scale"): built with -tags devprofile and started with
// TCPWATCH_HEAPPROFILE=FILE, tcpwatch writes its heap profile to FILE
// every 10 seconds and on each SIGUSR1, after a collection, for go tool
// pprof: the last one written describes the steady state, whichever way
// the run ends. Release builds carry none of it.

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"
)

func init() {
	path := os.Getenv("TCPWATCH_HEAPPROFILE")
	if path == "" {
		return
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	tick := time.NewTicker(10 * time.Second)
	go func() {
		for {
			select {
			case <-c:
			case <-tick.C:
			}
			if err := writeHeapProfile(path); err != nil {
				fmt.Fprintf(os.Stderr, "tcpwatch: heap profile: %v\n", err)
			}
		}
	}()
}

func writeHeapProfile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
