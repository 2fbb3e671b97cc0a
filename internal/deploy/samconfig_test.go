package deploy_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// checkSamconfig checks samconfig.toml against the template: every stage is a
// complete environment (SAM environments do not inherit from [default]), and every
// environment deploys a stage the template allows, with valid parameters.
func checkSamconfig(tpl obj, text string) []string {
	var cfg map[string]any
	if _, err := toml.Decode(text, &cfg); err != nil {
		return []string{fmt.Sprintf("samconfig.toml does not parse: %v", err)}
	}
	var problems []string
	if cfg["version"] != 0.1 {
		problems = append(problems, fmt.Sprintf("version is %v, want 0.1", cfg["version"]))
	}
	allowed := stages(tpl)
	for _, s := range allowed {
		if cfg[s] == nil {
			problems = append(problems, fmt.Sprintf("no [%s] environment for stage %s", s, s))
		}
	}
	stackOwner := map[string]string{}
	for env, v := range cfg {
		if env == "version" {
			continue
		}
		if !slices.Contains(allowed, env) {
			problems = append(problems, fmt.Sprintf("environment [%s] is not a stage the template allows (%v)", env, allowed))
			continue
		}
		build, _ := get(v, "build", "parameters").(map[string]any)
		for _, p := range checkBuildEnv(build) {
			problems = append(problems, fmt.Sprintf("[%s.build.parameters] %s", env, p))
		}
		deploy, _ := get(v, "deploy", "parameters").(map[string]any)
		for _, p := range checkDeployEnv(tpl, env, deploy) {
			problems = append(problems, fmt.Sprintf("[%s.deploy.parameters] %s", env, p))
		}
		if name, _ := deploy["stack_name"].(string); name != "" {
			if other, dup := stackOwner[name]; dup {
				problems = append(problems, fmt.Sprintf("[%s] and [%s] deploy the same stack %s", env, other, name))
			}
			stackOwner[name] = env
		}
	}
	return problems
}

// checkBuildEnv: sam build must not copy or hash the repository (CodeUri is its root):
// it builds in the source tree, and SAM's own cache (a checksum of CodeUri) stays off.
func checkBuildEnv(p map[string]any) []string {
	if p == nil {
		return []string{"missing"}
	}
	var problems []string
	if p["build_in_source"] != true {
		problems = append(problems, "build_in_source is not true: sam build would copy the whole repository")
	}
	if p["cached"] == true {
		problems = append(problems, "cached = true: sam build would hash the whole repository on every build")
	}
	return problems
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)

func checkDeployEnv(tpl obj, env string, p map[string]any) []string {
	if p == nil {
		return []string{"missing"}
	}
	var problems []string
	for _, key := range []string{"stack_name", "region", "capabilities", "parameter_overrides"} {
		if p[key] == nil || p[key] == "" {
			problems = append(problems, "lacks "+key)
		}
	}
	if r, _ := p["region"].(string); p["region"] != nil && !regionRE.MatchString(r) {
		problems = append(problems, fmt.Sprintf("region %v is not a region name", p["region"]))
	}
	// The artifacts need a bucket: SAM's managed one, or a named one.
	if p["resolve_s3"] != true && p["s3_bucket"] == nil {
		problems = append(problems, "neither resolve_s3 = true nor s3_bucket")
	}
	// SAM creates the function's role (IAM); the transforms expand the template (AUTO_EXPAND).
	caps := fields(p["capabilities"])
	for _, c := range []string{"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"} {
		if !slices.Contains(caps, c) {
			problems = append(problems, fmt.Sprintf("capabilities %v lack %s", caps, c))
		}
	}
	if env == "prod" && p["confirm_changeset"] != true {
		problems = append(problems, "prod must confirm its change sets (confirm_changeset = true)")
	}
	overrides, err := parseOverrides(p["parameter_overrides"])
	if err != nil {
		return append(problems, err.Error())
	}
	// The place to say where prod's alarms go is there to be filled in (the template's
	// rule refuses a prod deploy while both are empty).
	if _, email := overrides["AlarmEmail"]; env == "prod" && !email {
		if _, topic := overrides["AlarmTopicArn"]; !topic {
			problems = append(problems, "prod overrides name neither AlarmEmail nor AlarmTopicArn")
		}
	}
	if overrides["Stage"] != env {
		problems = append(problems, fmt.Sprintf("overrides deploy Stage %q from environment [%s]", overrides["Stage"], env))
	}
	params := asObj(tpl["Parameters"])
	for k, v := range overrides {
		param := asObj(params[k])
		if param == nil {
			problems = append(problems, fmt.Sprintf("overrides unknown parameter %s", k))
		} else if err := paramAccepts(param, v); err != nil {
			problems = append(problems, fmt.Sprintf("parameter %s: %v", k, err))
		}
	}
	for name, param := range params {
		if _, hasDefault := asObj(param)["Default"]; !hasDefault && overrides[name] == "" {
			problems = append(problems, fmt.Sprintf("parameter %s has no default and no override", name))
		}
	}
	return problems
}

