package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The API function's safe deploys: an alias, CodeDeploy's traffic shifting per
// stage, rollback alarms and a pre-traffic hook (README, "Deploying a stage").
const (
	hookID    = "PreTrafficHookFunction"
	aliasName = "live"
	topicID   = "AlarmTopic"
)

// rollbackAlarms are the alarms CodeDeploy watches while it shifts traffic. The
// first three are checked here; ApiFiveXxShareAlarm (the function's own 5xx share
// from its EMF metrics) is checked with the other metric alarms (metrics_test.go).
var rollbackAlarms = []string{"DeployVersionErrorsAlarm", "DeployVersionLatencyP99Alarm", "DeployApi5xxShareAlarm", "ApiFiveXxShareAlarm"}

// wantDeployment is the traffic shifting of each stage: dev at once, staging a quick
// linear shift, prod a 10% canary for 5 minutes.
var wantDeployment = map[string]*regexp.Regexp{
	"dev":     regexp.MustCompile(`^AllAtOnce$`),
	"staging": regexp.MustCompile(`^Linear10PercentEvery(1|2|3)Minutes?$`),
	"prod":    regexp.MustCompile(`^Canary10Percent5Minutes$`),
}

var (
	deployPref = at(fnProps, "DeploymentPreference")
	hookProps  = []any{"Resources", hookID, "Properties"}
	hookStmts  = at(hookProps, "Policies", 0, "Statement")
)

