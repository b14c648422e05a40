package main

// Flags that take one of a few words (--tree, --log-format, --splice,
// --backend, ...): enumValue checks the word while the flags are parsed
// and is where shell completion finds the words to offer.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/isofsd/isofsd/isofmt"
)

// enumValue is a string flag limited to a list of words.
type enumValue struct {
	p       *string
	allowed []string
	// empty accepts "" too (meaning "the default", e.g. the richest tree).
	empty bool
}

func (e *enumValue) Set(s string) error {
	if !slices.Contains(e.allowed, s) && !(e.empty && s == "") {
		return fmt.Errorf("want %s", orList(e.allowed))
	}
	*e.p = s
	return nil
}

func (e *enumValue) String() string { return *e.p }
func (e *enumValue) Type() string   { return "string" }

// enumVar defines a flag on fl that accepts one of allowed.
func enumVar(fl *pflag.FlagSet, p *string, name, def string, allowed []string, usage string) {
	*p = def
	fl.Var(&enumValue{p: p, allowed: allowed, empty: def == ""}, name, usage)
}

// treeVar defines --tree: one of isofmt.TreeNames, "" for the richest.
func treeVar(fl *pflag.FlagSet, p *string, usage string) {
	enumVar(fl, p, "tree", "", isofmt.TreeNames, usage)
}

// onOffValues are the words of on/off flags (--splice, --prefetch).
var onOffValues = []string{"on", "off"}

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// registerEnumCompletions makes the shell complete the words of every
// enum flag of cmd and its subcommands (cobra's __complete protocol, used
// by the scripts `isofsd completion bash|zsh|fish|powershell` prints).
func registerEnumCompletions(cmd *cobra.Command) {
	register := func(fl *pflag.FlagSet) {
		fl.VisitAll(func(f *pflag.Flag) {
			e, ok := f.Value.(*enumValue)
			if !ok {
				return
			}
			words := e.allowed
			if f.Name == "backend" {
				words = fuseBackends() // only those built in
			}
			// Registering twice (a persistent flag seen from a child)
			// is refused by cobra; the first registration serves all.
			_ = cmd.RegisterFlagCompletionFunc(f.Name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return words, cobra.ShellCompDirectiveNoFileComp
			})
		})
	}
	register(cmd.LocalNonPersistentFlags())
	register(cmd.PersistentFlags())
	for _, c := range cmd.Commands() {
		registerEnumCompletions(c)
	}
}
