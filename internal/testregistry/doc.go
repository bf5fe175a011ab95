// Package testregistry is an in-process OCI distribution registry on
// net/http/httptest for unit tests: pull, push (monolithic and chunked), blob
// mounts, tag lists and Range requests, with optional basic auth or a bearer
// token server, and fault injection (a status code for requests matching a
// pattern N times, bodies cut after K bytes, hangs, slow bodies, redirects of
// blob downloads to a second host). Everything is kept in memory and goes
// away with Close. It is a test double, not a production registry.
package testregistry
