// Package reliability holds Berth's end-to-end reliability tests of `berth
// run` (root, real kernel): berthd killed under running containers, a killed
// shim, berthd killed in the middle of a run, many containers started at
// once, `rm -f` in every state, and bad flag values. Each test starts its own
// berthd on temp directories and checks that nothing is left behind (process,
// mount, cgroup, network namespace, veth, firewall rule, state directory). It
// holds tests only: no code here is imported by Berth, and it must not touch
// any daemon or container that it did not start.
package reliability