func init() {
	templateChecks = append(templateChecks, []struct {
		name   string
		check  func(obj) []string
		breaks []mutation
	}{
		{"SafeDeploys", checkSafeDeploys, []mutation{
			set("no alias", deleted, at(fnProps, "AutoPublishAlias")...),
			set("no deployment preference", deleted, deployPref...),
			set("prod all at once", "AllAtOnce", "Mappings", "StageDefaults", "prod", "DeploymentType"),
			set("dev as a canary", "Canary10Percent5Minutes", "Mappings", "StageDefaults", "dev", "DeploymentType"),
			set("staging all at once", "AllAtOnce", "Mappings", "StageDefaults", "staging", "DeploymentType"),
			set("one type for every stage", "Canary10Percent5Minutes", at(deployPref, "Type")...),
			set("no rollback alarms", deleted, at(deployPref, "Alarms")...),
			set("errors alarm not attached", []any{obj{"Ref": "DeployVersionLatencyP99Alarm"}, obj{"Ref": "DeployApi5xxShareAlarm"}, obj{"Ref": "ApiFiveXxShareAlarm"}}, at(deployPref, "Alarms")...),
			set("EMF 5xx share not attached", []any{obj{"Ref": "DeployVersionErrorsAlarm"}, obj{"Ref": "DeployVersionLatencyP99Alarm"}, obj{"Ref": "DeployApi5xxShareAlarm"}}, at(deployPref, "Alarms")...),
			set("errors alarm on every version", []any{obj{"Name": "FunctionName", "Value": obj{"Ref": functionID}}}, "Resources", "DeployVersionErrorsAlarm", "Properties", "Dimensions"),
			set("latency alarm on the average", "Average", "Resources", "DeployVersionLatencyP99Alarm", "Properties", "ExtendedStatistic"),
			set("5xx alarm on another API", []any{obj{"Name": "ApiName", "Value": "other"}, obj{"Name": "Stage", "Value": obj{"Ref": "Stage"}}}, "Resources", "DeployApi5xxShareAlarm", "Properties", "Dimensions"),
			set("5xx alarm too slow for the canary", 300, "Resources", "DeployApi5xxShareAlarm", "Properties", "Period"),
			set("no hook", deleted, at(deployPref, "Hooks")...),
			set("hook CodeDeploy may not invoke", obj{"Fn::Sub": "vip-messages-pre-traffic-${Stage}"}, at(hookProps, "FunctionName")...),
			set("hook tests the function, not the new version", obj{"Ref": functionID}, at(hookProps, "Environment", "Variables", "TARGET_VERSION_ARN")...),
			set("API defined by hand (integration on the function, not the alias)", obj{"openapi": "3.0.1"}, at(apiProps, "DefinitionBody")...),
			set("route on another function", obj{"Type": "Api", "Properties": obj{"RestApiId": obj{"Ref": apiID}, "Path": "/vip-messages", "Method": "GET"}}, at(ixProps, "Events", "GetVipMessages")...),
			set("provisioned concurrency always on", obj{"ProvisionedConcurrentExecutions": 5}, at(fnProps, "ProvisionedConcurrencyConfig")...),
			set("provisioned concurrency default not 0", 2, "Parameters", "ProvisionedConcurrency", "Default"),
		}},
		{"IndexerAllAtOnce", checkIndexerAllAtOnce, []mutation{
			set("indexer as a canary", obj{"Type": "Canary10Percent5Minutes"}, at(ixProps, "DeploymentPreference")...),
			set("indexer linear", obj{"Type": obj{"Fn::FindInMap": []any{"StageDefaults", obj{"Ref": "Stage"}, "DeploymentType"}}}, at(ixProps, "DeploymentPreference")...),
		}},
		{"HookLeastPrivilege", checkHookIAM, []mutation{
			set("invokes any function", "*", at(hookStmts, 0, "Resource")...),
			set("invokes every version", obj{"Fn::GetAtt": []any{functionID, "Arn"}}, at(hookStmts, 0, "Resource")...),
			set("reports on any deployment group", "*", at(hookStmts, 1, "Resource")...),
			set("can deploy", []any{"codedeploy:PutLifecycleEventHookExecutionStatus", "codedeploy:CreateDeployment"}, at(hookStmts, 1, "Action")...),
			set("cannot report", deleted, at(hookStmts, 1)...),
		}},
		{"AlarmsReachSomeone", checkAlarmRouting, []mutation{
			set("no topic", deleted, "Resources", topicID),
			set("alarm without actions", deleted, "Resources", "FunctionErrorsAlarm", "Properties", "AlarmActions"),
			set("rollback alarm that never notifies", deleted, "Resources", "DeployVersionErrorsAlarm", "Properties", "AlarmActions"),
			set("alarm only to the optional topic", []any{obj{"Fn::If": []any{"HasAlarmTopic", obj{"Ref": "AlarmTopicArn"}, obj{"Ref": "AWS::NoValue"}}}}, "Resources", "LabelIndexerDLQDepthAlarm", "Properties", "AlarmActions"),
			set("email subscription always created", deleted, "Resources", "AlarmEmailSubscription", "Condition"),
			set("email to a fixed address", "ops@example.com", "Resources", "AlarmEmailSubscription", "Properties", "Endpoint"),
			set("subscription on another topic", "arn:aws:sns:us-east-1:123456789012:other", "Resources", "AlarmEmailSubscription", "Properties", "TopicArn"),
			set("prod may notify nobody", deleted, "Rules"),
			set("rule on dev only", obj{"Fn::Equals": []any{obj{"Ref": "Stage"}, "dev"}}, "Rules", "ProdAlarmsReachSomeone", "RuleCondition"),
			set("rule asserts only the email", []any{obj{"Assert": obj{"Fn::Not": []any{obj{"Fn::Equals": []any{obj{"Ref": "AlarmEmail"}, ""}}}}, "AssertDescription": "x"}}, "Rules", "ProdAlarmsReachSomeone", "Assertions"),
		}},
		{"CostsByChoice", checkCosts, []mutation{
			set("AWS-managed key (billed per request)", obj{"SSEEnabled": true}, at(tblProps, "SSESpecification")...),
			set("no encryption setting", deleted, at(tblProps, "SSESpecification")...),
			set("customer key ignored", obj{"Fn::If": []any{"HasTableKmsKey", obj{"SSEEnabled": true}, obj{"SSEEnabled": false}}}, at(tblProps, "SSESpecification")...),
			set("customer key fixed", obj{"Fn::If": []any{"HasTableKmsKey", obj{"SSEEnabled": true, "SSEType": "KMS", "KMSMasterKeyId": "alias/mine"}, obj{"SSEEnabled": false}}}, at(tblProps, "SSESpecification")...),
			set("API role cannot decrypt with the customer key", deleted, at(fnStmts, 2)...),
			set("per-method metrics", true, at(apiProps, "MethodSettings", 0, "MetricsEnabled")...),
		}},
	}...)
}

// stageValue resolves v for one stage: Fn::If on Stage conditions and Stage-keyed
// Fn::FindInMap lookups.
func stageValue(tpl obj, v any, stage string) (any, bool) {
	v, ok := forStage(tpl, v, stage)
	if !ok {
		return nil, false
	}
	if args := asList(get(v, "Fn::FindInMap")); len(args) == 3 && isRef(args[1], "Stage") {
		return get(tpl, "Mappings", str(args[0]), stage, str(args[2])), true
	}
	return v, true
}

