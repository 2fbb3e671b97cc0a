// Package deploy_test checks template.yaml, samconfig.toml and the Makefile's build
// without an AWS account: each check runs on the real files and on broken copies,
// so a check that could never fail is caught too.
package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/table"
)

const (
	tableID    = "MessagesTable"
	functionID = "VipMessagesFunction"
	apiID      = "VipMessagesApi"
)

// mutation breaks a copy of the template in one way.
type mutation struct {
	name  string
	apply func(obj)
}

// set returns a mutation that writes val (or deleted) at path.
func set(name string, val any, path ...any) mutation {
	return mutation{name, func(t obj) { setPath(t, val, path...) }}
}

var (
	fnProps  = []any{"Resources", functionID, "Properties"}
	glProps  = []any{"Globals", "Function"}
	glEnv    = at(glProps, "Environment", "Variables")
	fnEnv    = append(slices.Clone(fnProps), "Environment", "Variables")
	fnStmts  = append(slices.Clone(fnProps), "Policies", 0, "Statement")
	tblProps = []any{"Resources", tableID, "Properties"}
	apiProps = []any{"Resources", apiID, "Properties"}
	event    = append(slices.Clone(fnProps), "Events", "GetVipMessages", "Properties")
)

func at(base []any, rest ...any) []any { return append(slices.Clone(base), rest...) }

