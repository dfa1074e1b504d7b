package network

// Pins the modules the package's parts are built on while they are
// written in parallel; removed once each is imported for real.
import (
	_ "github.com/google/nftables"
	_ "github.com/miekg/dns"
	_ "github.com/vishvananda/netlink"
	_ "github.com/vishvananda/netns"
)
