package deploy_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// apiFunction is the function behind the live alias.
const apiFunction = "VipMessagesFunction"

// envParams are the parameters the API function's environment reads, sorted.
func envParams(tpl obj) []string {
	var names []string
	add := func(n string) {
		if _, ok := asObj(tpl["Parameters"])[n]; ok && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	walk(get(functionProps(tpl, apiFunction), "Environment"), func(m obj) {
		if r, ok := m["Ref"].(string); ok {
			add(r)
		}
		if sub, ok := m["Fn::Sub"]; ok {
			text := str(sub)
			if l := asList(sub); len(l) > 0 {
				text = str(l[0])
			}
			for _, v := range subVarRE.FindAllStringSubmatch(text, -1) {
				add(v[1])
			}
		}
	})
	slices.Sort(names)
	return names
}

// another is a valid value of parameter p other than v: the last allowed one,
// which is no stage's default ("error" for LogLevel, "" meaning the stage's).
func another(p obj, v string) string {
	allowed := strs(p["AllowedValues"])
	slices.Reverse(allowed)
	for _, a := range allowed {
		if a != v {
			return a
		}
	}
	if v == "" {
		return "changed"
	}
	return v + "1s" // still a Go duration, or a secret name
}

// liveVersion is what decides whether a deploy publishes a version: the
// logical id SAM gives it and its resolved Description, which CloudFormation
// cannot update in place (createOnly), so a new one replaces the version.
func liveVersion(s stack) (string, error) {
	var ids []string
	for _, id := range ofType(s.tpl, "AWS::Lambda::Version") {
		if strings.HasPrefix(id, apiFunction+"Version") {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		return "", fmt.Errorf("%d versions of %s, want 1", len(ids), apiFunction)
	}
	desc := fmt.Sprint(s.eval(get(s.tpl, "Resources", ids[0], "Properties", "Description")))
	if len(desc) > 256 {
		return "", fmt.Errorf("version description is %d characters, Lambda takes 256: %s", len(desc), desc)
	}
	return ids[0] + " " + desc, nil
}

// TestConfigChangePublishesVersion: a deploy that changes the API function's
// configuration (a parameter alone) or its code publishes a new version, which
// is what the live alias and CodeDeploy move to; a deploy that changes neither
// keeps the version.
func TestConfigChangePublishesVersion(t *testing.T) {
	t.Parallel()
	all, err := stacks(repoFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	tpl := all[0].tpl
	names := envParams(tpl)
	if len(names) < 4 {
		t.Fatalf("the API function's environment reads only %v: fix envParams", names)
	}
	type variant struct{ stage, param, value string }
	variants := map[string]variant{}
	params := map[string]map[string]string{}
	for _, s := range all {
		add := func(v variant) {
			p := map[string]string{}
			for k, x := range s.params {
				p[k] = x
			}
			if v.param != "" {
				p[v.param] = v.value
			}
			key := fmt.Sprintf("%s %s=%s", v.stage, v.param, v.value)
			variants[key], params[key] = v, p
		}
		add(variant{stage: s.stage})
		add(variant{stage: s.stage, param: "CodeUri", value: "s3://bucket/other-code"})
		for _, n := range names {
			if n != "Stage" {
				add(variant{s.stage, n, another(asObj(get(tpl, "Parameters", n)), s.params[n])})
			}
		}
	}
	// Twice the same parameters: the same version.
	for _, s := range all {
		params[s.stage+" again"] = params[s.stage+" ="]
		variants[s.stage+" again"] = variant{stage: s.stage}
	}
	cfn := transformWith(t, params)

	changed := map[string]bool{}
	for key, v := range variants {
		if v.param == "" && !strings.HasSuffix(key, " again") {
			continue
		}
		base := stack{tpl: cfn[v.stage+" ="], stage: v.stage, params: params[v.stage+" ="]}
		got := stack{tpl: cfn[key], stage: v.stage, params: params[key]}
		baseVersion, err := liveVersion(base)
		if err != nil {
			t.Fatalf("%s: %v", v.stage, err)
		}
		version, err := liveVersion(got)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		envOf := func(s stack) any {
			return s.eval(get(s.tpl, "Resources", apiFunction, "Properties", "Environment"))
		}
		want := v.param == "CodeUri" || !reflect.DeepEqual(envOf(base), envOf(got))
		changed[v.param] = changed[v.param] || want
		if (version != baseVersion) != want {
			t.Errorf("%s: configuration or code changed: %v, but version %q became %q", key, want, baseVersion, version)
		}
	}
	for _, n := range append(names, "CodeUri") {
		if n != "Stage" && !changed[n] {
			t.Errorf("changing %s changed the API function in no stage: pick another value in the test", n)
		}
	}
}
