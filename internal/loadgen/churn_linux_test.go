//go:build linux

package loadgen_test

// Endurance under churn: while the fixture opens and closes 2,000
// connections a second (closed with a FIN, then with a reset), the
// watcher's loop runs in this process and the tcpwatch binary streams
// NDJSON from the fixture's namespace, both at 1 Hz. Every connection
// seen in one poll and gone from a later one must yield exactly one event;
// memory, descriptors and goroutines must stay bounded. Needs root. The
// default run lasts -churn.duration (15 s) per close mode; the long run:
//
//	go test -v -run '^TestChurnEndurance$' -timeout 30m ./internal/loadgen -churn.duration=5m -churn.out=FILE

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcpwatch/tcpwatch/internal/loadgen"
	"github.com/tcpwatch/tcpwatch/internal/watch"
	"github.com/tcpwatch/tcpwatch/model"
)

var (
	churnDuration = flag.Duration("churn.duration", 15*time.Second, "TestChurnEndurance: how long each close mode runs")
	churnConns    = flag.Int("churn.conns", 2000, "TestChurnEndurance: steady connections besides the churned ones")
	churnRate     = flag.Int("churn.rate", 2000, "TestChurnEndurance: connections opened (and closed) per second")
	churnOut      = flag.String("churn.out", "", "TestChurnEndurance: append the figures (markdown) to this file")
)

