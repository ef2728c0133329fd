package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mpcsign/mpcsign/internal/config"
)

// runRun runs `party` with args and environ, stopping where the agent would
// start, and returns the settings it would have started with.
func runRun(t *testing.T, environ []string, args ...string) (runConfig, string, error) {
	t.Helper()
	var got runConfig
	ran := false
	root := testRoot(environ, func(_ *cobra.Command, cfg runConfig) error {
		got, ran = cfg, true
		return nil
	})
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil && !ran && !slices.Contains(args, "--help") {
		t.Fatal("the command neither failed nor ran the agent")
	}
	return got, out.String(), err
}

// testRoot is newRootCmd with `party run` built with the hidden TEST-ONLY
// --insecure-test-preparams registered, as a -tags testfixtures build has
// it, whatever the tags of this test binary: how the flag is read (from
// the command line only) is tested under plain `go test` too.
func testRoot(environ []string, run runFunc) *cobra.Command {
	root := newRootCmd(environ, run)
	if old, _, err := root.Find([]string{"run"}); err == nil && old.Name() == "run" {
		root.RemoveCommand(old)
	}
	root.AddCommand(newRunCmdWith(environ, run, true))
	return root
}

// The TEST-ONLY flag is only in a build with -tags testfixtures: a product
// build refuses it as an unknown flag, and its environment variable as no
// setting.
func TestTestPreparamsFlagOnlyWithTag(t *testing.T) {
	t.Parallel()
	for _, testFlags := range []bool{false, true} {
		f := newRunCmdWith(nil, nil, testFlags).Flags().Lookup("insecure-test-preparams")
		if (f != nil) != testFlags || (f != nil && !f.Hidden) {
			t.Errorf("newRunCmdWith(%v): flag %+v", testFlags, f)
		}
	}
	run, _, err := newRootCmd(nil, nil).Find([]string{"run"})
	if err != nil {
		t.Fatal(err)
	}
	if f := run.Flags().Lookup("insecure-test-preparams"); (f != nil) != withTestFixtures {
		t.Errorf("this build (testfixtures %v) has the flag: %v", withTestFixtures, f != nil)
	}

	product := func(environ []string, args ...string) error {
		root := newRootCmd(environ, func(*cobra.Command, runConfig) error { return nil })
		if withTestFixtures { // build the product's `party run` in this test binary too
			old, _, _ := root.Find([]string{"run"})
			root.RemoveCommand(old)
			root.AddCommand(newRunCmdWith(environ, func(*cobra.Command, runConfig) error { return nil }, false))
		}
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		return root.Execute()
	}
	if err := product(nil, "run", "--data", t.TempDir(), "--insecure-test-preparams", "fixture.json"); err == nil || !strings.Contains(err.Error(), "unknown flag: --insecure-test-preparams") {
		t.Errorf("a product build with --insecure-test-preparams: %v, want an unknown flag", err)
	}
	err = product([]string{"MPCSIGN_PARTY_INSECURE_TEST_PREPARAMS=fixture.json"}, "run", "--data", t.TempDir())
	if err == nil || !errors.Is(err, config.ErrUnknown) || strings.Contains(err.Error(), "command line only") {
		t.Errorf("a product build with MPCSIGN_PARTY_INSECURE_TEST_PREPARAMS: %v, want no such setting", err)
	}
}

