// Package replay turns a flight recording (internal/record) back into the
// snapshots the live run showed: every recorded poll goes through the very
// same model tracker, with the recorded sockets, times, parameters,
// counters and option answers, so that the rows, predictions and events
// come out as they did live. The outputs (--json, --once, the interface)
// then print them exactly as they print a live poll.
//
// A replay starts at a segment's keyframe: the tracker's state stored
// there is restored with that poll's sockets (model.RestoreTracker), and
// the polls after it are fed one by one. Reaching an instant is a seek to
// the segment holding it and steps up to it; stepping back is the same
// seek to the poll before.
//
// What it must not do: read the clock, the kernel or /proc (everything
// comes from the recording), or change what the model says: a filter
// selects among the rows and events the recording gives, as the live
// filter selected among the sockets.
package replay

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tcpwatch/tcpwatch/inetdiag"
	"github.com/tcpwatch/tcpwatch/internal/record"
	"github.com/tcpwatch/tcpwatch/model"
	"github.com/tcpwatch/tcpwatch/query"
)

// Replayer reads a recording poll after poll through a tracker. It is not
// safe for concurrent use.
type Replayer struct {
	r   *record.Reader
	cfg model.Config // for trackers started afresh (a keyframe without state)
	q   query.Query
	kf  inetdiag.Filter
	ks  inetdiag.StateMask

	cur     *record.Cursor
	tr      *model.Tracker
	fresh   bool // the next poll starts the tracker (after a seek or damage)
	host    string
	seg     int          // the segment whose header host holds
	notes   int          // notes of cur already returned
	held    *record.Poll // read by Peek, not fed yet
	heldSeg int
	// Notes collects what was skipped without failing (torn tails).
	Notes []record.Note
}

// Open opens the recording at path (a directory or one segment file).
// cfg configures a tracker that must start without a stored state; q
// filters the snapshots as the live filter did.
func Open(path string, cfg model.Config, q query.Query) (*Replayer, error) {
	r, err := record.Open(path)
	if err != nil {
		return nil, err
	}
	rp := &Replayer{r: r, cfg: cfg, seg: -1}
	rp.SetQuery(q)
	return rp, nil
}

// SetQuery changes the filter from the next snapshot on.
func (rp *Replayer) SetQuery(q query.Query) {
	rp.q = q
	req := q.Request()
	rp.kf, rp.ks = req.Filter, req.States
}

// Query returns the filter in force.
func (rp *Replayer) Query() query.Query { return rp.q }

// Reader returns the recording.
func (rp *Replayer) Reader() *record.Reader { return rp.r }

// Close releases the open segment.
func (rp *Replayer) Close() error {
	if rp.cur != nil {
		rp.cur.Close()
		rp.cur = nil
	}
	return nil
}

// SeekSegment makes the next poll the keyframe of segment i.
func (rp *Replayer) SeekSegment(i int) error {
	rp.Close()
	c, err := rp.r.SeekSegment(i)
	if err != nil {
		return err
	}
	rp.cur, rp.fresh, rp.notes, rp.held = c, true, 0, nil
	return nil
}

// Peek returns the poll Next would feed, without feeding it: a seek
// stops before the first poll past its instant.
func (rp *Replayer) Peek() (*record.Poll, error) {
	if rp.held != nil {
		return rp.held, nil
	}
	p, seg, err := rp.read()
	if err != nil {
		return nil, err
	}
	rp.held, rp.heldSeg = p, seg
	return p, nil
}

// read returns the next poll the tracker can take: after a seek or
// damage, the next keyframe.
func (rp *Replayer) read() (*record.Poll, int, error) {
	if rp.cur == nil {
		if err := rp.SeekSegment(0); err != nil {
			return nil, 0, err
		}
	}
	for {
		p, err := rp.cur.Next()
		rp.collectNotes()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				rp.fresh = true // what follows has a gap
			}
			return nil, 0, err
		}
		if len(p.Parts) == 0 {
			continue // nothing was watched at this poll
		}
		if rp.fresh && !p.Keyframe {
			continue // a tracker starts at a keyframe only
		}
		return p, rp.cur.Segment(), nil
	}
}

// Step is one replayed poll: the recorded poll and what the tracker made
// of it.
type Step struct {
	Poll    *record.Poll
	Segment int
	Result  model.Poll
}

// Next replays the next poll. It returns io.EOF after the last. Damage is
// an *record.Error: the polls before it were returned, and the next call
// goes on at the next segment, whose keyframe restarts the tracker.
func (rp *Replayer) Next() (Step, error) {
	if _, err := rp.Peek(); err != nil {
		return Step{}, err
	}
	st := Step{Poll: rp.held, Segment: rp.heldSeg}
	rp.held = nil
	var err error
	if st.Result, err = rp.feed(st.Poll); err != nil {
		rp.fresh = true
		return Step{}, err
	}
	return st, nil
}