func dimsOf(tpl obj, id string) map[string]any {
	out := map[string]any{}
	for _, d := range asList(get(tpl, "Resources", id, "Properties", "Dimensions")) {
		out[str(get(d, "Name"))] = get(d, "Value")
	}
	return out
}

func checkSafeDeploys(tpl obj) []string {
	var problems []string
	fn := function(tpl)
	alias := str(fn["AutoPublishAlias"])
	if alias != aliasName {
		problems = append(problems, fmt.Sprintf("API function AutoPublishAlias is %v, want %q", fn["AutoPublishAlias"], aliasName))
	}
	pref := asObj(fn["DeploymentPreference"])
	for _, stage := range stages(tpl) {
		typ, ok := stageValue(tpl, pref["Type"], stage)
		want := wantDeployment[stage]
		if !ok || want == nil || !want.MatchString(str(typ)) {
			problems = append(problems, fmt.Sprintf("stage %s deploys with %v, want %v", stage, typ, want))
		}
	}
	// Every rollback alarm exists, is attached, and watches what it should.
	attached := asList(pref["Alarms"])
	apiDims := map[string]any{"ApiName": get(tpl, at(apiProps, "Name")...), "Stage": obj{"Ref": "Stage"}}
	newVersion := map[string]any{
		"FunctionName":    obj{"Ref": functionID},
		"Resource":        obj{"Fn::Sub": "${" + functionID + "}:" + aliasName},
		"ExecutedVersion": obj{"Fn::Select": []any{7, obj{"Fn::Split": []any{":", obj{"Ref": functionID + ".Version"}}}}},
	}
	want := map[string]struct {
		namespace, metric, stat string
		dims                    map[string]any
	}{
		"DeployVersionErrorsAlarm":     {"AWS/Lambda", "Errors", "Sum", newVersion},
		"DeployVersionLatencyP99Alarm": {"AWS/Lambda", "Duration", "p99", newVersion},
		"DeployApi5xxShareAlarm":       {"AWS/ApiGateway", "5XXError", "Average", apiDims},
	}
	for _, id := range rollbackAlarms {
		if !slices.ContainsFunc(attached, func(a any) bool { return isRef(a, id) }) {
			problems = append(problems, fmt.Sprintf("rollback alarm %s is not in the DeploymentPreference Alarms %v", id, attached))
		}
		a := asObj(get(tpl, "Resources", id, "Properties"))
		if a == nil {
			problems = append(problems, "no rollback alarm "+id)
			continue
		}
		w, ok := want[id]
		if !ok {
			continue
		}
		stat := str(a["Statistic"])
		if ext := str(a["ExtendedStatistic"]); ext != "" {
			stat = ext
		}
		if a["Namespace"] != w.namespace || a["MetricName"] != w.metric || stat != w.stat || !reflect.DeepEqual(dimsOf(tpl, id), w.dims) {
			problems = append(problems, fmt.Sprintf("rollback alarm %s watches %v %v (%s) %v, want %s %s (%s) %v",
				id, a["Namespace"], a["MetricName"], stat, dimsOf(tpl, id), w.namespace, w.metric, w.stat, w.dims))
		}
		// A 5-minute canary must be able to see it: one-minute periods, at most 3.
		if p, _ := a["Period"].(int); p != 60 {
			problems = append(problems, fmt.Sprintf("rollback alarm %s Period %v, want 60 s", id, a["Period"]))
		}
		if n, _ := a["EvaluationPeriods"].(int); n < 1 || n > 3 {
			problems = append(problems, fmt.Sprintf("rollback alarm %s EvaluationPeriods %v, want 1-3 minutes", id, a["EvaluationPeriods"]))
		}
	}
	// The pre-traffic hook: a function CodeDeploy may invoke, testing the new version.
	if !isRef(get(pref, "Hooks", "PreTraffic"), hookID) {
		problems = append(problems, fmt.Sprintf("DeploymentPreference Hooks.PreTraffic is %v, want Ref %s", get(pref, "Hooks", "PreTraffic"), hookID))
	}
	hook := functionOf(tpl, hookID)
	if name := str(get(hook, "FunctionName", "Fn::Sub")); !strings.HasPrefix(name, "CodeDeployHook_") {
		problems = append(problems, fmt.Sprintf("hook FunctionName %v does not start with CodeDeployHook_ (AWSCodeDeployRoleForLambda invokes only those)", hook["FunctionName"]))
	}
	if v := get(hook, "Environment", "Variables", "TARGET_VERSION_ARN"); !isRef(v, functionID+".Version") {
		problems = append(problems, fmt.Sprintf("hook TARGET_VERSION_ARN is %v, want Ref %s.Version", v, functionID))
	}
	// The route's integration targets the alias: SAM does that for an Api event of
	// a function with AutoPublishAlias, unless the API's definition is written by hand.
	for _, k := range []string{"DefinitionBody", "DefinitionUri"} {
		if get(tpl, at(apiProps, k)...) != nil {
			problems = append(problems, fmt.Sprintf("the API has a %s: its integrations would not follow the alias", k))
		}
	}
	for _, id := range resourcesOfType(tpl, "AWS::Serverless::Function") {
		for name, ev := range asObj(functionOf(tpl, id)["Events"]) {
			if get(ev, "Type") == "Api" && id != functionID {
				problems = append(problems, fmt.Sprintf("function %s has the API event %s: only the aliased API function serves the route", id, name))
			}
		}
	}
	// Provisioned concurrency: on the alias, only when the parameter asks, 0 by default.
	if p := asObj(get(tpl, "Parameters", "ProvisionedConcurrency")); p == nil || p["Type"] != "Number" || p["Default"] != 0 {
		problems = append(problems, fmt.Sprintf("parameter ProvisionedConcurrency is %v, want a Number defaulting to 0", p))
	}
	if pc := fn["ProvisionedConcurrencyConfig"]; pc != nil {
		args := asList(get(pc, "Fn::If"))
		if len(args) != 3 || args[0] != "HasProvisionedConcurrency" || !isRef(get(args[1], "ProvisionedConcurrentExecutions"), "ProvisionedConcurrency") || !isRef(args[2], "AWS::NoValue") {
			problems = append(problems, fmt.Sprintf("ProvisionedConcurrencyConfig %v is not !If [HasProvisionedConcurrency, {ProvisionedConcurrentExecutions: Ref ProvisionedConcurrency}, NoValue]", pc))
		}
	}
	return problems
}

