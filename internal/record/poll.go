package record

import (
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/model"
)

// Poll is one poll's input as the tracker saw it, and what the program
// printed beside it: everything replay needs to run the same tracker
// again and show the same screen.
type Poll struct {
	// Time is the poll's time (model.PollInput.Time), kept to the
	// nanosecond. It is stored as wall-clock nanoseconds: a decoded Time
	// has no monotonic reading (see the package documentation).
	Time time.Time
	// Uncertainty is model.PollInput.Uncertainty.
	Uncertainty time.Duration
	// Interval and Slowed are the polling interval in force and whether
	// it was stretched (model.Snapshot.Interval and Slowed); Cost is the
	// poll's cost (model.Snapshot.PollCost).
	Interval time.Duration
	Slowed   bool
	Cost     time.Duration
	// Notices are the program's notices at this poll. They are stored
	// only when they differ from the previous poll's.
	Notices []string
	// Parts hold the poll's namespaces, one part each, in the order they
	// were polled. A single-namespace program has one part.
	Parts []Part
	// State is an opaque blob for replay to start from, stored with
	// keyframes only. Given to Writer.Append, a non-nil State makes the
	// poll a keyframe: the program puts the tracker's serialized state
	// there, taken after this poll's Update (model.Tracker.MarshalState),
	// so that replay can restore it with this poll's sockets and go on
	// from the next poll exactly. Decoded, it is set on the keyframes that
	// had one.
	State []byte
	// Keyframe is set on decoded polls that start a segment (every socket
	// stored whole). Writer.Append ignores it.
	Keyframe bool
}

// NamespaceID identifies a namespace within a recording. The program
// chooses it (for instance the namespace's inode); it must be stable for
// as long as the namespace is watched.
type NamespaceID uint64

// Part is what one poll read in one network namespace.
type Part struct {
	NS NamespaceID
	// Name is how the program calls the namespace ("" for the host's
	// own); it is stored when it changes.
	Name string
	// Socks are the dumped sockets in dump order (model.PollInput.Socks).
	// Append copies what it needs: the slice may be reused at once.
	Socks []inetdiag.Socket
	// Params are the kernel parameters the tracker predicted with.
	Params model.Params
	// Counters and CountersAfter are model.PollInput's (nil when unread).
	Counters, CountersAfter *model.Counters
	// Options are the answers the tracker's OptionSource gave during the
	// Update, in the order it asked (see RecordOptions and Options).
	Options []Option
	// Owners are the owning processes the program resolved, keyed by the
	// socket's inode (rows without an owner are absent).
	Owners map[uint32]Owner
}

// Option is one answer of a model.OptionSource.
type Option struct {
	Cookie uint64
	Opts   model.SockOpts
	OK     bool
}

// Owner is a socket's owning process as the program showed it.
type Owner struct {
	PID  int
	Comm string
}

// RecordOptions returns an OptionSource that asks src and appends every
// answer to pt.Options: give it to the tracker in place of src when
// recording.
func (pt *Part) RecordOptions(src model.OptionSource) model.OptionSource {
	return func(s *inetdiag.Socket) (model.SockOpts, bool) {
		var o model.SockOpts
		ok := false
		if src != nil {
			o, ok = src(s)
		}
		pt.Options = append(pt.Options, Option{Cookie: s.ID.Cookie, Opts: o, OK: ok})
		return o, ok
	}
}

// OptionSource returns an OptionSource that gives the recorded answers
// (replay): for a cookie asked several times, the last answer; for one
// never asked while recording, none.
func (pt *Part) OptionSource() model.OptionSource {
	byCookie := make(map[uint64]int, len(pt.Options))
	for i, o := range pt.Options {
		byCookie[o.Cookie] = i
	}
	opts := pt.Options
	return func(s *inetdiag.Socket) (model.SockOpts, bool) {
		i, ok := byCookie[s.ID.Cookie]
		if !ok {
			return model.SockOpts{}, false
		}
		return opts[i].Opts, opts[i].OK
	}
}

// Input returns the tracker's input for this part, with the recorded
// option answers as its OptionSource.
func (pt *Part) Input(p *Poll) model.PollInput {
	return model.PollInput{
		Time: p.Time, Uncertainty: p.Uncertainty, Socks: pt.Socks, Options: pt.OptionSource(),
		Counters: pt.Counters, CountersAfter: pt.CountersAfter,
	}
}
