// samenv: a function's environment computed a function's environment the way `sam local invoke`
// and `sam local start-api` do (aws-sam-cli, samcli/local/lambdafn/env_vars.py
// and samcli/commands/local/lib/local_lambda.py), so that a test can run the
// built function under aws-lambda-rie with the environment SAM would give its
// container:
//
//   - the variables the template declares, Globals.Function's merged under the
//     function's own;
//   - a value SAM cannot resolve (an intrinsic function) passed as "" (this
//     package blanks every intrinsic, the worst case);
//   - the --env-vars file's "Parameters" section, then the function's own
//     section, overriding only declared variables (anything else is dropped);
//   - SAM's AWS_* variables, with its placeholder credentials when it has none.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"gopkg.in/yaml.v3"
)

// Placeholder credentials and region SAM passes when it finds no credentials.
const (
	PlaceholderKey    = "defaultkey"
	PlaceholderSecret = "defaultsecret"
	PlaceholderRegion = "us-east-1"
)

// Template is a SAM template's functions, as far as their environment goes.
type Template struct {
	globals   map[string]string
	functions map[string]function
}

type function struct {
	vars    map[string]string
	memory  int
	timeout int
}

// loadSAMTemplate reads the SAM template at path.
func loadSAMTemplate(path string) (*Template, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Globals struct {
			Function yaml.Node `yaml:"Function"`
		} `yaml:"Globals"`
		Resources map[string]struct {
			Type       string    `yaml:"Type"`
			Properties yaml.Node `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	g, err := props(&doc.Globals.Function)
	if err != nil {
		return nil, fmt.Errorf("%s: Globals: %w", path, err)
	}
	t := &Template{globals: g.vars, functions: map[string]function{}}
	for id, r := range doc.Resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		f, err := props(&r.Properties)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, id, err)
		}
		f.memory = cmp(f.memory, g.memory, 128)
		f.timeout = cmp(f.timeout, g.timeout, 3)
		t.functions[id] = f
	}
	return t, nil
}

func cmp(vals ...int) int {
	for _, v := range vals {
		if v != 0 {
			return v
		}
	}
	return 0
}

func props(n *yaml.Node) (function, error) {
	f := function{vars: map[string]string{}}
	if n.Kind == 0 {
		return f, nil
	}
	var p struct {
		MemorySize  int `yaml:"MemorySize"`
		Timeout     int `yaml:"Timeout"`
		Environment struct {
			Variables map[string]yaml.Node `yaml:"Variables"`
		} `yaml:"Environment"`
	}
	if err := n.Decode(&p); err != nil {
		return f, err
	}
	f.memory, f.timeout = p.MemorySize, p.Timeout
	for name, v := range p.Environment.Variables {
		f.vars[name] = value(&v)
	}
	return f, nil
}

// value is the string SAM passes for a template value: an intrinsic (a tag
// such as !Ref, or a mapping or list) is "", a scalar its text.
func value(n *yaml.Node) string {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return ""
	}
	switch n.Tag {
	case "!!str", "!!int", "!!float":
		return n.Value
	case "!!bool":
		b, _ := strconv.ParseBool(n.Value)
		return strconv.FormatBool(b)
	case "!!null":
		return ""
	}
	return "" // !Ref, !Sub, !If...
}

// Functions lists the template's function logical ids, sorted.
func (t *Template) Functions() []string {
	var out []string
	for id := range t.functions {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// Declared lists the variables the function declares (its own and Globals').
func (t *Template) Declared(id string) []string {
	var out []string
	for name := range t.declared(id) {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func (t *Template) declared(id string) map[string]string {
	out := map[string]string{}
	for k, v := range t.globals {
		out[k] = v
	}
	for k, v := range t.functions[id].vars {
		out[k] = v
	}
	return out
}

// EnvFile is an --env-vars file: {"Parameters": {...}, "<FunctionId>": {...}}.
type EnvFile map[string]map[string]string

// loadSAMEnvFile reads an --env-vars file.
func loadSAMEnvFile(path string) (EnvFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f EnvFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %w (SAM wants an object of objects of strings)", path, err)
	}
	return f, nil
}

// Check reports what SAM would silently ignore in f: a section for no
// function of the template, a variable of a function's section that the
// function does not declare, a Parameters variable no function declares.
func (t *Template) Check(f EnvFile) []string {
	var problems []string
	for section, vars := range f {
		if section == "Parameters" {
			for name := range vars {
				found := false
				for id := range t.functions {
					_, ok := t.declared(id)[name]
					found = found || ok
				}
				if !found {
					problems = append(problems, fmt.Sprintf("Parameters.%s: no function declares it, SAM drops it", name))
				}
			}
			continue
		}
		if _, ok := t.functions[section]; !ok {
			problems = append(problems, fmt.Sprintf("%s: not a function of the template", section))
			continue
		}
		decl := t.declared(section)
		for name := range vars {
			if _, ok := decl[name]; !ok {
				problems = append(problems, fmt.Sprintf("%s.%s: the function does not declare it, SAM drops it", section, name))
			}
		}
	}
	slices.Sort(problems)
	return problems
}

// Env is the environment SAM gives function id's container, with SAM's
// placeholder credentials.
func (t *Template) Env(id string, f EnvFile) (map[string]string, error) {
	fn, ok := t.functions[id]
	if !ok {
		return nil, fmt.Errorf("no function %s in the template", id)
	}
	overrides := map[string]string{}
	for k, v := range f["Parameters"] {
		overrides[k] = v
	}
	for k, v := range f[id] {
		overrides[k] = v
	}
	// SAM's own AWS_* variables first: a declared variable of the same name wins.
	env := map[string]string{
		"AWS_SAM_LOCAL":                   "true",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(fn.memory),
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(fn.timeout),
		"AWS_LAMBDA_FUNCTION_HANDLER":     "bootstrap",
		"AWS_LAMBDA_FUNCTION_NAME":        id,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "aws/lambda/" + id,
		"AWS_LAMBDA_LOG_STREAM_NAME":      "$LATEST",
		"AWS_REGION":                      PlaceholderRegion,
		"AWS_DEFAULT_REGION":              PlaceholderRegion,
		"AWS_ACCESS_KEY_ID":               PlaceholderKey,
		"AWS_SECRET_ACCESS_KEY":           PlaceholderSecret,
		"AWS_ACCOUNT_ID":                  "123456789012",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
	}
	for name, v := range t.declared(id) {
		if o, ok := overrides[name]; ok {
			v = o
		}
		env[name] = v
	}
	return env, nil
}

func TestSAMEnv(t *testing.T) {
	tpl, err := loadSAMTemplate(filepath.Join("testdata", "samenv", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := loadSAMEnvFile(filepath.Join("testdata", "samenv", "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	env, err := tpl.Env("Fn", f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"TABLE_NAME":                      "t-local",   // intrinsic, overridden by Parameters
		"SHARED":                          "plain",     // from Globals
		"PREFIX":                          "",          // intrinsic, not overridden: blank
		"SUBBED":                          "",          // ditto
		"MAPPED":                          "",          // a mapping is an intrinsic too
		"LIMIT":                           "8",         // scalars as text
		"FLAG":                            "true",      // booleans as SAM writes them
		"ALIAS":                           "plain",     // YAML alias resolved
		"ENDPOINT":                        "http://fn", // the function's section wins over Parameters
		"AWS_ACCESS_KEY_ID":               PlaceholderKey,
		"AWS_SECRET_ACCESS_KEY":           PlaceholderSecret,
		"AWS_REGION":                      PlaceholderRegion,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "9",
	}
	for k, v := range want {
		if got, ok := env[k]; !ok || got != v {
			t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
		}
	}
	for _, dropped := range []string{"UNDECLARED", "NOBODY", "A"} {
		if _, ok := env[dropped]; ok {
			t.Errorf("%s set: SAM only overrides declared variables", dropped)
		}
	}
	other, _ := tpl.Env("Other", f)
	if other["AWS_LAMBDA_FUNCTION_TIMEOUT"] != "30" || other["ENDPOINT"] != "" || other["TABLE_NAME"] != "t-local" {
		t.Errorf("Other: %v", other)
	}
	if got, want := tpl.Check(f), []string{
		"Fn.UNDECLARED: the function does not declare it, SAM drops it",
		"Missing: not a function of the template",
		"Parameters.NOBODY: no function declares it, SAM drops it",
	}; !slices.Equal(got, want) {
		t.Errorf("Check:\n%q\nwant\n%q", got, want)
	}
	if got := tpl.Functions(); !slices.Equal(got, []string{"Fn", "Other"}) {
		t.Errorf("functions %v", got)
	}
}
