package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// account.yaml: once per account and region (make bootstrap).

func loadAccount(t testing.TB) obj {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "account.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := parseTemplate(raw)
	if err != nil {
		t.Fatalf("account.yaml: %v", err)
	}
	return tpl
}

// stageTitle is the logical id suffix of a stage's roles (DeployRoleProd).
func stageTitle(stage string) string { return strings.ToUpper(stage[:1]) + stage[1:] }

var providerExpr = obj{"Fn::If": []any{"CreateOidcProvider", obj{"Ref": "GitHubOidcProvider"}, obj{"Ref": "ExistingOidcProviderArn"}}}

func checkAccountLogging(acct obj) []string {
	var problems []string
	ids := resourcesOfType(acct, "AWS::ApiGateway::Account")
	if len(ids) != 1 {
		return []string{fmt.Sprintf("want one AWS::ApiGateway::Account, got %v", ids)}
	}
	roleArn := get(acct, "Resources", ids[0], "Properties", "CloudWatchRoleArn")
	l := asList(get(roleArn, "Fn::GetAtt"))
	if len(l) != 2 || l[1] != "Arn" {
		return []string{fmt.Sprintf("CloudWatchRoleArn %v is not !GetAtt <role>.Arn", roleArn)}
	}
	role := get(acct, "Resources", str(l[0]))
	trust := get(role, "Properties", "AssumeRolePolicyDocument", "Statement")
	want := []any{obj{"Effect": "Allow", "Principal": obj{"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}}
	if get(role, "Type") != "AWS::IAM::Role" || !reflect.DeepEqual(trust, want) {
		problems = append(problems, fmt.Sprintf("%s trusts %v, want API Gateway only", l[0], trust))
	}
	policies := get(role, "Properties", "ManagedPolicyArns")
	if !reflect.DeepEqual(policies, []any{obj{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}}) ||
		get(role, "Properties", "Policies") != nil {
		problems = append(problems, fmt.Sprintf("%s has %v, want exactly AmazonAPIGatewayPushToCloudWatchLogs", l[0], policies))
	}
	return problems
}

func checkAccountOIDC(acct obj) []string {
	var problems []string
	p := get(acct, "Resources", "GitHubOidcProvider")
	if get(p, "Type") != "AWS::IAM::OIDCProvider" || get(p, "Properties", "Url") != "https://token.actions.githubusercontent.com" ||
		!reflect.DeepEqual(get(p, "Properties", "ClientIdList"), []any{"sts.amazonaws.com"}) || get(p, "Condition") != "CreateOidcProvider" {
		problems = append(problems, fmt.Sprintf("GitHubOidcProvider %v is not GitHub's OIDC provider for STS, created unless one exists", p))
	}
	return problems
}

// checkAccountStages checks each stage's deploy role and execution role: the trust
// is this repository's environment of that stage only, and what they may touch is
// that stage's stack.
func checkAccountStages(acct, tpl obj) []string {
	var problems []string
	for _, stage := range stages(tpl) {
		deployID, execID := "DeployRole"+stageTitle(stage), "ExecutionRole"+stageTitle(stage)
		deploy := get(acct, "Resources", deployID)
		if deploy == nil {
			problems = append(problems, "no "+deployID)
			continue
		}
		stmts := asList(get(deploy, "Properties", "AssumeRolePolicyDocument", "Statement"))
		want := obj{
			"Effect": "Allow", "Principal": obj{"Federated": providerExpr}, "Action": "sts:AssumeRoleWithWebIdentity",
			"Condition": obj{"StringEquals": obj{
				"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
				"token.actions.githubusercontent.com:sub": obj{"Fn::Sub": "repo:${GitHubRepository}:environment:" + stage},
			}},
		}
		if len(stmts) != 1 || !reflect.DeepEqual(stmts[0], want) {
			problems = append(problems, fmt.Sprintf("%s trust %v, want only %v", deployID, stmts, want))
		}
		stack := "stack/vip-messages-" + stage + "/*"
		for _, s := range policyStatements(deploy) {
			actions, _ := stringsOf(get(s, "Action"))
			for _, a := range actions {
				if strings.Contains(a, "*") {
					problems = append(problems, fmt.Sprintf("%s grants %s", deployID, a))
				}
			}
			for _, r := range resourcesOf(s) {
				sub := str(get(r, "Fn::Sub"))
				switch {
				case slices.Contains(actions, "iam:PassRole"):
					if !isGetAtt(r, execID, "Arn") || !reflect.DeepEqual(get(s, "Condition"), obj{"StringEquals": obj{"iam:PassedToService": "cloudformation.amazonaws.com"}}) {
						problems = append(problems, fmt.Sprintf("%s passes %v (condition %v), want only %s to CloudFormation", deployID, r, get(s, "Condition"), execID))
					}
				case slices.Contains(actions, "cloudformation:ExecuteChangeSet"):
					if !strings.HasSuffix(sub, stack) && !strings.HasSuffix(sub, "stack/aws-sam-cli-managed-default/*") {
						problems = append(problems, fmt.Sprintf("%s runs change sets on %v, want %s", deployID, r, stack))
					}
				case strings.Contains(sub, "vip-messages-") && !strings.Contains(sub, "vip-messages-"+stage):
					problems = append(problems, fmt.Sprintf("%s reaches another stage's %v", deployID, r))
				}
			}
		}
		exec := get(acct, "Resources", execID)
		trust := get(exec, "Properties", "AssumeRolePolicyDocument", "Statement")
		if !reflect.DeepEqual(trust, []any{obj{"Effect": "Allow", "Principal": obj{"Service": "cloudformation.amazonaws.com"}, "Action": "sts:AssumeRole"}}) {
			problems = append(problems, fmt.Sprintf("%s trusts %v, want CloudFormation only", execID, trust))
		}
		if m := get(exec, "Properties", "ManagedPolicyArns"); !reflect.DeepEqual(m, []any{obj{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/PowerUserAccess"}}) {
			problems = append(problems, fmt.Sprintf("%s managed policies %v, want PowerUserAccess (no IAM) only", execID, m))
		}
		wantRoles := obj{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/vip-messages-" + stage + "-*"}
		for _, s := range policyStatements(exec) {
			for _, r := range resourcesOf(s) {
				if want := wantRoles; !reflect.DeepEqual(r, want) {
					problems = append(problems, fmt.Sprintf("%s IAM on %v, want only %v (the stack's own roles)", execID, r, want))
				}
			}
		}
	}
	return problems
}

func policyStatements(role any) []any {
	var out []any
	for _, p := range asList(get(role, "Properties", "Policies")) {
		out = append(out, asList(get(p, "PolicyDocument", "Statement"))...)
	}
	return out
}

func resourcesOf(s any) []any {
	if l := asList(get(s, "Resource")); l != nil {
		return l
	}
	return []any{get(s, "Resource")}
}

func TestAccountStack(t *testing.T) {
	acct, tpl := loadAccount(t), loadTemplate(t)
	dep := []any{"Resources", "DeployRoleProd", "Properties"}
	trustCond := at(dep, "AssumeRolePolicyDocument", "Statement", 0, "Condition", "StringEquals")
	deployStmts := at(dep, "Policies", 0, "PolicyDocument", "Statement")
	execStmts := []any{"Resources", "ExecutionRoleStaging", "Properties", "Policies", 0, "PolicyDocument", "Statement"}
	checks := []struct {
		name   string
		check  func(obj) []string
		breaks []mutation
	}{
		{"ApiGatewayLogging", checkAccountLogging, []mutation{
			set("no account setting", deleted, "Resources", "ApiGatewayAccount"),
			set("role of another service", obj{"Service": "lambda.amazonaws.com"}, "Resources", "ApiGatewayCloudWatchRole", "Properties", "AssumeRolePolicyDocument", "Statement", 0, "Principal"),
			set("role without the logs policy", deleted, "Resources", "ApiGatewayCloudWatchRole", "Properties", "ManagedPolicyArns"),
			set("role name instead of ARN", obj{"Ref": "ApiGatewayCloudWatchRole"}, "Resources", "ApiGatewayAccount", "Properties", "CloudWatchRoleArn"),
		}},
		{"GitHubOIDC", checkAccountOIDC, []mutation{
			set("another issuer", "https://token.example.com", "Resources", "GitHubOidcProvider", "Properties", "Url"),
			set("any audience", []any{"sts.amazonaws.com", "other"}, "Resources", "GitHubOidcProvider", "Properties", "ClientIdList"),
			set("a second provider where one exists", deleted, "Resources", "GitHubOidcProvider", "Condition"),
		}},
		{"StageRoles", func(a obj) []string { return checkAccountStages(a, tpl) }, []mutation{
			set("any branch of the repository", obj{"Fn::Sub": "repo:${GitHubRepository}:*"}, at(trustCond, "token.actions.githubusercontent.com:sub")...),
			set("prod role from the staging environment", obj{"Fn::Sub": "repo:${GitHubRepository}:environment:staging"}, at(trustCond, "token.actions.githubusercontent.com:sub")...),
			set("any audience", deleted, at(trustCond, "token.actions.githubusercontent.com:aud")...),
			set("StringLike", obj{"StringLike": obj{"token.actions.githubusercontent.com:sub": "repo:*"}}, at(dep, "AssumeRolePolicyDocument", "Statement", 0, "Condition")...),
			set("no prod role", deleted, "Resources", "DeployRoleProd"),
			set("prod role deploys the dev stack", obj{"Fn::Sub": "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/vip-messages-dev/*"}, at(deployStmts, 0, "Resource")...),
			set("prod role passes any role", "*", at(deployStmts, 3, "Resource")...),
			set("prod role passes the staging execution role", obj{"Fn::GetAtt": []any{"ExecutionRoleStaging", "Arn"}}, at(deployStmts, 3, "Resource")...),
			set("passes to any service", deleted, at(deployStmts, 3, "Condition")...),
			set("wildcard action", "cloudformation:*", at(deployStmts, 0, "Action", 0)...),
			set("prod role reads the dev table", obj{"Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/vip-messages-dev"}, at(deployStmts, 7, "Resource")...),
			set("execution role on every role", obj{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"}, at(execStmts, 0, "Resource")...),
			set("execution role assumable by anyone in the account", obj{"AWS": obj{"Ref": "AWS::AccountId"}}, "Resources", "ExecutionRoleStaging", "Properties", "AssumeRolePolicyDocument", "Statement", 0, "Principal"),
			set("execution role is admin", []any{"arn:aws:iam::aws:policy/AdministratorAccess"}, "Resources", "ExecutionRoleStaging", "Properties", "ManagedPolicyArns"),
		}},
	}
	for _, tc := range checks {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range tc.check(acct) {
				t.Errorf("account.yaml: %s", p)
			}
			for _, m := range tc.breaks {
				broken := deepCopy(acct).(obj)
				m.apply(broken)
				if reflect.DeepEqual(broken, acct) {
					t.Errorf("mutation %q changed nothing: fix the test", m.name)
					continue
				}
				if len(tc.check(broken)) == 0 {
					t.Errorf("an account stack with %q passes the check", m.name)
				}
			}
		})
	}
	for _, p := range danglingRefs(acct) {
		t.Errorf("account.yaml: %s", p)
	}
}
