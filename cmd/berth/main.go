// berth is Berth's command line: a docker-like front end to berthd.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"

	"github.com/berth-containers/berth/client"
)

// command is one subcommand; each lives in its own file and registers itself.
type command struct {
	name    string
	aliases []string
	usage   string // one line: "pull [OPTIONS] NAME[:TAG|@DIGEST]"
	short   string
	hidden  bool // reached through another command (e.g. `image prune`); not listed
	run     func(g *globals, args []string) error
}

var commands = map[string]*command{}

func register(c *command) {
	commands[c.name] = c
	for _, a := range c.aliases {
		commands[a] = c
	}
}

// globals are the flags every command shares.
type globals struct {
	address   string
	namespace string
}

func (g *globals) client() (*client.Client, error) {
	return client.New(g.address, g.namespace)
}

// usageError makes the CLI print the command's usage and exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	g := &globals{}
	fs := flag.NewFlagSet("berth", flag.ContinueOnError)
	fs.StringVar(&g.address, "address", envOr("BERTH_ADDRESS", client.DefaultAddress), "berthd socket (BERTH_ADDRESS)")
	fs.StringVar(&g.namespace, "namespace", envOr("BERTH_NAMESPACE", "default"), "namespace (BERTH_NAMESPACE)")
	fs.Usage = func() { printUsage(fs) }
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	args := fs.Args()
	if len(args) == 0 {
		printUsage(fs)
		os.Exit(2)
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "berth: '%s' is not a berth command.\nSee 'berth --help'.\n", args[0])
		os.Exit(2)
	}
	if err := c.run(g, args[1:]); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "berth %s: %s\nUsage: berth %s\n", c.name, ue.msg, c.usage)
			os.Exit(2)
		}
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func printUsage(fs *flag.FlagSet) {
	fmt.Fprintln(os.Stderr, "Usage: berth [OPTIONS] COMMAND\n\nOptions:")
	fs.PrintDefaults()
	fmt.Fprintln(os.Stderr, "\nCommands:")
	seen := map[string]bool{}
	var names []string
	for _, c := range commands {
		if !seen[c.name] && !c.hidden {
			seen[c.name] = true
			names = append(names, c.name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", n, commands[n].short)
	}
}

// newFlags makes a flag set for a subcommand that reports errors as usage errors.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}
