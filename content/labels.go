package content

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/internal/filters"
)

// UpdateLabels applies an Update's fieldpaths to cur from next.
func UpdateLabels(cur, next map[string]string, fieldpaths []string) (map[string]string, error) {
	if len(fieldpaths) == 0 {
		return copyLabels(next), nil
	}
	out := copyLabels(cur)
	for _, p := range fieldpaths {
		switch {
		case p == "labels":
			out = copyLabels(next)
		case strings.HasPrefix(p, "labels."):
			k := strings.TrimPrefix(p, "labels.")
			if v, ok := next[k]; ok && v != "" {
				if out == nil {
					out = map[string]string{}
				}
				out[k] = v
			} else {
				delete(out, k)
			}
		default:
			return nil, fmt.Errorf("update fieldpath %q: only labels can change: %w", p, errdefs.ErrInvalidArgument)
		}
	}
	return out, nil
}

func copyLabels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// InfoAdaptor exposes a blob's fields to filters.
func InfoAdaptor(info Info) filters.Adaptor {
	return func(p []string) (string, bool) {
		if len(p) == 0 {
			return "", false
		}
		switch p[0] {
		case "digest":
			return string(info.Digest), len(p) == 1
		case "size":
			return strconv.FormatInt(info.Size, 10), len(p) == 1
		case "labels":
			return filters.LabelAdaptor(info.Labels, p[1:])
		}
		return "", false
	}
}
