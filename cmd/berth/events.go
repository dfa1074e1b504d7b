package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/engine"
)

func newEventsCommand(c *client) *cobra.Command {
	var since, until, format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "events [OPTIONS]",
		Short: "Get real time events from the server",
		Args:  noArgs,
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			f, err := filterFlag(filters)
			if err != nil {
				return err
			}
			now := time.Now()
			o := engine.EventsOptions{Filters: f}
			if o.Since, err = timestampArg(since, now); err != nil {
				return err
			}
			if o.Until, err = timestampArg(until, now); err != nil {
				return err
			}
			var tmpl func(io.Writer, events.Message) error
			if format != "" {
				if format == "json" {
					format = "{{json .}}"
				}
				t, err := parseTemplate(format)
				if err != nil {
					return err
				}
				tmpl = func(w io.Writer, m events.Message) error {
					if err := t.Execute(w, m); err != nil {
						return err
					}
					_, err := fmt.Fprintln(w)
					return err
				}
			}
			msgs, errs := api.Events(ctx, o)
			out := cmd.OutOrStdout()
			for {
				select {
				case m, ok := <-msgs:
					if !ok {
						if errs == nil {
							return nil
						}
						msgs = nil
						continue
					}
					if tmpl != nil {
						if err := tmpl(out, m); err != nil {
							return err
						}
						continue
					}
					printEvent(out, m)
				case err := <-errs:
					// What was sent before the end is still shown.
					for drained := false; !drained; {
						select {
						case m, ok := <-msgs:
							if !ok {
								drained = true
							} else if tmpl != nil {
								if err := tmpl(out, m); err != nil {
									return err
								}
							} else {
								printEvent(out, m)
							}
						default:
							drained = true
						}
					}
					// io.EOF: --until was reached.
					if err == nil || errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) || ctx.Err() != nil {
						return nil
					}
					return err
				}
			}
		}),
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "Show all events created since timestamp")
	f.StringVar(&until, "until", "", "Stream events until this timestamp")
	f.StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	f.StringVar(&format, "format", "", "Format output using a custom template ('json' or a Go template)")
	return cmd
}

// printEvent writes an event in docker's default layout: time, type,
// action, actor, and the attributes sorted in parentheses.
func printEvent(out io.Writer, m events.Message) {
	t := time.Unix(0, m.TimeNano)
	if m.TimeNano == 0 {
		t = time.Unix(m.Time, 0)
	}
	line := fmt.Sprintf("%s %s %s %s", t.Format("2006-01-02T15:04:05.000000000Z07:00"), m.Type, m.Action, m.Actor.ID)
	if len(m.Actor.Attributes) > 0 {
		keys := make([]string, 0, len(m.Actor.Attributes))
		for k := range m.Actor.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		attrs := make([]string, len(keys))
		for i, k := range keys {
			attrs[i] = k + "=" + m.Actor.Attributes[k]
		}
		line += " (" + strings.Join(attrs, ", ") + ")"
	}
	fmt.Fprintln(out, line)
}
