package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth-project/berth/engine"
	bnet "github.com/berth-project/berth/network"
)

// newNetworkCommand is `berth network`, docker's network commands.
func newNetworkCommand(c *client) *cobra.Command {
	cmd := groupCommand("network", "Manage networks")
	cmd.AddCommand(newNetworkConnectCommand(c), newNetworkCreateCommand(c), newNetworkDisconnectCommand(c),
		newNetworkInspectCommand(c), newNetworkLsCommand(c), newNetworkPruneCommand(c), newNetworkRmCommand(c))
	return cmd
}

// networkCreateOptions are `network create`'s flags.
type networkCreateOptions struct {
	driver      string
	opts        kvMap
	labels      listValue
	internal    bool
	ipv4, ipv6  bool
	attachable  bool
	scope       string
	ipamDriver  string
	subnets     []string
	ipRanges    prefixList
	gateways    addrList
	auxAddrs    kvMap
	ipamOptions kvMap
}

func newNetworkCreateCommand(c *client) *cobra.Command {
	o := networkCreateOptions{labels: listValue{validate: validateLabel}}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The flags are checked before the engine is reached.
			req, err := o.request(cmd.Flags(), args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			api, err := c.API(ctx)
			if err != nil {
				return err
			}
			resp, err := api.NetworkCreate(ctx, req)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), resp.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.driver, "driver", "d", "bridge", "Driver to manage the Network")
	f.VarP(&o.opts, "opt", "o", "Set driver specific options")
	f.Var(&o.labels, "label", "Set metadata on a network")
	f.BoolVar(&o.internal, "internal", false, "Restrict external access to the network")
	f.BoolVar(&o.ipv4, "ipv4", true, "Enable or disable IPv4 address assignment")
	f.BoolVar(&o.ipv6, "ipv6", false, "Enable or disable IPv6 address assignment (not supported)")
	f.BoolVar(&o.attachable, "attachable", false, "Enable manual container attachment")
	f.StringVar(&o.scope, "scope", "", "Control the network's scope")
	f.StringVar(&o.ipamDriver, "ipam-driver", "default", "IP Address Management Driver")
	f.StringSliceVar(&o.subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	f.Var(&o.ipRanges, "ip-range", "Allocate container ip from a sub-range")
	f.Var(&o.gateways, "gateway", "IPv4 or IPv6 Gateway for the master subnet")
	f.Var(&o.auxAddrs, "aux-address", "Auxiliary IPv4 or IPv6 addresses used by Network driver")
	f.Var(&o.ipamOptions, "ipam-opt", "Set IPAM driver specific options")
	return cmd
}

// request is the create request the flags describe, checked as docker's
// CLI checks it.
func (o *networkCreateOptions) request(flags *pflag.FlagSet, name string) (network.CreateRequest, error) {
	if o.ipv6 {
		return network.CreateRequest{}, errors.New("IPv6 is not supported: berth networks are IPv4 only")
	}
	if o.ipamDriver != "default" {
		return network.CreateRequest{}, fmt.Errorf("IPAM driver %q is not supported: berth has only the \"default\" IPAM driver", o.ipamDriver)
	}
	ipam, err := ipamConfig(o.subnets, o.ipRanges.values, o.gateways.values, o.auxAddrs.pairs)
	if err != nil {
		return network.CreateRequest{}, err
	}
	ipam.Driver, ipam.Options = o.ipamDriver, o.ipamOptions.asMap()
	req := network.CreateRequest{
		Name:       name,
		Driver:     o.driver,
		Scope:      o.scope,
		IPAM:       ipam,
		Internal:   o.internal,
		Attachable: o.attachable,
		Options:    o.opts.asMap(),
		Labels:     kvStrings(o.labels.values),
	}
	if flags.Changed("ipv4") {
		v := o.ipv4
		req.EnableIPv4 = &v
	}
	return req, nil
}

