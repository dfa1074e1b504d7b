package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-project/berth/engine"
)

func newLogsCommand(c *client) *cobra.Command {
	var o engine.LogsOptions
	var since, until string
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  exactArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			// The stream is framed unless the container has a TTY.
			ins, err := api.ContainerInspect(ctx, args[0], false)
			if err != nil {
				return err
			}
			o.ShowStdout, o.ShowStderr = true, true
			now := time.Now()
			if o.Since, err = timestampArg(since, now); err != nil {
				return err
			}
			if o.Until, err = timestampArg(until, now); err != nil {
				return err
			}
			r, err := api.ContainerLogs(ctx, ins.ID, o)
			if err != nil {
				return err
			}
			defer r.Close()
			err = demux(cmd.OutOrStdout(), cmd.ErrOrStderr(), r, ins.Config != nil && ins.Config.Tty)
			if ctx.Err() != nil {
				// ^C ends a follow: not a failure.
				return nil
			}
			return err
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Follow, "follow", "f", false, "Follow log output")
	f.StringVar(&since, "since", "", `Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	f.StringVar(&until, "until", "", `Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	f.StringVarP(&o.Tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
	f.BoolVarP(&o.Timestamps, "timestamps", "t", false, "Show timestamps")
	f.BoolVar(&o.Details, "details", false, "Show extra details provided to logs")
	return cmd
}
