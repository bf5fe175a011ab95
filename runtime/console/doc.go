// Package console handles container terminals: allocating a pty pair from
// /dev/ptmx inside the container (the slave obtained with TIOCGPTPEER, never by
// path), making the slave the controlling terminal and stdio, passing the master
// over a unix socket with SCM_RIGHTS the way runc does (--console-socket), and, on
// the receiving side, copying a master to the caller's terminal. It must not
// decide when a terminal is wanted, nor touch namespaces or mounts.
package console
