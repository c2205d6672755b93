package record

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A segment's file name is its index entry: "rec-SEQ-START.twr", with
// SEQ the segment's number and START its first poll's time in UTC to the
// nanosecond. Listing a directory is then enough to find the segment
// holding any instant, without opening the others; and there is no index
// file to fall out of step with the segments after a crash.
const (
	namePrefix = "rec-"
	nameSuffix = ".twr"
	nameTime   = "20060102T150405.000000000Z"
)

func segmentName(seq uint64, start time.Time) string {
	return fmt.Sprintf("%s%08d-%s%s", namePrefix, seq, start.UTC().Format(nameTime), nameSuffix)
}

// parseSegmentName returns the number and start time a segment's name
// holds; ok is false for any other name.
func parseSegmentName(name string) (seq uint64, start time.Time, ok bool) {
	rest, ok1 := strings.CutPrefix(name, namePrefix)
	rest, ok2 := strings.CutSuffix(rest, nameSuffix)
	num, ts, ok3 := strings.Cut(rest, "-")
	if !ok1 || !ok2 || !ok3 {
		return 0, time.Time{}, false
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, time.Time{}, false
	}
	start, err = time.Parse(nameTime, ts)
	if err != nil {
		return 0, time.Time{}, false
	}
	return seq, start, true
}

// SegmentInfo is a segment as the directory lists it.
type SegmentInfo struct {
	Path  string
	Seq   uint64
	Start time.Time // from the name: the time of the segment's first poll
	Size  int64
}

// listSegments returns dir's segments in ring order (by number). Other
// files are left alone.
func listSegments(dir string) ([]SegmentInfo, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	var out []SegmentInfo
	for _, e := range ents {
		seq, start, ok := parseSegmentName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // deleted by the writer since ReadDir
		}
		out = append(out, SegmentInfo{Path: filepath.Join(dir, e.Name()), Seq: seq, Start: start, Size: fi.Size()})
	}
	slices.SortFunc(out, func(a, b SegmentInfo) int { return cmpUint(a.Seq, b.Seq) })
	return out, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
