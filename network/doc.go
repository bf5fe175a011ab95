// Package network gives Berth containers their network through Debian's real
// CNI plugins (bridge, host-local, portmap, firewall from /usr/lib/cni), run by
// libcni. A Manager owns the network definitions (one CNI conflist per network
// under <root>/networks, written atomically), the default "bridge" network
// (bridge plugin with gateway, masquerade and hairpin, host-local IPAM,
// portmap with SNAT for published ports, firewall), and one attachment record
// per container under <state>/cni/attachments, written before any plugin runs
// so that a crash in the middle of Attach can always be undone by Detach.
//
// Typical use by berthd for `berth run -p 127.0.0.1:8080:80`:
//
//	mode, _ := network.ParseNetworkMode(flagNetwork)      // "", bridge, none, host, NAME, container:ID
//	ports, _ := network.ParsePortSpecs(flagPublish)        // []PortMapping, docker-style errors
//	nsPath, _ := netns.New(stateDir, containerID)           // unless mode is host or container:ID
//	res, err := mgr.Attach(ctx, containerID, nsPath, mode.Networks(), network.AttachOpts{PortMappings: ports})
//	...                                                     // spec.Linux.Namespaces network path = nsPath
//	mgr.Detach(ctx, containerID, nsPath, nil)               // on stop/rm/any failure; before netns.Remove
//	netns.Remove(nsPath)
//
// Detach must run before the namespace is removed: the bridge plugin can only
// find the container's addresses (to drop its masquerade rule) inside it.
// Detach is idempotent and tolerant of state that is already gone.
//
// Several Managers on one host (several berthd roots, e.g. in tests) may share
// the default bridge and subnet: the default network's IPAM leases live in a
// host-wide directory per bridge (Config.SharedIPAMDir), so no address is
// given out twice.
//
// The package does not create containers, write OCI specs, or resolve
// container names; it never touches a network namespace it was not given, and
// it does not implement DNS between containers (Debian ships no DNS plugin).
package network
