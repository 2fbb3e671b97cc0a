// Command vipctl calls and operates the VIP messages API.
//
// Callers: sign requests, list messages (one page, or every page).
// Operators: create, rotate and revoke API keys in Secrets Manager, register
// workspaces and connect channels in DynamoDB.
//
//	vipctl sign URL                   the three signature headers of a request, for curl -H @<(vipctl sign "$URL") "$URL"
//	vipctl sign-event FILE            a sample API Gateway event, signed afresh
//	vipctl messages list ...          JSON lines (or --table); --all walks every page
//	vipctl keys create|rotate|retire-previous|revoke|show ...
//	vipctl workspaces put ID [--vip] [--name N]
//	vipctl channels connect|disconnect WORKSPACE MEDIUM [--name N]
//
// Credentials come from flags or VIP_API_URL, VIP_API_KEY, VIP_API_SECRET; AWS
// calls use the standard AWS configuration chain (AWS_REGION, AWS_PROFILE,
// AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SECRETS_MANAGER, ...), so the same
// commands work against the local stack and a real account. Bad usage exits 2
// with usage on stderr; a failure exits 1 with a one-line message on stderr.
//
// Adding a command: in its own file, register it from init():
//
//	func init() {
//		register(&command{name: "index", summary: "maintain the label index",
//			subs: []*command{{name: "rebuild", args: "[flags]", summary: "...", run: indexRebuild}}})
//	}
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"
)

// Local defaults (docs/local-stack.md), the same as internal/local/devstack's (a test checks).
const (
	defaultAPIURL       = "http://localhost:3000"
	defaultSecretPrefix = "vip-api/local/api-keys"
	defaultTable        = "vip-messages-local"
	demoSecret          = "demo-secret-please-change"
)

// Environment variables vipctl reads (besides the AWS SDK's own).
const (
	envAPIURL       = "VIP_API_URL"
	envAPIKey       = "VIP_API_KEY"
	envAPISecret    = "VIP_API_SECRET"
	envSecretPrefix = "VIP_SECRET_PREFIX"
	envTable        = "VIP_TABLE"
)

// command is a leaf (run) or a group of subcommands (subs).
type command struct {
	name    string
	args    string // synopsis of the arguments, for usage
	summary string
	run     func(ctx context.Context, e *env, path string, args []string) error
	subs    []*command
}

// commands are the top-level commands, registered from init() in the file of
// each command or group.
var commands []*command

func register(c *command) {
	if slices.ContainsFunc(commands, func(o *command) bool { return o.name == c.name }) {
		panic("vipctl: command " + c.name + " registered twice")
	}
	commands = append(commands, c)
}

// env is what a run sees of the world; tests make their own.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time
	// stderrTTY says whether stderr is a terminal (progress lines), stdoutTTY
	// whether stdout is (a word when there is nothing to print).
	stderrTTY, stdoutTTY bool
	// awsConfig loads the AWS configuration (config.LoadDefaultConfig).
	awsConfig func(ctx context.Context) (aws.Config, error)
}

func newEnv(stdout, stderr io.Writer, getenv func(string) string) *env {
	return &env{
		stdout: stdout, stderr: stderr, getenv: getenv, now: time.Now,
		stderrTTY: isTerminal(stderr), stdoutTTY: isTerminal(stdout),
		// The SDK's own log lines (e.g. DynamoDB Local's error answers fail its
		// CRC check) would break the one-line error contract; errors still
		// come back as errors.
		awsConfig: func(ctx context.Context) (aws.Config, error) {
			return config.LoadDefaultConfig(ctx, config.WithLogger(logging.Nop{}))
		},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := newEnv(os.Stdout, os.Stderr, os.Getenv).main(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run is main with its inputs and outputs passed in, for tests.
func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	return newEnv(stdout, stderr, getenv).main(context.Background(), args)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func (e *env) main(ctx context.Context, args []string) int {
	err := dispatch(ctx, e, "vipctl", &command{name: "vipctl", subs: commands}, args)
	var uerr *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &uerr):
		// The message and where to look, not the whole flag list.
		fmt.Fprintf(e.stderr, "%s: %s\nRun '%s -h' for usage.\n", uerr.path, dashes(uerr.msg), uerr.path)
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "vipctl: %s\n", oneLine(err.Error()))
	return exitError
}

// dispatch runs c with args: a leaf runs, a group picks its subcommand.
func dispatch(ctx context.Context, e *env, path string, c *command, args []string) error {
	if c.run != nil {
		return c.run(ctx, e, path, args)
	}
	subs := slices.Clone(c.subs)
	slices.SortFunc(subs, func(a, b *command) int { return strings.Compare(a.name, b.name) })
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "usage: %s <command> [flags] [arguments]\n\ncommands:\n", path)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, s := range subs {
			fmt.Fprintf(tw, "  %s\t%s\n", s.name, s.summary)
		}
		_ = tw.Flush()
		fmt.Fprintf(w, "\nRun '%s <command> -h' for a command's flags.\n", path)
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	if len(args) == 0 {
		return &usageError{path: path, msg: "missing command: " + strings.Join(names, ", ")}
	}
	name := args[0]
	if name == "-h" || name == "-help" || name == "--help" || name == "help" {
		usage(e.stdout)
		return flag.ErrHelp
	}
	for _, s := range subs {
		if s.name == name {
			return dispatch(ctx, e, path+" "+name, s, args[1:])
		}
	}
	return &usageError{path: path, msg: fmt.Sprintf("unknown command %q (want %s)", name, strings.Join(names, ", "))}
}