// ipamConfig groups --subnet, --ip-range, --gateway and --aux-address into
// one IPAM config per subnet, in the order the subnets were given, with
// docker's checks and words: each range, gateway and auxiliary address
// must fall in exactly one subnet, at most one range and gateway a subnet,
// and subnets must not overlap.
func ipamConfig(subnets []string, ranges []netip.Prefix, gateways []netip.Addr, aux [][2]string) (*network.IPAM, error) {
	if len(subnets) < len(ranges) || len(subnets) < len(gateways) {
		return nil, errors.New("every ip-range or gateway must have a corresponding subnet")
	}
	configs := make([]network.IPAMConfig, 0, len(subnets))
	for _, s := range subnets {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("invalid subnet: invalid CIDR address: %s", s)
		}
		for _, c := range configs {
			if c.Subnet.Overlaps(p) {
				return nil, errors.New("multiple overlapping subnet configuration is not supported")
			}
		}
		configs = append(configs, network.IPAMConfig{Subnet: p})
	}
	// in returns the config whose subnet holds a (there is at most one:
	// subnets do not overlap).
	in := func(a netip.Addr) *network.IPAMConfig {
		for i := range configs {
			if configs[i].Subnet.Contains(a) {
				return &configs[i]
			}
		}
		return nil
	}
	for _, r := range ranges {
		c := in(r.Addr())
		if c == nil || r.Bits() < c.Subnet.Bits() {
			return nil, fmt.Errorf("no matching subnet for range %s", r)
		}
		if c.IPRange.IsValid() {
			return nil, fmt.Errorf("cannot configure multiple ranges (%s, %s) on the same subnet (%s)", r, c.IPRange, c.Subnet)
		}
		c.IPRange = r
	}
	for _, g := range gateways {
		c := in(g)
		if c == nil {
			return nil, fmt.Errorf("no matching subnet for gateway %s", g)
		}
		if c.Gateway.IsValid() {
			return nil, fmt.Errorf("cannot configure multiple gateways (%s, %s) for the same subnet (%s)", g, c.Gateway, c.Subnet)
		}
		c.Gateway = g
	}
	for _, kv := range aux {
		a, err := netip.ParseAddr(kv[1])
		if err != nil {
			return nil, fmt.Errorf("invalid aux-address %s=%s: %w", kv[0], kv[1], err)
		}
		c := in(a)
		if c == nil {
			return nil, fmt.Errorf("no matching subnet for aux-address %s", kv[1])
		}
		if c.AuxAddress == nil {
			c.AuxAddress = map[string]netip.Addr{}
		}
		c.AuxAddress[kv[0]] = a
	}
	return &network.IPAM{Config: configs}, nil
}

// networkLsHeader names `network ls`'s columns.
var networkLsHeader = map[string]string{
	"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv4": "IPV4", "IPv6": "IPV6",
	"Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
}

const defaultNetworkLsFormat = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"

func newNetworkLsCommand(c *client) *cobra.Command {
	var (
		quiet, noTrunc bool
		format         string
		filters        []string
	)
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    noArgs,
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			f, err := filterFlag(filters)
			if err != nil {
				return err
			}
			if quiet && (format == "" || format == "table") {
				format = "{{.ID}}"
			}
			lf, err := newListFormat(format, defaultNetworkLsFormat)
			if err != nil {
				return err
			}
			list, err := api.NetworkList(ctx, f)
			if err != nil {
				return err
			}
			sort.SliceStable(list, func(i, j int) bool { return naturalLess(list[i].Name, list[j].Name) })
			rows := make([]any, len(list))
			for i, n := range list {
				rows[i] = &networkRow{n: n, trunc: !noTrunc}
			}
			return lf.write(cmd.OutOrStdout(), networkLsHeader, rows)
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display network IDs")
	f.BoolVar(&noTrunc, "no-trunc", false, "Do not truncate the output")
	f.StringVar(&format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	f.StringArrayVarP(&filters, "filter", "f", nil, `Provide filter values (e.g. "driver=bridge")`)
	return cmd
}

// networkRow is one network as `network ls` templates see it: docker's
// placeholders.
type networkRow struct {
	n     network.Summary
	trunc bool
}

func (r *networkRow) MarshalJSON() ([]byte, error) { return methodsJSON(r) }

// ID is the short ID (12 characters), or the full one with --no-trunc.
func (r *networkRow) ID() string {
	if r.trunc {
		return truncateID(r.n.ID)
	}
	return r.n.ID
}

func (r *networkRow) Name() string      { return r.n.Name }
func (r *networkRow) Driver() string    { return r.n.Driver }
func (r *networkRow) Scope() string     { return r.n.Scope }
func (r *networkRow) IPv4() string      { return strconv.FormatBool(r.n.EnableIPv4) }
func (r *networkRow) IPv6() string      { return strconv.FormatBool(r.n.EnableIPv6) }
func (r *networkRow) Internal() string  { return strconv.FormatBool(r.n.Internal) }
func (r *networkRow) CreatedAt() string { return r.n.Created.String() }

// Labels are k=v pairs, sorted, comma-separated.
func (r *networkRow) Labels() string {
	pairs := make([]string, 0, len(r.n.Labels))
	for k, v := range r.n.Labels {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// Label is the value of one label.
func (r *networkRow) Label(name string) string { return r.n.Labels[name] }

func networkGetter(api engine.API, verbose bool) inspectFunc {
	return func(ctx context.Context, name string) (any, error) {
		return api.NetworkInspect(ctx, name, engine.NetworkInspectOptions{Verbose: verbose})
	}
}

func newNetworkInspectCommand(c *client) *cobra.Command {
	var format string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return inspectAll(ctx, cmd, args, format, networkGetter(api, verbose))
		}),
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template ('json' or a Go template)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "Verbose output for diagnostics")
	return cmd
}

