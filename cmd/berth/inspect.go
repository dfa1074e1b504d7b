package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-project/berth/engine"
)

// inspectFunc looks one name up: its value for the output, or an error.
type inspectFunc func(ctx context.Context, name string) (any, error)

// inspectAll runs get on every name and writes what was found (an empty
// list when nothing was), then the errors, as docker's inspect does; any
// error makes the exit status 1.
func inspectAll(ctx context.Context, cmd *cobra.Command, names []string, format string, get inspectFunc) error {
	var found []any
	var errs []error
	for _, n := range names {
		v, err := get(ctx, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		found = append(found, v)
	}
	if err := renderInspect(cmd.OutOrStdout(), format, found); err != nil {
		return &statusError{code: 1, msg: err.Error()}
	}
	for _, err := range errs {
		fmt.Fprintln(cmd.ErrOrStderr(), err)
	}
	if len(errs) > 0 {
		return &statusError{code: 1}
	}
	return nil
}

func containerGetter(api engine.API, size bool) inspectFunc {
	return func(ctx context.Context, name string) (any, error) {
		return api.ContainerInspect(ctx, name, size)
	}
}

func imageGetter(api engine.API) inspectFunc {
	return func(ctx context.Context, name string) (any, error) {
		return api.ImageInspect(ctx, name)
	}
}

func newInspectContainerCommand(c *client) *cobra.Command {
	var format string
	var size bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return inspectAll(ctx, cmd, args, format, containerGetter(api, size))
		}),
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template ('json' or a Go template)")
	cmd.Flags().BoolVarP(&size, "size", "s", false, "Display total file sizes")
	return cmd
}

func newInspectImageCommand(c *client) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return inspectAll(ctx, cmd, args, format, imageGetter(api))
		}),
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template ('json' or a Go template)")
	return cmd
}

// newInspectCommand is the top-level inspect: a container, an image, a
// network or a volume (tried in that order, as docker tries them), or only the --type
// given.
func newInspectCommand(c *client) *cobra.Command {
	var format, typ string
	var size bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on berth objects",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			var get inspectFunc
			switch typ {
			case "container":
				get = containerGetter(api, size)
			case "image":
				get = imageGetter(api)
			case "network":
				get = networkGetter(api, false)
			case "volume":
				get = volumeGetter(api)
			case "":
				getters := []inspectFunc{containerGetter(api, size), imageGetter(api), networkGetter(api, false), volumeGetter(api)}
				get = func(ctx context.Context, name string) (any, error) {
					for _, g := range getters {
						if v, err := g(ctx, name); err == nil || !skippable(err) {
							return v, err
						}
					}
					return nil, fmt.Errorf("Error: No such object: %s", name)
				}
			default:
				return fmt.Errorf("%q is not a valid value for --type", typ)
			}
			return inspectAll(ctx, cmd, args, format, get)
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&format, "format", "f", "", "Format output using a custom template ('json' or a Go template)")
	f.StringVar(&typ, "type", "", "Only inspect objects of the given type (container, image, network or volume)")
	f.BoolVarP(&size, "size", "s", false, "Display total file sizes if the type is container")
	return cmd
}

// skippable tells whether the top-level inspect goes on to the next kind
// of object after err, as docker's does: not found, not supported (not
// implemented), or a name that is no image reference (a network "MyNet").
func skippable(err error) bool {
	k := engine.KindOf(err)
	return k == engine.KindNotFound || k == engine.KindNotImplemented ||
		strings.Contains(err.Error(), "not supported") || strings.Contains(err.Error(), "invalid reference format")
}
