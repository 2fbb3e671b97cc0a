package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// The policies of account.yaml, rendered as CloudFormation would for one account, and
// evaluated request by request with @cloud-copilot/iam-simulate (tools/iam,
// `make tools`). docs/pipeline-security.md has the table of roles these cases pin.

const (
	acct    = "123456789012" // what stack.ref gives AWS::AccountId
	region  = "us-east-1"
	repo    = "vip-messages/api"
	oidcArn = "arn:aws:iam::" + acct + ":oidc-provider/token.actions.githubusercontent.com"
	bucket  = "vip-messages-artifacts-" + acct + "-" + region
)

// loadAccount parses account.yaml with its Fn::ForEach loops expanded.
func loadAccount(t *testing.T) obj {
	t.Helper()
	tpl, err := parseYAML(readFile(t, "account.yaml"))
	if err != nil {
		t.Fatalf("account.yaml: %v", err)
	}
	return expandForEach(tpl)
}

// clone copies a decoded template so that a mutation leaves the original alone.
func clone(v obj) obj {
	raw, _ := json.Marshal(v)
	var out obj
	if err := json.Unmarshal(raw, &out); err != nil {
		panic(err)
	}
	return out
}

// expandForEach expands Fn::ForEach (AWS::LanguageExtensions) in Resources and Outputs.
func expandForEach(tpl obj) obj {
	for _, section := range []string{"Resources", "Outputs"} {
		m := asObj(tpl[section])
		for key, loop := range m {
			if !strings.HasPrefix(key, "Fn::ForEach::") {
				continue
			}
			delete(m, key)
			l := asList(loop)
			id := str(l[0])
			raw, _ := json.Marshal(l[2])
			for _, v := range asList(l[1]) {
				s := strings.ReplaceAll(string(raw), `{"Ref":"`+id+`"}`, `"`+str(v)+`"`)
				s = strings.ReplaceAll(s, "${"+id+"}", str(v))
				var body obj
				if err := json.Unmarshal([]byte(s), &body); err != nil {
					panic(err)
				}
				for k, r := range body {
					m[k] = r
				}
			}
		}
	}
	return tpl
}

// renderer is stack's evaluation with physical values in place of its <Resource>
// and <Resource.Attribute>: a resource's name property or, as CloudFormation makes
// it, <stack>-<logical id>-<suffix>.
type renderer struct{ stack }

var placeholderRE = regexp.MustCompile(`<([A-Za-z0-9]+)(?:\.([A-Za-z]+))?>`)

func (r renderer) value(v any) any { return r.fill(r.eval(v)) }

func (r renderer) fill(v any) any {
	switch x := v.(type) {
	case string:
		return placeholderRE.ReplaceAllStringFunc(x, func(m string) string {
			p := placeholderRE.FindStringSubmatch(m)
			if p[2] != "" {
				return r.att(p[1], p[2])
			}
			return r.physical(p[1])
		})
	case []any:
		for i := range x {
			x[i] = r.fill(x[i])
		}
	case obj:
		for k := range x {
			x[k] = r.fill(x[k])
		}
	}
	return v
}

// physical is what Ref gives for a resource.
func (r renderer) physical(id string) string {
	switch str(get(r.tpl, "Resources", id, "Type")) {
	case "AWS::IAM::OIDCProvider":
		return oidcArn
	case "AWS::IAM::ManagedPolicy", "AWS::SNS::Topic", "AWS::Lambda::Version", "AWS::Lambda::Alias":
		return r.att(id, "Arn")
	}
	return r.name(id)
}

// name is a resource's physical name.
func (r renderer) name(id string) string {
	props := asObj(get(r.tpl, "Resources", id, "Properties"))
	for _, k := range []string{"RoleName", "ManagedPolicyName", "BucketName", "FunctionName", "TableName", "QueueName",
		"TopicName", "AlarmName", "DashboardName", "LogGroupName"} {
		if props[k] != nil && str(get(r.tpl, "Resources", id, "Type")) != "AWS::Lambda::Alias" {
			return fmt.Sprint(r.value(props[k]))
		}
	}
	return "vip-messages-" + r.stage + "-" + id + "-A1B2C3"
}