// SeekTime replays up to the last poll at or before t (the first poll of
// the recording if t is earlier) from the keyframe of the segment holding
// it, and returns that poll.
func (rp *Replayer) SeekTime(t time.Time) (Step, error) {
	if err := rp.SeekSegment(rp.r.Find(t)); err != nil {
		return Step{}, err
	}
	st, err := rp.Next()
	if err != nil {
		return Step{}, err
	}
	for {
		p, err := rp.Peek()
		if errors.Is(err, io.EOF) || err == nil && p.Time.After(t) {
			return st, nil
		}
		if err != nil {
			return st, err
		}
		next, err := rp.Next()
		if err != nil {
			return st, err
		}
		st = next
	}
}

// feed gives a poll's first namespace to the tracker: restored from the
// keyframe's state at a start, else one Update like the live run's.
func (rp *Replayer) feed(p *record.Poll) (model.Poll, error) {
	pt := &p.Parts[0]
	if rp.fresh {
		rp.fresh = false
		if p.State != nil {
			tr, poll, err := model.RestoreTracker(p.State, pt.Socks)
			if err != nil {
				return model.Poll{}, fmt.Errorf("replay: poll at %s: %w", p.Time.Format(time.RFC3339Nano), err)
			}
			rp.tr = tr
			poll.Events = eventsAt(tr.Events(), p.Time)
			return poll, nil
		}
		cfg := rp.cfg
		cfg.Params = pt.Params
		rp.tr = model.NewTracker(cfg)
	}
	rp.tr.SetParams(pt.Params)
	return rp.tr.Update(pt.Input(p)), nil
}

// eventsAt returns the last events, those of the poll at t: a restored
// tracker has them at the end of its list.
func eventsAt(all []model.Event, t time.Time) []model.Event {
	i := len(all)
	for i > 0 && all[i-1].Time.Equal(t) {
		i--
	}
	return append([]model.Event(nil), all[i:]...)
}

func (rp *Replayer) collectNotes() {
	if rp.cur == nil {
		return
	}
	n := rp.cur.Notes()
	rp.Notes = append(rp.Notes, n[rp.notes:]...)
	rp.notes = len(n)
}

// Host returns the host named in segment i's header.
func (rp *Replayer) Host(i int) string {
	if i != rp.seg {
		if h, err := rp.r.Header(i); err == nil {
			rp.host, rp.seg = h.Host, i
		}
	}
	return rp.host
}

// Snapshot builds what the live run published for a step: its rows with
// their recorded owners, filtered as the live run filtered, and the
// poll's events.
func (rp *Replayer) Snapshot(st Step) *model.Snapshot {
	p, pt := st.Poll, &st.Poll.Parts[0]
	snap := model.NewSnapshot(nil)
	snap.Time, snap.PollCost, snap.Interval, snap.Slowed = p.Time, p.Cost, p.Interval, p.Slowed
	snap.Params = rp.tr.Params()
	rows := st.Result.Rows(func(s *inetdiag.Socket) (int, string) {
		o := pt.Owners[s.Inode]
		return o.PID, o.Comm
	})
	kept := rows[:0]
	for i := range rows {
		if rp.matchSock(rows[i].Sock.Family, rows[i].Sock.ID, rows[i].Sock.State) && rp.q.MatchRow(&rows[i]) {
			kept = append(kept, rows[i])
		}
	}
	snap.Rows = kept
	for _, e := range st.Result.Events {
		if e.ID == (model.EventID{}) || rp.matchSock(e.ID.Family, inetdiag.SockID{Src: e.ID.Local, Dst: e.ID.Remote, Cookie: e.ID.Cookie}, e.State) {
			snap.Events = append(snap.Events, e)
		}
	}
	snap.AllEvents = append([]model.Event(nil), rp.tr.Events()...)
	snap.Host = rp.Host(st.Segment)
	snap.NetNS = pt.Name
	snap.Notices = p.Notices
	snap.Listening = map[uint16]bool{}
	for i := range pt.Socks {
		if pt.Socks[i].State == inetdiag.StateListen {
			snap.Listening[pt.Socks[i].ID.Src.Port()] = true
		}
	}
	return snap
}

// matchSock applies the kernel-side part of the filter, which the live
// run's kernel applied to the dump.
func (rp *Replayer) matchSock(fam inetdiag.Family, id inetdiag.SockID, st inetdiag.State) bool {
	if rp.ks != 0 && !rp.ks.Has(st) {
		return false
	}
	return rp.kf.IsZero() || rp.kf.Match(fam, id)
}