func newNetworkRmCommand(c *client) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return forEach(cmd, args, func(name string) error {
				err := api.NetworkRemove(ctx, name)
				if err != nil && !(force && engine.KindOf(err) == engine.KindNotFound) {
					return err
				}
				if err == nil {
					fmt.Fprintln(cmd.OutOrStdout(), name)
				}
				return nil
			})
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not error if the network does not exist")
	return cmd
}

// networkPruneWarning is what docker asks before a network prune.
const networkPruneWarning = "WARNING! This will remove all custom networks not used by at least one container."

func newNetworkPruneCommand(c *client) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  noArgs,
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			f, err := filterFlag(filters)
			if err != nil {
				return err
			}
			if !force && !confirm(cmd.InOrStdin(), cmd.OutOrStdout(), networkPruneWarning) {
				return nil
			}
			return pruneNetworks(ctx, api, f, cmd.OutOrStdout())
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

// pruneNetworks prunes and reports as docker: the names under "Deleted
// Networks:" and a blank line, nothing when none was.
func pruneNetworks(ctx context.Context, api engine.API, f engine.Filters, out io.Writer) error {
	r, err := api.NetworksPrune(ctx, f)
	if err != nil {
		return err
	}
	if len(r.NetworksDeleted) > 0 {
		fmt.Fprintln(out, "Deleted Networks:")
		for _, n := range r.NetworksDeleted {
			fmt.Fprintln(out, n)
		}
		fmt.Fprintln(out)
	}
	return nil
}

func newNetworkConnectCommand(c *client) *cobra.Command {
	var (
		aliases, driverOpts []string
		ip, ip6             string
		gwPriority          int
	)
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ipam := &network.EndpointIPAMConfig{}
			var err error
			if ip != "" {
				if ipam.IPv4Address, err = parseIPv4(ip); err != nil {
					return err
				}
			}
			if ip6 != "" {
				if ipam.IPv6Address, err = parseIPv6(ip6); err != nil {
					return err
				}
			}
			opts := map[string]string{}
			for _, kv := range driverOpts {
				k, v, ok := strings.Cut(kv, "=")
				if k = strings.TrimSpace(k); !ok || k == "" {
					return errors.New("invalid key/value pair format in driver options")
				}
				opts[k] = strings.TrimSpace(v)
			}
			if aliases == nil {
				aliases = []string{}
			}
			ctx := cmd.Context()
			api, err := c.API(ctx)
			if err != nil {
				return err
			}
			return api.NetworkConnect(ctx, args[0], network.ConnectRequest{
				Container: args[1],
				EndpointConfig: &network.EndpointSettings{
					IPAMConfig: ipam, Aliases: aliases, DriverOpts: opts, GwPriority: gwPriority,
				},
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&ip, "ip", "", `IPv4 address (e.g., "172.30.100.104")`)
	f.StringVar(&ip6, "ip6", "", `IPv6 address (e.g., "2001:db8::33")`)
	f.StringSliceVar(&aliases, "alias", nil, "Add network-scoped alias for the container")
	f.StringSliceVar(&driverOpts, "driver-opt", nil, "driver options for the network")
	f.IntVar(&gwPriority, "gw-priority", 0, "Highest gw-priority provides the default gateway. Accepts positive and negative values.")
	return cmd
}

func newNetworkDisconnectCommand(c *client) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  exactArgs(2),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return api.NetworkDisconnect(ctx, args[0], network.DisconnectRequest{Container: args[1], Force: force})
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}

