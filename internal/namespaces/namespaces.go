// Package namespaces carries a tenancy namespace ("default", "k8s.io", …) on a
// context.Context, and names the gRPC metadata key it travels in. Every
// daemon-side store keys its records by it.
package namespaces

import (
	"context"
	"fmt"
	"regexp"

	"github.com/berth-containers/berth/internal/errdefs"
)

// Default is used by clients that name no namespace.
const Default = "default"

// GRPCHeader is the gRPC metadata key that carries the namespace.
const GRPCHeader = "berth-namespace"

type key struct{}

var valid = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9._-]{0,74}[a-zA-Z0-9])?$`)

// Validate checks a namespace name.
func Validate(ns string) error {
	if !valid.MatchString(ns) {
		return fmt.Errorf("namespace %q: must be 1-76 letters, digits, '.', '_' or '-', starting and ending alphanumeric: %w", ns, errdefs.ErrInvalidArgument)
	}
	return nil
}

// WithNamespace returns ctx carrying ns.
func WithNamespace(ctx context.Context, ns string) context.Context {
	return context.WithValue(ctx, key{}, ns)
}

// Namespace returns the namespace on ctx, if any.
func Namespace(ctx context.Context) (string, bool) {
	ns, ok := ctx.Value(key{}).(string)
	return ns, ok && ns != ""
}

// NamespaceRequired returns the valid namespace on ctx or an invalid-argument error.
func NamespaceRequired(ctx context.Context) (string, error) {
	ns, ok := Namespace(ctx)
	if !ok {
		return "", fmt.Errorf("no namespace on request: %w", errdefs.ErrInvalidArgument)
	}
	if err := Validate(ns); err != nil {
		return "", err
	}
	return ns, nil
}
