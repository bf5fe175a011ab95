package container

import (
	"time"

	"github.com/berth-containers/berth/runtime/cgroups"
	"github.com/berth-containers/berth/runtime/state"
)

// Event is one line of `events` output, shaped like runc's.
type Event struct {
	Type string         `json:"type"`
	ID   string         `json:"id"`
	Data *cgroups.Stats `json:"data,omitempty"`
}

// Stats returns one stats event for id.
func (r *Runtime) Stats(id string) (*Event, error) {
	st, err := state.Read(r.root(), id)
	if err != nil {
		return nil, err
	}
	m, err := r.cgroup(st)
	if err != nil {
		return nil, err
	}
	s, err := m.Stats()
	if err != nil {
		return nil, err
	}
	return &Event{Type: "stats", ID: id, Data: s}, nil
}

// Events calls emit with a stats event every interval and an "oom" event
// whenever the OOM kill count rises, until the container stops or emit fails.
func (r *Runtime) Events(id string, interval time.Duration, emit func(*Event) error) error {
	st, err := state.Read(r.root(), id)
	if err != nil {
		return err
	}
	m, err := r.cgroup(st)
	if err != nil {
		return err
	}
	if interval <= 0 {
		interval = 5 * time.Second
	}
	lastOOM, _ := m.OOMKillCount()
	oomTick := time.NewTicker(min(interval, 200*time.Millisecond))
	defer oomTick.Stop()
	next := time.Now().Add(interval)
	for {
		if !state.Alive(st.Pid, st.StartTime) {
			return nil
		}
		if n, err := m.OOMKillCount(); err == nil && n > lastOOM {
			lastOOM = n
			if err := emit(&Event{Type: "oom", ID: id}); err != nil {
				return err
			}
		}
		if !time.Now().Before(next) {
			next = time.Now().Add(interval)
			if s, err := m.Stats(); err == nil {
				if err := emit(&Event{Type: "stats", ID: id, Data: s}); err != nil {
					return err
				}
			}
		}
		<-oomTick.C
	}
}
