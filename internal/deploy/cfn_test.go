package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// obj is a decoded CloudFormation mapping. Short-form intrinsics (!Ref, !Sub, ...)
// are decoded to their long form ({"Ref": ...}, {"Fn::Sub": ...}), so the checks
// see one shape whichever form the template uses.
type obj = map[string]any

// repoRoot is the repository root, two levels above this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// loadTemplate parses the repository's template.yaml.
func loadTemplate(t testing.TB) obj {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := parseTemplate(raw)
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return tpl
}

func parseTemplate(raw []byte) (obj, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	v, err := decodeNode(&doc)
	if err != nil {
		return nil, err
	}
	m, ok := v.(obj)
	if !ok {
		return nil, fmt.Errorf("not a mapping at the top")
	}
	return m, nil
}

// decodeNode turns a YAML node into plain Go values, with CloudFormation's
// short-form tags rewritten to the long form.
func decodeNode(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, fmt.Errorf("empty document")
		}
		return decodeNode(n.Content[0])
	case yaml.AliasNode:
		return decodeNode(n.Alias)
	}
	custom := strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!")
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := obj{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := decodeNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			val, err := decodeNode(c)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		v = l
	case yaml.ScalarNode:
		if custom {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	}
	if !custom {
		return v, nil
	}
	switch name := n.Tag[1:]; name {
	case "Ref", "Condition":
		return obj{name: v}, nil
	case "GetAtt":
		// !GetAtt Res.Attr is the string form of [Res, Attr].
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			v = []any{res, attr}
		}
		return obj{"Fn::GetAtt": v}, nil
	default:
		return obj{"Fn::" + name: v}, nil
	}
}