func TestChurnEndurance(t *testing.T) {
	needRoot(t)
	bin := buildBinary(t)
	tests := []struct {
		name  string
		abort bool
	}{
		{name: "fin", abort: false},
		{name: "reset", abort: true},
	}
	var report strings.Builder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fig := runChurn(t, bin, tt.abort)
			fmt.Fprintf(&report, "| %s | %s |\n", tt.name, fig)
		})
	}
	if report.Len() == 0 {
		return
	}
	load, _ := os.ReadFile("/proc/loadavg")
	md := fmt.Sprintf("### Churn %d/s over %d steady connections, %v per mode, %s (load average at the end: %s)\n\n"+
		"| close | polls (in-process / binary) | events (in-process / binary) | rows per poll max | binary CPU | binary VmRSS first / last / max | binary fds min–max | tracker after a last poll |\n"+
		"|---|---|---|---|---|---|---|---|\n%s",
		*churnRate, *churnConns, *churnDuration, time.Now().Format("2006-01-02 15:04"), strings.TrimSpace(string(load)), report.String())
	t.Log("\n" + md)
	if *churnOut != "" {
		fh, err := os.OpenFile(*churnOut, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		if _, err := io.WriteString(fh, md+"\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// ledger checks the events of a stream of polls against the connections
// the polls showed.
type ledger struct {
	polls   int
	seen    map[uint64]bool // in some poll so far
	last    map[uint64]bool // in the latest poll
	events  map[uint64]int  // vanishing events per cookie
	kinds   map[string]int
	maxRows int
	errs    []string
}

func newLedger() *ledger {
	return &ledger{seen: map[uint64]bool{}, events: map[uint64]int{}, kinds: map[string]int{}}
}

func (l *ledger) errorf(format string, args ...any) {
	if len(l.errs) < 20 {
		l.errs = append(l.errs, fmt.Sprintf(format, args...))
	}
}

// poll records one poll: the cookies of its rows and its events.
func (l *ledger) poll(rows []uint64, events []ledgerEvent) {
	l.polls++
	l.maxRows = max(l.maxRows, len(rows))
	cur := make(map[uint64]bool, len(rows))
	for _, c := range rows {
		cur[c] = true
	}
	for _, e := range events {
		l.kinds[e.kind]++
		if e.kind == model.EventRecovered.String() {
			continue // about a connection still there
		}
		l.events[e.cookie]++
		switch {
		case !l.seen[e.cookie]:
			l.errorf("poll %d: %s event for connection %x, never seen in a poll", l.polls, e.kind, e.cookie)
		case cur[e.cookie]:
			l.errorf("poll %d: %s event for connection %x, which this poll shows", l.polls, e.kind, e.cookie)
		}
		if l.events[e.cookie] == 2 {
			l.errorf("poll %d: a second event (%s) for connection %x", l.polls, e.kind, e.cookie)
		}
	}
	for c := range cur {
		l.seen[c] = true
	}
	l.last = cur
}

// check returns what is wrong: every connection seen and gone by the last
// poll has exactly one event, none that is still there has one.
func (l *ledger) check() []string {
	errs := l.errs
	missing, extra := 0, 0
	var example []string
	for c := range l.seen {
		n := l.events[c]
		switch {
		case l.last[c] && n > 0:
			extra++
		case !l.last[c] && n != 1:
			if n == 0 {
				missing++
			} else {
				extra++
			}
		default:
			continue
		}
		if len(example) < 5 {
			example = append(example, fmt.Sprintf("%x: %d events, in the last poll: %v", c, n, l.last[c]))
		}
	}
	if missing > 0 || extra > 0 {
		errs = append(errs, fmt.Sprintf("%d connections gone without an event, %d with events they should not have (of %d seen in %d polls); e.g. %s",
			missing, extra, len(l.seen), l.polls, strings.Join(example, "; ")))
	}
	if l.polls < 3 {
		errs = append(errs, fmt.Sprintf("only %d polls", l.polls))
	}
	return errs
}

func (l *ledger) totalEvents() int {
	n := 0
	for _, v := range l.kinds {
		n += v
	}
	return n
}

type ledgerEvent struct {
	kind   string
	cookie uint64
}

// ndjsonLedger reads the binary's NDJSON: connection objects and events of
// one poll share its "time".
func ndjsonLedger(r io.Reader) (*ledger, error) {
	l := newLedger()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var cur string
	var rows []uint64
	var events []ledgerEvent
	var line struct {
		Time   string `json:"time"`
		Event  string `json:"event"`
		Cookie string `json:"cookie"`
	}
	var bad error
	for sc.Scan() {
		if bad != nil {
			return l, bad
		}
		line.Event = ""
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			// Only the very last line may be cut short (the stream
			// ended in the middle of a poll, which is then left out).
			bad = fmt.Errorf("bad line %q: %w", sc.Bytes(), err)
			continue
		}
		cookie, err := strconv.ParseUint(line.Cookie, 16, 64)
		if err != nil {
			return l, fmt.Errorf("cookie %q: %w", line.Cookie, err)
		}
		if line.Time != cur {
			if cur != "" {
				l.poll(rows, events)
			}
			cur, rows, events = line.Time, rows[:0], events[:0]
		}
		if line.Event != "" {
			events = append(events, ledgerEvent{kind: line.Event, cookie: cookie})
		} else {
			rows = append(rows, cookie)
		}
	}
	if cur != "" && bad == nil {
		l.poll(rows, events)
	}
	return l, sc.Err()
}

// runChurn runs one close mode and returns its figures as table cells.
func runChurn(t *testing.T, bin string, abort bool) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, err := loadgen.Start(ctx, loadgen.Config{Conns: *churnConns, NetNS: nsName(), Churn: *churnRate, ChurnAbort: abort})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	if !abort {
		// Each closed connection leaves a TIME-WAIT socket for 60 s:
		// cap them (tcp_max_tw_buckets, per namespace) so that the
		// population is steady after a few seconds instead of growing for
		// a minute, and memory can be judged flat or not.
		limit := strconv.Itoa(4 * *churnRate)
		if err := loadgen.RunInNetNS(f.NetNSPath(), func() error {
			return os.WriteFile("/proc/sys/net/ipv4/tcp_max_tw_buckets", []byte(limit), 0o644)
		}); err != nil {
			t.Fatal(err)
		}
	}
	fds0, g0 := fdTargets(t), runtime.NumGoroutine()

	// The binary, its stream read as it comes; it also records, in a ring
	// small enough to rotate several times during the run.
	recDir := filepath.Join(t.TempDir(), "rec")
	cmd := exec.Command(bin, "--json", "--netns", f.NetNS(), "--record", recDir, "--record-max", strconv.Itoa(churnRecordMax))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	binLedger := make(chan *ledger, 1)
	binErr := make(chan error, 1)
	go func() {
		l, err := ndjsonLedger(stdout)
		binLedger <- l
		binErr <- errors.Join(err, cmd.Wait())
	}()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			<-binErr
		}
	}()

	// The watcher in this process.
	w, err := watch.New(watch.Config{NetNS: f.NetNSPath(), NetNSName: f.NetNS(), Owners: watch.OwnersFlagged})
	if err != nil {
		t.Fatal(err)
	}
	lctx, lcancel := context.WithCancel(context.Background())
	defer lcancel()
	out := make(chan *model.Snapshot)
	errs := make(chan error, 16)
	loopDone := make(chan struct{})
	go func() {
		w.Loop(lctx, time.Second, out, errs)
		close(loopDone)
	}()
	inLedger := newLedger()
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for s := range out {
			rows := make([]uint64, 0, len(s.Rows))
			for i := range s.Rows {
				rows = append(rows, s.Rows[i].Sock.ID.Cookie)
			}
			var evs []ledgerEvent
			for _, e := range s.Events {
				evs = append(evs, ledgerEvent{kind: e.Kind.String(), cookie: e.ID.Cookie})
			}
			inLedger.poll(rows, evs)
			s.Release()
		}
	}()

	// Sample the binary once a second.
	pid := strconv.Itoa(cmd.Process.Pid)
	var rss []int64
	var fds []int
	var recMax int64 // the recording's largest size seen
	var cpu0, cpu1 time.Duration
	var tc0, tc1 time.Time
	t0 := time.Now()
	tick := time.NewTicker(time.Second)
	for i := 0; time.Since(t0) < *churnDuration; i++ {
		select {
		case err := <-binErr:
			stopped = true
			t.Fatalf("tcpwatch --json exited after %v: %v: %s", time.Since(t0).Round(time.Millisecond), err, stderr.Bytes())
		case <-tick.C:
		}
		c, err := procCPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			cpu0, tc0 = c, time.Now()
		}
		cpu1, tc1 = c, time.Now()
		r, err := procStatus(pid, "VmRSS")
		if err != nil {
			t.Fatal(err)
		}
		rss = append(rss, r)
		fds = append(fds, fdCountT(t, pid))
		if n := dirBytes(t, recDir); n > recMax {
			recMax = n
		}
	}
	tick.Stop()
	wall := tc1.Sub(tc0)

	// Stop both; the binary finishes the poll it is writing.
	lcancel()
	<-loopDone
	<-consumed
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var bl *ledger
	select {
	case bl = <-binLedger:
	case <-time.After(time.Minute):
		t.Fatal("tcpwatch --json still running a minute after SIGINT")
	}
	err = <-binErr
	stopped = true
	if err != nil || bytes.Contains(stderr.Bytes(), []byte("panic")) {
		t.Errorf("tcpwatch --json: %v; stderr: %s", err, stderr.Bytes())
	}
	for len(errs) > 0 {
		t.Errorf("in-process poll: %v", <-errs)
	}
	checkChurnRecording(t, bin, recDir, recMax)

	// The tracker holds exactly the connections of the latest dump.
	snap, err := w.Poll()
	if err != nil {
		t.Fatal(err)
	}
	uniq := map[uint64]bool{}
	for i := range snap.Rows {
		uniq[snap.Rows[i].Sock.ID.Cookie] = true
	}
	tracked := w.Tracker().Len()
	if tracked != len(uniq) {
		t.Errorf("tracker holds %d connections after a poll that saw %d", tracked, len(uniq))
	}
	snap.Release()
	if err := w.Close(); err != nil {
		t.Error(err)
	}

	// Nothing left behind in this process.
	g1 := runtime.NumGoroutine()
	for i := 0; i < 100 && g1 > g0; i++ {
		time.Sleep(20 * time.Millisecond)
		g1 = runtime.NumGoroutine()
	}
	if g1 > g0 {
		t.Errorf("goroutines: %d before the watcher, %d after it stopped", g0, g1)
	}
	// A leak is a descriptor more; one fewer is something of the test's
	// own closing meanwhile (a finished child's pidfd), said but not a
	// failure.
	if fds1 := fdTargets(t); len(fds1) > len(fds0) {
		t.Errorf("descriptors of this process: %d before the watcher, %d after it stopped: %v then %v", len(fds0), len(fds1), fds0, fds1)
	} else if len(fds1) < len(fds0) {
		t.Logf("descriptors of this process: %d before the watcher, %d after it stopped: %v then %v", len(fds0), len(fds1), fds0, fds1)
	}

	// Events: exactly one per connection seen and gone.
	for name, l := range map[string]*ledger{"in-process": inLedger, "binary": bl} {
		for _, e := range l.check() {
			t.Errorf("%s: %s", name, e)
		}
		t.Logf("%s: %d polls, %d connections seen, %d events %v, up to %d rows per poll", name, l.polls, len(l.seen), l.totalEvents(), l.kinds, l.maxRows)
	}

	// The binary's memory is flat after warm-up and its descriptors are
	// bounded.
	third := len(rss) / 3
	var midMax, lastMax int64
	for i, r := range rss {
		switch {
		case i >= 2*third:
			lastMax = max(lastMax, r)
		case i >= third:
			midMax = max(midMax, r)
		}
	}
	if third > 0 && float64(lastMax) > 1.2*float64(midMax) {
		t.Errorf("tcpwatch --json: VmRSS grows: max %s in the middle third of the run, %s in the last (samples: %v)", mib(midMax), mib(lastMax), rss)
	}
	fdMin, fdMax := fds[0], fds[0]
	for _, n := range fds {
		fdMin, fdMax = min(fdMin, n), max(fdMax, n)
	}
	if fdMax-fdMin > 16 {
		t.Errorf("tcpwatch --json: descriptors vary from %d to %d (samples: %v)", fdMin, fdMax, fds)
	}
	if err := f.Err(); err != nil {
		t.Errorf("fixture: %v", err)
	}
	opened, closed := f.Churned()
	t.Logf("churn: %d opened, %d closed; binary CPU %.1f %% of a core; VmRSS %s → %s (max %s); fds %d–%d",
		opened, closed, 100*(cpu1-cpu0).Seconds()/wall.Seconds(), mib(rss[0]), mib(rss[len(rss)-1]), mib(max(midMax, lastMax)), fdMin, fdMax)
	maxRSS := int64(0)
	for _, r := range rss {
		maxRSS = max(maxRSS, r)
	}
	return fmt.Sprintf("%d / %d | %d / %d | %d | %.1f %% | %s / %s / %s | %d–%d | %d",
		inLedger.polls, bl.polls, inLedger.totalEvents(), bl.totalEvents(), max(inLedger.maxRows, bl.maxRows),
		100*(cpu1-cpu0).Seconds()/wall.Seconds(), mib(rss[0]), mib(rss[len(rss)-1]), mib(maxRSS), fdMin, fdMax, tracked)
}

