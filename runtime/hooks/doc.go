// Package hooks runs OCI lifecycle hooks (prestart, createRuntime, createContainer,
// startContainer, poststart, poststop): each hook's program is executed with its
// args and env, the container state JSON on stdin, and killed when its timeout
// expires. It decides nothing about which hook failures are fatal (the caller does)
// and never enters namespaces itself: it runs in whatever namespace its caller is in.
package hooks
