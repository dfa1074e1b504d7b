package engine

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucketNetworks = []byte("networks")

// Network drivers berth has.
const (
	driverBridge  = "bridge"
	driverMacvlan = "macvlan"
	driverIPvlan  = "ipvlan"
	driverHost    = "host"
	driverNull    = "null"
)

// defaultBridge is the Linux bridge of the predefined "bridge" network.
const defaultBridge = "berth0"

// bridgeName is the Linux bridge of this engine's "bridge" network.
func (e *Engine) bridgeName() string {
	if e.opts.NetName != "" {
		return e.opts.NetName
	}
	return defaultBridge
}

// nftTable is this engine's nftables table.
func (e *Engine) nftTable() string {
	if e.opts.NetName != "" {
		return e.opts.NetName
	}
	return "berth"
}

// netRecord is what the engine keeps of a network (engine.db, bucket
// networks).
type netRecord struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Driver  string    `json:"driver"`
	Created time.Time `json:"created"`
	// Subnet, Gateway and IPRange: IPv4 only; zero for host and null.
	Subnet  netip.Prefix `json:"subnet,omitzero"`
	Gateway netip.Addr   `json:"gateway,omitzero"`
	IPRange netip.Prefix `json:"ipRange,omitzero"`
	// UserIPAM: the subnet was given (inspect shows the config as given).
	UserIPAM   bool              `json:"userIpam,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
	Attachable bool              `json:"attachable,omitempty"`
	Options    map[string]string `json:"options,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// Bridge is the Linux bridge (bridge driver); Parent the parent
	// link (macvlan, ipvlan); Mode the macvlan/ipvlan mode.
	Bridge string `json:"bridge,omitempty"`
	Parent string `json:"parent,omitempty"`
	Mode   string `json:"mode,omitempty"`
	MTU    int    `json:"mtu,omitempty"`
	// Builtin: bridge, host and none, which cannot be removed.
	Builtin bool `json:"builtin,omitempty"`
}

// userDefined reports whether containers on the network get the
// embedded DNS server and aliases (docker: every network but the default
// bridge, host and none).
func (n *netRecord) userDefined() bool {
	return !n.Builtin && n.Driver != driverHost && n.Driver != driverNull
}

// hasIPs reports whether the network gives its containers an interface.
func (n *netRecord) hasIPs() bool {
	return n.Driver == driverBridge || n.Driver == driverMacvlan || n.Driver == driverIPvlan
}

func getNetwork(tx *bolt.Tx, id string) (*netRecord, error) {
	b := tx.Bucket(bucketNetworks).Get([]byte(id))
	if b == nil {
		return nil, nil
	}
	n := new(netRecord)
	if err := json.Unmarshal(b, n); err != nil {
		return nil, fmt.Errorf("network record %s: %w", id, err)
	}
	return n, nil
}

func putNetwork(tx *bolt.Tx, n *netRecord) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketNetworks).Put([]byte(n.ID), b)
}

func allNetworks(tx *bolt.Tx) ([]*netRecord, error) {
	var out []*netRecord
	err := tx.Bucket(bucketNetworks).ForEach(func(k, v []byte) error {
		n := new(netRecord)
		if err := json.Unmarshal(v, n); err != nil {
			return fmt.Errorf("network record %s: %w", k, err)
		}
		out = append(out, n)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// findNetwork resolves ref as docker does: a full ID, then an exact name,
// then a unique ID prefix. Not found is docker's "network X not found".
func findNetwork(tx *bolt.Tx, ref string) (*netRecord, error) {
	all, err := allNetworks(tx)
	if err != nil {
		return nil, err
	}
	for _, n := range all {
		if n.ID == ref {
			return n, nil
		}
	}
	for _, n := range all {
		if n.Name == ref {
			return n, nil
		}
	}
	var found *netRecord
	if ref != "" && isHexPrefix(ref) {
		for _, n := range all {
			if strings.HasPrefix(n.ID, ref) {
				if found != nil {
					return nil, Errorf(KindInvalid, "network %s is ambiguous (%d matches found based on ID prefix)", ref, 2)
				}
				found = n
			}
		}
	}
	if found == nil {
		return nil, NotFound("network %s not found", ref)
	}
	return found, nil
}

// findNetworkView is findNetwork in its own read transaction.
func (e *Engine) findNetwork(ref string) (*netRecord, error) {
	var n *netRecord
	err := e.core.store.read(func(tx *bolt.Tx) error {
		var err error
		n, err = findNetwork(tx, ref)
		return err
	})
	return n, err
}

// networks returns every network record.
func (e *Engine) networks() ([]*netRecord, error) {
	var out []*netRecord
	err := e.core.store.read(func(tx *bolt.Tx) error {
		var err error
		out, err = allNetworks(tx)
		return err
	})
	return out, err
}

// validNetworkName is docker's rule for network names.
var validNetworkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