// --- run and create: the networking flags ---

// netFlags are run's and create's networking flags: published and exposed
// ports, the networks to join with the endpoint's aliases, address and
// MAC, and DNS and /etc/hosts settings.
type netFlags struct {
	publish    listValue
	publishAll bool
	expose     listValue
	networks   networkOpt
	aliases    listValue
	ip, mac    string
	dns        listValue
	dnsSearch  listValue
	dnsOptions listValue
	addHosts   listValue
}

func addNetworkFlags(f *pflag.FlagSet, o *netFlags) {
	o.dns.validate = validateDNS
	o.dnsSearch.validate = validateDNSSearch
	o.addHosts.validate = validateExtraHost
	f.VarP(&o.publish, "publish", "p", "Publish a container's port(s) to the host")
	f.BoolVarP(&o.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	f.Var(&o.expose, "expose", "Expose a port or a range of ports")
	f.Var(&o.networks, "network", "Connect a container to a network")
	f.Var(&o.networks, "net", "Connect a container to a network")
	_ = f.MarkHidden("net")
	f.Var(&o.aliases, "network-alias", "Add network-scoped alias for the container")
	f.Var(&o.aliases, "net-alias", "Add network-scoped alias for the container")
	_ = f.MarkHidden("net-alias")
	f.StringVar(&o.ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	f.StringVar(&o.mac, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
	f.Var(&o.dns, "dns", "Set custom DNS servers")
	f.Var(&o.dnsSearch, "dns-search", "Set custom DNS search domains")
	f.Var(&o.dnsOptions, "dns-option", "Set DNS options")
	f.Var(&o.dnsOptions, "dns-opt", "Set DNS options")
	_ = f.MarkHidden("dns-opt")
	f.Var(&o.addHosts, "add-host", "Add a custom host-to-IP mapping (host:ip)")
}

// apply puts the networking flags into req, as docker's CLI does: -p and
// --expose into ExposedPorts and PortBindings, the first --network as the
// network mode with --network-alias, --ip and --mac-address on its
// endpoint, every user-defined network (or one with settings) in
// NetworkingConfig, and the DNS and host settings in the HostConfig.
func (o *netFlags) apply(req *container.CreateRequest) error {
	cfg, hc := req.Config, req.HostConfig
	for _, spec := range o.publish.values {
		if err := publishPort(cfg, hc, spec); err != nil {
			return err
		}
	}
	for _, e := range o.expose.values {
		if err := exposePorts(cfg, e); err != nil {
			return err
		}
	}
	hc.PublishAllPorts = o.publishAll

	endpoints, err := o.endpoints()
	if err != nil {
		return err
	}
	if len(o.networks.opts) > 0 {
		hc.NetworkMode = container.NetworkMode(o.networks.opts[0].target)
	}
	if len(endpoints) > 0 {
		req.NetworkingConfig = &network.NetworkingConfig{EndpointsConfig: endpoints}
	}

	for _, s := range o.dns.values {
		a, err := netip.ParseAddr(s) // checked by the flag
		if err != nil {
			return err
		}
		hc.DNS = append(hc.DNS, a)
	}
	hc.DNSSearch = o.dnsSearch.values
	hc.DNSOptions = o.dnsOptions.values
	hc.ExtraHosts = o.addHosts.values
	return nil
}

// publishPort adds one -p: docker's [ip:][hostPort[-end]:]containerPort[-end][/proto],
// or its long form published=H,target=C[,protocol=P].
func publishPort(cfg *container.Config, hc *container.HostConfig, spec string) error {
	if strings.Contains(spec, "=") {
		params := map[string]string{"protocol": "tcp"}
		for _, kv := range strings.Split(spec, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("invalid publish opts format (should be name=value but got '%s')", kv)
			}
			params[k] = v
		}
		spec = params["published"] + ":" + params["target"] + "/" + params["protocol"]
	}
	specs, err := bnet.ParsePortSpec(spec)
	if err != nil {
		return err
	}
	for _, s := range specs {
		p, err := network.ParsePort(s.Container)
		if err != nil {
			return fmt.Errorf("invalid containerPort: %s", s.Container)
		}
		var ip netip.Addr
		if s.HostIP != "" {
			if ip, err = netip.ParseAddr(strings.Trim(s.HostIP, "[]")); err != nil {
				return fmt.Errorf("invalid IP address: %s", s.HostIP)
			}
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = network.PortSet{}
		}
		cfg.ExposedPorts[p] = struct{}{}
		if hc.PortBindings == nil {
			hc.PortBindings = network.PortMap{}
		}
		hc.PortBindings[p] = append(hc.PortBindings[p], network.PortBinding{HostIP: ip, HostPort: s.HostPort})
	}
	return nil
}

// exposePorts adds one --expose: a port or a range, with an optional
// protocol (tcp by default).
func exposePorts(cfg *container.Config, e string) error {
	if strings.Contains(e, ":") {
		return fmt.Errorf("invalid port format for --expose: %s", e)
	}
	ports, proto, _ := strings.Cut(e, "/")
	start, end, isRange := strings.Cut(ports, "-")
	nums := []string{start}
	if isRange {
		nums = append(nums, end)
	}
	for _, n := range nums {
		if _, err := strconv.ParseUint(n, 10, 16); err != nil {
			return fmt.Errorf("invalid range format for --expose: %s, error: %w", e, err)
		}
	}
	if proto == "" {
		proto = "tcp"
	}
	r, err := network.ParsePortRange(ports + "/" + proto)
	if err != nil {
		return fmt.Errorf("invalid range format for --expose: %s, error: %w", e, err)
	}
	if cfg.ExposedPorts == nil {
		cfg.ExposedPorts = network.PortSet{}
	}
	for p := range r.All() {
		cfg.ExposedPorts[p] = struct{}{}
	}
	return nil
}

// endpoints builds the endpoint settings of the --network values, the
// legacy flags (--network-alias, --ip, --mac-address) going to the first
// (or to "default" when there is no --network), with docker's checks.
func (o *netFlags) endpoints() (map[string]*network.EndpointSettings, error) {
	endpoints := map[string]*network.EndpointSettings{}
	nets := o.networks.opts
	if len(nets) == 0 {
		n := attachment{target: "default"}
		if err := o.applyLegacy(&n); err != nil {
			return nil, err
		}
		ep, err := n.settings()
		if err != nil {
			return nil, err
		}
		if !endpointIsZero(ep) {
			endpoints["default"] = ep
		}
		return endpoints, nil
	}
	var userDefined, builtin bool
	for i, n := range nets {
		mode := container.NetworkMode(n.target)
		if mode.IsUserDefined() {
			userDefined = true
		} else {
			builtin = true
		}
		if i == 0 {
			if err := o.applyLegacy(&n); err != nil {
				return nil, err
			}
		}
		ep, err := n.settings()
		if err != nil {
			return nil, err
		}
		if _, dup := endpoints[n.target]; dup {
			return nil, fmt.Errorf("network %q is specified multiple times", n.target)
		}
		// A lone built-in network mode without settings needs no
		// endpoint config; a user-defined network always gets one.
		if len(nets) == 1 && !mode.IsUserDefined() && endpointIsZero(ep) {
			continue
		}
		endpoints[n.target] = ep
	}
	if userDefined && builtin {
		return nil, errors.New("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
	}
	return endpoints, nil
}

// applyLegacy puts --network-alias, --ip and --mac-address on n, which
// must not set them itself.
func (o *netFlags) applyLegacy(n *attachment) error {
	if len(n.aliases) > 0 && len(o.aliases.values) > 0 {
		return errors.New("conflicting options: cannot specify both --network-alias and per-network alias")
	}
	if n.ipv4 != "" && o.ip != "" {
		return errors.New("conflicting options: cannot specify both --ip and per-network IPv4 address")
	}
	if n.mac != "" && o.mac != "" {
		return errors.New("conflicting options: cannot specify both --mac-address and per-network MAC address")
	}
	if len(o.aliases.values) > 0 {
		n.aliases = append([]string(nil), o.aliases.values...)
	}
	if o.ip != "" {
		n.ipv4 = o.ip
	}
	if o.mac != "" {
		n.mac = o.mac
	}
	return nil
}

func endpointIsZero(ep *network.EndpointSettings) bool {
	return ep.IPAMConfig == nil && len(ep.Aliases) == 0 && len(ep.DriverOpts) == 0 && len(ep.MacAddress) == 0 && ep.GwPriority == 0
}

// attachment is one --network: a network and the container's settings on
// it.
type attachment struct {
	target     string
	aliases    []string
	ipv4, ipv6 string
	mac        string
	driverOpts map[string]string
	gwPriority int
}

// settings is the endpoint config of a.
func (a attachment) settings() (*network.EndpointSettings, error) {
	if strings.TrimSpace(a.target) == "" {
		return nil, errors.New("no name set for network")
	}
	// Aliases on a network that is not user-defined are the engine's to
	// refuse (docker's CLI refuses them too; its daemon has its own words).
	ep := &network.EndpointSettings{Aliases: a.aliases, DriverOpts: a.driverOpts, GwPriority: a.gwPriority}
	if a.ipv4 != "" || a.ipv6 != "" {
		ep.IPAMConfig = &network.EndpointIPAMConfig{}
		var err error
		if a.ipv4 != "" {
			if ep.IPAMConfig.IPv4Address, err = parseIPv4(a.ipv4); err != nil {
				return nil, err
			}
		}
		if a.ipv6 != "" {
			if ep.IPAMConfig.IPv6Address, err = parseIPv6(a.ipv6); err != nil {
				return nil, err
			}
		}
	}
	if a.mac != "" {
		hw, err := net.ParseMAC(strings.TrimSpace(a.mac))
		if err != nil {
			return nil, fmt.Errorf("%s is not a valid mac address", a.mac)
		}
		ep.MacAddress = network.HardwareAddr(hw)
	}
	return ep, nil
}

func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !a.Unmap().Is4() {
		return netip.Addr{}, fmt.Errorf("invalid IPv4 address: %s", s)
	}
	return a.Unmap(), nil
}

func parseIPv6(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || !a.Is6() {
		return netip.Addr{}, fmt.Errorf("invalid IPv6 address: %s", s)
	}
	return a, nil
}

// networkOpt is --network (and --net): a network name, or docker's long
// form name=N[,alias=A][,ip=IP][,ip6=IP][,mac-address=MAC][,driver-opt=K=V][,gw-priority=N].
type networkOpt struct{ opts []attachment }

func (n *networkOpt) String() string {
	names := make([]string, len(n.opts))
	for i, o := range n.opts {
		names[i] = o.target
	}
	return strings.Join(names, ",")
}

func (n *networkOpt) Type() string { return "network" }

func (n *networkOpt) Set(value string) error {
	if !strings.Contains(value, "=") {
		n.opts = append(n.opts, attachment{target: value})
		return nil
	}
	var a attachment
	for _, field := range strings.Split(value, ",") {
		key, val, ok := strings.Cut(field, "=")
		if !ok || key == "" {
			return fmt.Errorf("invalid field %s", field)
		}
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
		switch key {
		case "name":
			a.target = val
		case "alias":
			a.aliases = append(a.aliases, val)
		case "ip":
			a.ipv4 = val
		case "ip6":
			a.ipv6 = val
		case "mac-address":
			a.mac = val
		case "driver-opt":
			k, v, ok := strings.Cut(val, "=")
			if !ok || k == "" {
				return errors.New("invalid key value pair format in driver options")
			}
			if a.driverOpts == nil {
				a.driverOpts = map[string]string{}
			}
			a.driverOpts[k] = v
		case "gw-priority":
			p, err := strconv.Atoi(val)
			if err != nil {
				return fmt.Errorf("invalid gw-priority: %w", err)
			}
			a.gwPriority = p
		default:
			return errors.New("invalid field key " + key)
		}
	}
	if a.target == "" {
		return errors.New("network name/id is not specified")
	}
	n.opts = append(n.opts, a)
	return nil
}

// --- flag values ---

// listValue is a repeatable flag, each value checked (and normalized) by
// validate when set; two flag names may share one (--dns-option, --dns-opt).
type listValue struct {
	values   []string
	validate func(string) (string, error)
}

func (l *listValue) String() string { return "[" + strings.Join(l.values, " ") + "]" }
func (l *listValue) Type() string   { return "list" }
func (l *listValue) Set(v string) error {
	if l.validate != nil {
		var err error
		if v, err = l.validate(v); err != nil {
			return err
		}
	}
	l.values = append(l.values, v)
	return nil
}

// kvMap is a repeatable k=v flag (-o, --aux-address); "k" alone is k="".
type kvMap struct{ pairs [][2]string }

func (m *kvMap) String() string {
	s := make([]string, len(m.pairs))
	for i, p := range m.pairs {
		s[i] = p[0] + "=" + p[1]
	}
	return "map[" + strings.Join(s, " ") + "]"
}
func (m *kvMap) Type() string { return "map" }
func (m *kvMap) Set(v string) error {
	k, val, _ := strings.Cut(v, "=")
	m.pairs = append(m.pairs, [2]string{k, val})
	return nil
}

// asMap is the pairs as a map, later ones winning; never nil.
func (m *kvMap) asMap() map[string]string {
	out := make(map[string]string, len(m.pairs))
	for _, p := range m.pairs {
		out[p[0]] = p[1]
	}
	return out
}

// kvStrings is "k=v" strings as a map ("k" alone is k=""); never nil.
func kvStrings(list []string) map[string]string {
	out := make(map[string]string, len(list))
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

// addrList is a repeatable, comma-separated list of addresses (--gateway).
type addrList struct{ values []netip.Addr }

func (l *addrList) String() string { return fmt.Sprint(l.values) }
func (l *addrList) Type() string   { return "ipSlice" }
func (l *addrList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid string being converted to IP address: %s", s)
		}
		l.values = append(l.values, a)
	}
	return nil
}

// prefixList is a repeatable, comma-separated list of CIDR prefixes
// (--ip-range).
type prefixList struct{ values []netip.Prefix }

func (l *prefixList) String() string { return fmt.Sprint(l.values) }
func (l *prefixList) Type() string   { return "ipNetSlice" }
func (l *prefixList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid string being converted to CIDR: %s", s)
		}
		l.values = append(l.values, p)
	}
	return nil
}