// usageError is a bad command line: exit 2 with its message on stderr.
type usageError struct {
	path, msg string
}

func (u *usageError) Error() string { return u.path + ": " + u.msg }

// flags is a command's flag set.
type flags struct {
	*flag.FlagSet
	path, args string
}

func newFlags(path, args string) *flags {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flags{FlagSet: fs, path: path, args: args}
}

func (f *flags) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s %s\n", f.path, f.args)
	first := true
	f.VisitAll(func(fl *flag.Flag) {
		if first {
			fmt.Fprintln(w, "\nflags (--flag and -flag both work):")
			first = false
		}
		// flag.PrintDefaults, with the double dash the README uses.
		typ, usage := flag.UnquoteUsage(fl)
		fmt.Fprintf(w, "  --%s", fl.Name)
		if typ != "" {
			fmt.Fprintf(w, " %s", typ)
		}
		fmt.Fprintf(w, "\n    \t%s", strings.ReplaceAll(usage, "\n", "\n    \t"))
		switch fl.DefValue {
		case "", "0", "false", "[]":
		default:
			if typ == "string" {
				fmt.Fprintf(w, " (default %q)", fl.DefValue)
			} else {
				fmt.Fprintf(w, " (default %s)", fl.DefValue)
			}
		}
		fmt.Fprintln(w)
	})
}

// flagName matches a flag as the flag package writes it in errors (-name).
var flagName = regexp.MustCompile(`(^|[ (])-([a-z][a-z0-9-]*)`)

// dashes writes the flag package's -name as --name, the README's style.
func dashes(msg string) string { return flagName.ReplaceAllString(msg, "$1--$2") }

// isSet reports whether the flag was given on the command line.
func (f *flags) isSet(name string) (set bool) {
	f.FlagSet.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// usageErr is a usage error of this command.
func (f *flags) usageErr(format string, a ...any) error {
	return &usageError{path: f.path, msg: fmt.Sprintf(format, a...)}
}

// parse parses args, flags and positional arguments in any order ("--" ends
// the flags), and checks the number of positional arguments.
func (f *flags) parse(e *env, args []string, minArgs, maxArgs int) ([]string, error) {
	var pos []string
	for {
		err := f.FlagSet.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			f.usage(e.stdout)
			return nil, err
		}
		if err != nil {
			return nil, f.usageErr("%s", dashes(err.Error()))
		}
		rest := f.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < minArgs:
		return nil, f.usageErr("missing arguments")
	case maxArgs >= 0 && len(pos) > maxArgs:
		return nil, f.usageErr("unexpected arguments: %s", strings.Join(pos[maxArgs:], " "))
	}
	return pos, nil
}

// envOr is getenv(name), or def when it is empty.
func (e *env) envOr(name, def string) string {
	if v := strings.TrimSpace(e.getenv(name)); v != "" {
		return v
	}
	return def
}

// aws loads the AWS configuration and checks it names a region.
func (e *env) aws(ctx context.Context) (aws.Config, error) {
	cfg, err := e.awsConfig(ctx)
	if err != nil {
		return cfg, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return cfg, errors.New("no AWS region: set AWS_REGION (us-east-1 for the local stack) or a profile's region")
	}
	return cfg, nil
}

// nothing says, on stderr, that there is nothing to print, when a person
// reads stdout; a script reading it gets no output at all.
func (e *env) nothing(msg string) {
	if e.stdoutTTY {
		fmt.Fprintln(e.stderr, msg)
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// count is n and the noun, plural unless n is 1: "1 page", "2 pages".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// stringList is a repeatable flag whose values may also be comma-separated.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