func (r renderer) att(id, attr string) string {
	res := asObj(get(r.tpl, "Resources", id))
	n, fn := r.name(id), func(p string) string { return "arn:aws:lambda:" + region + ":" + acct + ":function:" + p }
	switch str(res["Type"]) + "." + attr {
	case "AWS::IAM::Role.Arn":
		return "arn:aws:iam::" + acct + ":role/" + n
	case "AWS::IAM::ManagedPolicy.Arn":
		return "arn:aws:iam::" + acct + ":policy/" + n
	case "AWS::S3::Bucket.Arn":
		return "arn:aws:s3:::" + n
	case "AWS::Lambda::Function.Arn":
		return fn(n)
	case "AWS::Lambda::Version.Arn":
		return fn(fmt.Sprint(r.value(get(res, "Properties", "FunctionName")))) + ":1"
	case "AWS::Lambda::Alias.Arn":
		return fn(fmt.Sprint(r.value(get(res, "Properties", "FunctionName")))) + ":" + str(get(res, "Properties", "Name"))
	case "AWS::DynamoDB::Table.Arn":
		return "arn:aws:dynamodb:" + region + ":" + acct + ":table/" + n
	case "AWS::DynamoDB::Table.StreamArn":
		return "arn:aws:dynamodb:" + region + ":" + acct + ":table/" + n + "/stream/2026-01-01T00:00:00.000"
	case "AWS::SQS::Queue.Arn":
		return "arn:aws:sqs:" + region + ":" + acct + ":" + n
	case "AWS::SNS::Topic.Arn":
		return "arn:aws:sns:" + region + ":" + acct + ":" + n
	}
	return "unresolved:" + id + "." + attr
}

// request is one evaluation: allow says whether IAM must allow it, why says what it is.
type request struct {
	Principal      string         `json:"principal"`
	Action         string         `json:"action"`
	Resource       string         `json:"resource"`
	Account        string         `json:"account"`
	Context        map[string]any `json:"context,omitempty"`
	Identity       []any          `json:"identity,omitempty"`
	Boundary       []any          `json:"boundary,omitempty"`
	ResourcePolicy any            `json:"resourcePolicy,omitempty"`
	why            string
	allow          bool
}

// simulate evaluates every request in one run of tools/iam/simulate.mjs and returns,
// for each, what is wrong with its answer ("" when it is the one expected).
func simulate(t *testing.T, reqs []request) []string {
	t.Helper()
	in, _ := json.Marshal(reqs)
	cmd := exec.Command("node", "simulate.mjs")
	cmd.Dir = filepath.Join(repoRoot(t), "tools", "iam")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tools/iam/simulate.mjs: %v\n%s", err, stderr.String())
	}
	var res []struct{ Result, Error string }
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(reqs) {
		t.Fatalf("tools/iam/simulate.mjs answered %d results for %d requests (%v)", len(res), len(reqs), err)
	}
	problems := make([]string, len(reqs))
	for i, q := range reqs {
		switch got := res[i]; {
		case got.Error != "":
			problems[i] = fmt.Sprintf("%s: %s on %s: %s", q.why, q.Action, q.Resource, got.Error)
		case (got.Result == "Allowed") != q.allow:
			problems[i] = fmt.Sprintf("%s: %s on %s is %s, want allowed=%v", q.why, q.Action, q.Resource, got.Result, q.allow)
		}
	}
	return problems
}

// awsManaged holds the AWS-managed policies a mutation may attach, as AWS defines them.
var awsManaged = map[string]any{
	"arn:aws:iam::aws:policy/AdministratorAccess": obj{"Version": "2012-10-17", "Statement": []any{obj{"Effect": "Allow", "Action": "*", "Resource": "*"}}},
	"arn:aws:iam::aws:policy/PowerUserAccess": obj{"Version": "2012-10-17", "Statement": []any{
		obj{"Effect": "Allow", "NotAction": []any{"iam:*", "organizations:*", "account:*"}, "Resource": "*"}}},
}

// policies are the identity policies of a rendered role.
func policies(t *testing.T, acctTpl obj, id string) []any {
	t.Helper()
	props := asObj(get(acctTpl, "Resources", id, "Properties"))
	var out []any
	for _, p := range asList(props["Policies"]) {
		out = append(out, get(p, "PolicyDocument"))
	}
	for _, arn := range asList(props["ManagedPolicyArns"]) {
		doc, ok := awsManaged[str(arn)]
		if !ok {
			t.Fatalf("%s attaches %v, which the test does not know", id, arn)
		}
		out = append(out, doc)
	}
	return out
}

// ghToken is the claims IAM sees of a GitHub Actions token under the repository's
// custom subject template (docs/pipeline-security.md): env is the subject's context.
func ghToken(r, env, ref, workflow, jobWorkflow string) map[string]any {
	wf := func(f string) string { return r + "/.github/workflows/" + f + "@" + ref }
	return map[string]any{
		"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
		"token.actions.githubusercontent.com:sub": "repo:" + r + ":" + env + ":ref:" + ref + ":workflow_ref:" + wf(workflow) + ":job_workflow_ref:" + wf(jobWorkflow),
	}
}

