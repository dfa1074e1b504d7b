package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/moby/moby/api/types/network"
	bolt "go.etcd.io/bbolt"

	bnet "github.com/berth-project/berth/network"
)

// ensureBuiltinNetworks records the predefined networks at the first
// start: bridge (on berth0, with the first of docker's pools the host
// does not route), host and none.
func (e *Engine) ensureBuiltinNetworks(ctx context.Context) error {
	missing := false
	e.core.store.read(func(tx *bolt.Tx) error {
		for _, name := range []string{network.NetworkBridge, network.NetworkHost, network.NetworkNone} {
			if _, err := findNetwork(tx, name); err != nil {
				missing = true
			}
		}
		return nil
	})
	if !missing {
		return nil
	}
	unlock, err := e.netLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return e.core.store.update(func(tx *bolt.Tx) error {
		nets, err := allNetworks(tx)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, n := range nets {
			have[n.Name] = true
		}
		now := time.Now().UTC()
		if !have[network.NetworkBridge] {
			// A bridge of that name already there keeps its subnet.
			subnet, gw := netip.Prefix{}, netip.Addr{}
			if a, ok := bnet.LinkAddr(e.bridgeName()); ok {
				subnet, gw = a.Masked(), a.Addr()
			} else {
				if subnet, err = e.pickSubnet(nets); err != nil {
					return err
				}
				gw = bnet.FirstHost(subnet)
			}
			n := &netRecord{
				ID: newID(), Name: network.NetworkBridge, Driver: driverBridge, Created: now,
				Subnet: subnet, Gateway: gw, Bridge: e.bridgeName(), Builtin: true,
				Options: map[string]string{
					"com.docker.network.bridge.default_bridge":       "true",
					"com.docker.network.bridge.enable_icc":           "true",
					"com.docker.network.bridge.enable_ip_masquerade": "true",
					"com.docker.network.bridge.host_binding_ipv4":    "0.0.0.0",
					"com.docker.network.bridge.name":                 e.bridgeName(),
					"com.docker.network.driver.mtu":                  "1500",
				},
			}
			if err := putNetwork(tx, n); err != nil {
				return err
			}
		}
		for name, driver := range map[string]string{network.NetworkHost: driverHost, network.NetworkNone: driverNull} {
			if !have[name] {
				if err := putNetwork(tx, &netRecord{ID: newID(), Name: name, Driver: driver, Created: now, Builtin: true}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// pickSubnet picks a free pool for a new bridge network: one that
// overlaps neither another network's subnet nor what the host routes.
func (e *Engine) pickSubnet(nets []*netRecord) (subnetOut netip.Prefix, err error) {
	ours := []string{e.bridgeName()}
	var used []netip.Prefix
	for _, n := range nets {
		if n.Bridge != "" {
			ours = append(ours, n.Bridge)
		}
		if n.Subnet.IsValid() {
			used = append(used, n.Subnet)
		}
	}
	host, err := bnet.HostPrefixes(ours)
	if err != nil {
		return netip.Prefix{}, err
	}
	return bnet.PickSubnet(append(used, host...))
}

// restoreNetworks squares the network state with the records, at a
// daemon's start (and for what a daemonless engine finds stopped): a
// container that no longer runs loses what its run set up; namespaces no
// live container owns are unpinned; bridges are made again if the host
// lost them; DNS records and berth's nftables table are rewritten.
func (e *Engine) restoreNetworks(ctx context.Context) error {
	recs, err := e.records()
	if err != nil {
		return err
	}
	for _, r := range recs {
		if !r.State.live() && r.Net.running() {
			e.netDownIdle(r)
		}
	}
	if !e.opts.Daemon {
		return nil
	}
	unlock, err := e.netLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	// Namespaces of this root's containers that no longer run (a crash
	// between pinning and recording); others' (another data root may
	// share the exec root) are left alone.
	if recs, err = e.records(); err != nil {
		return err
	}
	for _, r := range recs {
		if !r.State.live() && r.Net.NetNS == "" {
			if _, err := os.Stat(e.netnsPath(r.ID)); err == nil {
				bnet.DeleteNetNS(e.netnsPath(r.ID))
			}
		}
	}
	nets, err := e.networks()
	if err != nil {
		return err
	}
	if recs, err = e.records(); err != nil {
		return err
	}
	var errs []error
	for _, n := range nets {
		if n.Driver == driverBridge {
			// One network the host broke (its bridge's name taken by
			// another link) must not keep the daemon from starting: its
			// containers fail to start with the reason instead.
			if err := bnet.EnsureBridge(bnet.Bridge{Name: n.Bridge, Gateway: netip.PrefixFrom(n.Gateway, n.Subnet.Bits()), MTU: n.MTU}); err != nil {
				errs = append(errs, fmt.Errorf("network %s: %w", n.Name, err))
			}
		}
		if n.userDefined() {
			if err := e.writeRecords(n, recs); err != nil {
				return err
			}
		}
	}
	// What the host has may not be what was written last.
	if err := e.applyRules(nets, recs, true); err != nil {
		return err
	}
	if len(errs) > 0 {
		fmt.Fprintf(os.Stderr, "berth: restore networks: %v\n", errors.Join(errs...))
	}
	return nil
}

// netDownIdle undoes the network of a container found stopped, unless
// another process holds its lock (it is starting or stopping it right
// now: its own exit or failure path cleans up).
func (e *Engine) netDownIdle(r *ctrRecord) {
	unlock, ok := e.tryLockCtr(r)
	if !ok {
		return
	}
	defer unlock()
	if x, err := e.load(r.ID); err == nil && !x.State.live() && x.Net.running() {
		e.netDown(r.ID)
	}
}
