package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/mlflow-go/mlflow/internal/store"
	"github.com/mlflow-go/mlflow/schema"
	"golang.org/x/term"
)

// command is one subcommand. Commands with sub are groups (runs list, ...).
type command struct {
	name  string
	usage string // after "mlflow name"
	short string
	long  string
	// flags registers the command's flags; run gets what is left.
	flags func(fs *flag.FlagSet, c *cli)
	run   func(ctx context.Context, c *cli, args []string) error
	sub   []*command
}

// commands is every subcommand, in help order. One file per command.
func commands() []*command {
	return []*command{
		cmdRun(),
		cmdValidate(),
		cmdPlan(),
		cmdRuns(),
		cmdDatasets(),
		cmdModels(),
		cmdPredict(),
		cmdServe(),
		cmdServer(),
		cmdUI(),
		cmdEndpoint(),
		cmdAzureML(),
		cmdPipeline(),
		cmdBench(),
		cmdSchema(),
		cmdVersion(),
	}
}

// cli is the per-invocation environment shared by all commands.
type cli struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	workspace      string // --workspace or MLFLOW_WORKSPACE
	json           bool   // --json
	// tty is true when stdout is a terminal: live redrawing output.
	tty bool
}

// usageError is a bad command line: exit 2 and the command's usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// errInvalid marks errors caused by invalid input (exit 2) that are not
// schema errors: a missing workspace object named on the command line, say.
var errInvalid = errors.New("invalid")

// invalidf returns an exit-2 error.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errInvalid}, args...)...)
}

// errPrinted means the error was already shown to the user; Main only sets
// the exit code.
type errPrinted struct {
	code int
}

func (e *errPrinted) Error() string { return "already reported" }

// Main runs the CLI and returns the process exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &cli{
		stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin,
		workspace: os.Getenv("MLFLOW_WORKSPACE"),
		tty:       term.IsTerminal(int(os.Stdout.Fd())) && os.Getenv("TERM") != "dumb",
	}
	return c.main(ctx, os.Args[1:])
}

func (c *cli) main(ctx context.Context, args []string) int {
	err := c.dispatch(ctx, args)
	return c.report(err)
}

// report prints err once and decides the exit code.
func (c *cli) report(err error) int {
	if err == nil {
		return 0
	}
	var p *errPrinted
	if errors.As(err, &p) {
		return p.code
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.stderr, "mlflow: %s\nRun 'mlflow help' for usage.\n", ue.msg)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	msg := strings.TrimPrefix(err.Error(), errInvalid.Error()+": ")
	fmt.Fprintf(c.stderr, "mlflow: %s\n", msg)
	if isInvalid(err) {
		return 2
	}
	return 1
}

func isInvalid(err error) bool {
	if errors.Is(err, errInvalid) {
		return true
	}
	var se *schema.Error
	if errors.As(err, &se) {
		return true
	}
	var sl schema.ErrorList
	return errors.As(err, &sl)
}

func (c *cli) dispatch(ctx context.Context, args []string) error {
	// Global flags may precede the command.
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch a := args[0]; {
		case a == "--json" || a == "-json":
			c.json = true
			args = args[1:]
		case a == "--workspace" || a == "-workspace":
			if len(args) < 2 {
				return usagef("--workspace needs a directory")
			}
			c.workspace, args = args[1], args[2:]
		case strings.HasPrefix(a, "--workspace="):
			c.workspace, args = strings.TrimPrefix(a, "--workspace="), args[1:]
		case a == "-h" || a == "--help" || a == "-help":
			c.printHelp(nil, nil)
			return nil
		case a == "--version":
			args = []string{"version"}
		default:
			return usagef("unknown flag %s", a)
		}
	}
	if len(args) == 0 {
		c.printHelp(nil, nil)
		return usagef("no command given")
	}
	if args[0] == "help" {
		return c.help(args[1:])
	}
	cmd, rest, path, err := find(commands(), args)
	if err != nil {
		return err
	}
	if cmd.run == nil {
		c.printHelp(cmd, path)
		return usagef("%s needs a subcommand", strings.Join(path, " "))
	}
	fs := flag.NewFlagSet("mlflow "+strings.Join(path, " "), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&c.json, "json", c.json, "print JSON")
	fs.StringVar(&c.workspace, "workspace", c.workspace, "workspace `dir` (default .mlflow beside the workflow, or found upward from here)")
	if cmd.flags != nil {
		cmd.flags(fs, c)
	}
	if err := parseInterspersed(fs, rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.printHelp(cmd, path)
			return nil
		}
		return usagef("%s: %v", strings.Join(path, " "), err)
	}
	return cmd.run(ctx, c, fs.Args())
}

