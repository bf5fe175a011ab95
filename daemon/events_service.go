package daemon

import (
	"encoding/json"
	"fmt"
	"strings"

	"google.golang.org/grpc"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/internal/errdefs"
)

// EventsService is the Events API over an Events broker.
type EventsService struct {
	berthv1.UnimplementedEventsServer
	ev *Events
}

// NewEventsService serves ev.
func NewEventsService(ev *Events) *EventsService { return &EventsService{ev: ev} }

// Register adds the service to g.
func (s *EventsService) Register(g *grpc.Server) { berthv1.RegisterEventsServer(g, s) }

// eventFilter is a parsed list of KEY=VALUE filters.
type eventFilter map[string][]string

func parseEventFilters(list []string) (eventFilter, error) {
	f := eventFilter{}
	for _, s := range list {
		k, v, ok := strings.Cut(s, "=")
		if !ok || v == "" {
			return nil, fmt.Errorf("invalid argument %q for \"-f, --filter\" flag: bad format of filter (expected name=value): %w", s, errdefs.ErrInvalidArgument)
		}
		switch k {
		case "type", "event", "container", "image":
		default:
			return nil, fmt.Errorf("invalid filter '%s' (want type, event, container or image): %w", k, errdefs.ErrInvalidArgument)
		}
		f[k] = append(f[k], v)
	}
	return f, nil
}

func (f eventFilter) match(e Event) bool {
	any := func(key string, ok func(string) bool) bool {
		vs := f[key]
		if len(vs) == 0 {
			return true
		}
		for _, v := range vs {
			if ok(v) {
				return true
			}
		}
		return false
	}
	return any("type", func(v string) bool { return v == e.Type }) &&
		any("event", func(v string) bool { return v == e.Action }) &&
		any("container", func(v string) bool {
			return e.Type == "container" && (strings.HasPrefix(e.ID, v) || e.Attributes["name"] == strings.TrimPrefix(v, "/"))
		}) &&
		any("image", func(v string) bool {
			return e.Attributes["image"] == v || (e.Type == "image" && e.Attributes["name"] == v)
		})
}

// Subscribe streams the namespace's events matching the filters.
func (s *EventsService) Subscribe(req *berthv1.SubscribeRequest, st grpc.ServerStreamingServer[berthv1.EventMessage]) error {
	f, err := parseEventFilters(req.Filters)
	if err != nil {
		return err
	}
	ctx := st.Context()
	ns := nsOf(ctx)
	for e := range s.ev.Subscribe(ctx) {
		if e.Namespace != ns || !f.match(e) {
			continue
		}
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if err := st.Send(&berthv1.EventMessage{Event: b}); err != nil {
			return err
		}
	}
	return nil
}