// templateChecks are the template's properties; each breaks lists mutations that
// a correct check must report.
var templateChecks = []struct {
	name   string
	check  func(obj) []string
	breaks []mutation
}{
	{"TableKeysMatchCode", checkTableKeys, []mutation{
		set("sort key renamed", "SK", at(tblProps, "KeySchema", 1, "AttributeName")...),
		set("sort key attribute renamed", "SK", at(tblProps, "AttributeDefinitions", 1, "AttributeName")...),
		set("partition key numeric", "N", at(tblProps, "AttributeDefinitions", 0, "AttributeType")...),
		set("no sort key", deleted, at(tblProps, "KeySchema", 1)...),
		set("hash and range swapped", []any{
			obj{"AttributeName": "sk", "KeyType": "HASH"}, obj{"AttributeName": "pk", "KeyType": "RANGE"},
		}, at(tblProps, "KeySchema")...),
		set("extra attribute definition", []any{
			obj{"AttributeName": "pk", "AttributeType": "S"}, obj{"AttributeName": "sk", "AttributeType": "S"},
			obj{"AttributeName": "gsi1pk", "AttributeType": "S"},
		}, at(tblProps, "AttributeDefinitions")...),
		set("table is not a table", "AWS::Serverless::SimpleTable", "Resources", tableID, "Type"),
	}},
	{"TableDurability", checkTableDurability, []mutation{
		set("provisioned", "PROVISIONED", at(tblProps, "BillingMode")...),
		set("no PITR", false, at(tblProps, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled")...),
		set("RetainExceptOnCreate under LanguageExtensions (cfn-language-discussion#139)", obj{"Fn::If": []any{"IsProd", "RetainExceptOnCreate", "Delete"}}, "Resources", tableID, "DeletionPolicy"),
		set("keys-only stream", "KEYS_ONLY", at(tblProps, "StreamSpecification", "StreamViewType")...),
		set("no deletion protection on prod", false, at(tblProps, "DeletionProtectionEnabled")...),
		set("prod deletes the table", obj{"Fn::If": []any{"IsProd", "Delete", "Retain"}}, "Resources", tableID, "DeletionPolicy"),
		set("no deletion policy", deleted, "Resources", tableID, "DeletionPolicy"),
		set("replacement deletes prod", "Delete", "Resources", tableID, "UpdateReplacePolicy"),
		set("IsProd means something else", obj{"Fn::Equals": []any{obj{"Ref": "Stage"}, "production"}}, "Conditions", "IsProd"),
		set("conditional policy without LanguageExtensions", "AWS::Serverless-2016-10-31", "Transform"),
		set("LanguageExtensions after SAM", []any{"AWS::Serverless-2016-10-31", "AWS::LanguageExtensions"}, "Transform"),
	}},
	{"FunctionPlatform", checkFunctionPlatform, []mutation{
		set("x86_64", []any{"x86_64"}, at(fnProps, "Architectures")...),
		set("no architecture (defaults to x86_64)", deleted, at(glProps, "Architectures")...),
		set("old runtime", "provided.al2", at(fnProps, "Runtime")...),
		set("handler", "main", at(fnProps, "Handler")...),
		set("not built by make", deleted, "Resources", functionID, "Metadata"),
		set("no tracing", "PassThrough", at(fnProps, "Tracing")...),
		set("timeout beyond API Gateway's", 30, at(fnProps, "Timeout")...),
		set("no memory size", deleted, at(glProps, "MemorySize")...),
		set("global x86_64", []any{"x86_64"}, at(glProps, "Architectures")...),
		set("global old runtime", "provided.al2", at(glProps, "Runtime")...),
		set("default log group", deleted, at(fnProps, "LoggingConfig")...),
		set("log group kept forever", deleted, "Resources", "FunctionLogGroup", "Properties", "RetentionInDays"),
	}},
	{"FunctionEnvironment", checkFunctionEnv, envMutations()},
	{"FunctionLeastPrivilege", checkFunctionIAM, []mutation{
		set("wildcard action", "dynamodb:*", at(fnStmts, 0, "Action", 0)...),
		set("prefix wildcard action", "secretsmanager:Get*", at(fnStmts, 1, "Action", 0)...),
		set("write access", []any{"dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:PutItem"}, at(fnStmts, 0, "Action")...),
		set("scan", []any{"dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:Scan"}, at(fnStmts, 0, "Action")...),
		set("GetItem, which no code calls", []any{"dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem"}, at(fnStmts, 0, "Action")...),
		set("wildcard resource", "*", at(fnStmts, 0, "Resource")...),
		set("every secret", obj{"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*"}, at(fnStmts, 1, "Resource")...),
		set("secrets of another prefix", obj{"Fn::Sub": []any{
			"arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${Prefix}/*",
			obj{"Prefix": obj{"Ref": "Stage"}},
		}}, at(fnStmts, 1, "Resource")...),
		set("table indexes too", obj{"Fn::Sub": "${MessagesTable.Arn}/*"}, at(fnStmts, 0, "Resource")...),
		set("NotAction", []any{"iam:*"}, at(fnStmts, 0, "NotAction")...),
		set("SAM policy template", []any{obj{"DynamoDBCrudPolicy": obj{"TableName": obj{"Ref": tableID}}}}, at(fnProps, "Policies")...),
		set("managed policy", []any{"AmazonDynamoDBReadOnlyAccess"}, at(fnProps, "Policies")...),
		set("own role", "arn:aws:iam::123456789012:role/admin", at(fnProps, "Role")...),
		set("extra IAM policy resource", obj{"Type": "AWS::IAM::Policy", "Properties": obj{}}, "Resources", "ExtraPolicy"),
		set("missing Query", []any{"dynamodb:BatchGetItem"}, at(fnStmts, 0, "Action")...),
		set("missing secrets access", deleted, at(fnStmts, 1)...),
	}},
	{"RestApi", checkAPI, []mutation{
		set("fixed stage name", "v1", at(apiProps, "StageName")...),
		set("no throttling", deleted, at(apiProps, "MethodSettings")...),
		set("throttling not a parameter", 10000, at(apiProps, "MethodSettings", 0, "ThrottlingRateLimit")...),
		set("wrong path", "/messages", at(event, "Path")...),
		set("wrong method", "POST", at(event, "Method")...),
		set("route on the implicit API", deleted, at(event, "RestApiId")...),
		set("no access log", deleted, at(apiProps, "AccessLogSetting")...),
		set("access log not JSON", "$context.identity.sourceIp [$context.requestTime] $context.status", at(apiProps, "AccessLogSetting", "Format")...),
		set("access log group kept forever", deleted, "Resources", "ApiAccessLogGroup", "Properties", "RetentionInDays"),
	}},
	{"Alarms", checkAlarms, []mutation{
		set("no errors alarm", deleted, "Resources", "FunctionErrorsAlarm"),
		set("no throttles alarm", deleted, "Resources", "FunctionThrottlesAlarm"),
		set("no 5xx alarm", deleted, "Resources", "Api5xxAlarm"),
		set("latency average, not p99", deleted, "Resources", "ApiLatencyP99Alarm", "Properties", "ExtendedStatistic"),
		set("errors of another function", []any{obj{"Name": "FunctionName", "Value": "other"}}, "Resources", "FunctionErrorsAlarm", "Properties", "Dimensions"),
		set("5xx of another API", []any{obj{"Name": "ApiName", "Value": "other"}, obj{"Name": "Stage", "Value": obj{"Ref": "Stage"}}}, "Resources", "Api5xxAlarm", "Properties", "Dimensions"),
	}},
	{"Outputs", checkOutputs, []mutation{
		set("wrong URL path", obj{"Fn::Sub": "https://${VipMessagesApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}/messages"}, "Outputs", "ApiUrl", "Value"),
		set("no URL", deleted, "Outputs", "ApiUrl"),
		set("no table name", deleted, "Outputs", "TableName"),
	}},
	{"Parameters", checkParameters, []mutation{
		set("unknown stage allowed", []any{"dev", "staging", "prod", "qa"}, "Parameters", "Stage", "AllowedValues"),
		set("no SecretPrefix", deleted, "Parameters", "SecretPrefix"),
		set("bad log level default", "verbose", "Parameters", "LogLevel", "Default"),
		set("no throttling parameter", deleted, "Parameters", "ThrottlingBurstLimit"),
	}},
	{"References", danglingRefs, []mutation{
		set("Ref typo", obj{"Ref": "MessageTable"}, at(fnEnv, "TABLE_NAME")...),
		set("Sub typo", obj{"Fn::Sub": "vip-messages-${Stages}"}, at(tblProps, "TableName")...),
		set("GetAtt typo", obj{"Fn::GetAtt": []any{"AccessLogs", "Arn"}}, at(apiProps, "AccessLogSetting", "DestinationArn")...),
		set("unknown condition", obj{"Fn::If": []any{"IsProduction", true, false}}, at(tblProps, "DeletionProtectionEnabled")...),
		set("mapping lacks a stage", deleted, "Mappings", "StageDefaults", "staging"),
	}},
}

func TestTemplate(t *testing.T) {
	tpl := loadTemplate(t)
	for _, tc := range templateChecks {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range tc.check(tpl) {
				t.Errorf("template.yaml: %s", p)
			}
			for _, m := range tc.breaks {
				broken := deepCopy(tpl).(obj)
				m.apply(broken)
				if reflect.DeepEqual(broken, tpl) {
					t.Errorf("mutation %q changed nothing: fix the test", m.name)
					continue
				}
				if len(tc.check(broken)) == 0 {
					t.Errorf("a template with %q passes the check", m.name)
				}
			}
		})
	}
}

