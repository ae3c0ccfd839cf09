package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Execute runs herald with the process's arguments and standard streams,
// and returns the exit code. SIGINT and SIGTERM cancel the command's
// context; a second signal kills the process.
func Execute() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // restore the default handling for a second signal
	return Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

// Run runs herald with args (without the program name) and returns the exit
// code: 0 on success, 1 on failure, 2 on a usage error. Errors are written
// to stderr. Cancelling ctx interrupts the command.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if cmd == nil {
		cmd = root
	}
	report(stderr, cmd.CommandPath(), err)
	var uerr usageError
	// cobra reports unknown commands with a plain error.
	if errors.As(err, &uerr) || strings.HasPrefix(err.Error(), "unknown command") {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	}
	return exitError
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "herald",
		Short: "Herald is a real-time messaging gateway",
		Long: `Herald is a real-time messaging gateway. Browsers and other clients subscribe
to channels over WebSocket, Server-Sent Events or long polling; backends publish
to channels through an HTTP API; NATS carries messages between Herald nodes.

Run a node with 'herald serve'. Publish and watch channels of a running node
with 'herald publish' and 'herald sub'.`,
		Version:       versionString(),
		SilenceErrors: true, // Run reports them
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("herald {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServeCmd(), newDemoCmd(), newPublishCmd(), newSubCmd(), newTokenCmd(), newBenchCmd(), newVersionCmd())
	return root
}

// usageError is an error in how a command was called rather than in what it did.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// report writes err to w after prefix; the lines after an error's first,
// such as one per problem in a joined error, are indented below it.
func report(w io.Writer, prefix string, err error) {
	first, rest, _ := strings.Cut(strings.TrimRight(err.Error(), "\n"), "\n")
	fmt.Fprintf(w, "%s: %s\n", prefix, first)
	if rest != "" {
		for _, l := range strings.Split(rest, "\n") {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}
