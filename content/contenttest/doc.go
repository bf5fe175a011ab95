// Package contenttest is the test suite every content.Store implementation
// must pass (content/local, and metadata's namespaced view): write, read,
// verify, resume, abort, lock, wrong digest and size, already exists,
// labels, walk, delete. It is imported only by tests.
package contenttest