func checkIndexerAllAtOnce(tpl obj) []string {
	ix := functionOf(tpl, indexerID)
	pref := ix["DeploymentPreference"]
	if pref == nil {
		return nil // no alias: every update replaces the code at once
	}
	for _, stage := range stages(tpl) {
		if typ, ok := stageValue(tpl, get(pref, "Type"), stage); !ok || typ != "AllAtOnce" {
			return []string{fmt.Sprintf("the label indexer deploys with %v on %s, want AllAtOnce (a stream has no traffic to shift)", typ, stage)}
		}
	}
	return nil
}

// hookActions is everything the hook may do: invoke the new version, report.
var hookActions = map[string]string{
	"lambda:InvokeFunction":                           "version",
	"codedeploy:PutLifecycleEventHookExecutionStatus": "group",
}

func checkHookIAM(tpl obj) []string {
	group := obj{"Fn::Sub": "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:${ServerlessDeploymentApplication}/*"}
	return checkPolicies(tpl, hookID, hookActions, func(kind string, r any) string {
		switch kind {
		case "version":
			if !isRef(r, functionID+".Version") {
				return fmt.Sprintf("Resource %v is not exactly Ref %s.Version", r, functionID)
			}
		case "group":
			if !reflect.DeepEqual(r, group) {
				return fmt.Sprintf("Resource %v is not this stack's deployment groups %v", r, group)
			}
		}
		return ""
	})
}

