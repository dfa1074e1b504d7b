package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth-project/berth/engine"
	"github.com/berth-project/berth/image"
)

// createFlags are the flags run and create share: what goes into the
// container's Config and HostConfig.
type createFlags struct {
	name        string
	attach      attachValue
	interactive bool
	tty         bool
	env         []string
	envFile     []string
	labels      []string
	labelFile   []string
	workdir     string
	user        string
	entrypoint  string
	hostname    string
	restart     string
	stopSignal  string
	stopTimeout int
	init        bool
	readOnly    bool
	rm          bool
	pull        string
	platform    string
	quiet       bool
	logDriver   string
	logOpts     []string
	net         netFlags
	// Issue 8's flag groups, one file each (run_*.go).
	mounts   mountFlags    // -v, --mount, --tmpfs, --volumes-from
	secrets  secretFlags   // --secret, --config
	health   healthFlags   // --health-*, --no-healthcheck
	res      resourceFlags // the rest of the resource flags
	security securityFlags // --cap-*, --privileged, --security-opt, --device, --sysctl, --userns, ...
}

func addContainerFlags(f *pflag.FlagSet, o *createFlags) {
	f.SetInterspersed(false)
	f.StringVar(&o.name, "name", "", "Assign a name to the container")
	f.VarP(&o.attach, "attach", "a", "Attach to STDIN, STDOUT or STDERR")
	f.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	f.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	f.StringArrayVar(&o.envFile, "env-file", nil, "Read in a file of environment variables")
	f.StringArrayVarP(&o.labels, "label", "l", nil, "Set meta data on a container")
	f.StringArrayVar(&o.labelFile, "label-file", nil, "Read in a line delimited file of labels")
	f.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	f.StringVarP(&o.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	f.StringVar(&o.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	f.StringVarP(&o.hostname, "hostname", "h", "", "Container host name")
	f.StringVar(&o.restart, "restart", "no", "Restart policy to apply when a container exits")
	f.StringVar(&o.stopSignal, "stop-signal", "", "Signal to stop the container")
	f.IntVar(&o.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	f.BoolVar(&o.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	f.BoolVar(&o.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	f.BoolVar(&o.rm, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	f.StringVar(&o.pull, "pull", "missing", `Pull image before running ("always", "missing", "never")`)
	f.StringVar(&o.platform, "platform", os.Getenv("BERTH_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress the pull output")
	f.StringVar(&o.logDriver, "log-driver", "", "Logging driver for the container")
	f.StringArrayVar(&o.logOpts, "log-opt", nil, "Log driver options")
	addNetworkFlags(f, &o.net)
	o.mounts.add(f)
	o.secrets.add(f)
	o.health.add(f)
	o.res.add(f)
	o.security.add(f)
	// As docker, --help has no -h: that is --hostname.
	f.Bool("help", false, "Print usage")
}

// attachValue is -a: a list of STDIN, STDOUT and STDERR.
type attachValue struct{ streams []string }

func (a *attachValue) String() string { return "[" + strings.Join(a.streams, ",") + "]" }
func (a *attachValue) Type() string   { return "list" }
func (a *attachValue) Set(v string) error {
	s := strings.ToLower(v)
	if s != "stdin" && s != "stdout" && s != "stderr" {
		return errors.New("valid streams are STDIN, STDOUT and STDERR")
	}
	a.streams = append(a.streams, s)
	return nil
}

func (a *attachValue) has(s string) bool {
	for _, x := range a.streams {
		if x == s {
			return true
		}
	}
	return false
}

// bytesValue is a size flag (--memory): 512m, 1g, 1024.
type bytesValue struct{ n int64 }

func (b *bytesValue) String() string { return strconv.FormatInt(b.n, 10) }
func (b *bytesValue) Type() string   { return "bytes" }
func (b *bytesValue) Set(v string) error {
	n, err := parseBytes(v)
	if err != nil {
		return err
	}
	b.n = n
	return nil
}

// cpusValue is --cpus: a decimal number of CPUs, kept in billionths.
type cpusValue struct{ nano int64 }

func (c *cpusValue) String() string {
	return new(big.Rat).SetFrac64(c.nano, 1e9).FloatString(3)
}
func (c *cpusValue) Type() string { return "decimal" }
func (c *cpusValue) Set(v string) error {
	r, ok := new(big.Rat).SetString(v)
	if !ok {
		return fmt.Errorf("failed to parse %v as a rational number", v)
	}
	r.Mul(r, big.NewRat(1e9, 1))
	if !r.IsInt() {
		return errors.New("value is too precise")
	}
	c.nano = r.Num().Int64()
	return nil
}

// readKVFile reads an env or label file as docker does: one KEY=VALUE a
// line, blank lines and # comments skipped, leading spaces trimmed. A line
// without "=" takes its value from lookup (and is dropped when lookup has
// none); a nil lookup keeps it as is.
func readKVFile(path string, lookup func(string) (string, bool)) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, _, hasValue := strings.Cut(line, "=")
		if strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("variable '%s' contains whitespaces", key)
		}
		if hasValue || lookup == nil {
			out = append(out, line)
			continue
		}
		if v, ok := lookup(key); ok {
			out = append(out, key+"="+v)
		}
	}
	return out, sc.Err()
}

// envList is the container's environment: the --env-file lines, then -e;
// a bare KEY takes berth's own value when it has one.
func envList(files, env []string) ([]string, error) {
	var out []string
	for _, f := range files {
		lines, err := readKVFile(f, os.LookupEnv)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	for _, e := range env {
		if !strings.Contains(e, "=") {
			if v, ok := os.LookupEnv(e); ok {
				e += "=" + v
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// labelMap is --label-file then -l, "k" meaning k="".
func labelMap(files, labels []string) (map[string]string, error) {
	var all []string
	for _, f := range files {
		lines, err := readKVFile(f, nil)
		if err != nil {
			return nil, err
		}
		all = append(all, lines...)
	}
	all = append(all, labels...)
	if len(all) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(all))
	for _, l := range all {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m, nil
}

// parseRestartPolicy reads docker's --restart: no, always,
// unless-stopped, on-failure[:N]. The policy name is checked by the
// engine, as docker's daemon does.
func parseRestartPolicy(s string) (container.RestartPolicy, error) {
	var p container.RestartPolicy
	if s == "" {
		return p, nil
	}
	name, count, ok := strings.Cut(s, ":")
	if ok && name == "" {
		return p, errors.New("invalid restart policy format: no policy provided before colon")
	}
	if count != "" {
		n, err := strconv.Atoi(count)
		if err != nil {
			return p, errors.New("invalid restart policy format: maximum retry count must be an integer")
		}
		p.MaximumRetryCount = n
	}
	p.Name = container.RestartPolicyMode(name)
	return p, nil
}

// validatePull checks --pull.
func validatePull(s string) error {
	switch s {
	case "always", "missing", "never":
		return nil
	}
	return fmt.Errorf("invalid pull option: '%s': must be one of \"always\", \"missing\" or \"never\"", s)
}

// request turns the flags and the IMAGE [COMMAND] arguments into the
// create request.
func (o *createFlags) request(flags *pflag.FlagSet, args []string) (engine.CreateRequest, error) {
	env, err := envList(o.envFile, o.env)
	if err != nil {
		return engine.CreateRequest{}, err
	}
	labels, err := labelMap(o.labelFile, o.labels)
	if err != nil {
		return engine.CreateRequest{}, err
	}
	restart, err := parseRestartPolicy(o.restart)
	if err != nil {
		return engine.CreateRequest{}, err
	}
	if o.rm && !restart.IsNone() {
		return engine.CreateRequest{}, errors.New("conflicting options: cannot specify both --restart and --rm")
	}
	logOpts := map[string]string{}
	for _, kv := range o.logOpts {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return engine.CreateRequest{}, fmt.Errorf("invalid key/value pair format in logging opts: %s", kv)
		}
		logOpts[k] = v
	}
	if o.logDriver == "none" && len(logOpts) > 0 {
		return engine.CreateRequest{}, fmt.Errorf("invalid logging opts for driver %s", o.logDriver)
	}
	if len(logOpts) == 0 {
		logOpts = nil
	}

	attachStdin := o.attach.has("stdin") || o.interactive
	attachStdout, attachStderr := o.attach.has("stdout"), o.attach.has("stderr")
	if len(o.attach.streams) == 0 {
		attachStdout, attachStderr = true, true
	}
	cfg := &container.Config{
		Image:        args[0],
		Hostname:     o.hostname,
		User:         o.user,
		WorkingDir:   o.workdir,
		Env:          env,
		Labels:       labels,
		Tty:          o.tty,
		OpenStdin:    o.interactive,
		StdinOnce:    attachStdin,
		AttachStdin:  attachStdin,
		AttachStdout: attachStdout,
		AttachStderr: attachStderr,
		StopSignal:   o.stopSignal,
	}
	if len(args) > 1 {
		cfg.Cmd = args[1:]
	}
	if flags.Changed("entrypoint") {
		// An empty --entrypoint resets the image's.
		cfg.Entrypoint = []string{o.entrypoint}
	}
	if flags.Changed("stop-timeout") {
		t := o.stopTimeout
		cfg.StopTimeout = &t
	}
	hc := &container.HostConfig{
		AutoRemove:     o.rm,
		RestartPolicy:  restart,
		ReadonlyRootfs: o.readOnly,
		LogConfig:      container.LogConfig{Type: o.logDriver, Config: logOpts},
	}
	if flags.Changed("init") {
		v := o.init
		hc.Init = &v
	}
	req := engine.CreateRequest{CreateRequest: container.CreateRequest{Config: cfg, HostConfig: hc}}
	if err := o.net.apply(&req.CreateRequest); err != nil {
		return engine.CreateRequest{}, err
	}
	for _, apply := range []func(*pflag.FlagSet, *engine.CreateRequest) error{
		o.mounts.apply, o.secrets.apply, o.health.apply, o.res.apply, o.security.apply,
	} {
		if err := apply(flags, &req); err != nil {
			return engine.CreateRequest{}, err
		}
	}
	return req, nil
}

// reportError prints a failure of run or create as docker does:
// "berth: MSG", with a pointer to the help when withHelp.
func reportError(cmd *cobra.Command, msg string, withHelp bool) {
	line := cmd.Root().Name() + ": " + msg
	if withHelp {
		line += fmt.Sprintf("\n\nRun '%s --help' for more information", cmd.CommandPath())
	}
	fmt.Fprintln(cmd.ErrOrStderr(), line)
}

// startErrorCode is docker's exit code for a container that could not be
// created or started: 127 when the command was not found, 126 when it could
// not be run, 125 for the rest.
func startErrorCode(err error) int {
	msg := daemonMessage(err)
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"),
		strings.Contains(msg, "system cannot find the file specified"):
		return 127
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "is a directory"):
		return 126
	}
	return 125
}

// createContainer is docker's create flow: create; when the image is
// missing (and --pull missing), say so, pull it (progress to stderr) and
// create again. --pull always pulls first, never never pulls.
func createContainer(ctx context.Context, cmd *cobra.Command, api engine.API, o *createFlags, req engine.CreateRequest) (string, error) {
	stderr := cmd.ErrOrStderr()
	pullOut := stderr
	if o.quiet {
		pullOut = io.Discard
	}
	// The reference to pull: what the user typed, tagged :latest when it
	// has neither tag nor digest. An image ID has no reference.
	ref, refErr := image.ParseReference(req.Image)
	if o.pull == "always" && refErr == nil {
		if err := pullImage(ctx, api, ref, o.platform, pullOut); err != nil {
			return "", err
		}
	}
	resp, err := api.ContainerCreate(ctx, o.name, req)
	if err != nil && engine.KindOf(err) == engine.KindNotFound && o.pull == "missing" && refErr == nil {
		if !o.quiet {
			fmt.Fprintf(stderr, "Unable to find image '%s' locally\n", ref.Familiar())
		}
		if err := pullImage(ctx, api, ref, o.platform, pullOut); err != nil {
			return "", err
		}
		resp, err = api.ContainerCreate(ctx, o.name, req)
	}
	if err != nil {
		return "", err
	}
	for _, w := range resp.Warnings {
		fmt.Fprintf(stderr, "WARNING: %s\n", w)
	}
	return resp.ID, nil
}

// pullImage pulls ref with its progress rendered to out.
func pullImage(ctx context.Context, api engine.API, ref image.Reference, platform string, out io.Writer) error {
	auth, err := registryAuth(ref)
	if err != nil {
		return err
	}
	body, err := api.ImagePull(ctx, ref.String(), engine.PullRequest{Platform: platform, RegistryAuth: auth})
	if err != nil {
		return err
	}
	defer body.Close()
	return showJSONStream(body, out, nil)
}

func newCreateCommand(c *client) *cobra.Command {
	var o createFlags
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := validatePull(o.pull); err != nil {
				reportError(cmd, err.Error(), true)
				return &statusError{code: 125}
			}
			req, err := o.request(cmd.Flags(), args)
			if err != nil {
				reportError(cmd, err.Error(), true)
				return &statusError{code: 125}
			}
			ctx := cmd.Context()
			api, err := c.API(ctx)
			if err != nil {
				reportError(cmd, err.Error(), true)
				return &statusError{code: 125}
			}
			id, err := createContainer(ctx, cmd, api, &o, req)
			if err != nil {
				reportError(cmd, err.Error(), true)
				return &statusError{code: 125}
			}
			fmt.Fprintln(cmd.OutOrStdout(), id)
			return nil
		},
	}
	addContainerFlags(cmd.Flags(), &o)
	return cmd
}

// runFlags are run's own flags beyond create's.
type runFlags struct {
	createFlags
	detach     bool
	detachKeys string
	sigProxy   bool
}

func newRunCommand(c *client) *cobra.Command {
	var o runFlags
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runContainer(cmd, c, &o, args)
		},
	}
	f := cmd.Flags()
	addContainerFlags(f, &o.createFlags)
	f.BoolVarP(&o.detach, "detach", "d", false, "Run container in background and print container ID")
	f.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	f.BoolVar(&o.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	return cmd
}

// runContainer is docker's run: create (pulling if need be), attach, wait
// registered, start, stream, exit with the container's status.
func runContainer(cmd *cobra.Command, c *client, o *runFlags, args []string) error {
	if err := validatePull(o.pull); err != nil {
		reportError(cmd, err.Error(), true)
		return &statusError{code: 125}
	}
	req, err := o.request(cmd.Flags(), args)
	if err != nil {
		reportError(cmd, err.Error(), true)
		return &statusError{code: 125}
	}
	cfg := req.Config
	stdin, stdout, stderr := cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	var detachKeys []byte
	if o.detach {
		if len(o.attach.streams) > 0 {
			return errors.New("conflicting options: cannot specify both --attach and --detach")
		}
		cfg.AttachStdin, cfg.AttachStdout, cfg.AttachStderr, cfg.StdinOnce = false, false, false, false
	} else {
		if err := checkTTY(stdin, cfg.AttachStdin, cfg.Tty); err != nil {
			return err
		}
		keys := o.detachKeys
		if keys == "" {
			keys = defaultDetachKeys
		}
		if detachKeys, err = parseDetachKeys(keys); err != nil {
			reportError(cmd, err.Error(), true)
			return &statusError{code: 125}
		}
	}
	// ^C stops a pull; once the container exists, signals are the
	// container's (forwarded below) and no longer end berth's context.
	ctx := cmd.Context()
	api, err := c.API(ctx)
	if err != nil {
		reportError(cmd, err.Error(), true)
		return &statusError{code: 125}
	}
	id, err := createContainer(ctx, cmd, api, &o.createFlags, req)
	if err != nil {
		reportError(cmd, err.Error(), true)
		return &statusError{code: startErrorCode(err)}
	}
	if !o.detach {
		if c.stopSignals != nil {
			c.stopSignals()
		}
		ctx = context.WithoutCancel(ctx)
	}
	if o.sigProxy && !o.detach {
		stop := proxySignals(ctx, api, id)
		defer stop()
	}

	attached := cfg.AttachStdin || cfg.AttachStdout || cfg.AttachStderr
	var streamDone chan error
	if attached {
		s, err := api.ContainerAttach(ctx, id, engine.AttachOptions{
			Stream: true, Stdin: cfg.AttachStdin, Stdout: cfg.AttachStdout, Stderr: cfg.AttachStderr,
			DetachKeys: o.detachKeys,
		})
		if err != nil {
			return err
		}
		defer s.Close()
		sio := streamIO{tty: cfg.Tty}
		defer sio.attachStdin(stdin, cfg.AttachStdin, detachKeys)()
		if cfg.AttachStdout {
			sio.out = stdout
		}
		if cfg.AttachStderr {
			sio.err = stderr
			if cfg.Tty {
				sio.err = stdout
			}
		}
		streamDone = make(chan error, 1)
		go func() { streamDone <- pump(ctx, s, sio) }()
	}

	cond := container.WaitConditionNextExit
	if o.rm {
		cond = container.WaitConditionRemoved
	}
	waitCtx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	exit := waitStatus(waitCtx, api, id, cond, stderr)

	if !cfg.AttachStdout && !cfg.AttachStderr {
		// Detached (or only stdin attached): the ID is the output.
		fmt.Fprintln(stdout, id)
	}
	if err := api.ContainerStart(ctx, id); err != nil {
		reportError(cmd, err.Error(), false)
		if o.rm {
			// The engine removes it: wait for that, the error is said.
			exit.status(false)
		}
		return &statusError{code: startErrorCode(err)}
	}
	if o.detach {
		return nil
	}
	return finishAttached(ctx, api, id, attached && cfg.Tty, stdout, streamDone, exit)
}

// finishAttached ends an attached run or start: it follows the terminal's
// size when tty, waits for the streams (a detach ends the command quietly;
// streamDone is nil when nothing is attached), and returns the container's
// exit status as the command's.
func finishAttached(ctx context.Context, api engine.API, id string, tty bool, out io.Writer, streamDone <-chan error, exit *exitWait) error {
	if tty {
		stop := monitorSize(out, func(h, w uint) error { return api.ContainerResize(ctx, id, h, w) })
		defer stop()
	}
	if streamDone != nil {
		if err := <-streamDone; err != nil {
			if errors.Is(err, errDetached) {
				return nil
			}
			return err
		}
	}
	if status := exit.status(true); status != 0 {
		return &statusError{code: status}
	}
	return nil
}

// exitWait is a wait registered before the start: the container's exit
// status once it is reached.
type exitWait struct {
	res    <-chan container.WaitResponse
	errs   <-chan error
	stderr io.Writer
}

// waitStatus registers a wait for cond (ContainerWait returns once it is
// registered, so a start that follows cannot race past it).
func waitStatus(ctx context.Context, api engine.API, id string, cond container.WaitCondition, stderr io.Writer) *exitWait {
	res, errs := api.ContainerWait(ctx, id, cond)
	return &exitWait{res: res, errs: errs, stderr: stderr}
}

// status blocks until the wait ends: the container's exit code, or 125
// when the wait failed (said on stderr when report).
func (w *exitWait) status(report bool) int {
	select {
	case r := <-w.res:
		if r.Error == nil {
			return int(r.StatusCode)
		}
		if report {
			fmt.Fprintf(w.stderr, "error waiting for container: %s\n", r.Error.Message)
		}
	case err := <-w.errs:
		if report {
			fmt.Fprintf(w.stderr, "error waiting for container: %v\n", daemonMessage(err))
		}
	}
	return 125
}