func fdCountT(t *testing.T, pid string) int {
	t.Helper()
	n, err := fdCount(pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fdTargets lists what this process's descriptors point at.
func fdTargets(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			out = append(out, e.Name()+"→"+l)
		}
	}
	return out
}

// churnRecordMax is the binary's --record-max in the churn test: at
// 2,000 connections a second the recording grows by megabytes a minute,
// so a 1 MiB ring drops its oldest segments several times in a run.
const churnRecordMax = 1 << 20

// dirBytes is the total size of the files in dir (0 before it exists).
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}

// checkChurnRecording: the recording of a churning host stayed within its
// bound at every sample, rotated (its first segments are gone), holds
// files only its owner can read, and replays without error.
func checkChurnRecording(t *testing.T, bin, dir string, maxSeen int64) {
	t.Helper()
	if maxSeen > churnRecordMax {
		t.Errorf("recording reached %d bytes, over its --record-max of %d", maxSeen, churnRecordMax)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is mode %v: others can read a recording of addresses and processes", e.Name(), fi.Mode().Perm())
		}
		if strings.HasPrefix(e.Name(), "rec-") {
			segs = append(segs, e.Name())
		}
	}
	if len(segs) == 0 || strings.HasPrefix(segs[0], "rec-00000000-") {
		t.Errorf("segments %v: the ring never dropped its oldest", segs)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "replay", dir, "--json")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines, err := countLines(out)
	if werr := cmd.Wait(); werr != nil || err != nil {
		t.Errorf("replay of the churn recording: %v %v: %s", werr, err, stderr.Bytes())
	}
	t.Logf("recording: at most %d bytes of %d, segments %s … %s kept, %d lines replayed", maxSeen, churnRecordMax, segs[0], segs[len(segs)-1], lines)
	if lines == 0 {
		t.Error("the churn recording replays to nothing")
	}
}

func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 64<<10)
	n := 0
	for {
		k, err := r.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
