package snapshot

import (
	"fmt"
	"strings"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Filter is a parsed Walk filter: all of its terms must match.
type Filter []term

type term struct {
	field, value string
	neq          bool
}

// ParseFilters parses Walk filters of the form field==value or field!=value,
// where field is "name", "parent", "kind" or "labels.<key>"; several
// comma-separated terms in one filter must all match, and so must the filters.
func ParseFilters(filters ...string) (Filter, error) {
	var f Filter
	for _, s := range filters {
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			var t term
			if k, v, ok := strings.Cut(part, "!="); ok {
				t = term{field: k, value: v, neq: true}
			} else if k, v, ok := strings.Cut(part, "=="); ok {
				t = term{field: k, value: v}
			} else {
				return nil, fmt.Errorf("snapshot filter %q: want field==value or field!=value: %w", part, errdefs.ErrInvalidArgument)
			}
			t.value = strings.Trim(t.value, `"`)
			switch {
			case t.field == "name", t.field == "parent", t.field == "kind":
			case strings.HasPrefix(t.field, "labels.") && len(t.field) > len("labels."):
			default:
				return nil, fmt.Errorf("snapshot filter %q: unknown field %q: %w", part, t.field, errdefs.ErrInvalidArgument)
			}
			f = append(f, t)
		}
	}
	return f, nil
}

// Match reports whether info matches every term.
func (f Filter) Match(info Info) bool {
	for _, t := range f {
		var v string
		var present bool = true
		switch t.field {
		case "name":
			v = info.Name
		case "parent":
			v = info.Parent
		case "kind":
			v = info.Kind.String()
		default:
			v, present = info.Labels[strings.TrimPrefix(t.field, "labels.")]
		}
		eq := present && v == t.value
		if eq == t.neq {
			return false
		}
	}
	return true
}