// cfnActions are the calls CloudFormation makes, with the execution role, to create,
// update and delete each resource type of the transformed template.yaml. A new type
// in the template fails the test until it is listed here and granted in account.yaml.
var cfnActions = map[string][]string{
	"AWS::Lambda::Function": {"lambda:CreateFunction", "lambda:GetFunction", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration",
		"lambda:DeleteFunction", "lambda:TagResource", "lambda:UntagResource", "lambda:ListTags", "lambda:GetRuntimeManagementConfig",
		"lambda:GetFunctionCodeSigningConfig", "lambda:GetFunctionRecursionConfig"},
	"AWS::Lambda::Version":            {"lambda:PublishVersion", "lambda:ListVersionsByFunction", "lambda:GetFunctionConfiguration"},
	"AWS::Lambda::Alias":              {"lambda:CreateAlias", "lambda:UpdateAlias", "lambda:GetAlias", "lambda:DeleteAlias"},
	"AWS::Lambda::Permission":         {"lambda:AddPermission", "lambda:RemovePermission", "lambda:GetPolicy"},
	"AWS::Lambda::EventSourceMapping": {"lambda:CreateEventSourceMapping", "lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping"},
	"AWS::DynamoDB::Table": {"dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable", "dynamodb:DeleteTable", "dynamodb:DescribeContinuousBackups",
		"dynamodb:UpdateContinuousBackups", "dynamodb:DescribeTimeToLive", "dynamodb:UpdateTimeToLive", "dynamodb:TagResource", "dynamodb:ListTagsOfResource"},
	"AWS::SQS::Queue":                  {"sqs:CreateQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes", "sqs:DeleteQueue", "sqs:TagQueue", "sqs:ListQueueTags"},
	"AWS::SNS::Topic":                  {"sns:CreateTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:DeleteTopic", "sns:TagResource", "sns:ListTagsForResource"},
	"AWS::SNS::Subscription":           {"sns:Subscribe", "sns:GetSubscriptionAttributes", "sns:ListSubscriptionsByTopic"},
	"AWS::CloudWatch::Alarm":           {"cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms", "cloudwatch:TagResource"},
	"AWS::CloudWatch::Dashboard":       {"cloudwatch:PutDashboard", "cloudwatch:GetDashboard", "cloudwatch:DeleteDashboards"},
	"AWS::Logs::LogGroup":              {"logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DeleteLogGroup", "logs:TagResource", "logs:ListTagsForResource"},
	"AWS::CodeDeploy::Application":     {"codedeploy:CreateApplication", "codedeploy:GetApplication", "codedeploy:DeleteApplication", "codedeploy:RegisterApplicationRevision"},
	"AWS::CodeDeploy::DeploymentGroup": {"codedeploy:CreateDeploymentGroup", "codedeploy:GetDeploymentGroup", "codedeploy:UpdateDeploymentGroup", "codedeploy:DeleteDeploymentGroup", "codedeploy:CreateDeployment", "codedeploy:GetDeployment"},
	"AWS::ApiGateway::RestApi":         {"apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:GET", "apigateway:DELETE"},
	// Creating a stage or deployment is a POST on the API's collection, which the
	// simulator's action data does not know; the policy's /restapis/* covers it.
	"AWS::ApiGateway::Deployment": {"apigateway:GET", "apigateway:DELETE"},
	"AWS::ApiGateway::Stage":      {"apigateway:PATCH", "apigateway:GET", "apigateway:DELETE"},
	"AWS::ApiGateway::UsagePlan":  {"apigateway:POST", "apigateway:PATCH", "apigateway:GET", "apigateway:DELETE"},
	"AWS::IAM::Role":              {"iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:TagRole", "iam:UpdateAssumeRolePolicy"},
}

// resourceArn is the ARN a request about one resource of the stage's stack names.
func resourceArn(rt renderer, id string) string {
	res := asObj(get(rt.tpl, "Resources", id))
	p := func(k string) string { return fmt.Sprint(rt.value(get(res, "Properties", k))) }
	apigw := "arn:aws:apigateway:" + region + "::"
	switch str(res["Type"]) {
	case "AWS::Lambda::Function", "AWS::Lambda::Version", "AWS::Lambda::Alias", "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::IAM::Role":
		return rt.att(id, "Arn")
	case "AWS::Lambda::Permission":
		return p("FunctionName")
	case "AWS::Lambda::EventSourceMapping":
		return "arn:aws:lambda:" + region + ":" + acct + ":event-source-mapping:0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f"
	case "AWS::SNS::Subscription":
		return p("TopicArn")
	case "AWS::CloudWatch::Alarm":
		return "arn:aws:cloudwatch:" + region + ":" + acct + ":alarm:" + rt.name(id)
	case "AWS::CloudWatch::Dashboard":
		return "arn:aws:cloudwatch::" + acct + ":dashboard/" + rt.name(id)
	case "AWS::Logs::LogGroup":
		return "arn:aws:logs:" + region + ":" + acct + ":log-group:" + rt.name(id)
	case "AWS::CodeDeploy::Application":
		return "arn:aws:codedeploy:" + region + ":" + acct + ":application:" + rt.name(id)
	case "AWS::CodeDeploy::DeploymentGroup":
		return "arn:aws:codedeploy:" + region + ":" + acct + ":deploymentgroup:" + p("ApplicationName") + "/" + rt.name(id)
	case "AWS::ApiGateway::RestApi":
		return apigw + "/restapis/a1b2c3d4e5"
	case "AWS::ApiGateway::Deployment":
		return apigw + "/restapis/a1b2c3d4e5/deployments/f6g7h8"
	case "AWS::ApiGateway::Stage":
		return apigw + "/restapis/a1b2c3d4e5/stages/" + p("StageName")
	case "AWS::ApiGateway::UsagePlan":
		return apigw + "/usageplans/u1v2w3"
	}
	return ""
}

