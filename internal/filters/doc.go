// Package filters parses and evaluates the small list filters Berth's stores
// accept: `field==value`, `field!=value`, `field~=regexp` or a bare `field`
// (present), with dotted field paths whose parts may be quoted
// (`labels."berth.io/x"==y`). Terms joined by commas must all match; several
// filter strings match when any does. It knows nothing of what is filtered:
// callers supply an Adaptor.
package filters