// validateLabel is docker's check of a --label: a name is required and
// has no spaces.
func validateLabel(v string) (string, error) {
	k, _, _ := strings.Cut(v, "=")
	k = strings.TrimSpace(k)
	if k == "" {
		return "", fmt.Errorf("invalid label '%s': empty name", v)
	}
	if strings.ContainsAny(k, " \t\n\v\f\r") {
		return "", fmt.Errorf("label '%s' contains whitespaces", k)
	}
	return v, nil
}

// validateDNS checks a --dns server address.
func validateDNS(v string) (string, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(v))
	if err != nil {
		return "", fmt.Errorf("IP address is not correctly formatted: %s", v)
	}
	return a.String(), nil
}

var domainLabel = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`)

// validateDNSSearch checks a --dns-search domain as docker does: "." or
// dot-separated labels of letters, digits and inner hyphens, with at
// least one letter.
func validateDNSSearch(v string) (string, error) {
	v = strings.Trim(v, " ")
	if v == "." {
		return v, nil
	}
	d := strings.TrimSuffix(v, ".")
	bad := fmt.Errorf("%s is not a valid domain", v)
	if d == "" || len(d) >= 255 || !strings.ContainsAny(strings.ToLower(d), "abcdefghijklmnopqrstuvwxyz") {
		return "", bad
	}
	for _, l := range strings.Split(d, ".") {
		if !domainLabel.MatchString(l) {
			return "", bad
		}
	}
	return d, nil
}

// validateExtraHost checks an --add-host, host:ip or host=ip (the address
// may be in brackets, or docker's "host-gateway"), and normalizes it to
// host:ip as docker's CLI sends it.
func validateExtraHost(v string) (string, error) {
	host, addr, ok := strings.Cut(v, "=")
	if !ok {
		host, addr, ok = strings.Cut(v, ":")
	}
	if !ok || host == "" || strings.Contains(host, ":") {
		return "", fmt.Errorf("bad format for add-host: %q", v)
	}
	if addr == "host-gateway" {
		return host + ":" + addr, nil
	}
	if len(addr) > 2 && addr[0] == '[' && addr[len(addr)-1] == ']' {
		addr = addr[1 : len(addr)-1]
	}
	if _, err := netip.ParseAddr(addr); err != nil {
		return "", fmt.Errorf("invalid IP address in add-host: %q", addr)
	}
	return host + ":" + addr, nil
}

// naturalLess orders strings as docker's sortorder.NaturalLess: runs of
// digits compare as numbers, the rest byte by byte.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			if da != db {
				return da < db // fewer leading zeros first
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
