package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/spf13/cobra"

	"github.com/berth-project/berth/engine"
)

// `berth secret` and `berth config`: docker's swarm commands, served by
// the standalone engine. A secret's value is read from a file or stdin
// and never shown again; a config's is shown by inspect.

// fileObject is a secret or a config as the commands see it.
type fileObject struct {
	ID        string
	Name      string
	Labels    map[string]string
	Driver    string
	CreatedAt time.Time
	UpdatedAt time.Time
	Data      []byte // configs only
	raw       any    // what inspect prints
}

// fileOps binds the commands to the secret or the config side of the API.
type fileOps struct {
	noun   string // "secret" or "config"
	create func(ctx context.Context, api engine.API, name string, labels map[string]string, data []byte) (string, error)
	list   func(ctx context.Context, api engine.API, f engine.Filters) ([]fileObject, error)
	get    func(ctx context.Context, api engine.API, ref string) (fileObject, error)
	remove func(ctx context.Context, api engine.API, ref string) error
}

func secretObject(s swarm.Secret) fileObject {
	o := fileObject{ID: s.ID, Name: s.Spec.Name, Labels: s.Spec.Labels, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, raw: s}
	if s.Spec.Driver != nil {
		o.Driver = s.Spec.Driver.Name
	}
	return o
}

func configObject(c swarm.Config) fileObject {
	return fileObject{ID: c.ID, Name: c.Spec.Name, Labels: c.Spec.Labels, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Data: c.Spec.Data, raw: c}
}

var secretOps = fileOps{
	noun: "secret",
	create: func(ctx context.Context, api engine.API, name string, labels map[string]string, data []byte) (string, error) {
		resp, err := api.SecretCreate(ctx, swarm.SecretSpec{Annotations: swarm.Annotations{Name: name, Labels: labels}, Data: data})
		return resp.ID, err
	},
	list: func(ctx context.Context, api engine.API, f engine.Filters) ([]fileObject, error) {
		list, err := api.SecretList(ctx, f)
		var out []fileObject
		for _, s := range list {
			out = append(out, secretObject(s))
		}
		return out, err
	},
	get: func(ctx context.Context, api engine.API, ref string) (fileObject, error) {
		s, err := api.SecretInspect(ctx, ref)
		s.Spec.Data = nil // never shown, whatever the daemon sent
		return secretObject(s), err
	},
	remove: func(ctx context.Context, api engine.API, ref string) error { return api.SecretRemove(ctx, ref) },
}

var configOps = fileOps{
	noun: "config",
	create: func(ctx context.Context, api engine.API, name string, labels map[string]string, data []byte) (string, error) {
		resp, err := api.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name, Labels: labels}, Data: data})
		return resp.ID, err
	},
	list: func(ctx context.Context, api engine.API, f engine.Filters) ([]fileObject, error) {
		list, err := api.ConfigList(ctx, f)
		var out []fileObject
		for _, c := range list {
			out = append(out, configObject(c))
		}
		return out, err
	},
	get: func(ctx context.Context, api engine.API, ref string) (fileObject, error) {
		c, err := api.ConfigInspect(ctx, ref)
		return configObject(c), err
	},
	remove: func(ctx context.Context, api engine.API, ref string) error { return api.ConfigRemove(ctx, ref) },
}

func newSecretCommand(c *client) *cobra.Command {
	return newFileObjectCommand(c, secretOps, "Manage secrets")
}

func newConfigCommand(c *client) *cobra.Command {
	return newFileObjectCommand(c, configOps, "Manage configs")
}

func newFileObjectCommand(c *client, ops fileOps, short string) *cobra.Command {
	cmd := groupCommand(ops.noun, short)
	cmd.AddCommand(newFileCreateCommand(c, ops), newFileInspectCommand(c, ops), newFileLsCommand(c, ops), newFileRmCommand(c, ops))
	return cmd
}

func newFileCreateCommand(c *client, ops fileOps) *cobra.Command {
	labels := listValue{validate: validateLabel}
	upper := strings.ToUpper(ops.noun)
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] " + upper + " file|-",
		Short: "Create a " + ops.noun + " from a file or STDIN as content",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readFileArg(cmd.InOrStdin(), args[1])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			api, err := c.API(ctx)
			if err != nil {
				return err
			}
			id, err := ops.create(ctx, api, args[0], kvStrings(labels.values), data)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), id)
			return nil
		},
	}
	cmd.Flags().VarP(&labels, "label", "l", ops.noun+" labels")
	return cmd
}

// readFileArg reads a file, or stdin for "-". The error names the file,
// never the content.
func readFileArg(stdin io.Reader, name string) ([]byte, error) {
	if name == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("error reading content from STDIN: %w", err)
		}
		return data, nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("error reading content from %q: %w", name, errors.Unwrap(err))
	}
	return data, nil
}

// fileLsHeader names `secret ls`'s and `config ls`'s columns.
var fileLsHeader = map[string]string{
	"ID": "ID", "Name": "NAME", "Driver": "DRIVER", "CreatedAt": "CREATED", "UpdatedAt": "UPDATED", "Labels": "LABELS",
}

const (
	defaultSecretLsFormat = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}"
	defaultConfigLsFormat = "table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}"
)