// writeFile writes a file in a fresh temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunSettings(t *testing.T) {
	t.Parallel()
	pass := writeFile(t, "pass", "a passphrase\n")
	path := writeFile(t, "party.toml", `# test
data = "/srv/party"
passphrase_file = "`+pass+`"
log_level = "warn"
log_format = "json"
preparams_pool = 5
prompt = true
drain_timeout = "45s"
`)
	// flag > environment > file > default
	cfg, _, err := runRun(t,
		[]string{"MPCSIGN_PARTY_LOG_LEVEL=debug", "MPCSIGN_PARTY_PREPARAMS_POOL=3", "MPCSIGN_PARTY_DATA=/env/party", "HOME=/x"},
		"run", "--config", path, "--data", "/flag/party", "--prompt=false", "--insecure-test-preparams", "fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	want := runConfig{
		storeConfig: storeConfig{
			configFile:     path,
			dataDir:        "/flag/party", // flag over environment and file
			passphraseFile: pass,
			logLevel:       "debug", // environment over file
			logFormat:      "json",
			preparamsPool:  3, // environment over file
			prompt:         false,
			drainTimeout:   45 * time.Second,
		},
		testPreparams: "fixture.json",
	}
	if cfg != want {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}

	// The config file named by the environment; defaults for what it lacks.
	path = writeFile(t, "party.toml", "data = \"/srv/p\"\n")
	cfg, _, err = runRun(t, []string{"MPCSIGN_PARTY_CONFIG=" + path}, "run")
	if err != nil {
		t.Fatal(err)
	}
	want = runConfig{storeConfig: storeConfig{configFile: path, dataDir: "/srv/p", logLevel: "info", logFormat: "text", preparamsPool: 2, drainTimeout: 30 * time.Second}}
	if cfg != want {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestRunSettingsErrors(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-correct-horse"
	dir := t.TempDir()
	tests := []struct {
		name string
		file string
		env  []string
		args []string
		want []string // the error's lines; {file} is the config file, {dir} a directory
	}{
		{
			name: "bad values name the field and the source",
			file: "log_level = \"loud\"\n\npreparams_pool = \"3\"\nprompt = \"yes\"\npreparams = 2\n",
			env:  []string{"MPCSIGN_PARTY_LOG_FORMAT=xml"},
			want: []string{
				`config file {file} line 3: preparams_pool: "3" is not an integer (digits, without quotes)`,
				`config file {file} line 4: prompt: "yes" is not a boolean (true or false, without quotes)`,
				`config file {file} line 5: unknown key "preparams" (known keys: data, drain_timeout, log_format, log_level, passphrase_file, preparams_pool, prompt)`,
				`config file {file} line 1: log_level: unknown log level "loud" (debug, info, warn, error)`,
				`environment MPCSIGN_PARTY_LOG_FORMAT: unknown log format "xml" (text, json)`,
			},
		},
		{
			name: "ranges, files and empty values",
			file: "data = \"\"\npreparams_pool = 0\n",
			env:  []string{"MPCSIGN_PARTY_PASSPHRASE_FILE={dir}"},
			want: []string{
				`config file {file} line 1: data: the data directory must not be empty`,
				`environment MPCSIGN_PARTY_PASSPHRASE_FILE: {dir} is a directory`,
				`config file {file} line 2: preparams_pool: 0 is not from 1 to 64`,
			},
		},
		{
			name: "a missing passphrase file and a bad flag",
			args: []string{"--passphrase-file", "{dir}/missing", "--preparams-pool", "65"},
			want: []string{
				`--passphrase-file: stat {dir}/missing: no such file or directory`,
				`--preparams-pool: 65 is not from 1 to 64`,
			},
		},
		{
			name: "unknown environment variable",
			env:  []string{"MPCSIGN_PARTY_COORDINATOR=x"},
			want: []string{`environment MPCSIGN_PARTY_COORDINATOR: no such setting (known: MPCSIGN_PARTY_CONFIG, MPCSIGN_PARTY_DATA, MPCSIGN_PARTY_DRAIN_TIMEOUT, MPCSIGN_PARTY_LOG_FORMAT, MPCSIGN_PARTY_LOG_LEVEL, MPCSIGN_PARTY_PASSPHRASE_FILE, MPCSIGN_PARTY_PREPARAMS_POOL, MPCSIGN_PARTY_PROMPT)`},
		},
		{
			name: "the passphrase is not a setting",
			file: "log_level = \"info\"\npassphrase = \"" + secret + "\"\nMPC_PASSPHRASE=" + secret + "\n",
			env:  []string{"MPCSIGN_PARTY_PASSPHRASE=" + secret},
			want: []string{
				`environment MPCSIGN_PARTY_PASSPHRASE: the keystore passphrase is a secret, never read from the config file or an MPCSIGN_PARTY_* variable: name a file holding it with passphrase_file (MPCSIGN_PARTY_PASSPHRASE_FILE, --passphrase-file), or set MPC_PASSPHRASE`,
				// The syntax error of line 3 stops the file before line 2's key is checked.
				`config file {file} line 3: MPC_PASSPHRASE: the keystore passphrase is a secret, never read from the config file or an MPCSIGN_PARTY_* variable: name a file holding it with passphrase_file (MPCSIGN_PARTY_PASSPHRASE_FILE, --passphrase-file), or set MPC_PASSPHRASE`,
			},
		},
		{
			name: "the passphrase key in a valid file",
			file: "passphrase = \"" + secret + "\"\n",
			want: []string{`config file {file} line 1: passphrase: the keystore passphrase is a secret, never read from the config file or an MPCSIGN_PARTY_* variable: name a file holding it with passphrase_file (MPCSIGN_PARTY_PASSPHRASE_FILE, --passphrase-file), or set MPC_PASSPHRASE`},
		},
		{
			name: "test-only flags are the command line's only",
			file: "insecure_test_preparams = \"fixture.json\"\n",
			env:  []string{"MPCSIGN_PARTY_INSECURE_TEST_PREPARAMS=fixture.json"},
			want: []string{
				`environment MPCSIGN_PARTY_INSECURE_TEST_PREPARAMS: --insecure-test-preparams is read from the command line only, never from the config file or the environment`,
				`config file {file} line 1: insecure_test_preparams: --insecure-test-preparams is read from the command line only, never from the config file or the environment`,
			},
		},
		{
			name: "a config file cannot name another",
			file: "config = \"other.toml\"\n",
			want: []string{`config file {file} line 1: config: a config file cannot name another config file`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"run"}, tc.args...)
			var path string
			if tc.file != "" {
				path = writeFile(t, "party.toml", tc.file)
				args = append(args, "--config", path)
			}
			env := make([]string, len(tc.env))
			for i, kv := range tc.env {
				env[i] = strings.ReplaceAll(kv, "{dir}", dir)
			}
			for i, a := range args {
				args[i] = strings.ReplaceAll(a, "{dir}", dir)
			}
			_, out, err := runRun(t, env, args...)
			if err == nil {
				t.Fatal("no error")
			}
			want := strings.NewReplacer("{file}", path, "{dir}", dir).Replace(strings.Join(tc.want, "\n"))
			if err.Error() != want {
				t.Fatalf("error:\n%v\nwant:\n%s", err, want)
			}
			if _, ok := errors.AsType[*config.Error](err); !ok {
				t.Errorf("no *config.Error in %v", err)
			}
			if strings.Contains(err.Error()+out, secret) {
				t.Errorf("the error shows the passphrase:\n%v", err)
			}
		})
	}
	t.Run("errors match config's sentinels", func(t *testing.T) {
		t.Parallel()
		path := writeFile(t, "party.toml", "passphrase = \"x\"\n")
		_, _, err := runRun(t, nil, "run", "--config", path)
		if !errors.Is(err, config.ErrUnknown) {
			t.Errorf("%v is not config.ErrUnknown", err)
		}
	})
}

