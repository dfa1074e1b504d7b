package main

import (
	"context"
	"errors"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/engine"
)

type execFlags struct {
	detach, interactive, tty, privileged bool
	env, envFile                         []string
	user, workdir, detachKeys            string
}

func newExecCommand(c *client) *cobra.Command {
	var o execFlags
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  minArgs(2),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return runExec(ctx, cmd, c, api, o, args[0], args[1:])
		}),
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&o.detach, "detach", "d", false, "Detached mode: run command in the background")
	f.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	f.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to the command")
	f.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	f.StringArrayVar(&o.envFile, "env-file", nil, "Read in a file of environment variables")
	f.StringVarP(&o.user, "user", "u", "", "Username or UID (format: \"<name|uid>[:<group|gid>]\")")
	f.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	f.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// execRequest is the exec instance the flags ask for.
func (o execFlags) request(argv []string) (container.ExecCreateRequest, error) {
	env, err := envList(o.envFile, o.env)
	if err != nil {
		return container.ExecCreateRequest{}, err
	}
	return container.ExecCreateRequest{
		User:         o.user,
		Privileged:   o.privileged,
		Tty:          o.tty,
		AttachStdin:  o.interactive,
		AttachStdout: !o.detach,
		AttachStderr: !o.detach,
		DetachKeys:   o.detachKeys,
		Env:          env,
		WorkingDir:   o.workdir,
		Cmd:          argv,
	}, nil
}

// runExec is docker's exec: create the instance; detached, start it and
// return; else stream it and exit with its exit code.
func runExec(ctx context.Context, cmd *cobra.Command, c *client, api engine.API, o execFlags, ctr string, argv []string) error {
	req, err := o.request(argv)
	if err != nil {
		return err
	}
	stdin := cmd.InOrStdin()
	if !o.detach {
		if err := checkTTY(stdin, req.AttachStdin, req.Tty); err != nil {
			return err
		}
	}
	keys, err := detachKeySequence(o.detachKeys)
	if err != nil {
		return err
	}
	if _, err := api.ContainerInspect(ctx, ctr, false); err != nil {
		return err
	}
	created, err := api.ExecCreate(ctx, ctr, req)
	if err != nil {
		return err
	}
	if o.detach {
		_, err := api.ExecStart(ctx, created.ID, container.ExecStartRequest{Detach: true, Tty: req.Tty})
		return err
	}
	if c.stopSignals != nil {
		c.stopSignals()
	}
	ctx = context.WithoutCancel(ctx)
	s, err := api.ExecStart(ctx, created.ID, container.ExecStartRequest{Tty: req.Tty})
	if err != nil {
		return err
	}
	defer s.Close()
	sio := streamIO{tty: req.Tty, out: cmd.OutOrStdout(), err: cmd.ErrOrStderr()}
	if req.Tty {
		sio.err = sio.out
		stop := monitorSize(cmd.OutOrStdout(), func(h, w uint) error { return api.ExecResize(ctx, created.ID, h, w) })
		defer stop()
	}
	defer sio.attachStdin(stdin, req.AttachStdin, keys)()
	if err := pump(ctx, s, sio); err != nil {
		if errors.Is(err, errDetached) {
			return nil
		}
		return err
	}
	ins, err := api.ExecInspect(ctx, created.ID)
	// The output can end a moment before the exit is recorded.
	for i := 0; err == nil && ins.Running && i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
		ins, err = api.ExecInspect(ctx, created.ID)
	}
	if err != nil {
		return err
	}
	if ins.ExitCode != nil && *ins.ExitCode != 0 {
		return &statusError{code: *ins.ExitCode}
	}
	return nil
}
