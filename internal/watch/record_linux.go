package watch

import (
	"time"

	"github.com/tcpwatch/tcpwatch/internal/record"
	"github.com/tcpwatch/tcpwatch/model"
)

// recorder hands every poll's input to a flight recording
// (Config.Record): the sockets the tracker read, the poll's time and
// uncertainty, the parameters, the counters, the answers of the option
// source, the owners shown, the notices; and at each keyframe the
// tracker's state, so that a replay can start there and go on exactly as
// this run did.
//
// Its methods do nothing on a nil recorder: the poller calls them
// unconditionally, one line each.
type recorder struct {
	w *record.Writer

	poll   record.Poll
	parts  [1]record.Part
	owners map[uint32]record.Owner // reused: Append copies what it needs

	interval time.Duration // in force when the next poll is taken (see paced)
	slowed   bool
}

func newRecorder(w *record.Writer) *recorder {
	if w == nil {
		return nil
	}
	return &recorder{w: w, owners: map[uint32]record.Owner{}}
}

// wallClock strips the monotonic reading from clock's times. A replay
// gives the tracker times decoded from the recording, which have none;
// a live tracker computing its durations on the monotonic clock would
// differ from it by nanoseconds (and by any step of the wall clock), so a
// recording run computes them on the wall clock too.
func wallClock(clock func() time.Time) func() time.Time {
	return func() time.Time { return clock().Round(0) }
}

// wrap returns the option source the tracker is given: opts, with every
// answer noted for the recording.
func (r *recorder) wrap(opts model.OptionSource) model.OptionSource {
	if r == nil {
		return opts
	}
	r.parts[0] = record.Part{Options: r.parts[0].Options[:0]}
	return r.parts[0].RecordOptions(opts)
}

// paced notes the interval Loop waits before the next poll.
func (r *recorder) paced(interval time.Duration, slowed bool) {
	if r != nil {
		r.interval, r.slowed = interval, slowed
	}
}

// append records the poll that began at start, once its rows have their
// owners (before the user-space filter drops any). The tracker's state
// goes with the poll that starts a segment: it is taken after this poll's
// Update, and replay restores it together with this poll's sockets. A
// failure is a notice: the watch goes on without that poll, and the
// writer starts a new segment with the next.
func (r *recorder) append(w *Watcher, sp sourcePoll, rows []model.Row, start time.Time) {
	if r == nil {
		return
	}
	clear(r.owners)
	for i := range rows {
		if rows[i].PID != 0 {
			r.owners[rows[i].Sock.Inode] = record.Owner{PID: rows[i].PID, Comm: rows[i].Comm}
		}
	}
	pt := &r.parts[0]
	pt.Name, pt.Socks, pt.Params = w.cfg.NetNSName, sp.buf.socks, w.src.tracker.Params()
	pt.Counters, pt.CountersAfter, pt.Owners = sp.counters, sp.countersAfter, r.owners
	r.poll = record.Poll{
		Time: sp.time, Uncertainty: sp.uncertainty, Interval: r.interval, Slowed: r.slowed,
		Cost: w.cfg.Clock().Sub(start), Notices: w.notices.all(), Parts: r.parts[:],
	}
	if r.w.KeyframeDue(sp.time) {
		r.poll.State = w.src.tracker.MarshalState(sp.time)
	}
	if err := r.w.Append(&r.poll); err != nil {
		w.notices.add("recording: " + err.Error())
	}
}