// fields splits a space-separated string or takes a TOML list, as SAM does.
func fields(v any) []string {
	if l, ok := stringsOf(v); ok && len(l) == 1 {
		return strings.Fields(l[0])
	}
	if l, ok := v.([]any); ok {
		var out []string
		for _, e := range l {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

// parseOverrides reads `Key="value" Key2=value2` (what sam deploy --guided writes)
// or a TOML list of "Key=value" strings.
func parseOverrides(v any) (map[string]string, error) {
	var tokens []string
	switch x := v.(type) {
	case string:
		var err error
		if tokens, err = splitQuoted(x); err != nil {
			return nil, fmt.Errorf("parameter_overrides: %v", err)
		}
	case []any:
		for _, e := range x {
			tokens = append(tokens, fmt.Sprint(e))
		}
	default:
		return nil, fmt.Errorf("parameter_overrides is %T, want a string or a list", v)
	}
	out := map[string]string{}
	for _, tok := range tokens {
		k, val, ok := strings.Cut(tok, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("parameter_overrides: %q is not Key=value", tok)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("parameter_overrides: %s given twice", k)
		}
		out[k] = val
	}
	return out, nil
}

// splitQuoted splits on spaces outside double quotes and drops the quotes.
func splitQuoted(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && inQuote && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '"':
			inQuote, have = !inQuote, true
		case c == ' ' && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unbalanced quote in %q", s)
	}
	if have {
		out = append(out, cur.String())
	}
	return out, nil
}

func TestSamconfig(t *testing.T) {
	tpl := loadTemplate(t)
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, p := range checkSamconfig(tpl, text) {
		t.Errorf("samconfig.toml: %s", p)
	}

	// Broken copies, each edited in one place of the real file.
	breaks := []struct{ name, old, new string }{
		{"staging without region", "region = \"us-east-1\"\ncapabilities = \"CAPABILITY_IAM CAPABILITY_AUTO_EXPAND\"\nresolve_s3 = true\ns3_prefix = \"vip-messages-staging\"",
			"capabilities = \"CAPABILITY_IAM CAPABILITY_AUTO_EXPAND\"\nresolve_s3 = true\ns3_prefix = \"vip-messages-staging\""},
		{"no prod environment", "[prod.deploy.parameters]", "[production.deploy.parameters]"},
		{"unknown stage", "[dev.deploy.parameters]", "[qa.deploy.parameters]"},
		{"stage differs from environment", `Stage=\"staging\"`, `Stage=\"prod\"`},
		{"stage not allowed", `Stage=\"dev\"`, `Stage=\"qa\"`},
		{"prod without confirmation", "confirm_changeset = true", "confirm_changeset = false"},
		{"no IAM capability", `capabilities = "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"`, `capabilities = "CAPABILITY_AUTO_EXPAND"`},
		{"no artifact bucket", "resolve_s3 = true", "resolve_s3 = false"},
		{"unknown parameter", `LogLevel=\"info\"`, `LogLevel=\"info\" Verbose=\"1\"`},
		{"bad log level", `LogLevel=\"debug\"`, `LogLevel=\"trace\"`},
		{"bad TTL", `KeyCacheTTL=\"5m\"`, `KeyCacheTTL=\"5 min\"`},
		{"throttling not a number", `ThrottlingRateLimit=\"10\"`, `ThrottlingRateLimit=\"ten\"`},
		{"two stages, one stack", `stack_name = "vip-messages-staging"`, `stack_name = "vip-messages-dev"`},
		{"wrong version", "version = 0.1", "version = 0.2"},
		{"prod alarms go nowhere", ` AlarmEmail=\"\" AlarmTopicArn=\"\"`, ""},
		{"bad alarm email", `AlarmEmail=\"\"`, `AlarmEmail=\"not-an-address\"`},
		{"dev build copies the repository", "[dev.build.parameters]\nbuild_in_source = true", "[dev.build.parameters]\nbuild_in_source = false"},
		{"prod build hashes the repository", "[prod.build.parameters]\nbuild_in_source = true\ncached = false", "[prod.build.parameters]\nbuild_in_source = true\ncached = true"},
	}
	for _, b := range breaks {
		if !strings.Contains(text, b.old) {
			t.Errorf("mutation %q: %q is not in samconfig.toml: fix the test", b.name, b.old)
			continue
		}
		broken := strings.Replace(text, b.old, b.new, 1)
		if len(checkSamconfig(tpl, broken)) == 0 {
			t.Errorf("a samconfig.toml with %q passes the check", b.name)
		}
	}
}

func TestParseOverrides(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want map[string]string
		err  bool
	}{
		{`Stage="dev" LogLevel=info`, map[string]string{"Stage": "dev", "LogLevel": "info"}, false},
		{`A="two words" B=""`, map[string]string{"A": "two words", "B": ""}, false},
		{[]any{"Stage=prod", "X=1"}, map[string]string{"Stage": "prod", "X": "1"}, false},
		{`Stage="dev`, nil, true},
		{`Stage`, nil, true},
		{`A=1 A=2`, nil, true},
		{42, nil, true},
	} {
		got, err := parseOverrides(tc.in)
		if (err != nil) != tc.err || (!tc.err && !maps.Equal(got, tc.want)) {
			t.Errorf("parseOverrides(%v) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
