package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tcpwatch/tcpwatch/internal/record"
)

// defaultRecordMax is --record-max's default.
const defaultRecordMax = sizeFlag(record.DefaultMaxBytes)

// sizeFlag is a size in bytes: 1048576, 512K, 100MB, 256MiB, 1G (K, M, G
// and T are powers of 1024, with or without "i" and "B").
type sizeFlag int64

func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }

func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

func parseSize(v string) (int64, error) {
	t := strings.TrimSpace(v)
	u := strings.ToUpper(t)
	u = strings.TrimSuffix(u, "B")
	u = strings.TrimSuffix(u, "I")
	shift := 0
	if u != "" {
		if i := strings.IndexByte("KMGT", u[len(u)-1]); i >= 0 {
			shift = 10 * (i + 1)
			u = u[:len(u)-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(u), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("bad size %q (want e.g. 256MiB, 1G, 500M)", v)
	}
	return n << shift, nil
}

// minRecordMax is the smallest --record-max: a keyframe of a busy host is
// a few megabytes, and a ring must hold at least a few segments.
const minRecordMax = 1 << 20

// checkRecordFlags checks the recording and replay flags against the
// mode chosen.
func checkRecordFlags(o *options) error {
	if o.record != "" {
		if o.once {
			return errors.New("flag -record needs a continuous mode (the interface, --json or --metrics), not --once")
		}
		if o.replay != "" {
			return errors.New("flag -record does not combine with replay")
		}
	}
	if o.recordMax < minRecordMax {
		return fmt.Errorf("invalid value %d for flag --record-max: must be at least 1MiB", int64(o.recordMax))
	}
	if o.at != "" && (o.replay == "" || !o.once) {
		return errors.New("flag -at needs replay with --once (tcpwatch replay PATH --once --at 03:12:05)")
	}
	if o.replay != "" && (o.metrics != "" || o.allowKill || o.failOnDying || o.demo) {
		return errors.New("replay shows a recording: it takes --json, --once, --at, the filters and --no-color only")
	}
	return nil
}

// createRecording opens the recording directory of --record (nil
// without it).
func createRecording(o *options) (*record.Writer, error) {
	if o.record == "" {
		return nil, nil
	}
	host, _ := os.Hostname()
	w, err := record.Create(o.record, record.Options{Host: host, MaxBytes: int64(o.recordMax)})
	if err != nil {
		return nil, fmt.Errorf("--record %s: %w", o.record, err)
	}
	return w, nil
}

// parseReplayArgs takes what follows "replay": the recording's path and
// flags in any order.
func parseReplayArgs(fs *flag.FlagSet, o *options, rest []string) ([]string, error) {
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		if o.replay != "" {
			return rest, nil // a second argument: reported as unexpected
		}
		o.replay, rest = rest[0], rest[1:]
	}
	if o.replay == "" {
		return nil, errors.New("replay needs the recording's path (tcpwatch replay PATH)")
	}
	return rest, nil
}
