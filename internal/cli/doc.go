package cli

import (
	"bytes"
	"context"
	"flag"
	"regexp"
	"slices"
	"strings"
)

// cmdDoc is what one command's -h says, read without running the command:
// the manual pages and the completion scripts are made from it, so they
// cannot drift from --help.
type cmdDoc struct {
	Command
	// Synopsis and Flags: commands that parse with a flag.FlagSet
	// (newFlags). Flags are in flag.VisitAll's order (by name).
	Synopsis string
	Flags    []*flag.Flag
	// Help is the text -h prints for a command with a parser of its own
	// (cl_status, lvs, stonith: Heartbeat's and ipvsadm's command lines).
	Help string
}

// describe runs each command with -h, catching the flag set it makes.
// A command must do nothing but print its help for -h (TestDescribe
// checks that each exits 0 and says something).
func describe() []cmdDoc {
	var docs []cmdDoc
	for _, c := range commands() {
		d := cmdDoc{Command: c}
		var out, errb bytes.Buffer
		var fs *flag.FlagSet
		env := &Env{Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
			Getenv:   func(string) string { return "" },
			flagSets: func(_, synopsis string, f *flag.FlagSet) { d.Synopsis, fs = synopsis, f }}
		c.Run(env, []string{"-h"})
		if fs != nil {
			fs.VisitAll(func(f *flag.Flag) { d.Flags = append(d.Flags, f) })
		} else {
			d.Help = out.String() + errb.String()
		}
		docs = append(docs, d)
	}
	return docs
}

// flagName is a flag as lubdub's synopses write it: -c, --node.
func flagName(f *flag.Flag) string {
	if len(f.Name) == 1 {
		return "-" + f.Name
	}
	return "--" + f.Name
}

// takesValue reports whether a flag needs a value.
func takesValue(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// argKind is what a placeholder in a synopsis or a flag's usage stands
// for, for completion: names the running daemon knows, files,
// directories, or nothing to offer.
type argKind string

const (
	kindNone   argKind = ""
	kindGroups argKind = "groups"
	kindNodes  argKind = "nodes"
	kindLinks  argKind = "links"
	kindFiles  argKind = "files"
	kindDirs   argKind = "dirs"
)

func placeholderKind(p string) argKind {
	switch p {
	case "GROUP":
		return kindGroups
	case "NODE":
		return kindNodes
	case "LINK":
		return kindLinks
	case "PATH", "FILE", "CONFIG":
		return kindFiles
	case "DIR":
		return kindDirs
	}
	return kindNone
}

// argSpec is what may stand at an argument's place: literal words and a
// kind of name.
type argSpec struct {
	Words []string
	Kind  argKind
}

func (a *argSpec) add(alternatives string) {
	for _, w := range strings.Split(alternatives, "|") {
		if w == "" {
			continue
		}
		if strings.ToUpper(w) == w {
			if k := placeholderKind(w); k != kindNone {
				a.Kind = k
			}
			continue
		}
		if !slices.Contains(a.Words, w) {
			a.Words = append(a.Words, w)
		}
	}
}

// synopsisArgs reads a flag-set command's synopsis ("[--socket PATH]
// [all|local|foreign]"): the values listed for its flags
// ("--datapath auto|nftables|ipvs"; takes says which flags take a value)
// and what its other arguments may be (alternatives and placeholders,
// wherever they stand).
func synopsisArgs(synopsis string, takes func(name string) bool) (flagValues map[string]*argSpec, positional argSpec) {
	flagValues = map[string]*argSpec{}
	words := strings.Fields(strings.NewReplacer("[", " ", "]", " ").Replace(synopsis))
	for i := 0; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "-") {
			positional.add(w)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if !hasVal && takes(name) && i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") {
			val, hasVal = words[i+1], true
			i++
		}
		if hasVal {
			spec := &argSpec{}
			if strings.Contains(val, "|") || strings.ToUpper(val) == val {
				spec.add(val)
			}
			flagValues[name] = spec
		}
	}
	return flagValues, positional
}

// flagUsage is a flag's placeholder (the back-quoted word of its usage,
// else its type) and its usage without the quotes.
func flagUsage(f *flag.Flag) (placeholder, usage string) { return flag.UnquoteUsage(f) }

var optionRE = regexp.MustCompile(`(?:^|[\s\[|{(])(--?[A-Za-z][A-Za-z-]*)`)

// helpOptions lists the options a command's own help text names
// (lubdub lvs's ipvsadm options, lubdub stonith's), in order, once each.
func helpOptions(help string) []string {
	var opts []string
	for _, m := range optionRE.FindAllStringSubmatch(help, -1) {
		if o := m[1]; !slices.Contains(opts, o) {
			opts = append(opts, o)
		}
	}
	return opts
}

// clSubcommand is one cl_status sub-command as its help lists it.
type clSubcommand struct {
	Name    string
	Args    []argKind // <node-name>, <link-name>, in order
	Options []string  // -v, -p, ...
}

// clSubcommands reads cl_status's help text (clHelp): each sub-command
// line, its arguments and the options listed under it; only those
// clCommands implements.
func clSubcommands() []clSubcommand {
	var subs []clSubcommand
	for _, line := range strings.Split(clHelp, "\n") {
		if line == "" || line[0] == ' ' {
			continue
		}
		if line[0] == '\t' {
			if len(subs) > 0 {
				if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "-") {
					subs[len(subs)-1].Options = append(subs[len(subs)-1].Options, f[0])
				}
			}
			continue
		}
		f := strings.Fields(line)
		if _, ok := clCommands[f[0]]; !ok {
			continue
		}
		s := clSubcommand{Name: f[0]}
		for _, a := range f[1:] {
			switch {
			case a == "<node-name>":
				s.Args = append(s.Args, kindNodes)
			case a == "<link-name>":
				s.Args = append(s.Args, kindLinks)
			case strings.HasPrefix(a, "-"):
				s.Options = append(s.Options, a)
			}
		}
		subs = append(subs, s)
	}
	return subs
}
