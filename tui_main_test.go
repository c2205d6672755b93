package main

import (
	"context"
	"testing"
	"time"
)

// TestRecaller: the watcher's side of a recall returns as soon as the
// interface answers, after recallWait when it does not take the request
// or does not answer it, and at once when the context ends.
func TestRecaller(t *testing.T) {
	tests := []struct {
		name   string
		answer func(ask <-chan chan<- struct{})
		cancel bool
		min    time.Duration
		max    time.Duration
	}{
		{name: "answered", answer: func(ask <-chan chan<- struct{}) { close(<-ask) }, max: recallWait / 2},
		{name: "not taken", answer: func(<-chan chan<- struct{}) {}, min: recallWait, max: 3 * recallWait},
		{name: "taken, never answered", answer: func(ask <-chan chan<- struct{}) { <-ask }, min: recallWait, max: 3 * recallWait},
		{name: "cancelled", answer: func(<-chan chan<- struct{}) {}, cancel: true, max: recallWait / 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ask := make(chan chan<- struct{})
			go tt.answer(ask)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			start := time.Now()
			recaller(ask)(ctx)
			if d := time.Since(start); d < tt.min || d > tt.max {
				t.Errorf("returned after %v, want between %v and %v", d, tt.min, tt.max)
			}
		})
	}
}
