// Package network gives containers their network: network namespaces
// pinned to files, bridges, veth pairs and macvlan/ipvlan links set up over
// netlink, IPv4 address management, port publishing and isolation in
// berth's own nftables table, the embedded DNS server that answers
// container names on user-defined networks, and the /etc/hosts and
// /etc/resolv.conf a container sees.
//
// It knows nothing of containers or records: the engine decides what
// should exist and calls these functions. Everything here is idempotent
// where it can be (ensure, delete-if-present), so the engine can
// reconcile after a crash by simply asking again for what should exist.
package network
