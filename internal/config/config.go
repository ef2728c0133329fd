// Package config gives a command's flags two more sources: environment
// variables and a config file.
//
// For every flag not given on the command line, [Scheme.Resolve] takes the
// value from the flag's environment variable, else from the config file,
// else leaves the default: flag > environment > file > default. It works
// over the whole flag set, so a new flag gets an environment variable and a
// config file key without more code. The flag --drain-timeout of a scheme
// with prefix MPCSIGN_COORDINATOR_ is MPCSIGN_COORDINATOR_DRAIN_TIMEOUT in
// the environment and drain_timeout in the file.
//
// The file is a strict subset of TOML (see [Parse]). An unknown key, an
// unknown prefixed environment variable or a value its flag refuses is an
// error that names where it came from: the file and line, or the variable.
//
// Nothing here is meant for secrets: a secret comes from a file that a flag
// names, never from a flag's value, and so never from this package either.
package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"
)

// Scheme names a command's environment variables and config file.
type Scheme struct {
	// EnvPrefix starts every environment variable: "MPCSIGN_COORDINATOR_".
	EnvPrefix string
	// ConfigFlag is the flag naming the config file ("config"). It may come
	// from the environment but not from the file. Empty: no config file.
	ConfigFlag string
}

// EnvName is the environment variable of a flag.
func (s Scheme) EnvName(flag string) string {
	return s.EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Key is the config file key of a flag.
func (s Scheme) Key(flag string) string { return strings.ReplaceAll(flag, "-", "_") }

// covered reports whether a flag takes part: every flag but cobra's --help.
func covered(f *pflag.Flag) bool { return f.Name != "help" }

type sourceKind int

const (
	fromDefault sourceKind = iota
	fromFlag
	fromEnv
	fromFile
)

type source struct {
	kind sourceKind
	file string
	val  Value
}

// Sources says where each flag's value came from.
type Sources struct {
	scheme  Scheme
	src     map[string]source
	refused map[string]bool
}

// Refused reports whether the flag's value from the environment or the
// file was refused (and reported). Such a flag's value is unspecified: a
// caller checking values should skip it.
func (s *Sources) Refused(flag string) bool { return s.refused[flag] }

// Where names the source of a flag's value, for an error message:
// "--listen", "environment MPCSIGN_COORDINATOR_LISTEN",
// "config file c.toml line 2: listen" or "--listen (default)".
func (s *Sources) Where(flag string) string {
	src := s.src[flag]
	switch src.kind {
	case fromFlag:
		return "--" + flag
	case fromEnv:
		return "environment " + s.scheme.EnvName(flag)
	case fromFile:
		return fmt.Sprintf("config file %s line %d: %s", src.file, src.val.Line, src.val.Key)
	}
	return "--" + flag + " (default)"
}

// Errorf returns an [*Error] about a flag's value that names its source.
func (s *Sources) Errorf(flag, format string, args ...any) error {
	return s.errorAt(flag, errorf(ErrBadValue, format, args...))
}

// errorAt is an [*Error] about a flag's value that names its source, and
// its key when that is a config file line.
func (s *Sources) errorAt(flag string, err error) *Error {
	e := &Error{Source: s.Where(flag), Err: err}
	if src := s.src[flag]; src.kind == fromFile {
		e.Key = src.val.Key
	}
	return e
}

// Resolve sets every flag of fs that the command line left unset from its
// environment variable (environ is as from os.Environ; an empty variable
// counts as unset), else from the config file that the config flag names.
// Call it after the flags are parsed: cobra has done so by the time PreRunE
// or RunE runs.
//
// The error reports every problem at once, each an [*Error] naming its
// source: environment variables first, then the file in line order. The
// Sources are returned even then, so that a caller can check the values
// that did resolve and report those problems too (see [Sources.Refused]).
//
// It is longer than the house's 80 lines on purpose: one pass over the three
// sources in their order of precedence reads as the rule it implements.
func (s Scheme) Resolve(fs *pflag.FlagSet, environ []string) (*Sources, error) {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := env[k]; !dup && strings.HasPrefix(k, s.EnvPrefix) {
			env[k] = v
		}
	}
	var flags []*pflag.Flag
	byEnv := map[string]*pflag.Flag{}
	byKey := map[string]*pflag.Flag{}
	fs.VisitAll(func(f *pflag.Flag) {
		if covered(f) {
			flags = append(flags, f)
			byEnv[s.EnvName(f.Name)] = f
			byKey[s.Key(f.Name)] = f
		}
	})
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if byEnv[k] == nil {
			errs = append(errs, &Error{Source: "environment " + k,
				Err: errorf(ErrUnknown, "no such setting (known: %s)", strings.Join(slices.Sorted(maps.Keys(byEnv)), ", "))})
		}
	}

	res := &Sources{scheme: s, src: map[string]source{}, refused: map[string]bool{}}
	set := func(f *pflag.Flag, src source, text, shown string) {
		res.src[f.Name] = src
		if err := fs.Set(f.Name, text); err != nil {
			res.refused[f.Name] = true
			errs = append(errs, res.errorAt(f.Name, badValue(f, shown, err)))
		}
	}
	// The command line, then the environment; the config flag first, as
	// the file depends on it.
	slices.SortStableFunc(flags, func(a, b *pflag.Flag) int {
		return boolInt(b.Name == s.ConfigFlag) - boolInt(a.Name == s.ConfigFlag)
	})
	for _, f := range flags {
		switch v := env[s.EnvName(f.Name)]; {
		case f.Changed:
			res.src[f.Name] = source{kind: fromFlag}
		case v != "":
			set(f, source{kind: fromEnv}, v, fmt.Sprintf("%q", v))
		default:
			res.src[f.Name] = source{kind: fromDefault}
		}
	}
	if s.ConfigFlag == "" || fs.Lookup(s.ConfigFlag) == nil {
		return res, errors.Join(errs...)
	}
	path := fs.Lookup(s.ConfigFlag).Value.String()
	if path == "" {
		return res, errors.Join(errs...)
	}
	file, err := Load(path)
	if err != nil {
		if _, ok := errors.AsType[*Error](err); !ok {
			err = &Error{Source: res.Where(s.ConfigFlag), Err: err}
		}
		return res, errors.Join(append(errs, err)...)
	}
	// Then the file, in line order, for the flags still at their default.
	for _, v := range file.Values {
		where := fmt.Sprintf("config file %s line %d", file.Name, v.Line)
		f := byKey[v.Key]
		switch {
		case f == nil:
			errs = append(errs, &Error{Source: where, Key: v.Key,
				Err: errorf(ErrUnknown, "unknown key %q (known keys: %s)", v.Key, strings.Join(fileKeys(byKey, s.ConfigFlag), ", "))})
		case f.Name == s.ConfigFlag:
			errs = append(errs, &Error{Source: where, Key: v.Key, Err: errorf(ErrUnknown, "%s: a config file cannot name another config file", v.Key)})
		default:
			inUse := res.src[f.Name].kind == fromDefault
			if err := kindMismatch(f, v); err != nil {
				errs = append(errs, &Error{Source: where + ": " + v.Key, Key: v.Key, Err: err})
				res.refused[f.Name] = res.refused[f.Name] || inUse
			} else if inUse {
				set(f, source{kind: fromFile, file: file.Name, val: v}, v.Text, v.Raw)
			}
		}
	}
	return res, errors.Join(errs...)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// wantKind is the TOML type a flag's value is written as.