// The commands that open the keystore share the settings: one config file
// and one environment serve them all, also where they hold settings that
// only `party run` uses.
func TestStoreCommandSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pass := writeFile(t, "pass", "a passphrase for the test\n")
	path := writeFile(t, "party.toml", "data = \""+filepath.Join(dir, "party")+"\"\npassphrase_file = \""+pass+"\"\npreparams_pool = 4\nlog_level = \"error\"\n")
	var out bytes.Buffer
	root := newRootCmd([]string{"MPCSIGN_PARTY_CONFIG=" + path, "MPCSIGN_PARTY_PROMPT=true"}, nil)
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"policy", "show"})
	if err := root.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if got := out.String(); got != "policy for *: auto\n" {
		t.Errorf("output %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "party")); err != nil {
		t.Errorf("the keystore is not where the config file says: %v", err)
	}

	// Checked, though not used.
	root = newRootCmd([]string{"MPCSIGN_PARTY_PREPARAMS_POOL=many"}, nil)
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"status", "--data", dir})
	err := root.Execute()
	if want := `environment MPCSIGN_PARTY_PREPARAMS_POOL: "many" is not an integer in range`; err == nil || err.Error() != want {
		t.Errorf("error %v\nwant  %s", err, want)
	}
	// Not flags of the command.
	for _, flag := range []string{"--prompt", "--preparams-pool=3"} {
		root = newRootCmd(nil, nil)
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs([]string{"status", "--data", dir, flag})
		if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "unknown flag") {
			t.Errorf("status %s: %v, want an unknown flag", flag, err)
		}
	}
}

