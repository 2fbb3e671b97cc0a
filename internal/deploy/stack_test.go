// Package deploy_test checks what template.yaml, samconfig.toml and the Makefile
// must agree on with the code, which no linter can know: the metrics the dashboard
// and alarms name, the AWS calls the roles grant, the table's keys and stream
// filter, the functions the Makefile builds, the configuration the functions
// parse. The rest of the template is cfn-lint's and SAM's transform's
// (tools_test.go). Each check also runs on broken copies of the files, so that a
// check which cannot fail is caught.
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
	"gopkg.in/yaml.v3"
)

// obj is a decoded YAML mapping.
type obj = map[string]any

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func readFile(t testing.TB, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func parseYAML(text string) (obj, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, err
	}
	longForm(&doc)
	var m obj
	return m, doc.Decode(&m)
}

// longForm rewrites CloudFormation's short-form tags in place: !Ref x becomes
// {Ref: x}, !Sub s {Fn::Sub: s}, !GetAtt R.A {Fn::GetAtt: [R, A]}.
func longForm(n *yaml.Node) {
	for _, c := range n.Content {
		longForm(c)
	}
	if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
		return
	}
	name, arg := n.Tag[1:], *n
	arg.Tag = ""
	if name != "Ref" && name != "Condition" {
		name = "Fn::" + name
	}
	if res, attr, ok := strings.Cut(arg.Value, "."); ok && name == "Fn::GetAtt" && arg.Kind == yaml.ScalarNode {
		arg = yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Value: res}, {Kind: yaml.ScalarNode, Value: attr}}}
	}
	*n = yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: name}, &arg}}
}

// get walks a path of map keys (string) and list indexes (int); nil when absent.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(obj)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k < 0 || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string   { s, _ := v.(string); return s }
func asObj(v any) obj    { m, _ := v.(obj); return m }
func asList(v any) []any { l, _ := v.([]any); return l }

