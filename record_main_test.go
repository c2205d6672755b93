package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"1048576", 1 << 20}, {"512K", 512 << 10}, {"512KiB", 512 << 10}, {"100M", 100 << 20},
		{"100MB", 100 << 20}, {"256MiB", 256 << 20}, {"1G", 1 << 30}, {"2gib", 2 << 30}, {"1T", 1 << 40},
	} {
		got, err := parseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "M", "-1M", "0", "1X", "1.5G", "99999999999T", "ten"} {
		if n, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", bad, n)
		}
	}
}

// TestBadRecordFlags: the recording and replay flags refused with the
// usage status and a line naming the flag, before anything is watched.
func TestBadRecordFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"record with --once", []string{"--record", "/nonexistent/rec", "--once"}, "record"},
		{"record-max too small", []string{"--record", "/nonexistent/rec", "--record-max", "1K"}, "record-max"},
		{"record-max not a size", []string{"--record-max", "lots"}, "record-max"},
		{"replay without a path", []string{"replay"}, "replay"},
		{"replay with two paths", []string{"replay", "a", "b"}, `"b"`},
		{"replay with --metrics", []string{"replay", "a", "--metrics", ":9469"}, "replay"},
		{"replay with --record", []string{"replay", "a", "--record", "b"}, "record"},
		{"at without replay", []string{"--at", "03:12:05"}, "at"},
		{"at without --once", []string{"replay", "a", "--at", "03:12:05"}, "at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if rc := run(tc.args, &stdout, &stderr); rc != exitUsage {
				t.Errorf("exit status %d, want %d (stderr %q)", rc, exitUsage, stderr.String())
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "tcpwatch: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("want one line naming %s, got %q", tc.want, msg)
			}
		})
	}
}

func TestParseAt(t *testing.T) {
	loc := time.Local
	first := time.Date(2026, 3, 4, 23, 50, 0, 0, loc)
	last := time.Date(2026, 3, 5, 0, 20, 0, 0, loc)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"23:55:10", time.Date(2026, 3, 4, 23, 55, 10, 0, loc)},
		{"23:55", time.Date(2026, 3, 4, 23, 55, 0, 0, loc)},
		{"00:10:05", time.Date(2026, 3, 5, 0, 10, 5, 0, loc)}, // after midnight: the next day
		{"00:10:05.250", time.Date(2026, 3, 5, 0, 10, 5, 250e6, loc)},
		{"12:00:00", time.Date(2026, 3, 4, 12, 0, 0, 0, loc)}, // in neither day: the first
		{"2026-03-04T23:51:00Z", time.Date(2026, 3, 4, 23, 51, 0, 0, time.UTC)},
	} {
		got, err := parseAt(tc.in, first, last)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseAt(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "3pm", "25:00:00", "2026-03-04"} {
		if _, err := parseAt(bad, first, last); err == nil {
			t.Errorf("parseAt(%q): no error", bad)
		}
	}
}