// parseInterspersed lets flags follow positional arguments
// ("mlflow run wf.cue -p x=1"), as users of most CLIs expect.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}

func find(cmds []*command, args []string) (*command, []string, []string, error) {
	var path []string
	for {
		var found *command
		for _, c := range cmds {
			if c.name == args[0] {
				found = c
			}
		}
		if found == nil {
			if len(path) == 0 {
				return nil, nil, nil, usagef("unknown command %q", args[0])
			}
			return nil, nil, nil, usagef("unknown command \"%s %s\"", strings.Join(path, " "), args[0])
		}
		path = append(path, found.name)
		args = args[1:]
		if len(found.sub) == 0 || len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return found, args, path, nil
		}
		cmds = found.sub
	}
}

func (c *cli) help(args []string) error {
	if len(args) == 0 {
		c.printHelp(nil, nil)
		return nil
	}
	cmd, _, path, err := find(commands(), args)
	if err != nil {
		return err
	}
	c.printHelp(cmd, path)
	return nil
}

// printHelp prints the whole CLI's help (cmd nil) or cmd's, named by its
// path ("endpoint list").
func (c *cli) printHelp(cmd *command, path []string) {
	w := c.stdout
	if cmd == nil {
		fmt.Fprint(w, "mlflow runs declarative MLOps workflows: dataset, AutoML, endpoint, load test, pipeline.\n\nUsage:\n  mlflow [--workspace DIR] [--json] <command> [arguments]\n\nCommands:\n")
		for _, s := range commands() {
			fmt.Fprintf(w, "  %-10s %s\n", s.name, s.short)
		}
		fmt.Fprint(w, "\nRun 'mlflow help <command>' for more. Exit codes: 0 success, 1 a step failed, 2 invalid workflow or command line.\n")
		return
	}
	fmt.Fprintf(w, "Usage: mlflow %s %s\n\n%s\n", strings.Join(path, " "), cmd.usage, cmd.short)
	if cmd.long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(cmd.long))
	}
	if len(cmd.sub) > 0 {
		fmt.Fprint(w, "\nSubcommands:\n")
		for _, s := range cmd.sub {
			fmt.Fprintf(w, "  %-10s %s\n", s.name, s.short)
		}
	}
	if cmd.run != nil {
		fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
		fs.Bool("json", false, "print JSON")
		fs.String("workspace", "", "workspace `dir`")
		if cmd.flags != nil {
			cmd.flags(fs, &cli{})
		}
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// openStore opens the workspace for commands that are not given a workflow
// file: --workspace / MLFLOW_WORKSPACE, else the nearest .mlflow folder in
// the current directory or above it, else ./.mlflow when create is set.
func (c *cli) openStore(create bool) (*store.Store, error) {
	if c.workspace != "" {
		return store.Open(c.workspace)
	}
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	if root, ok := findWorkspace(dir); ok {
		return store.Open(root)
	}
	if !create {
		return nil, invalidf("no workspace here: no %s folder in %s or above it (run a workflow first, or pass --workspace)", store.DirName, dir)
	}
	return store.Open(filepath.Join(dir, store.DirName))
}

// findWorkspace is the workspace a command run in dir uses: the first
// .mlflow folder in dir or above it.
func findWorkspace(dir string) (string, bool) {
	for d := dir; ; d = filepath.Dir(d) {
		if st, err := os.Stat(filepath.Join(d, store.DirName)); err == nil && st.IsDir() {
			return filepath.Join(d, store.DirName), true
		}
		if filepath.Dir(d) == d {
			return "", false
		}
	}
}

// workflowStore opens the workspace of a workflow file: --workspace, else
// .mlflow beside the file.
func (c *cli) workflowStore(wf *schema.Workflow) (*store.Store, error) {
	if c.workspace != "" {
		return store.Open(c.workspace)
	}
	return store.Open(filepath.Join(wf.Dir, store.DirName))
}

// sortedKeys is a small helper for stable output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