// TestSecretPrefixWrittenOnce: the stage's secret prefix is computed in one place
// (a YAML anchor on SECRET_PREFIX) and aliased by the policy and the output, so the
// three cannot drift apart.
func TestSecretPrefixWrittenOnce(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(text string) string {
		if n := strings.Count(text, "!If [DefaultSecretPrefix,"); n != 1 {
			return fmt.Sprintf("the SecretPrefix !If is written %d times, want once", n)
		}
		return ""
	}
	if p := check(string(raw)); p != "" {
		t.Error(p)
	}
	expanded := strings.Replace(string(raw), "Prefix: *secretPrefix", `Prefix: !If [DefaultSecretPrefix, !Sub "vip-api/${Stage}/api-keys", !Ref SecretPrefix]`, 1)
	if expanded == string(raw) || check(expanded) == "" {
		t.Error("the check accepts a template that writes the SecretPrefix !If twice")
	}
}

// function returns the API function's properties, with Globals.Function under them.
func function(tpl obj) obj { return functionOf(tpl, functionID) }

// functionOf returns a function's properties merged over Globals.Function, as SAM
// merges them: maps key by key (so Environment.Variables add up), lists appended to
// the global ones, anything else the function's own value.
func functionOf(tpl obj, id string) obj {
	merged, _ := mergeGlobal(asObj(get(tpl, "Globals", "Function")), asObj(get(tpl, "Resources", id, "Properties"))).(obj)
	return merged
}

func mergeGlobal(global, local any) any {
	g, gok := global.(obj)
	l, lok := local.(obj)
	switch {
	case gok && lok:
		out := obj{}
		for k, v := range g {
			out[k] = v
		}
		for k, v := range l {
			out[k] = mergeGlobal(g[k], v)
		}
		return out
	case local == nil:
		return global
	}
	gl, glok := global.([]any)
	ll, llok := local.([]any)
	if glok && llok {
		return append(slices.Clone(gl), ll...)
	}
	return local
}

func checkTableKeys(tpl obj) []string {
	var problems []string
	if typ := str(get(tpl, "Resources", tableID, "Type")); typ != "AWS::DynamoDB::Table" {
		return []string{fmt.Sprintf("%s is %q, not an AWS::DynamoDB::Table", tableID, typ)}
	}
	props := get(tpl, tblProps...)
	// The code builds every key with these two names; CloudFormation wants HASH first.
	want := []any{
		obj{"AttributeName": table.PartitionKeyAttr, "KeyType": "HASH"},
		obj{"AttributeName": table.SortKeyAttr, "KeyType": "RANGE"},
	}
	if got := get(props, "KeySchema"); !reflect.DeepEqual(got, want) {
		problems = append(problems, fmt.Sprintf("KeySchema is %v, the code queries %v", got, want))
	}
	// Without indexes, DynamoDB accepts only the key attributes here; both are strings.
	wantDefs := map[string]string{table.PartitionKeyAttr: "S", table.SortKeyAttr: "S"}
	gotDefs := map[string]string{}
	for _, d := range asList(get(props, "AttributeDefinitions")) {
		gotDefs[str(get(d, "AttributeName"))] = str(get(d, "AttributeType"))
	}
	if !reflect.DeepEqual(gotDefs, wantDefs) {
		problems = append(problems, fmt.Sprintf("AttributeDefinitions are %v, want %v", gotDefs, wantDefs))
	}
	return problems
}