func wantKind(f *pflag.Flag) Kind {
	switch f.Value.Type() {
	case "bool":
		return Bool
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "count":
		return Integer
	}
	return String
}

// kindMismatch says what is wrong when a file value has the wrong TOML type
// for its flag.
func kindMismatch(f *pflag.Flag, v Value) error {
	want := wantKind(f)
	if v.Kind == want {
		return nil
	}
	switch {
	case f.Value.Type() == "duration":
		return errorf(ErrBadValue, "%s is not a duration: write it in quotes with a unit, such as \"30s\"", v.Raw)
	case want == String:
		return errorf(ErrBadValue, "%s is not a string: write it in quotes, %q", v.Raw, v.Text)
	case want == Bool:
		return errorf(ErrBadValue, "%s is not a boolean (true or false, without quotes)", v.Raw)
	}
	return errorf(ErrBadValue, "%s is not an integer (digits, without quotes)", v.Raw)
}

// badValue says why a flag refused a value, in words for its type.
func badValue(f *pflag.Flag, shown string, err error) error {
	switch t := f.Value.Type(); {
	case t == "duration":
		return errorf(ErrBadValue, "%s is not a duration (such as 30s or 1m30s)", shown)
	case t == "bool":
		return errorf(ErrBadValue, "%s is not a boolean (true or false)", shown)
	case t == "count" || strings.HasPrefix(t, "int") && !strings.HasSuffix(t, "Slice"):
		return errorf(ErrBadValue, "%s is not an integer in range", shown)
	case strings.HasPrefix(t, "uint") && !strings.HasSuffix(t, "Slice"):
		return errorf(ErrBadValue, "%s is not a non-negative integer in range", shown)
	}
	return errorf(ErrBadValue, "%s: %v", shown, err)
}

// Help describes, for a command's long help, where its settings come from:
// the precedence, the config file's format, and each flag's environment
// variable and key.
func (s Scheme) Help(fs *pflag.FlagSet) string {
	var b strings.Builder
	if s.ConfigFlag != "" {
		b.WriteString(wrap(fmt.Sprintf("Each setting is taken from the first of: its flag, its environment variable, the config file (--%s FILE or %s), its default. An empty environment variable counts as unset.", s.ConfigFlag, s.EnvName(s.ConfigFlag))))
		b.WriteString("\n\n")
		b.WriteString(wrap(`The config file is a strict subset of TOML: one top-level key = value per line, strings in quotes ("127.0.0.1:7400", "30s"), true or false, integers, and # comments. An unknown key, a key set twice, a table, an array or a value of the wrong type is an error naming the line.`))
	} else {
		b.WriteString(wrap("Each setting is taken from the first of: its flag, its environment variable, its default. An empty environment variable counts as unset."))
	}
	b.WriteString("\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  flag\tenvironment variable\tconfig file key")
	fs.VisitAll(func(f *pflag.Flag) {
		if !covered(f) || f.Hidden {
			return
		}
		key := s.Key(f.Name)
		if f.Name == s.ConfigFlag {
			key = "-"
		}
		fmt.Fprintf(tw, "  --%s\t%s\t%s\n", f.Name, s.EnvName(f.Name), key)
	})
	tw.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// wrap breaks a paragraph into lines of at most 76 columns.
func wrap(text string) string {
	var b strings.Builder
	col := 0
	for _, w := range strings.Fields(text) {
		switch {
		case col == 0:
		case col+1+len(w) > 76:
			b.WriteByte('\n')
			col = 0
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}

func fileKeys(byKey map[string]*pflag.Flag, configFlag string) []string {
	var keys []string
	for k, f := range byKey {
		if f.Name != configFlag {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