// stageCases are every request the pipeline's deploy of one stage makes (allow), and
// what its roles must not do (deny).
// st is the stage's stack of the transformed template.yaml.
func stageCases(t *testing.T, acctTpl obj, st stack) []request {
	t.Helper()
	stage := st.stage
	ar := renderer{stack{tpl: acctTpl, stage: "account", params: map[string]string{"GitHubRepository": repo, "ExistingOidcProviderArn": ""}}}
	rendered := ar.value(acctTpl).(obj)
	deployID, execID, boundaryID := stage+"DeployRole", stage+"ExecutionRole", stage+"Boundary"
	for _, id := range []string{deployID, execID, boundaryID} {
		if get(rendered, "Resources", id) == nil {
			t.Fatalf("account.yaml has no %s", id)
		}
	}
	deployArn, execArn, boundaryArn := ar.att(deployID, "Arn"), ar.att(execID, "Arn"), ar.att(boundaryID, "Arn")
	other := map[string]string{"dev": "prod", "staging": "prod", "prod": "dev"}[stage]
	stack := "arn:aws:cloudformation:" + region + ":" + acct + ":stack/vip-messages-" + stage + "/5f0e1d2c-3b4a-5968-7a6b-8c9d0e1f2a3b"

	var reqs []request
	as := func(principal string, identity, boundary []any) func(bool, string, string, string, map[string]any) {
		return func(allow bool, why, action, resource string, ctx map[string]any) {
			reqs = append(reqs, request{Principal: principal, Action: action, Resource: resource, Account: acct, Context: ctx,
				Identity: identity, Boundary: boundary, why: stage + ": " + why, allow: allow})
		}
	}

	// Trust: the stage's job of the pipeline on main, nothing else.
	trust := get(rendered, "Resources", deployID, "Properties", "AssumeRolePolicyDocument")
	assume := func(allow bool, why string, token map[string]any) {
		reqs = append(reqs, request{Principal: oidcArn, Action: "sts:AssumeRoleWithWebIdentity", Resource: deployArn, Account: acct,
			Context: token, ResourcePolicy: trust, why: stage + ": " + why, allow: allow})
	}
	env := "environment:" + stage
	assume(true, "the pipeline's job on main", ghToken(repo, env, "refs/heads/main", "pipeline.yml", "deploy-stage.yml"))
	assume(false, "a token from another branch", ghToken(repo, env, "refs/heads/feature", "pipeline.yml", "deploy-stage.yml"))
	assume(false, "a token from a pull request", ghToken(repo, "pull_request", "refs/pull/7/merge", "pipeline.yml", "deploy-stage.yml"))
	assume(false, "a token from another workflow", ghToken(repo, env, "refs/heads/main", "release.yml", "deploy-stage.yml"))
	assume(false, "a token from another workflow's job", ghToken(repo, env, "refs/heads/main", "pipeline.yml", "deploy.yml"))
	assume(false, "a token from another stage's environment", ghToken(repo, "environment:"+other, "refs/heads/main", "pipeline.yml", "deploy-stage.yml"))
	assume(false, "a token from another repository", ghToken("vip-messages/api-fork", env, "refs/heads/main", "pipeline.yml", "deploy-stage.yml"))
	assume(false, "a token whose repository differs in case", ghToken("Vip-Messages/API", env, "refs/heads/main", "pipeline.yml", "deploy-stage.yml"))
	assume(false, "a token with GitHub's default subject", map[string]any{"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
		"token.actions.githubusercontent.com:sub": "repo:" + repo + ":" + env})
	wrongAud := ghToken(repo, env, "refs/heads/main", "pipeline.yml", "deploy-stage.yml")
	wrongAud["token.actions.githubusercontent.com:aud"] = "https://github.com/vip-messages"
	assume(false, "a token for another audience", wrongAud)

	// The deploy role: what sam deploy and scripts/preflight call, on this stage only.
	deploy := as(deployArn, policies(t, rendered, deployID), nil)
	for _, a := range []string{"CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet", "DeleteChangeSet", "DescribeStacks",
		"DescribeStackEvents", "GetTemplateSummary", "GetTemplate", "TagResource"} {
		deploy(true, "sam deploy", "cloudformation:"+a, stack, nil)
	}
	inAcct := map[string]any{"s3:ResourceAccount": acct}
	prefix := "arn:aws:s3:::" + bucket + "/vip-messages-"
	for _, a := range []string{"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"} {
		deploy(true, "artifacts under the stage's prefix", a, prefix+stage+"/0123456789abcdef.template", inAcct)
	}
	deploy(true, "passes its execution role to CloudFormation", "iam:PassRole", execArn, map[string]any{"iam:PassedToService": "cloudformation.amazonaws.com"})
	deploy(true, "preflight", "apigateway:GET", "arn:aws:apigateway:"+region+"::/account", nil)
	deploy(true, "preflight", "dynamodb:DescribeTable", "arn:aws:dynamodb:"+region+":"+acct+":table/vip-messages-"+stage, nil)
	deploy(false, "writes under another stage's prefix", "s3:PutObject", prefix+other+"/0123456789abcdef.zip", inAcct)
	deploy(false, "writes outside the stage prefixes", "s3:PutObject", "arn:aws:s3:::"+bucket+"/0123456789abcdef.zip", inAcct)
	deploy(false, "writes to a same-named bucket of another account", "s3:PutObject", prefix+stage+"/x.zip", map[string]any{"s3:ResourceAccount": "999988887777"})
	deploy(false, "changes the bucket policy", "s3:PutBucketPolicy", "arn:aws:s3:::"+bucket, nil)
	deploy(false, "deletes the bucket policy", "s3:DeleteBucketPolicy", "arn:aws:s3:::"+bucket, nil)
	deploy(false, "runs another stage's change sets", "cloudformation:ExecuteChangeSet", strings.Replace(stack, "vip-messages-"+stage, "vip-messages-"+other, 1), nil)
	deploy(false, "passes another stage's execution role", "iam:PassRole", ar.att(other+"ExecutionRole", "Arn"), map[string]any{"iam:PassedToService": "cloudformation.amazonaws.com"})
	deploy(false, "passes its execution role to Lambda", "iam:PassRole", execArn, map[string]any{"iam:PassedToService": "lambda.amazonaws.com"})

	// The execution role: every call of the stage's deploy of template.yaml, on the
	// names the stage's stack gives.
	exec := as(execArn, policies(t, rendered, execID), nil)
	cfn, rt := st.tpl, renderer{st}
	for id, res := range asObj(cfn["Resources"]) {
		typ := str(get(res, "Type"))
		actions, ok := cfnActions[typ]
		if !ok {
			t.Errorf("template.yaml has %s (%s): add CloudFormation's calls for it to cfnActions and grant them in account.yaml", typ, id)
			continue
		}
		arn := resourceArn(rt, id)
		ctx := map[string]any{}
		switch typ {
		case "AWS::Lambda::EventSourceMapping":
			ctx["lambda:FunctionArn"] = rt.att(str(get(res, "Properties", "FunctionName", "Ref")), "Arn")
		case "AWS::IAM::Role":
			// A role of the stack exists only with the stage's boundary, as template.yaml gives it.
			pb := rt.value(get(res, "Properties", "PermissionsBoundary"))
			if pb != nil {
				ctx["iam:PermissionsBoundary"] = pb
			}
			for range asList(get(res, "Properties", "Policies")) {
				exec(true, id+"'s policy", "iam:PutRolePolicy", arn, maps.Clone(ctx))
				exec(true, id+"'s policy", "iam:DeleteRolePolicy", arn, maps.Clone(ctx))
			}
			for _, m := range asList(rt.value(get(res, "Properties", "ManagedPolicyArns"))) {
				withPolicy := maps.Clone(ctx)
				withPolicy["iam:PolicyARN"] = m
				exec(true, id+" gets "+str(m), "iam:AttachRolePolicy", arn, withPolicy)
				exec(true, id+" loses "+str(m), "iam:DetachRolePolicy", arn, withPolicy)
			}
			services := strs(get(res, "Properties", "AssumeRolePolicyDocument", "Statement", 0, "Principal", "Service"))
			service := services[0]
			exec(true, id+" passed to "+service, "iam:PassRole", arn, map[string]any{"iam:PassedToService": service})
		case "AWS::Lambda::Function":
			exec(true, id+"'s code", "s3:GetObject", prefix+stage+"/0123456789abcdef", nil)
		}
		for _, a := range actions {
			c, on := ctx, arn
			switch {
			case typ == "AWS::IAM::Role" && a != "iam:CreateRole":
				c = nil
			case a == "apigateway:POST": // creates in the collection
				on = arn[:strings.LastIndex(arn, "/")]
			case a == "lambda:CreateEventSourceMapping": // no ARN before it exists
				on = "*"
			}
			exec(true, id+" ("+typ+")", a, on, c)
		}
		if typ == "AWS::CodeDeploy::DeploymentGroup" {
			cfg := rt.value(get(res, "Properties", "DeploymentConfigName"))
			exec(true, id+"'s traffic shift", "codedeploy:GetDeploymentConfig", "arn:aws:codedeploy:"+region+":"+acct+":deploymentconfig:"+fmt.Sprint(cfg), nil)
		}
	}
	role := "arn:aws:iam::" + acct + ":role/vip-messages-" + stage + "-Extra-A1B2C3"
	exec(false, "creates a role without the boundary", "iam:CreateRole", role, nil)
	exec(false, "creates a role with another stage's boundary", "iam:CreateRole", role, map[string]any{"iam:PermissionsBoundary": ar.att(other+"Boundary", "Arn")})
	for _, p := range []string{"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"} {
		exec(false, "attaches "+p, "iam:AttachRolePolicy", role, map[string]any{"iam:PermissionsBoundary": boundaryArn, "iam:PolicyARN": "arn:aws:iam::aws:policy/" + p})
	}
	exec(false, "removes a role's boundary", "iam:DeleteRolePermissionsBoundary", role, nil)
	exec(false, "rewrites the boundary", "iam:CreatePolicyVersion", boundaryArn, nil)
	exec(false, "creates another stage's role", "iam:CreateRole", strings.Replace(role, "-"+stage+"-", "-"+other+"-", 1), map[string]any{"iam:PermissionsBoundary": boundaryArn})
	secret := "arn:aws:secretsmanager:" + region + ":" + acct + ":secret:vip-api/" + other + "/api-keys/k1-AbCdEf"
	exec(false, "reads another stage's API keys", "secretsmanager:GetSecretValue", secret, nil)
	exec(false, "puts a resource policy on another stage's API keys", "secretsmanager:PutResourcePolicy", secret, nil)
	exec(false, "puts a resource policy on its own stage's API keys", "secretsmanager:PutResourcePolicy", strings.Replace(secret, "/"+other+"/", "/"+stage+"/", 1), nil)
	exec(false, "changes a key policy", "kms:PutKeyPolicy", "arn:aws:kms:"+region+":"+acct+":key/1234abcd-12ab-34cd-56ef-1234567890ab", nil)
	exec(false, "changes another stage's function", "lambda:UpdateFunctionCode", "arn:aws:lambda:"+region+":"+acct+":function:vip-messages-"+other, nil)
	exec(false, "deletes another stage's table", "dynamodb:DeleteTable", "arn:aws:dynamodb:"+region+":"+acct+":table/vip-messages-"+other, nil)
	exec(false, "reads another stage's artifacts", "s3:GetObject", prefix+other+"/0123456789abcdef", nil)
	exec(false, "changes the region's API Gateway logging role", "apigateway:PATCH", "arn:aws:apigateway:"+region+"::/account", nil)

	// The boundary: a role of the stack that granted itself everything still gets only
	// what the stage's functions and traffic shift need.
	boundary := get(rendered, "Resources", boundaryID, "Properties", "PolicyDocument")
	everything := []any{obj{"Version": "2012-10-17", "Statement": []any{obj{"Effect": "Allow", "Action": "*", "Resource": "*"}}}}
	fnRole := as("arn:aws:iam::"+acct+":role/vip-messages-"+stage+"-VipMessagesFunctionRole-A1B2C3", everything, []any{boundary})
	for id, res := range asObj(cfn["Resources"]) {
		if str(get(res, "Type")) != "AWS::IAM::Role" {
			continue
		}
		for _, s := range asList(rt.value(get(res, "Properties", "Policies", 0, "PolicyDocument", "Statement"))) {
			acts := strs(get(s, "Action"))
			for _, a := range acts {
				for _, r := range asList(get(s, "Resource")) {
					fnRole(true, id+" "+str(get(s, "Sid")), a, strings.ReplaceAll(str(r), "*", "x1"), nil)
				}
				if r := str(get(s, "Resource")); r != "" {
					fnRole(true, id+" "+str(get(s, "Sid")), a, strings.ReplaceAll(r, "*", "x1"), nil)
				}
			}
		}
	}
	fn := func(name string) string { return "arn:aws:lambda:" + region + ":" + acct + ":function:" + name }
	logs := "arn:aws:logs:" + region + ":" + acct + ":log-group:/aws/lambda/"
	for _, f := range []string{"vip-messages-" + stage, "vip-messages-authorizer-" + stage, "vip-messages-label-indexer-" + stage, "CodeDeployHook_vip-messages-pre-traffic-" + stage} {
		fnRole(true, "AWSLambdaBasicExecutionRole for "+f, "logs:PutLogEvents", logs+f+":log-stream:2026/01/01/x", nil)
	}
	fnRole(true, "AWSXrayWriteOnlyAccess", "xray:PutTraceSegments", "*", nil)
	fnRole(true, "AWSCodeDeployRoleForLambda", "lambda:UpdateAlias", fn("vip-messages-"+stage+":live"), nil)
	fnRole(true, "AWSCodeDeployRoleForLambda", "lambda:InvokeFunction", fn("CodeDeployHook_vip-messages-pre-traffic-"+stage), nil)
	fnRole(true, "AWSCodeDeployRoleForLambda", "cloudwatch:DescribeAlarms", "arn:aws:cloudwatch:"+region+":"+acct+":alarm:vip-messages-"+stage+"-api-5xx", nil)
	fnRole(false, "a stage role reads another stage's API keys", "secretsmanager:GetSecretValue", secret, nil)
	fnRole(false, "a stage role reads another stage's table", "dynamodb:Query", "arn:aws:dynamodb:"+region+":"+acct+":table/vip-messages-"+other, nil)
	fnRole(false, "a stage role moves another stage's alias", "lambda:UpdateAlias", fn("vip-messages-"+other+":live"), nil)
	fnRole(false, "a stage role creates a role", "iam:CreateRole", role, map[string]any{"iam:PermissionsBoundary": boundaryArn})
	fnRole(false, "a stage role writes artifacts", "s3:PutObject", prefix+stage+"/x.zip", inAcct)
	return reqs
}