func checkTableDurability(tpl obj) []string {
	var problems []string
	props := get(tpl, tblProps...)
	expect := func(what string, got, want any) {
		if !reflect.DeepEqual(got, want) {
			problems = append(problems, fmt.Sprintf("table %s is %v, want %v", what, got, want))
		}
	}
	expect("BillingMode", get(props, "BillingMode"), "PAY_PER_REQUEST")
	expect("point-in-time recovery", get(props, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"), true)
	expect("stream", get(props, "StreamSpecification", "StreamViewType"), "NEW_AND_OLD_IMAGES")

	if !slices.Contains(stages(tpl), "prod") {
		return append(problems, "the Stage parameter does not allow prod")
	}
	conditional := false
	for _, attr := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
		raw := get(tpl, "Resources", tableID, attr)
		conditional = conditional || asObj(raw) != nil
		v, ok := forStage(tpl, raw, "prod")
		if !ok || v != "Retain" {
			problems = append(problems, fmt.Sprintf("table %s on prod is %v, want Retain", attr, v))
		}
	}
	// The LanguageExtensions transform rejects RetainExceptOnCreate
	// (aws-cloudformation/cfn-language-discussion#139): a first deploy would fail.
	// scripts/preflight and the README runbook cover a failed first create instead.
	if tr, _ := stringsOf(tpl["Transform"]); slices.Contains(tr, "AWS::LanguageExtensions") {
		for _, attr := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
			for _, v := range possibleValues(tpl, get(tpl, "Resources", tableID, attr)) {
				if v == "RetainExceptOnCreate" {
					problems = append(problems, fmt.Sprintf("table %s can be RetainExceptOnCreate, which AWS::LanguageExtensions rejects", attr))
				}
			}
		}
	}
	if v, ok := forStage(tpl, get(props, "DeletionProtectionEnabled"), "prod"); !ok || v != true {
		problems = append(problems, fmt.Sprintf("table deletion protection on prod is %v, want true", v))
	}
	// An intrinsic in a policy attribute needs AWS::LanguageExtensions, before SAM's transform.
	if conditional {
		tr, _ := stringsOf(tpl["Transform"])
		le, sam := slices.Index(tr, "AWS::LanguageExtensions"), slices.Index(tr, "AWS::Serverless-2016-10-31")
		if le < 0 || sam < 0 || le > sam {
			problems = append(problems, fmt.Sprintf("a conditional DeletionPolicy needs Transform [AWS::LanguageExtensions, AWS::Serverless-2016-10-31], got %v", tr))
		}
	}
	return problems
}

// functionIDs are the template's functions: the label indexer, the deploy's
// pre-traffic hook and the API (sorted).
var functionIDs = []string{indexerID, hookID, functionID}

func checkFunctionPlatform(tpl obj) []string {
	if ids := resourcesOfType(tpl, "AWS::Serverless::Function"); !reflect.DeepEqual(ids, functionIDs) {
		return []string{fmt.Sprintf("want exactly the functions %v, got %v", functionIDs, ids)}
	}
	var problems []string
	for _, id := range functionIDs {
		problems = append(problems, checkPlatformOf(tpl, id)...)
	}
	return problems
}

func checkPlatformOf(tpl obj, id string) []string {
	var problems []string
	fn := functionOf(tpl, id)
	expect := func(what string, got, want any) {
		if !reflect.DeepEqual(got, want) {
			problems = append(problems, fmt.Sprintf("function %s %s is %v, want %v", id, what, got, want))
		}
	}
	expect("Runtime", fn["Runtime"], "provided.al2023")
	expect("Architectures", fn["Architectures"], []any{"arm64"})
	expect("Handler", fn["Handler"], "bootstrap")
	expect("Tracing", fn["Tracing"], "Active")
	expect("build method", get(tpl, "Resources", id, "Metadata", "BuildMethod"), "makefile")
	if mem, ok := fn["MemorySize"].(int); !ok || mem < 128 || mem > 10240 {
		problems = append(problems, fmt.Sprintf("function %s MemorySize %v is not an explicit 128-10240", id, fn["MemorySize"]))
	}
	// API Gateway gives up after 29 s; the API function must end (and log) before that.
	// The stream function has Lambda's own limit.
	maxTimeout := 28
	if id != functionID {
		maxTimeout = 900
	}
	if to, ok := fn["Timeout"].(int); !ok || to < 1 || to > maxTimeout {
		problems = append(problems, fmt.Sprintf("function %s Timeout %v is not an explicit 1-%d s", id, fn["Timeout"], maxTimeout))
	}
	lg := str(get(fn, "LoggingConfig", "LogGroup", "Ref"))
	if lg == "" {
		problems = append(problems, fmt.Sprintf("function %s LoggingConfig.LogGroup does not Ref a log group of the template", id))
	} else {
		problems = append(problems, checkLogGroup(tpl, lg)...)
	}
	return problems
}

