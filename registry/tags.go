package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/berth-containers/berth/internal/errdefs"
	"github.com/berth-containers/berth/registry/hosts"
	"github.com/berth-containers/berth/registry/reference"
)

// maxTagPages bounds how many pages of a tag list are followed.
const maxTagPages = 1000

// ListTags lists the tags of ref's repository (its tag or digest is
// ignored), following Link pagination, from the first endpoint with the
// resolve capability that answers. r must come from NewResolver.
func ListTags(ctx context.Context, r Resolver, ref string) ([]string, error) {
	res, ok := r.(*resolver)
	if !ok {
		return nil, fmt.Errorf("list tags: resolver %T is not from NewResolver: %w", r, errdefs.ErrInvalidArgument)
	}
	n, err := reference.ParseNormalizedName(ref)
	if err != nil {
		return nil, err
	}
	eps, err := res.endpoints(n, hosts.CapResolve)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for _, ep := range eps {
		tags, err := res.listTags(ctx, ep, n)
		if err == nil {
			return tags, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if firstErr == nil || errdefs.IsNotFound(firstErr) && !errdefs.IsNotFound(err) {
			firstErr = err
		}
	}
	return nil, firstErr
}

func (r *resolver) listTags(ctx context.Context, ep hosts.Endpoint, n reference.Named) ([]string, error) {
	what := "tags of " + n.Name()
	q := &request{method: http.MethodGet, ep: ep, path: "/" + n.Path + "/tags/list", scopes: pullScope(n), credHost: n.Domain, object: what}
	var tags []string
	for page := 0; page < maxTagPages; page++ {
		resp, err := r.do(ctx, q)
		if err != nil {
			return nil, err
		}
		var body struct {
			Tags []string `json:"tags"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, MaxManifestSize)).Decode(&body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: malformed JSON: %v: %w", what, err, errdefs.ErrInvalidArgument)
		}
		tags = append(tags, body.Tags...)
		next := nextLink(resp.Header.Get("Link"))
		if next == "" {
			return tags, nil
		}
		loc, err := resolveLocation(resp, next)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		q = &request{method: http.MethodGet, ep: ep, rawURL: loc, scopes: pullScope(n), credHost: n.Domain, object: what}
	}
	return nil, fmt.Errorf("%s: more than %d pages: %w", what, maxTagPages, errdefs.ErrFailedPrecondition)
}

// nextLink finds the rel="next" target of a Link header.
func nextLink(h string) string {
	for _, part := range strings.Split(h, ",") {
		part = strings.TrimSpace(part)
		if !strings.Contains(part, `rel="next"`) && !strings.Contains(part, "rel=next") {
			continue
		}
		if i, j := strings.Index(part, "<"), strings.Index(part, ">"); i >= 0 && j > i {
			return part[i+1 : j]
		}
	}
	return ""
}
