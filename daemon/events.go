package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/berth-containers/berth/internal/namespaces"
)

// Event is one thing that happened to a container or an image.
type Event struct {
	Time       time.Time         `json:"time"`
	Namespace  string            `json:"namespace"`
	Type       string            `json:"type"`   // container, image
	Action     string            `json:"action"` // create, start, die, oom, destroy, ...
	ID         string            `json:"id"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// Events fans events out to subscribers. A slow subscriber loses events
// rather than stalling the daemon. The zero value is not usable; a nil
// *Events drops everything.
type Events struct {
	mu   sync.Mutex
	subs map[chan Event]struct{}
}

// NewEvents returns an empty broker.
func NewEvents() *Events { return &Events{subs: map[chan Event]struct{}{}} }

// Publish sends an event to every subscriber.
func (e *Events) Publish(ns, typ, action, id string, attrs map[string]string) {
	if e == nil {
		return
	}
	ev := Event{Time: time.Now().UTC(), Namespace: ns, Type: typ, Action: action, ID: id, Attributes: attrs}
	e.mu.Lock()
	defer e.mu.Unlock()
	for ch := range e.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// Subscribe returns a channel of events until ctx ends.
func (e *Events) Subscribe(ctx context.Context) <-chan Event {
	ch := make(chan Event, 256)
	e.mu.Lock()
	e.subs[ch] = struct{}{}
	e.mu.Unlock()
	context.AfterFunc(ctx, func() {
		e.mu.Lock()
		delete(e.subs, ch)
		e.mu.Unlock()
		close(ch)
	})
	return ch
}

func nsOf(ctx context.Context) string {
	ns, _ := namespaces.Namespace(ctx)
	return ns
}