func checkLogGroup(tpl obj, id string) []string {
	if str(get(tpl, "Resources", id, "Type")) != "AWS::Logs::LogGroup" {
		return []string{fmt.Sprintf("%s is not an AWS::Logs::LogGroup", id)}
	}
	if get(tpl, "Resources", id, "Properties", "RetentionInDays") == nil {
		return []string{fmt.Sprintf("log group %s has no RetentionInDays", id)}
	}
	return nil
}

// requiredEnv are the variables functions/vip-messages reads.
var requiredEnv = []string{
	"TABLE_NAME", "SECRET_PREFIX", "LOG_LEVEL",
	"KEY_CACHE_TTL", "KEY_NEGATIVE_TTL", "KEY_STALE_TTL", "WORKSPACE_CACHE_TTL",
	"FILTER_MAX_CALLS", "FILTER_MAX_ITEMS", "LABEL_QUERY",
}

// globalEnv are the variables both functions get from Globals.
var globalEnv = []string{"TABLE_NAME", "LOG_LEVEL"}

func envMutations() []mutation {
	var ms []mutation
	for _, name := range requiredEnv {
		path := at(fnEnv, name)
		if slices.Contains(globalEnv, name) {
			path = at(glEnv, name)
		}
		ms = append(ms, set("no "+name, deleted, path...))
	}
	return append(ms,
		set("table by name", "vip-messages-dev", at(fnEnv, "TABLE_NAME")...),
		set("fixed secret prefix", "vip-api/prod/api-keys", at(fnEnv, "SECRET_PREFIX")...),
		set("TTL not a Go duration", "5 minutes", at(fnEnv, "KEY_CACHE_TTL")...),
		set("TTL parameter default not a Go duration", "1 hour", "Parameters", "KeyStaleTTL", "Default"),
		set("budget not a number", "eight", at(fnEnv, "FILTER_MAX_CALLS")...),
		set("unknown label query", "scan", at(fnEnv, "LABEL_QUERY")...),
		set("bad stage log level", "verbose", "Mappings", "StageDefaults", "prod", "LogLevel"),
	)
}

var logLevels = []string{"debug", "info", "warn", "error"}

func checkFunctionEnv(tpl obj) []string {
	var problems []string
	env := asObj(get(function(tpl), "Environment", "Variables"))
	for _, name := range requiredEnv {
		if env[name] == nil {
			problems = append(problems, "function environment lacks "+name)
		}
	}
	if v := env["TABLE_NAME"]; v != nil && !isRef(v, tableID) {
		problems = append(problems, fmt.Sprintf("TABLE_NAME is %v, want Ref %s", v, tableID))
	}
	if v := env["SECRET_PREFIX"]; v != nil && !refersTo(v, "SecretPrefix") {
		problems = append(problems, fmt.Sprintf("SECRET_PREFIX %v does not use the SecretPrefix parameter", v))
	}
	if v := env["LOG_LEVEL"]; v != nil {
		for _, lvl := range possibleValues(tpl, v) {
			if !slices.Contains(logLevels, lvl) {
				problems = append(problems, fmt.Sprintf("LOG_LEVEL can be %q, not one of %v", lvl, logLevels))
			}
		}
	}
	for _, name := range []string{"KEY_CACHE_TTL", "KEY_NEGATIVE_TTL", "KEY_STALE_TTL", "WORKSPACE_CACHE_TTL"} {
		for _, s := range possibleValues(tpl, env[name]) {
			if d, err := time.ParseDuration(s); err != nil || d <= 0 {
				problems = append(problems, fmt.Sprintf("%s can be %q, not a positive Go duration", name, s))
			}
		}
	}
	for _, s := range possibleValues(tpl, env["LABEL_QUERY"]) {
		if s != "index" && s != "filter" {
			problems = append(problems, fmt.Sprintf("LABEL_QUERY can be %q, not index or filter", s))
		}
	}
	for _, name := range []string{"FILTER_MAX_CALLS", "FILTER_MAX_ITEMS"} {
		for _, s := range possibleValues(tpl, env[name]) {
			if n, err := strconv.Atoi(s); err != nil || n <= 0 {
				problems = append(problems, fmt.Sprintf("%s can be %q, not a positive integer", name, s))
			}
		}
	}
	return problems
}

