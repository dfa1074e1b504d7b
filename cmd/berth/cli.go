package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berth-project/berth/dockerapi"
	"github.com/berth-project/berth/engine"
)

// client is what the engine commands share, as docker's command.Cli: the
// global options, the engine.API (connected on first use) and the way the
// process is interrupted.
type client struct {
	hostOpts hostOptions
	// connect opens the engine.API and says how to close it; main wires
	// the daemon-or-in-process selection, tests a fake.
	connect func(ctx context.Context) (engine.API, func() error, error)

	api     engine.API
	closeFn func() error
	// stopSignals undoes the SIGINT/SIGTERM handling of the command's
	// context, for commands that forward signals to a container instead.
	stopSignals func()
}

// API returns the engine, connecting on the first call. Every error it
// returns is a daemonError, printed as docker prints the daemon's.
func (c *client) API(ctx context.Context) (engine.API, error) {
	if c.api != nil {
		return c.api, nil
	}
	api, closeFn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.api, c.closeFn = daemonErrors{api}, closeFn
	return c.api, nil
}

// Close releases the engine (the in-process one's store and records).
func (c *client) Close() error {
	if c.closeFn == nil {
		return nil
	}
	err := c.closeFn()
	c.api, c.closeFn = nil, nil
	return err
}

// statusError ends the process with code after printing msg (when set) to
// stderr, as docker's cli.StatusError.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string {
	if e.msg != "" {
		return e.msg
	}
	return fmt.Sprintf("exit status %d", e.code)
}

// daemonError is an error that came back from the engine: docker prints
// those as "Error response from daemon: MSG".
type daemonError struct{ err error }

func (e *daemonError) Error() string { return "Error response from daemon: " + e.err.Error() }
func (e *daemonError) Unwrap() error { return e.err }

// fromDaemon marks err as the engine's (nil stays nil, marked stays as is).
func fromDaemon(err error) error {
	var de *daemonError
	if err == nil || errors.As(err, &de) || errors.Is(err, dockerapi.ErrNoDaemon) {
		// A daemon that went away did not answer: docker says so plainly.
		return err
	}
	return &daemonError{err}
}

// daemonMessage is err's text without the daemon prefix, as docker's
// runStartContainerErr looks at it.
func daemonMessage(err error) string {
	return strings.TrimPrefix(err.Error(), "Error response from daemon: ")
}

// flagError is a flag that did not parse: docker shows the usage line and
// exits 125.
type flagError struct {
	cmd *cobra.Command
	err error
}

func (e *flagError) Error() string { return e.err.Error() }

// usageLine is docker's "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]":
// the command's path and the arguments of its Use.
func usageLine(cmd *cobra.Command) string {
	line := cmd.CommandPath()
	if _, args, ok := strings.Cut(cmd.Use, " "); ok {
		line += " " + args
	} else if cmd.HasAvailableSubCommands() {
		line += " COMMAND"
	}
	return line
}

// usageError formats a misuse of cmd the docker way.
func usageError(cmd *cobra.Command, msg string, code int) error {
	return &statusError{code: code, msg: fmt.Sprintf("%s\n\nUsage:  %s\n\nRun '%s --help' for more information",
		msg, usageLine(cmd), cmd.CommandPath())}
}

// Argument checks with docker's messages ("berth: 'berth rm' requires at
// least 1 argument"), exit 1.
func argsError(cmd *cobra.Command, what string) error {
	return usageError(cmd, fmt.Sprintf("%s: '%s' %s", cmd.Root().Name(), cmd.CommandPath(), what), 1)
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return argsError(cmd, "accepts no arguments")
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return argsError(cmd, "requires at least "+plural(n, "argument"))
	}
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return argsError(cmd, "requires "+plural(n, "argument"))
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) <= n {
			return nil
		}
		return argsError(cmd, "requires at most "+plural(n, "argument"))
	}
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= lo && len(args) <= hi {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at least %d and at most %s", lo, plural(hi, "argument")))
	}
}

// runCLI executes root and turns what went wrong into docker's output and
// exit code: 125 for a flag that does not parse, the status of a
// statusError or exitError, 1 for anything else.
func runCLI(root *cobra.Command, c *client, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer stop()
	c.stopSignals = stop
	cmd, err := root.ExecuteContextC(ctx)
	if cerr := c.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		return 0
	}
	if isRuntimeCommand(cmd) {
		// `berth runtime` reports as runc does (runtime.go).
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		logError(err)
		return 1
	}
	return printError(stderr, root, err)
}

// printError writes err as docker does and returns the exit code.
func printError(stderr io.Writer, root *cobra.Command, err error) int {
	var (
		se *statusError
		ee *exitError
		fe *flagError
	)
	switch {
	case errors.As(err, &se):
		if se.msg != "" {
			fmt.Fprintln(stderr, se.msg)
		}
		return se.code
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &fe):
		fmt.Fprintln(stderr, usageError(fe.cmd, fe.err.Error(), 125).Error())
		return 125
	case strings.HasPrefix(err.Error(), "unknown command "):
		// cobra: unknown command "x" for "berth"; docker: unknown command: berth x
		name := strings.TrimPrefix(err.Error(), "unknown command ")
		if i := strings.Index(name, " for "); i >= 0 {
			name = strings.Trim(name[:i], `"`)
		}
		fmt.Fprintf(stderr, "%s: unknown command: %s %s\n\nRun '%s --help' for more information\n",
			root.Name(), root.Name(), name, root.Name())
		return 1
	}
	fmt.Fprintln(stderr, err)
	return 1
}

// isRuntimeCommand reports whether cmd is `berth runtime` or below it.
func isRuntimeCommand(cmd *cobra.Command) bool {
	for ; cmd != nil; cmd = cmd.Parent() {
		if cmd.Name() == "runtime" && cmd.Parent() != nil && !cmd.Parent().HasParent() {
			return true
		}
	}
	return false
}

// dockerStyle makes cmd and its subcommands report flag errors the docker
// way and leave "[flags]" out of their usage line.
func dockerStyle(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &flagError{cmd: c, err: err}
	})
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableFlagsInUseLine = true
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(cmd)
}

// forEach runs fn on each argument, printing each failure to stderr as
// docker does for commands on several objects, and fails (exit 1) if any
// did.
func forEach(cmd *cobra.Command, args []string, fn func(arg string) error) error {
	var failed []string
	for _, a := range args {
		if err := fn(a); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), err)
			failed = append(failed, a)
		}
	}
	if len(failed) > 0 {
		return &statusError{code: 1}
	}
	return nil
}
