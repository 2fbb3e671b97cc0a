package deploy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// alarmDimensions are the dimension lists of an alarm: its metric's, or each
// metric's of a metric-math alarm.
func alarmDimensions(props obj) [][]any {
	var out [][]any
	if d, ok := props["Dimensions"]; ok {
		out = append(out, asList(d))
	}
	for _, m := range asList(props["Metrics"]) {
		if stat := get(m, "MetricStat", "Metric"); stat != nil {
			out = append(out, asList(get(stat, "Dimensions")))
		}
	}
	return out
}

// versionScoped lists what keeps an alarm from watching only the version being
// deployed of function fn (version: its AWS::Lambda::Version's logical id):
// every metric must be Lambda's, through the live alias, of that version.
func versionScoped(s stack, props obj, fn, version string) []string {
	var problems []string
	if ns := fmt.Sprint(props["Namespace"]); props["Metrics"] == nil && ns != "AWS/Lambda" {
		problems = append(problems, "namespace "+ns+", not AWS/Lambda")
	}
	for _, m := range asList(props["Metrics"]) {
		if ns := fmt.Sprint(get(m, "MetricStat", "Metric", "Namespace")); get(m, "MetricStat") != nil && ns != "AWS/Lambda" {
			problems = append(problems, "metric namespace "+ns+", not AWS/Lambda")
		}
	}
	sets := alarmDimensions(props)
	if len(sets) == 0 {
		problems = append(problems, "no dimensions")
	}
	for _, dims := range sets {
		got := map[string]string{}
		for _, d := range dims {
			got[fmt.Sprint(get(d, "Name"))] = fmt.Sprint(s.eval(get(d, "Value")))
		}
		if got["FunctionName"] != "<"+fn+">" || got["Resource"] != "<"+fn+">:live" ||
			!strings.Contains(got["ExecutedVersion"], "<"+version+">") {
			problems = append(problems, fmt.Sprintf("dimensions %v are not FunctionName, Resource %s:live and ExecutedVersion of %s", got, fn, version))
		}
	}
	return problems
}

// TestRollbackWatchesTheNewVersion: CodeDeploy rolls a deployment back on the
// alarms of the new version only. A stage-wide alarm (the API's 5xx share) is
// in ALARM during an outage, and would roll back the very deploy that fixes it.
func TestRollbackWatchesTheNewVersion(t *testing.T) {
	t.Parallel()
	for stage, cfn := range samTransform(t) {
		s := stack{tpl: cfn, stage: stage}
		groups := ofType(cfn, "AWS::CodeDeploy::DeploymentGroup")
		if len(groups) == 0 {
			t.Errorf("%s: no deployment group", stage)
		}
		for _, g := range groups {
			alarms := asList(get(cfn, "Resources", g, "Properties", "AlarmConfiguration", "Alarms"))
			if len(alarms) == 0 {
				t.Errorf("%s: %s rolls back on no alarm", stage, g)
			}
			for _, a := range alarms {
				id := str(get(a, "Name", "Ref"))
				fn, version, err := deployedVersion(cfn, g)
				if err != nil {
					t.Fatalf("%s: %v", stage, err)
				}
				props := asObj(get(cfn, "Resources", id, "Properties"))
				if get(cfn, "Resources", id, "Type") != "AWS::CloudWatch::Alarm" {
					t.Errorf("%s: %s's rollback alarm %v is no alarm of the template", stage, g, get(a, "Name"))
					continue
				}
				for _, p := range versionScoped(s, props, fn, version) {
					t.Errorf("%s: rollback alarm %s: %s", stage, id, p)
				}
			}
		}
	}
}

// deployedVersion is the function and the version whose alias group g shifts:
// the AWS::Lambda::Alias with g in its CodeDeploy update policy.
func deployedVersion(cfn obj, g string) (fn, version string, err error) {
	for _, id := range ofType(cfn, "AWS::Lambda::Alias") {
		r := asObj(get(cfn, "Resources", id))
		if str(get(r, "UpdatePolicy", "CodeDeployLambdaAliasUpdate", "DeploymentGroupName", "Ref")) != g {
			continue
		}
		fn = str(get(r, "Properties", "FunctionName", "Ref"))
		version = str(get(r, "Properties", "FunctionVersion", "Fn::GetAtt", 0))
		if fn == "" || version == "" {
			return "", "", fmt.Errorf("alias %s: no function or version in %v", id, r["Properties"])
		}
		return fn, version, nil
	}
	return "", "", fmt.Errorf("no alias is deployed by %s", g)
}

// TestHookMayInvokeEveryVersion: the hook's invoke grant names the API function
// with any qualifier, not the version being deployed, so that a deploy does not
// rewrite the hook's policy just before CodeDeploy calls the hook: IAM takes
// seconds to propagate a change, and an AccessDenied fails a good deploy.
func TestHookMayInvokeEveryVersion(t *testing.T) {
	t.Parallel()
	for stage, cfn := range samTransform(t) {
		versions := map[string]bool{}
		for _, id := range ofType(cfn, "AWS::Lambda::Version") {
			versions[id] = true
		}
		s := stack{tpl: cfn, stage: stage}
		var grants []string
		walk(get(cfn, "Resources", "PreTrafficHookFunctionRole", "Properties", "Policies"), func(st obj) {
			if !slices.Contains(strs(st["Action"]), "lambda:InvokeFunction") {
				return
			}
			walk(st["Resource"], func(m obj) {
				if versions[str(m["Ref"])] {
					t.Errorf("%s: the hook's invoke grant names version %s, which each deploy replaces", stage, m["Ref"])
				}
			})
			grants = append(grants, strs(s.eval(st["Resource"]))...)
		})
		if want := []string{"<VipMessagesFunction.Arn>:*", "<AuthorizerFunction.Arn>"}; !slices.Equal(grants, want) {
			t.Errorf("%s: the hook may invoke %v, want the API function's versions and the authorizer as API Gateway invokes it, %v", stage, grants, want)
		}
	}
}