// strs is a string-or-list value (Action, Resource) as a list.
func strs(v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	var out []string
	for _, e := range asList(v) {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// walk calls fn on every mapping inside v, v included.
func walk(v any, fn func(obj)) {
	switch x := v.(type) {
	case obj:
		fn(x)
		for _, e := range x {
			walk(e, fn)
		}
	case []any:
		for _, e := range x {
			walk(e, fn)
		}
	}
}

// ofType lists the logical ids of the resources of one type, sorted.
func ofType(tpl obj, typ string) []string {
	var ids []string
	for id, r := range asObj(tpl["Resources"]) {
		if get(r, "Type") == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// functionProps is a function's Properties with Globals.Function merged under
// them as SAM merges them: maps key by key (Environment.Variables add up),
// anything else the function's own value.
func functionProps(tpl obj, id string) obj {
	return asObj(mergeGlobal(get(tpl, "Globals", "Function"), get(tpl, "Resources", id, "Properties")))
}

func mergeGlobal(global, local any) any {
	g, l := asObj(global), asObj(local)
	if g == nil || l == nil {
		if local == nil {
			return global
		}
		return local
	}
	out := maps.Clone(g)
	for k, v := range l {
		out[k] = mergeGlobal(g[k], v)
	}
	return out
}

// edit is a broken copy of a file: its first old replaced by new.
type edit struct{ name, old, new string }

func (e edit) apply(t *testing.T, text string) string {
	t.Helper()
	if !strings.Contains(text, e.old) {
		t.Fatalf("broken copy %q: %q is not in the file: fix the test", e.name, e.old)
	}
	return strings.Replace(text, e.old, e.new, 1)
}

// files are the texts the checks read; broken copies replace one of them.
type files struct{ template, samconfig string }

func repoFiles(t *testing.T) files {
	return files{readFile(t, "template.yaml"), readFile(t, "samconfig.toml")}
}

// checkFiles runs check on the repository's files, then on each broken copy,
// which it must reject. Edits name the file they break by a prefix of their
// name: "samconfig: ..." or (anything else) the template.
func checkFiles(t *testing.T, check func(files) []string, breaks []edit) {
	t.Helper()
	f := repoFiles(t)
	for _, p := range check(f) {
		t.Error(p)
	}
	for _, e := range breaks {
		b := f
		if strings.HasPrefix(e.name, "samconfig: ") {
			b.samconfig = e.apply(t, b.samconfig)
		} else {
			b.template = e.apply(t, b.template)
		}
		if len(check(b)) == 0 {
			t.Errorf("a copy with %q passes the check", e.name)
		}
	}
}

// stack is template.yaml as CloudFormation sees it in one stage: the template's
// parameter defaults under that stage's samconfig.toml overrides.
type stack struct {
	tpl    obj
	stage  string
	params map[string]string
}

// stacks reads the files as every stage deploys them: one stack per samconfig.toml
// environment, which must be exactly the stages the template allows.
func stacks(f files) ([]stack, error) {
	tpl, err := parseYAML(f.template)
	if err != nil {
		return nil, fmt.Errorf("template.yaml: %v", err)
	}
	var cfg map[string]any
	if _, err := toml.Decode(f.samconfig, &cfg); err != nil {
		return nil, fmt.Errorf("samconfig.toml: %v", err)
	}
	allowed := strs(get(tpl, "Parameters", "Stage", "AllowedValues"))
	var out []stack
	for _, stage := range allowed {
		overrides, err := parseOverrides(str(get(cfg[stage], "deploy", "parameters", "parameter_overrides")))
		if err != nil {
			return nil, fmt.Errorf("samconfig.toml [%s]: %v", stage, err)
		}
		s := stack{tpl: tpl, stage: stage, params: map[string]string{}}
		for name, p := range asObj(tpl["Parameters"]) {
			if d, ok := asObj(p)["Default"]; ok {
				s.params[name] = fmt.Sprint(d)
			}
		}
		for k, v := range overrides {
			if _, ok := asObj(tpl["Parameters"])[k]; !ok {
				return nil, fmt.Errorf("samconfig.toml [%s] overrides %s, which is no parameter of the template", stage, k)
			}
			s.params[k] = v
		}
		if s.params["Stage"] != stage {
			return nil, fmt.Errorf("samconfig.toml [%s] deploys Stage %q", stage, s.params["Stage"])
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("template.yaml allows no Stage")
	}
	return out, nil
}

var overrideRE = regexp.MustCompile(`^([A-Za-z0-9]+)=(?:"([^"]*)"|(\S*))(?:\s+|$)`)

// parseOverrides reads parameter_overrides: Key="value" Key2=value2.
func parseOverrides(s string) (map[string]string, error) {
	out := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; {
		m := overrideRE.FindStringSubmatch(s)
		if m == nil {
			return nil, fmt.Errorf("parameter_overrides: cannot read %q", s)
		}
		out[m[1]] = m[2] + m[3]
		s = s[len(m[0]):]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no parameter_overrides")
	}
	return out, nil
}

// noValue is AWS::NoValue: the key or list element it is the value of goes away.
var noValue = &struct{}{}

// ref is what Ref name gives: a parameter's value, a pseudo parameter as in a
// stage's stack, or for a resource (or SAM's Fn.Version) its id in angle brackets.
func (s stack) ref(name string) any {
	if v, ok := s.params[name]; ok {
		return v
	}
	if v, ok := map[string]any{
		"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
		"AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "vip-messages-" + s.stage, "AWS::NoValue": noValue,
	}[name]; ok {
		return v
	}
	return "<" + name + ">"
}

// eval resolves every intrinsic function in v for the stage. A resource's
// attribute (GetAtt) is "<Resource.Attribute>".
func (s stack) eval(v any) any {
	switch x := v.(type) {
	case []any:
		out := []any{}
		for _, e := range x {
			if r := s.eval(e); r != noValue {
				out = append(out, r)
			}
		}
		return out
	case obj:
		if len(x) == 1 {
			for fn, arg := range x {
				if r, ok := s.intrinsic(fn, arg); ok {
					return r
				}
			}
		}
		out := obj{}
		for k, e := range x {
			if r := s.eval(e); r != noValue {
				out[k] = r
			}
		}
		return out
	}
	return v
}

var subVarRE = regexp.MustCompile(`\$\{([^}]*)\}`)

func (s stack) intrinsic(fn string, arg any) (any, bool) {
	l := asList(arg)
	arg0 := func(i int) any { return s.eval(get(l, i)) }
	switch fn {
	case "Ref":
		return s.ref(str(arg)), true
	case "Condition":
		return s.cond(str(arg)), true
	case "Fn::GetAtt":
		return fmt.Sprintf("<%s.%s>", str(get(l, 0)), str(get(l, 1))), true
	case "Fn::Sub":
		text, vars := str(arg), obj(nil)
		if len(l) == 2 {
			text, vars = str(l[0]), asObj(l[1])
		}
		return subVarRE.ReplaceAllStringFunc(text, func(m string) string {
			name := m[2 : len(m)-1]
			if lit, ok := strings.CutPrefix(name, "!"); ok {
				return "${" + lit + "}"
			}
			if v, ok := vars[name]; ok {
				return fmt.Sprint(s.eval(v))
			}
			return fmt.Sprint(s.ref(name))
		}), true
	case "Fn::If":
		if s.cond(str(get(l, 0))) {
			return arg0(1), true
		}
		return arg0(2), true
	case "Fn::Join":
		var parts []string
		for _, e := range asList(arg0(1)) {
			parts = append(parts, fmt.Sprint(e))
		}
		return strings.Join(parts, fmt.Sprint(arg0(0))), true
	case "Fn::FindInMap":
		return s.eval(get(s.tpl, "Mappings", fmt.Sprint(arg0(0)), fmt.Sprint(arg0(1)), fmt.Sprint(arg0(2)))), true
	case "Fn::Equals":
		return fmt.Sprint(arg0(0)) == fmt.Sprint(arg0(1)), true
	case "Fn::Not":
		return arg0(0) != true, true
	}
	return nil, false
}

func (s stack) cond(name string) bool {
	return s.eval(get(s.tpl, "Conditions", name)) == true
}

// resource is a resource's Properties in the stage; nil when its Condition is false.
func (s stack) resource(id string) obj {
	r := asObj(get(s.tpl, "Resources", id))
	if c := str(r["Condition"]); c != "" && !s.cond(c) {
		return nil
	}
	if strings.HasPrefix(str(r["Type"]), "AWS::Serverless::Function") {
		return asObj(s.eval(functionProps(s.tpl, id)))
	}
	return asObj(s.eval(r["Properties"]))
}

// forEachStage runs check on the stack of every stage, prefixing problems with it.
func forEachStage(check func(stack) []string) func(files) []string {
	return func(f files) []string {
		all, err := stacks(f)
		if err != nil {
			return []string{err.Error()}
		}
		var problems []string
		for _, s := range all {
			for _, p := range check(s) {
				problems = append(problems, s.stage+": "+p)
			}
		}
		return problems
	}
}