func checkAlarmRouting(tpl obj) []string {
	var problems []string
	if typ := get(tpl, "Resources", topicID, "Type"); typ != "AWS::SNS::Topic" {
		problems = append(problems, fmt.Sprintf("%s is %v, want the stage's AWS::SNS::Topic", topicID, typ))
	}
	for _, id := range resourcesOfType(tpl, "AWS::CloudWatch::Alarm") {
		actions := asList(get(tpl, "Resources", id, "Properties", "AlarmActions"))
		if !slices.ContainsFunc(actions, func(a any) bool { return isRef(a, topicID) }) {
			problems = append(problems, fmt.Sprintf("alarm %s does not notify Ref %s (AlarmActions %v)", id, topicID, actions))
		}
	}
	sub := asObj(get(tpl, "Resources", "AlarmEmailSubscription"))
	if sub["Type"] != "AWS::SNS::Subscription" || sub["Condition"] != "HasAlarmEmail" ||
		get(sub, "Properties", "Protocol") != "email" || !isRef(get(sub, "Properties", "Endpoint"), "AlarmEmail") ||
		!isRef(get(sub, "Properties", "TopicArn"), topicID) {
		problems = append(problems, fmt.Sprintf("AlarmEmailSubscription %v is not an email subscription of Ref AlarmEmail to %s under HasAlarmEmail", sub, topicID))
	}
	if c := get(tpl, "Conditions", "HasAlarmEmail"); !reflect.DeepEqual(c, obj{"Fn::Not": []any{obj{"Fn::Equals": []any{obj{"Ref": "AlarmEmail"}, ""}}}}) {
		problems = append(problems, fmt.Sprintf("condition HasAlarmEmail is %v", c))
	}
	// prod: a change set without AlarmEmail or AlarmTopicArn fails.
	rule := asObj(get(tpl, "Rules", "ProdAlarmsReachSomeone"))
	if !reflect.DeepEqual(rule["RuleCondition"], obj{"Fn::Equals": []any{obj{"Ref": "Stage"}, "prod"}}) {
		problems = append(problems, fmt.Sprintf("rule ProdAlarmsReachSomeone applies on %v, want Stage = prod", rule["RuleCondition"]))
	}
	asserted := false
	for _, a := range asList(rule["Assertions"]) {
		if refersTo(get(a, "Assert"), "AlarmEmail") && refersTo(get(a, "Assert"), "AlarmTopicArn") && get(a, "Assert", "Fn::Or") != nil {
			asserted = true
		}
	}
	if !asserted {
		problems = append(problems, "rule ProdAlarmsReachSomeone does not assert AlarmEmail or AlarmTopicArn")
	}
	return problems
}

func checkCosts(tpl obj) []string {
	var problems []string
	sse := get(tpl, at(tblProps, "SSESpecification")...)
	args := asList(get(sse, "Fn::If"))
	wantKMS := obj{"SSEEnabled": true, "SSEType": "KMS", "KMSMasterKeyId": obj{"Ref": "TableKmsKeyArn"}}
	if len(args) != 3 || args[0] != "HasTableKmsKey" || !reflect.DeepEqual(args[1], wantKMS) || !reflect.DeepEqual(args[2], obj{"SSEEnabled": false}) {
		problems = append(problems, fmt.Sprintf("table SSESpecification %v, want the AWS-owned key (SSEEnabled false) unless TableKmsKeyArn: %v", sse, wantKMS))
	}
	// With a customer key the API role must be able to decrypt (checkFunctionIAM
	// checks the statement's resource); only under the condition.
	decrypts := false
	for _, s := range asList(get(function(tpl), "Policies", 0, "Statement")) {
		if a := asList(get(s, "Fn::If")); len(a) == 3 && a[0] == "HasTableKmsKey" && slices.Contains(asList(get(a[1], "Action")), "kms:Decrypt") {
			decrypts = true
		}
	}
	if !decrypts {
		problems = append(problems, "the API role gets no kms:Decrypt under HasTableKmsKey")
	}
	for i, ms := range asList(get(tpl, at(apiProps, "MethodSettings")...)) {
		if get(ms, "MetricsEnabled") != false {
			problems = append(problems, fmt.Sprintf("MethodSettings[%d] MetricsEnabled is %v, want false (billed, read by no alarm)", i, get(ms, "MetricsEnabled")))
		}
	}
	return problems
}

// TestMakefileBuildsEveryFunction: sam build runs `make build-<LogicalId>` for every
// function; each must map to a package under functions/.
func TestMakefileBuildsEveryFunction(t *testing.T) {
	tpl := loadTemplate(t)
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(tpl obj, makefile string) []string {
		var problems []string
		for _, id := range resourcesOfType(tpl, "AWS::Serverless::Function") {
			m := regexp.MustCompile(`(?m)^FUNCTION_PKG_` + id + ` := (\S+)$`).FindStringSubmatch(makefile)
			if m == nil {
				problems = append(problems, fmt.Sprintf("the Makefile has no FUNCTION_PKG_%s", id))
				continue
			}
			pkg := strings.ReplaceAll(m[1], "$(LAMBDA_PKG)", "./functions/vip-messages")
			if _, err := os.Stat(filepath.Join(repoRoot(t), pkg, "main.go")); err != nil {
				problems = append(problems, fmt.Sprintf("FUNCTION_PKG_%s = %s: %v", id, pkg, err))
			}
		}
		return problems
	}
	for _, p := range check(tpl, string(raw)) {
		t.Error(p)
	}
	broken := deepCopy(tpl).(obj)
	setPath(broken, obj{"Type": "AWS::Serverless::Function", "Properties": obj{}}, "Resources", "NewFunction")
	if len(check(broken, string(raw))) == 0 {
		t.Error("a function without a Makefile package passes the check")
	}
}
