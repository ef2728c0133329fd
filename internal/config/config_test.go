package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

var testScheme = Scheme{EnvPrefix: "TEST_", ConfigFlag: "config"}

type testFlags struct {
	config, listen string
	drain          time.Duration
	auto           bool
	retries        int
}

func newTestFlags(t *testing.T, args ...string) (*pflag.FlagSet, *testFlags) {
	t.Helper()
	v := &testFlags{}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.StringVar(&v.config, "config", "", "config file")
	fs.StringVar(&v.listen, "listen", "default:1", "address")
	fs.DurationVar(&v.drain, "drain-timeout", 30*time.Second, "drain")
	fs.BoolVar(&v.auto, "auto-approve", false, "auto")
	fs.IntVar(&v.retries, "retries", 3, "retries")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs, v
}

func tempConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.toml")
	writeFile(t, path, content)
	return path
}

func TestNames(t *testing.T) {
	t.Parallel()
	if got := testScheme.EnvName("drain-timeout"); got != "TEST_DRAIN_TIMEOUT" {
		t.Errorf("EnvName = %q", got)
	}
	if got := testScheme.Key("drain-timeout"); got != "drain_timeout" {
		t.Errorf("Key = %q", got)
	}
}

// TestPrecedence: flag > environment > file > default, for every flag type.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := tempConfig(t, `listen = "file:1"
drain_timeout = "1m"
auto_approve = true
retries = 5
`)
	tests := []struct {
		name  string
		args  []string
		env   []string
		want  testFlags
		where map[string]string
	}{
		{
			name: "defaults without a file",
			want: testFlags{listen: "default:1", drain: 30 * time.Second, retries: 3},
			where: map[string]string{
				"listen": "--listen (default)", "config": "--config (default)",
			},
		},
		{
			name: "file over default",
			args: []string{"--config", file},
			want: testFlags{config: file, listen: "file:1", drain: time.Minute, auto: true, retries: 5},
			where: map[string]string{
				"config":        "--config",
				"listen":        "config file " + file + " line 1: listen",
				"drain-timeout": "config file " + file + " line 2: drain_timeout",
				"retries":       "config file " + file + " line 4: retries",
			},
		},
		{
			name: "environment over file",
			args: []string{"--config", file},
			env:  []string{"TEST_LISTEN=env:1", "TEST_AUTO_APPROVE=false", "TEST_RETRIES=7", "OTHER=x"},
			want: testFlags{config: file, listen: "env:1", drain: time.Minute, auto: false, retries: 7},
			where: map[string]string{
				"listen":        "environment TEST_LISTEN",
				"auto-approve":  "environment TEST_AUTO_APPROVE",
				"drain-timeout": "config file " + file + " line 2: drain_timeout",
			},
		},
		{
			name: "flag over environment and file",
			args: []string{"--config", file, "--listen", "flag:1", "--auto-approve=false", "--drain-timeout", "5s"},
			env:  []string{"TEST_LISTEN=env:1", "TEST_DRAIN_TIMEOUT=9s"},
			want: testFlags{config: file, listen: "flag:1", drain: 5 * time.Second, auto: false, retries: 5},
			where: map[string]string{
				"listen":        "--listen",
				"auto-approve":  "--auto-approve",
				"drain-timeout": "--drain-timeout",
			},
		},
		{
			name:  "config file from the environment",
			env:   []string{"TEST_CONFIG=" + file},
			want:  testFlags{config: file, listen: "file:1", drain: time.Minute, auto: true, retries: 5},
			where: map[string]string{"config": "environment TEST_CONFIG"},
		},
		{
			name:  "an empty variable is unset",
			args:  []string{"--config", file},
			env:   []string{"TEST_LISTEN=", "TEST_RETRIES="},
			want:  testFlags{config: file, listen: "file:1", drain: time.Minute, auto: true, retries: 5},
			where: map[string]string{"listen": "config file " + file + " line 1: listen"},
		},
		{
			name: "the first of a repeated variable wins",
			env:  []string{"TEST_LISTEN=first:1", "TEST_LISTEN=second:1"},
			want: testFlags{listen: "first:1", drain: 30 * time.Second, retries: 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs, got := newTestFlags(t, tc.args...)
			src, err := testScheme.Resolve(fs, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if *got != tc.want {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
			for flag, want := range tc.where {
				if w := src.Where(flag); w != want {
					t.Errorf("Where(%s) = %q, want %q", flag, w, want)
				}
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string // written to a temp file named by --config when not empty
		env     []string
		is      error
		want    []string // every line of the error, in order; FILE is the config path
		refused []string
	}{
		{
			name: "unknown key",
			file: "listen = \"a:1\"\n\n# typo\nlistn = \"b:1\"\n",
			is:   ErrUnknown,
			want: []string{`config file FILE line 4: unknown key "listn" (known keys: auto_approve, drain_timeout, listen, retries)`},
		},
		{
			name:    "bad duration in the file",
			file:    "listen = \"a:1\"\n\n\ndrain_timeout = \"abc\"\n",
			is:      ErrBadValue,
			want:    []string{`config file FILE line 4: drain_timeout: "abc" is not a duration (such as 30s or 1m30s)`},
			refused: []string{"drain-timeout"},
		},
		{
			name:    "bad duration in the environment",
			env:     []string{"TEST_DRAIN_TIMEOUT=abc"},
			is:      ErrBadValue,
			want:    []string{`environment TEST_DRAIN_TIMEOUT: "abc" is not a duration (such as 30s or 1m30s)`},
			refused: []string{"drain-timeout"},
		},
		{
			name: "bad boolean and integer in the environment",
			env:  []string{"TEST_AUTO_APPROVE=yes", "TEST_RETRIES=many"},
			is:   ErrBadValue,
			want: []string{
				`environment TEST_AUTO_APPROVE: "yes" is not a boolean (true or false)`,
				`environment TEST_RETRIES: "many" is not an integer in range`,
			},
			refused: []string{"auto-approve", "retries"},
		},
		{
			name: "values of the wrong TOML type",
			file: "listen = 7400\ndrain_timeout = 30\nauto_approve = \"true\"\nretries = \"5\"\n",
			is:   ErrBadValue,
			want: []string{
				`config file FILE line 1: listen: 7400 is not a string: write it in quotes, "7400"`,
				`config file FILE line 2: drain_timeout: 30 is not a duration: write it in quotes with a unit, such as "30s"`,
				`config file FILE line 3: auto_approve: "true" is not a boolean (true or false, without quotes)`,
				`config file FILE line 4: retries: "5" is not an integer (digits, without quotes)`,
			},
			refused: []string{"listen", "drain-timeout", "auto-approve", "retries"},
		},
		{
			name: "unknown variable with the prefix",
			env:  []string{"TEST_LISTN=x"},
			is:   ErrUnknown,
			want: []string{`environment TEST_LISTN: no such setting (known: TEST_AUTO_APPROVE, TEST_CONFIG, TEST_DRAIN_TIMEOUT, TEST_LISTEN, TEST_RETRIES)`},
		},
		{
			name: "the file cannot name a config file",
			file: "config = \"other.toml\"\n",
			is:   ErrUnknown,
			want: []string{`config file FILE line 1: config: a config file cannot name another config file`},
		},
		{
			name: "syntax error",
			file: "listen = \"a:1\"\n[server]\n",
			is:   ErrSyntax,
			want: []string{`config file FILE line 2: tables are not supported: write every setting as a top-level key = value`},
		},
		{
			name: "every problem at once, environment first, then file lines in order",
			file: "retries = \"x\"\nlisten = \"a:1\"\nbogus = 1\nauto_approve = 1\n",
			env:  []string{"TEST_DRAIN_TIMEOUT=x", "TEST_ZZZ=1"},
			want: []string{
				`environment TEST_ZZZ: no such setting (known: TEST_AUTO_APPROVE, TEST_CONFIG, TEST_DRAIN_TIMEOUT, TEST_LISTEN, TEST_RETRIES)`,
				`environment TEST_DRAIN_TIMEOUT: "x" is not a duration (such as 30s or 1m30s)`,
				`config file FILE line 1: retries: "x" is not an integer (digits, without quotes)`,
				`config file FILE line 3: unknown key "bogus" (known keys: auto_approve, drain_timeout, listen, retries)`,
				`config file FILE line 4: auto_approve: 1 is not a boolean (true or false, without quotes)`,
			},
			refused: []string{"drain-timeout", "retries", "auto-approve"},
		},
		{
			name: "a syntax error stops the file; the environment is still checked",
			file: "listen = \"a:1\"\nretries = 1.5\nbogus = 1\n",
			env:  []string{"TEST_ZZZ=1"},
			want: []string{
				`environment TEST_ZZZ: no such setting (known: TEST_AUTO_APPROVE, TEST_CONFIG, TEST_DRAIN_TIMEOUT, TEST_LISTEN, TEST_RETRIES)`,
				`config file FILE line 2: retries: 1.5 is not a string, boolean or decimal integer (quote strings: "1.5")`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var args []string
			var path string
			if tc.file != "" {
				path = tempConfig(t, tc.file)
				args = []string{"--config", path}
			}
			fs, _ := newTestFlags(t, args...)
			src, err := testScheme.Resolve(fs, tc.env)
			if err == nil {
				t.Fatal("no error")
			}
			if src == nil {
				t.Fatal("Sources must be returned with the error")
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, strings.ReplaceAll(w, "FILE", path))
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("error:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Errorf("%v has no *Error", err)
			}
			for _, f := range tc.refused {
				if !src.Refused(f) {
					t.Errorf("Refused(%s) = false", f)
				}
			}
			if src.Refused("config") {
				t.Error("Refused(config) = true")
			}
		})
	}
}

// A bad value that something of higher precedence overrides is not used,
// so it is not parsed; its TOML type is still checked.
func TestOverriddenFileValues(t *testing.T) {
	t.Parallel()
	path := tempConfig(t, "drain_timeout = \"abc\"\n")
	fs, v := newTestFlags(t, "--config", path, "--drain-timeout", "2s")
	if _, err := testScheme.Resolve(fs, nil); err != nil || v.drain != 2*time.Second {
		t.Fatalf("drain = %v, err = %v", v.drain, err)
	}
	path = tempConfig(t, "drain_timeout = 3\n")
	fs, _ = newTestFlags(t, "--config", path)
	src, err := testScheme.Resolve(fs, []string{"TEST_DRAIN_TIMEOUT=2s"})
	if !errors.Is(err, ErrBadValue) {
		t.Fatalf("err = %v, want ErrBadValue", err)
	}
	if src.Refused("drain-timeout") {
		t.Error("the environment's value is in use and fine")
	}
}

func TestMissingConfigFile(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.toml")
	fs, _ := newTestFlags(t, "--config", missing)
	_, err := testScheme.Resolve(fs, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "--config: open "+missing) {
		t.Fatalf("err = %v", err)
	}
	fs, _ = newTestFlags(t)
	_, err = testScheme.Resolve(fs, []string{"TEST_CONFIG=" + missing})
	if err == nil || !strings.HasPrefix(err.Error(), "environment TEST_CONFIG: open "+missing) {
		t.Fatalf("err = %v", err)
	}
}

func TestErrorf(t *testing.T) {
	t.Parallel()
	path := tempConfig(t, "\nlisten = \"0.0.0.0:1\"\n")
	fs, _ := newTestFlags(t, "--config", path, "--retries", "0")
	src, err := testScheme.Resolve(fs, []string{"TEST_DRAIN_TIMEOUT=-1s"})
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{
		"listen":        "config file " + path + " line 2: listen: bad",
		"drain-timeout": "environment TEST_DRAIN_TIMEOUT: bad",
		"retries":       "--retries: bad",
		"auto-approve":  "--auto-approve (default): bad",
	} {
		err := src.Errorf(flag, "bad")
		if err.Error() != want {
			t.Errorf("Errorf(%s) = %q, want %q", flag, err, want)
		}
		if !errors.Is(err, ErrBadValue) {
			t.Errorf("Errorf(%s) is not ErrBadValue", flag)
		}
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	fs, _ := newTestFlags(t)
	fs.String("secret-ish", "", "hidden")
	_ = fs.MarkHidden("secret-ish")
	help := testScheme.Help(fs)
	for _, want := range []string{
		"its flag, its environment variable, the config file (--config FILE or TEST_CONFIG), its default",
		"An empty environment variable counts as unset.",
		"strict subset of TOML",
		"--drain-timeout TEST_DRAIN_TIMEOUT drain_timeout",
		"--config TEST_CONFIG -",
		"--retries TEST_RETRIES retries",
	} {
		// Compare words, not how the text is wrapped and aligned.
		if !strings.Contains(strings.Join(strings.Fields(help), " "), want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "secret-ish") {
		t.Errorf("help lists a hidden flag:\n%s", help)
	}
	for _, line := range strings.Split(help, "\n") {
		if len(line) > 80 {
			t.Errorf("line longer than 80 columns: %q", line)
		}
	}
}

// TestErrorKey: an error about a config file line carries the key the line
// sets, also when the line cannot be parsed; other errors carry none.
func TestErrorKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file string
		env        []string
		want       map[string]string // by Error.Source ({file}: the file); every error
	}{
		{"resolve", "listen = 1\nsecret = \"x\"\nconfig = \"c.toml\"\n", []string{"TEST_RETRIES=x", "TEST_OTHER=1"}, map[string]string{
			"environment TEST_OTHER":            "",
			"environment TEST_RETRIES":          "",
			"config file {file} line 1: listen": "listen",
			"config file {file} line 2":         "secret",
			"config file {file} line 3":         "config",
		}},
		{"bad value", "drain_timeout = \"soon\"\n", nil, map[string]string{"config file {file} line 1: drain_timeout": "drain_timeout"}},
		{"unquoted value", "\nsecret = hunter2\n", nil, map[string]string{"config file {file} line 2": "secret"}},
		{"multi-line value", "secret = \"\"\"\nx = 1\n", nil, map[string]string{"config file {file} line 1": "secret"}},
		{"dotted key", "secret.x = 1\n", nil, map[string]string{"config file {file} line 1": "secret"}},
		{"key set twice", "secret = 1\nsecret = 2\n", nil, map[string]string{"config file {file} line 2": "secret"}},
		{"table", "[secret]\n", nil, map[string]string{"config file {file} line 1": ""}},
		{"quoted key", "\"secret\" = 1\n", nil, map[string]string{"config file {file} line 1": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempConfig(t, tc.file)
			fs, _ := newTestFlags(t, "--config", path)
			_, err := testScheme.Resolve(fs, tc.env)
			if err == nil {
				t.Fatal("no error")
			}
			got := map[string]string{}
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				ce, ok := e.(*Error)
				if !ok {
					t.Fatalf("%T %v, want an *Error", e, e)
				}
				got[strings.ReplaceAll(ce.Source, path, "{file}")] = ce.Key
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("keys by source %v, want %v (error: %v)", got, tc.want, err)
			}
		})
	}
	fs, _ := newTestFlags(t, "--config", tempConfig(t, "listen = \"x\"\n"))
	src, err := testScheme.Resolve(fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ce *Error
	if !errors.As(src.Errorf("listen", "bad"), &ce) || ce.Key != "listen" {
		t.Errorf("Errorf about a file value: %+v, want the key listen", ce)
	}
	if !errors.As(src.Errorf("retries", "bad"), &ce) || ce.Key != "" {
		t.Errorf("Errorf about a default: %+v, want no key", ce)
	}
}