// get walks a path of map keys (string) and list indexes (int); nil when absent.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(obj)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k < 0 || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// deepCopy copies a decoded template so that a mutation leaves the original alone.
func deepCopy(v any) any {
	switch x := v.(type) {
	case obj:
		m := make(obj, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	default:
		return v
	}
}

// deleted, as a value for setPath, removes the key (or list element).
var deleted = &struct{}{}

// setPath sets (or with deleted, removes) the value at path, creating maps on the way.
func setPath(root any, val any, path ...any) {
	parent := root
	for _, p := range path[:len(path)-1] {
		next := get(parent, p)
		if next == nil {
			next = obj{}
			if m, ok := parent.(obj); ok {
				m[p.(string)] = next
			}
		}
		parent = next
	}
	switch k := path[len(path)-1].(type) {
	case string:
		m := parent.(obj)
		if val == deleted {
			delete(m, k)
		} else {
			m[k] = val
		}
	case int:
		l := parent.([]any)
		if val == deleted {
			// Lists are shared by value: rewrite the parent entry in place.
			copy(l[k:], l[k+1:])
			l[len(l)-1] = nil
			setPath(root, l[:len(l)-1], path[:len(path)-1]...)
		} else {
			l[k] = val
		}
	}
}

// resourcesOfType lists the logical ids of the resources of one type, sorted.
func resourcesOfType(tpl obj, typ string) []string {
	var ids []string
	for id, r := range asObj(tpl["Resources"]) {
		if str(get(r, "Type")) == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func asObj(v any) obj {
	m, _ := v.(obj)
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// strings of a string-or-list value (Action, Resource, Architectures).
func stringsOf(v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		return []string{x}, true
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// isRef reports whether v is {"Ref": name}.
func isRef(v any, name string) bool {
	m := asObj(v)
	return len(m) == 1 && m["Ref"] == name
}

// isGetAtt reports whether v is {"Fn::GetAtt": [res, attr]}.
func isGetAtt(v any, res, attr string) bool {
	l := asList(get(v, "Fn::GetAtt"))
	return len(asObj(v)) == 1 && len(l) == 2 && l[0] == res && l[1] == attr
}

// refersTo reports whether v mentions {"Ref": name} anywhere inside.
func refersTo(v any, name string) bool {
	found := false
	walk(v, func(m obj) {
		if isRef(m, name) {
			found = true
		}
	})
	return found
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

// stages are the values the Stage parameter allows.
func stages(tpl obj) []string {
	out, _ := stringsOf(get(tpl, "Parameters", "Stage", "AllowedValues"))
	return out
}

// evalCondition evaluates a condition for one stage. Only conditions on the Stage
// parameter can be known before deployment; others report ok == false.
func evalCondition(tpl obj, cond any, stage string) (val, ok bool) {
	m := asObj(cond)
	if name, isName := cond.(string); isName {
		return evalCondition(tpl, get(tpl, "Conditions", name), stage)
	}
	if name, isName := m["Condition"].(string); isName && len(m) == 1 {
		return evalCondition(tpl, get(tpl, "Conditions", name), stage)
	}
	resolve := func(v any) (string, bool) {
		if isRef(v, "Stage") {
			return stage, true
		}
		s, isStr := v.(string)
		return s, isStr
	}
	switch {
	case m["Fn::Equals"] != nil:
		args := asList(m["Fn::Equals"])
		if len(args) != 2 {
			return false, false
		}
		a, okA := resolve(args[0])
		b, okB := resolve(args[1])
		return a == b, okA && okB
	case m["Fn::Not"] != nil:
		v, ok := evalCondition(tpl, get(m, "Fn::Not", 0), stage)
		return !v, ok
	}
	return false, false
}

// forStage resolves Fn::If on Stage conditions, giving the value one stage deploys.
func forStage(tpl obj, v any, stage string) (any, bool) {
	args := asList(get(v, "Fn::If"))
	if args == nil {
		return v, true
	}
	if len(args) != 3 {
		return nil, false
	}
	c, ok := evalCondition(tpl, args[0], stage)
	if !ok {
		return nil, false
	}
	if c {
		return forStage(tpl, args[1], stage)
	}
	return forStage(tpl, args[2], stage)
}

// subVarRE finds ${Name} in a Fn::Sub string; ${!Literal} is an escape, not a variable.
var subVarRE = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

var pseudoParams = []string{
	"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
	"AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
}

// danglingRefs lists every Ref, GetAtt, Sub variable, condition and FindInMap
// lookup that names nothing in the template: deploying is the only other check.
func danglingRefs(tpl obj) []string {
	var problems []string
	params, resources := asObj(tpl["Parameters"]), asObj(tpl["Resources"])
	conditions, mappings := asObj(tpl["Conditions"]), asObj(tpl["Mappings"])
	known := func(name string) bool {
		return params[name] != nil || resources[name] != nil || slices.Contains(pseudoParams, name) || samGenerated(tpl, name)
	}
	for _, section := range []string{"Conditions", "Rules", "Resources", "Outputs"} {
		walk(tpl[section], func(m obj) {
			if name, ok := m["Ref"].(string); ok && !known(name) {
				problems = append(problems, fmt.Sprintf("%s: Ref to unknown %q", section, name))
			}
			if l := asList(m["Fn::GetAtt"]); len(l) > 0 {
				if name, _ := l[0].(string); resources[name] == nil {
					problems = append(problems, fmt.Sprintf("%s: GetAtt of unknown resource %q", section, name))
				}
			}
			if sub, ok := m["Fn::Sub"]; ok {
				s, vars := str(sub), obj(nil)
				if l := asList(sub); len(l) == 2 {
					s, vars = str(l[0]), asObj(l[1])
				}
				for _, match := range subVarRE.FindAllStringSubmatch(s, -1) {
					name, _, _ := strings.Cut(match[1], ".")
					if vars[match[1]] == nil && !known(name) {
						problems = append(problems, fmt.Sprintf("%s: Sub variable ${%s} names nothing", section, match[1]))
					}
				}
			}
			if l := asList(m["Fn::If"]); len(l) > 0 {
				if name, _ := l[0].(string); conditions[name] == nil {
					problems = append(problems, fmt.Sprintf("%s: Fn::If on unknown condition %q", section, name))
				}
			}
			if name, ok := m["Condition"].(string); ok && conditions[name] == nil {
				problems = append(problems, fmt.Sprintf("%s: unknown condition %q", section, name))
			}
			if l := asList(m["Fn::FindInMap"]); len(l) == 3 {
				problems = append(problems, checkFindInMap(tpl, mappings, l)...)
			}
		})
	}
	return problems
}

// samGenerated reports whether name is a resource SAM's transform adds and lets a
// template refer to: <fn>.Version and <fn>.Alias of a function with AutoPublishAlias,
// and ServerlessDeploymentApplication once a function has a DeploymentPreference.
func samGenerated(tpl obj, name string) bool {
	fns := resourcesOfType(tpl, "AWS::Serverless::Function")
	if fn, suffix, ok := strings.Cut(name, "."); ok && (suffix == "Version" || suffix == "Alias") {
		return slices.Contains(fns, fn) && get(tpl, "Resources", fn, "Properties", "AutoPublishAlias") != nil
	}
	// SAM's reference to the stage it generates for an AWS::Serverless::Api.
	if api, ok := strings.CutSuffix(name, ".Stage"); ok {
		return get(tpl, "Resources", api, "Type") == "AWS::Serverless::Api"
	}
	if name == "ServerlessDeploymentApplication" {
		return slices.ContainsFunc(fns, func(fn string) bool {
			return get(tpl, "Resources", fn, "Properties", "DeploymentPreference") != nil
		})
	}
	return false
}

// checkFindInMap makes sure that a lookup keyed by Stage has an entry for every stage.
func checkFindInMap(tpl obj, mappings obj, l []any) []string {
	mapName, second := str(l[0]), str(l[2])
	m := asObj(mappings[mapName])
	if m == nil {
		return []string{fmt.Sprintf("FindInMap of unknown mapping %q", mapName)}
	}
	var keys []string
	switch {
	case isRef(l[1], "Stage"):
		keys = stages(tpl)
	case str(l[1]) != "":
		keys = []string{str(l[1])}
	default:
		return nil
	}
	var problems []string
	for _, k := range keys {
		if get(m, k, second) == nil {
			problems = append(problems, fmt.Sprintf("FindInMap: mapping %s has no %s.%s", mapName, k, second))
		}
	}
	return problems
}