// possibleValues lists the literal values an expression can take on any stage:
// literals, parameter defaults and allowed values, Stage-keyed mapping entries,
// both branches of Fn::If. An empty parameter default is the "use the stage
// default" convention, resolved by the Fn::If around it, so it is left out.
func possibleValues(tpl obj, v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case int:
		return []string{strconv.Itoa(x)}
	}
	m := asObj(v)
	if name, ok := m["Ref"].(string); ok {
		p := asObj(get(tpl, "Parameters", name))
		vals, _ := stringsOf(p["AllowedValues"])
		vals = append(vals, possibleValues(tpl, p["Default"])...)
		return slices.DeleteFunc(vals, func(s string) bool { return s == "" })
	}
	if args := asList(m["Fn::If"]); len(args) == 3 {
		return append(possibleValues(tpl, args[1]), possibleValues(tpl, args[2])...)
	}
	if args := asList(m["Fn::FindInMap"]); len(args) == 3 && isRef(args[1], "Stage") {
		var out []string
		for _, s := range stages(tpl) {
			out = append(out, possibleValues(tpl, get(tpl, "Mappings", str(args[0]), s, str(args[2])))...)
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// allowedActions is everything the function may do, and on what: the table
// actions are the calls its code makes (TestGrantedActionsAreCalled).
var allowedActions = map[string]string{
	"dynamodb:Query":                "table",
	"dynamodb:BatchGetItem":         "table",
	"secretsmanager:GetSecretValue": "secrets",
	"kms:Decrypt":                   "tablekey",
}

const secretARN = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"

// checkFunctionIAM checks the statements the template gives the function. SAM adds
// two managed policies on its own, outside these statements: AWSLambdaBasicExecutionRole
// (writing its logs) and, because Tracing is Active, AWSXrayWriteOnlyAccess, whose
// X-Ray actions cannot be scoped to a resource. Nothing else may reach the role: no
// Role of our own, no managed policies or SAM policy templates, no IAM resources.
func checkFunctionIAM(tpl obj) []string {
	var problems []string
	for id, r := range asObj(tpl["Resources"]) {
		if strings.HasPrefix(str(get(r, "Type")), "AWS::IAM::") {
			problems = append(problems, fmt.Sprintf("resource %s (%s) can widen the function's permissions", id, get(r, "Type")))
		}
	}
	fn := function(tpl)
	prefixExpr := get(fn, "Environment", "Variables", "SECRET_PREFIX")
	return append(problems, checkPolicies(tpl, functionID, allowedActions, func(kind string, r any) string {
		return checkResource(kind, r, prefixExpr)
	})...)
}

// checkPolicies checks a function's inline statements against allowed (action ->
// resource kind); resource says whether a Resource is the right one of a kind.
// Every allowed action must be granted, on resources that are all right.
func checkPolicies(tpl obj, id string, allowed map[string]string, resource func(kind string, r any) string) []string {
	var problems []string
	fn := functionOf(tpl, id)
	if fn["Role"] != nil {
		problems = append(problems, fmt.Sprintf("function %s has its own Role: its permissions escape this check", id))
	}
	granted := map[string]bool{}
	for i, p := range asList(fn["Policies"]) {
		stmts := asList(get(p, "Statement"))
		if stmts == nil {
			problems = append(problems, fmt.Sprintf("%s Policies[%d] %v is not an inline policy document with Statement", id, i, p))
			continue
		}
		for j, s := range flattenIfs(stmts) {
			where := fmt.Sprintf("%s Policies[%d].Statement[%d]", id, i, j)
			for _, k := range []string{"NotAction", "NotResource", "NotPrincipal"} {
				if get(s, k) != nil {
					problems = append(problems, fmt.Sprintf("%s uses %s", where, k))
				}
			}
			if get(s, "Effect") != "Allow" {
				problems = append(problems, fmt.Sprintf("%s Effect is %v, want Allow", where, get(s, "Effect")))
			}
			actions, ok := stringsOf(get(s, "Action"))
			if !ok || len(actions) == 0 {
				problems = append(problems, fmt.Sprintf("%s Action %v is not a list of names", where, get(s, "Action")))
			}
			resources := asList(get(s, "Resource"))
			if r := get(s, "Resource"); resources == nil && r != nil {
				resources = []any{r}
			}
			if len(resources) == 0 {
				problems = append(problems, where+" has no Resource")
			}
			for _, a := range actions {
				kind, ok := allowed[a]
				if strings.Contains(a, "*") || !ok {
					problems = append(problems, fmt.Sprintf("%s grants %q, beyond %v", where, a, keys(allowed)))
					continue
				}
				okAll := true
				if kind == anyResource {
					// An action without resource-level permissions: "*" is the only
					// true Resource, so it gets a statement of its own.
					if !reflect.DeepEqual(resources, []any{"*"}) {
						problems = append(problems, fmt.Sprintf(`%s %s: Resource %v, want exactly "*" (the action has no resource-level permissions)`, where, a, resources))
						okAll = false
					}
					for _, other := range actions {
						if allowed[other] != anyResource {
							problems = append(problems, fmt.Sprintf(`%s: %s shares the "*" statement of %s`, where, other, a))
							okAll = false
						}
					}
					granted[a] = granted[a] || okAll
					continue
				}
				for _, r := range resources {
					if r == "*" {
						problems = append(problems, fmt.Sprintf(`%s %s: Resource "*"`, where, a))
						okAll = false
					} else if p := resource(kind, r); p != "" {
						problems = append(problems, fmt.Sprintf("%s %s: %s", where, a, p))
						okAll = false
					}
				}
				granted[a] = granted[a] || okAll
			}
		}
	}
	// And the function must be able to do its job.
	for a := range allowed {
		if !granted[a] {
			problems = append(problems, fmt.Sprintf("function %s is not granted %s", id, a))
		}
	}
	return problems
}

// anyResource is the resource kind of an action that takes only Resource "*".
const anyResource = "*"

// flattenIfs replaces each {"Fn::If": [cond, a, b]} statement by its branches,
// leaving out AWS::NoValue, so both outcomes are checked.
func flattenIfs(stmts []any) []any {
	var out []any
	for _, s := range stmts {
		args := asList(get(s, "Fn::If"))
		if len(args) != 3 {
			out = append(out, s)
			continue
		}
		for _, b := range args[1:] {
			if !isRef(b, "AWS::NoValue") {
				out = append(out, flattenIfs([]any{b})...)
			}
		}
	}
	return out
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkResource accepts exactly this table, or exactly the secrets under the prefix
// the function is told (SECRET_PREFIX), so what it may read and what it reads agree.
func checkResource(kind string, r, prefixExpr any) string {
	if r == "*" {
		return `Resource "*"`
	}
	switch kind {
	case "table":
		if !isGetAtt(r, tableID, "Arn") {
			return fmt.Sprintf("Resource %v is not exactly !GetAtt %s.Arn", r, tableID)
		}
	case "tablekey":
		if !isRef(r, "TableKmsKeyArn") {
			return fmt.Sprintf("Resource %v is not exactly Ref TableKmsKeyArn", r)
		}
	case "secrets":
		sub := get(r, "Fn::Sub")
		s, vars := str(sub), obj(nil)
		if l := asList(sub); len(l) == 2 {
			s, vars = str(l[0]), asObj(l[1])
		}
		name, ok := strings.CutPrefix(s, secretARN+"${")
		name, ok2 := strings.CutSuffix(name, "}/*")
		if !ok || !ok2 || strings.ContainsAny(name, "${}*") {
			return fmt.Sprintf("Resource %v is not %s${<prefix>}/*", r, secretARN)
		}
		prefix := any(obj{"Ref": name})
		if v, ok := vars[name]; ok {
			prefix = v
		}
		if !reflect.DeepEqual(prefix, prefixExpr) {
			return fmt.Sprintf("secret prefix %v differs from SECRET_PREFIX %v", prefix, prefixExpr)
		}
	}
	return ""
}

// contextVarRE matches API Gateway's $context variables in an access log format.
var contextVarRE = regexp.MustCompile(`\$context\.[A-Za-z0-9_.]+`)

func checkAPI(tpl obj) []string {
	var problems []string
	if ids := resourcesOfType(tpl, "AWS::Serverless::Api"); !reflect.DeepEqual(ids, []string{apiID}) {
		return []string{fmt.Sprintf("want exactly one AWS::Serverless::Api %s, got %v", apiID, ids)}
	}
	api := get(tpl, apiProps...)
	if !isRef(get(api, "StageName"), "Stage") {
		problems = append(problems, fmt.Sprintf("API StageName is %v, want Ref Stage", get(api, "StageName")))
	}
	throttled := false
	for _, ms := range asList(get(api, "MethodSettings")) {
		rate, burst := str(get(ms, "ThrottlingRateLimit", "Ref")), str(get(ms, "ThrottlingBurstLimit", "Ref"))
		if get(ms, "ResourcePath") == "/*" && get(ms, "HttpMethod") == "*" && rate != "" && burst != "" &&
			get(tpl, "Parameters", rate, "Type") == "Number" && get(tpl, "Parameters", burst, "Type") == "Number" {
			throttled = true
		}
	}
	if !throttled {
		problems = append(problems, "API has no stage-wide MethodSettings with ThrottlingRateLimit and ThrottlingBurstLimit from Number parameters")
	}
	ev := get(tpl, event...)
	if !isRef(get(ev, "RestApiId"), apiID) || get(ev, "Path") != "/vip-messages" || !strings.EqualFold(str(get(ev, "Method")), "GET") {
		problems = append(problems, fmt.Sprintf("function event GetVipMessages is %v, want GET /vip-messages on Ref %s", ev, apiID))
	}
	dest := get(api, "AccessLogSetting", "DestinationArn")
	if l := asList(get(dest, "Fn::GetAtt")); len(l) != 2 || l[1] != "Arn" {
		problems = append(problems, fmt.Sprintf("API access log destination %v is not !GetAtt <log group>.Arn", dest))
	} else {
		problems = append(problems, checkLogGroup(tpl, str(l[0]))...)
	}
	// Each variable becomes one value; what is left must be one JSON object.
	format := str(get(api, "AccessLogSetting", "Format"))
	var line map[string]any
	if err := json.Unmarshal([]byte(contextVarRE.ReplaceAllString(format, "0")), &line); err != nil {
		problems = append(problems, fmt.Sprintf("API access log format is not JSON: %v", err))
	} else if !strings.Contains(format, "$context.requestId") || !strings.Contains(format, "$context.status") {
		problems = append(problems, "API access log lacks requestId or status")
	}
	return problems
}

func checkAlarms(tpl obj) []string {
	type metric struct{ namespace, name, stat string }
	dims := func(a any) map[string]any {
		out := map[string]any{}
		for _, d := range asList(get(a, "Properties", "Dimensions")) {
			out[str(get(d, "Name"))] = get(d, "Value")
		}
		return out
	}
	apiName := get(tpl, at(apiProps, "Name")...)
	fnDims := map[string]any{"FunctionName": obj{"Ref": functionID}}
	apiDims := map[string]any{"ApiName": apiName, "Stage": obj{"Ref": "Stage"}}
	want := []struct {
		metric
		dims map[string]any
	}{
		{metric{"AWS/Lambda", "Errors", "Sum"}, fnDims},
		{metric{"AWS/Lambda", "Throttles", "Sum"}, fnDims},
		{metric{"AWS/ApiGateway", "5XXError", "Sum"}, apiDims},
		{metric{"AWS/ApiGateway", "Latency", "p99"}, apiDims},
	}
	var problems []string
	if apiName == nil {
		problems = append(problems, "the API has no Name for its alarms' ApiName dimension")
	}
	alarms := resourcesOfType(tpl, "AWS::CloudWatch::Alarm")
	for _, w := range want {
		found := slices.ContainsFunc(alarms, func(id string) bool {
			a := get(tpl, "Resources", id)
			stat := str(get(a, "Properties", "Statistic"))
			if ext := str(get(a, "Properties", "ExtendedStatistic")); ext != "" {
				stat = ext
			}
			got := metric{str(get(a, "Properties", "Namespace")), str(get(a, "Properties", "MetricName")), stat}
			return got == w.metric && reflect.DeepEqual(dims(a), w.dims)
		})
		if !found {
			problems = append(problems, fmt.Sprintf("no alarm on %s %s (%s) for %v", w.namespace, w.name, w.stat, w.dims))
		}
	}
	return problems
}

func checkOutputs(tpl obj) []string {
	var problems []string
	wantURL := obj{"Fn::Sub": "https://${" + apiID + "}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${Stage}/vip-messages"}
	if got := get(tpl, "Outputs", "ApiUrl", "Value"); !reflect.DeepEqual(got, wantURL) {
		problems = append(problems, fmt.Sprintf("Outputs.ApiUrl is %v, want %v", got, wantURL))
	}
	if got := get(tpl, "Outputs", "TableName", "Value"); !isRef(got, tableID) {
		problems = append(problems, fmt.Sprintf("Outputs.TableName is %v, want Ref %s", got, tableID))
	}
	return problems
}

func checkParameters(tpl obj) []string {
	var problems []string
	if got := stages(tpl); !reflect.DeepEqual(got, []string{"dev", "staging", "prod"}) {
		problems = append(problems, fmt.Sprintf("Stage allows %v, want [dev staging prod]", got))
	}
	for _, name := range []string{"Stage", "SecretPrefix", "LogLevel", "KeyCacheTTL", "KeyNegativeTTL",
		"KeyStaleTTL", "WorkspaceCacheTTL", "ThrottlingRateLimit", "ThrottlingBurstLimit",
		"AlarmTopicArn", "AlarmEmail", "TableKmsKeyArn", "ProvisionedConcurrency"} {
		p := asObj(get(tpl, "Parameters", name))
		if p == nil {
			problems = append(problems, "no parameter "+name)
			continue
		}
		if d, ok := p["Default"]; ok {
			if err := paramAccepts(p, fmt.Sprint(d)); err != nil {
				problems = append(problems, fmt.Sprintf("parameter %s default: %v", name, err))
			}
		}
	}
	return problems
}

// paramAccepts applies a parameter's own constraints to a value, as CloudFormation does.
func paramAccepts(p obj, v string) error {
	if allowed, ok := stringsOf(p["AllowedValues"]); ok && p["AllowedValues"] != nil && !slices.Contains(allowed, v) {
		return fmt.Errorf("%q is not one of %v", v, allowed)
	}
	if pat := str(p["AllowedPattern"]); pat != "" {
		re, err := regexp.Compile("^(?:" + pat + ")$")
		if err != nil {
			return fmt.Errorf("AllowedPattern %q: %v", pat, err)
		}
		if !re.MatchString(v) {
			return fmt.Errorf("%q does not match %q", v, pat)
		}
	}
	if p["Type"] == "Number" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		if lo, ok := p["MinValue"].(int); ok && n < float64(lo) {
			return fmt.Errorf("%v is below MinValue %d", n, lo)
		}
	}
	return nil
}