// storeCommands are the commands that open the keystore.
func storeCommands(t *testing.T) []*cobra.Command {
	t.Helper()
	var cmds []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Flags().Lookup("passphrase-file") != nil {
			cmds = append(cmds, c)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(nil, nil))
	if len(cmds) != 10 {
		t.Fatalf("%d commands open the keystore, want 10", len(cmds))
	}
	return cmds
}

func TestSettingsHelp(t *testing.T) {
	t.Parallel()
	for _, c := range storeCommands(t) {
		path := strings.Fields(c.CommandPath())[1:]
		t.Run(strings.Join(path, " "), func(t *testing.T) {
			t.Parallel()
			_, out, err := runRun(t, nil, append(path, "--help")...)
			if err != nil {
				t.Fatal(err)
			}
			words := strings.Join(strings.Fields(out), " ")
			for _, want := range []string{
				"--config FILE or MPCSIGN_PARTY_CONFIG",
				"its flag, its environment variable, the config file",
				"strict subset of TOML",
				"The keystore passphrase is a secret: it is read only from the file that passphrase-file names or from the MPC_PASSPHRASE environment variable, never from a flag value, the config file or an MPCSIGN_PARTY_* variable.",
			} {
				if !strings.Contains(words, want) {
					t.Errorf("--help lacks %q:\n%s", want, out)
				}
			}
			agent := c.Name() == "run"
			if !agent && !strings.Contains(words, "settings of 'party run' (preparams_pool, prompt, drain_timeout): this command checks them but does not use them") {
				t.Errorf("--help does not say what becomes of the agent's settings:\n%s", out)
			}
			if strings.Contains(out, "insecure") {
				t.Errorf("--help shows the hidden test-only flag:\n%s", out)
			}
			// Every setting that is a flag of the command has its row.
			rows := 0
			c.Flags().VisitAll(func(f *pflag.Flag) {
				if f.Name == "help" || f.Hidden {
					return
				}
				key := settings.Key(f.Name)
				if f.Name == "config" {
					key = "-"
				}
				row := regexp.MustCompile(`--` + regexp.QuoteMeta(f.Name) + `\s+` + settings.EnvName(f.Name) + `\s+` + regexp.QuoteMeta(key) + `\n`)
				if row.MatchString(out) {
					rows++
				}
			})
			if want := map[bool]int{true: 8, false: 5}[agent]; rows != want {
				t.Errorf("%d settings rows, want %d:\n%s", rows, want, out)
			}
		})
	}
}

// Secrets come from files or the environment, never from flags: no flag of
// any command may carry one, and so neither may the environment variables
// and config file keys derived from the flags.
func TestNoSecretFlags(t *testing.T) {
	t.Parallel()
	secret := regexp.MustCompile(`(?i)token|secret|pass|password|credential|words`)
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if secret.MatchString(f.Name) && !strings.HasSuffix(f.Name, "-file") {
				t.Errorf("%s --%s looks like a secret given as a flag value: take a file instead", c.CommandPath(), f.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(nil, nil))
}

// The example in deploy/ stays valid.
func TestDeployExample(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "deploy", "party.toml")
	cfg, _, err := runRun(t, nil, "run", "--config", path, "--data", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.logFormat != "json" || cfg.logLevel != "info" || cfg.preparamsPool != 2 || cfg.prompt || cfg.passphraseFile != "" {
		t.Fatalf("got %+v", cfg)
	}
}