func accountCases(t *testing.T, acctTpl obj, stages map[string]stack) []request {
	var reqs []request
	for _, stage := range []string{"dev", "staging", "prod"} {
		reqs = append(reqs, stageCases(t, acctTpl, stages[stage])...)
	}
	return reqs
}

// TestPipelinePolicies evaluates every role of account.yaml, then broken copies of it.
func TestPipelinePolicies(t *testing.T) {
	t.Parallel()
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node"
	} else if _, err := os.Stat(filepath.Join(repoRoot(t), "tools", "iam", "node_modules", "@cloud-copilot", "iam-simulate")); err != nil {
		missing = "@cloud-copilot/iam-simulate"
	}
	if missing != "" {
		msg := missing + " is not installed: the policy evaluation needs Node.js and `make tools`"
		if os.Getenv("VIP_REQUIRE_TOOLS") != "" {
			t.Fatal(msg + ", and VIP_REQUIRE_TOOLS is set")
		}
		t.Skip(msg)
	}
	acct, cfn := loadAccount(t), samTransform(t)
	deployed, err := stacks(repoFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string]stack{}
	for _, s := range deployed {
		s.tpl = cfn[s.stage]
		stages[s.stage] = s
	}
	for _, p := range simulate(t, accountCases(t, acct, stages)) {
		if p != "" {
			t.Error(p)
		}
	}

	stmt := func(a obj, role, sid string) obj {
		for _, s := range asList(get(a, "Resources", role, "Properties", "Policies", 0, "PolicyDocument", "Statement")) {
			if get(s, "Sid") == sid {
				return asObj(s)
			}
		}
		for _, s := range asList(get(a, "Resources", role, "Properties", "PolicyDocument", "Statement")) {
			if get(s, "Sid") == sid {
				return asObj(s)
			}
		}
		t.Fatalf("account.yaml: %s has no statement %s", role, sid)
		return nil
	}
	breaks := []struct {
		stage, name string
		apply       func(obj)
	}{
		{"dev", "dev trusts any branch", func(a obj) {
			c := asObj(get(a, "Resources", "devDeployRole", "Properties", "AssumeRolePolicyDocument", "Statement", 0, "Condition"))
			c["StringLike"] = obj{"token.actions.githubusercontent.com:sub": obj{"Fn::Sub": "repo:${GitHubRepository}:*"}}
			delete(asObj(c["StringEquals"]), "token.actions.githubusercontent.com:sub")
		}},
		{"prod", "prod trusts its environment only", func(a obj) {
			c := asObj(get(a, "Resources", "prodDeployRole", "Properties", "AssumeRolePolicyDocument", "Statement", 0, "Condition", "StringEquals"))
			c["token.actions.githubusercontent.com:sub"] = obj{"Fn::Sub": "repo:${GitHubRepository}:environment:prod"}
		}},
		{"dev", "dev writes the whole bucket", func(a obj) {
			stmt(a, "devDeployRole", "StageArtifacts")["Resource"] = obj{"Fn::Sub": "${ArtifactBucket.Arn}/*"}
		}},
		{"staging", "staging passes any role", func(a obj) { stmt(a, "stagingDeployRole", "PassExecutionRole")["Resource"] = "*" }},
		{"dev", "dev execution role is a power user", func(a obj) {
			asObj(get(a, "Resources", "devExecutionRole", "Properties"))["ManagedPolicyArns"] = []any{obj{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/PowerUserAccess"}}
		}},
		{"dev", "dev creates roles without a boundary", func(a obj) { delete(stmt(a, "devExecutionRole", "RolesWithBoundary"), "Condition") }},
		{"dev", "dev attaches any managed policy", func(a obj) {
			delete(asObj(stmt(a, "devExecutionRole", "ManagedPoliciesWithBoundary")["Condition"]), "ArnEquals")
			delete(stmt(a, "devExecutionRole", "NeverAdmin"), "Condition")
			stmt(a, "devExecutionRole", "NeverAdmin")["Action"] = "iam:AttachUserPolicy"
		}},
		{"dev", "dev removes boundaries", func(a obj) {
			stmt(a, "devExecutionRole", "NeverBoundaryOff")["Action"] = "iam:DeletePolicy"
			s := stmt(a, "devExecutionRole", "Roles")
			s["Action"] = append(asList(s["Action"]), "iam:DeleteRolePermissionsBoundary")
		}},
		{"dev", "dev functions reach every stage", func(a obj) {
			stmt(a, "devExecutionRole", "Functions")["Resource"] = obj{"Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:vip-messages-*"}
		}},
		{"dev", "dev boundary reads every stage's keys", func(a obj) {
			stmt(a, "devBoundary", "ApiKeys")["Resource"] = obj{"Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:vip-api/*"}
		}},
		{"prod", "prod execution role lacks the dashboard", func(a obj) {
			s := stmt(a, "prodExecutionRole", "AlarmsAndDashboard")
			s["Resource"] = asList(s["Resource"])[:1]
		}},
	}
	var all []request
	var owner []int
	for i, m := range breaks {
		broken := clone(acct)
		m.apply(broken)
		reqs := stageCases(t, broken, stages[m.stage])
		all = append(all, reqs...)
		owner = append(owner, slices.Repeat([]int{i}, len(reqs))...)
	}
	failed := map[int]bool{}
	for i, p := range simulate(t, all) {
		if p != "" {
			failed[owner[i]] = true
		}
	}
	for i, m := range breaks {
		if !failed[i] {
			t.Errorf("an account.yaml where %q passes every case", m.name)
		}
	}
}

// checkArtifacts: each stage's sam deploy writes under the one prefix its deploy role
// may write (stageCases), re-uploads every object, and uses no shared managed bucket.
func checkArtifacts(samconfig string) []string {
	var cfg obj
	if _, err := toml.Decode(samconfig, &cfg); err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for _, stage := range []string{"dev", "staging", "prod"} {
		p := asObj(get(cfg, stage, "deploy", "parameters"))
		if p["s3_prefix"] != "vip-messages-"+stage || p["force_upload"] != true || p["resolve_s3"] != nil || p["s3_bucket"] != nil {
			problems = append(problems, fmt.Sprintf("%s: s3_prefix %v, force_upload %v, resolve_s3 %v, s3_bucket %v; want vip-messages-%s, true, none, none (make deploy names the bucket)",
				stage, p["s3_prefix"], p["force_upload"], p["resolve_s3"], p["s3_bucket"], stage))
		}
	}
	return problems
}

func TestArtifactsPerStage(t *testing.T) {
	t.Parallel()
	text := readFile(t, "samconfig.toml")
	for _, p := range checkArtifacts(text) {
		t.Errorf("samconfig.toml: %s", p)
	}
	for _, b := range []struct{ name, old, new string }{
		{"objects reused", "force_upload = true", "force_upload = false"},
		{"SAM's shared bucket", `s3_prefix = "vip-messages-dev"`, "resolve_s3 = true\ns3_prefix = \"vip-messages-dev\""},
		{"dev writes under prod's prefix", `s3_prefix = "vip-messages-dev"`, `s3_prefix = "vip-messages-prod"`},
	} {
		if len(checkArtifacts(strings.Replace(text, b.old, b.new, 1))) == 0 {
			t.Errorf("a samconfig.toml with %q passes the check", b.name)
		}
	}
}