func newFileLsCommand(c *client, ops fileOps) *cobra.Command {
	var (
		quiet   bool
		format  string
		filters []string
	)
	def := defaultSecretLsFormat
	if ops.noun == "config" {
		def = defaultConfigLsFormat
	}
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List " + ops.noun + "s",
		Args:    noArgs,
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			f, err := filterFlag(filters)
			if err != nil {
				return err
			}
			if quiet && (format == "" || format == "table") {
				format = "{{.ID}}"
			}
			lf, err := newListFormat(format, def)
			if err != nil {
				return err
			}
			list, err := ops.list(ctx, api, f)
			if err != nil {
				return err
			}
			sort.SliceStable(list, func(i, j int) bool { return naturalLess(list[i].Name, list[j].Name) })
			now := time.Now()
			rows := make([]any, len(list))
			for i, o := range list {
				rows[i] = &fileRow{o: o, now: now}
			}
			return lf.write(cmd.OutOrStdout(), fileLsHeader, rows)
		}),
	}
	f := cmd.Flags()
	f.BoolVarP(&quiet, "quiet", "q", false, "Only display IDs")
	f.StringVar(&format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	f.StringArrayVarP(&filters, "filter", "f", nil, "Filter output based on conditions provided")
	return cmd
}

// fileRow is one secret or config as `ls` templates see it.
type fileRow struct {
	o   fileObject
	now time.Time
}

func (r *fileRow) MarshalJSON() ([]byte, error) { return methodsJSON(r) }

func (r *fileRow) ID() string        { return r.o.ID }
func (r *fileRow) Name() string      { return r.o.Name }
func (r *fileRow) Driver() string    { return r.o.Driver }
func (r *fileRow) CreatedAt() string { return agoString(r.o.CreatedAt, r.now) }
func (r *fileRow) UpdatedAt() string { return agoString(r.o.UpdatedAt, r.now) }

// Labels are k=v pairs, sorted, comma-separated.
func (r *fileRow) Labels() string { return labelList(r.o.Labels) }

// Label is the value of one label.
func (r *fileRow) Label(name string) string { return r.o.Labels[name] }

func labelList(labels map[string]string) string {
	pairs := make([]string, 0, len(labels))
	for k, v := range labels {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// agoString is docker's "5 minutes ago".
func agoString(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	return engine.HumanDuration(now.Sub(t)) + " ago"
}

func newFileInspectCommand(c *client, ops fileOps) *cobra.Command {
	var format string
	var pretty bool
	upper := strings.ToUpper(ops.noun)
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] " + upper + " [" + upper + "...]",
		Short: "Display detailed information on one or more " + ops.noun + "s",
		Args:  minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			if pretty && format != "" {
				return errors.New("--format is incompatible with human friendly format")
			}
			if !pretty {
				return inspectAll(ctx, cmd, args, format, func(ctx context.Context, ref string) (any, error) {
					o, err := ops.get(ctx, api, ref)
					return o.raw, err
				})
			}
			var errs []error
			now := time.Now()
			for i, ref := range args {
				o, err := ops.get(ctx, api, ref)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if i > 0 {
					fmt.Fprintln(cmd.OutOrStdout())
				}
				writePrettyFile(cmd.OutOrStdout(), ops.noun, o, now)
			}
			for _, err := range errs {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
			}
			if len(errs) > 0 {
				return &statusError{code: 1}
			}
			return nil
		}),
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a custom template ('json' or a Go template)")
	cmd.Flags().BoolVar(&pretty, "pretty", false, "Print the information in a human friendly format")
	return cmd
}

// writePrettyFile is docker's --pretty view: a config's data in full, a
// secret's never.
func writePrettyFile(w io.Writer, noun string, o fileObject, now time.Time) {
	fmt.Fprintf(w, "ID:              %s\n", o.ID)
	fmt.Fprintf(w, "Name:            %s\n", o.Name)
	if len(o.Labels) > 0 {
		fmt.Fprintln(w, "Labels:")
		keys := make([]string, 0, len(o.Labels))
		for k := range o.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if v := o.Labels[k]; v != "" {
				fmt.Fprintf(w, " - %s=%s\n", k, v)
			} else {
				fmt.Fprintf(w, " - %s\n", k)
			}
		}
	}
	if noun == "secret" {
		fmt.Fprintf(w, "Driver:          %s\n", o.Driver)
	}
	fmt.Fprintf(w, "Created at:      %s\n", agoString(o.CreatedAt, now))
	fmt.Fprintf(w, "Updated at:      %s\n", agoString(o.UpdatedAt, now))
	if noun == "config" {
		fmt.Fprintln(w, "Data:")
		fmt.Fprintln(w, string(o.Data))
	}
}

func newFileRmCommand(c *client, ops fileOps) *cobra.Command {
	upper := strings.ToUpper(ops.noun)
	return &cobra.Command{
		Use:     "rm " + upper + " [" + upper + "...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more " + ops.noun + "s",
		Args:    minArgs(1),
		RunE: withAPI(c, func(ctx context.Context, cmd *cobra.Command, api engine.API, args []string) error {
			return forEach(cmd, args, func(ref string) error {
				if err := ops.remove(ctx, api, ref); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), ref)
				return nil
			})
		}),
	}
}
