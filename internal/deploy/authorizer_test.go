package deploy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vip-messages/api/internal/authorizer"
)

const (
	authorizerFunction = "AuthorizerFunction"
	hookFunction       = "PreTrafficHookFunction"
)

// TestAuthorizerBeforeMetering, on what SAM hands CloudFormation: the API's
// key source is the authorizer, the one method runs the REQUEST authorizer
// (the function AuthorizerFunction, uncached, without identity sources, which
// would let API Gateway answer 401 itself without the contract's message) and
// requires an API key, and API Gateway may invoke the authorizer.
func TestAuthorizerBeforeMetering(t *testing.T) {
	t.Parallel()
	for stage, cfn := range samTransform(t) {
		for _, id := range ofType(cfn, "AWS::ApiGateway::RestApi") {
			props := get(cfn, "Resources", id, "Properties")
			if src := get(props, "ApiKeySourceType"); src != "AUTHORIZER" {
				t.Errorf("%s %s: ApiKeySourceType %v, want AUTHORIZER (only signed requests count against a plan)", stage, id, src)
			}
			schemes := asObj(get(props, "Body", "components", "securitySchemes"))
			paths := asObj(get(props, "Body", "paths"))
			if len(paths) == 0 {
				t.Errorf("%s %s: no paths", stage, id)
			}
			for path, methods := range paths {
				for method, op := range asObj(methods) {
					var names []string
					for _, req := range asList(get(op, "security")) {
						for name := range asObj(req) {
							names = append(names, name)
						}
					}
					where := fmt.Sprintf("%s %s %s %s", stage, id, strings.ToUpper(method), path)
					if !slices.Contains(names, "api_key") {
						t.Errorf("%s: no API key required (security %v)", where, names)
					}
					var authz []string
					for _, n := range names {
						if get(schemes, n, "x-amazon-apigateway-authorizer") != nil {
							authz = append(authz, n)
						}
					}
					if len(authz) != 1 {
						t.Errorf("%s: authorizers %v, want one", where, authz)
						continue
					}
					a := asObj(get(schemes, authz[0], "x-amazon-apigateway-authorizer"))
					switch {
					case a["type"] != "request":
						t.Errorf("%s: authorizer type %v, want request", where, a["type"])
					case fmt.Sprint(a["authorizerResultTtlInSeconds"]) != "0":
						t.Errorf("%s: authorizer cache %v s, want 0 (a v2 signature is unique to its query and second)", where, a["authorizerResultTtlInSeconds"])
					case a["identitySource"] != nil:
						t.Errorf("%s: identity sources %v: a request without them would get API Gateway's own 401", where, a["identitySource"])
					case str(get(a, "authorizerUri", "Fn::Sub", 1, "__FunctionArn__", "Fn::GetAtt", 0)) != authorizerFunction:
						t.Errorf("%s: the authorizer is not %s: %v", where, authorizerFunction, a["authorizerUri"])
					}
				}
			}
		}
		invokes := false
		for _, id := range ofType(cfn, "AWS::Lambda::Permission") {
			p := get(cfn, "Resources", id, "Properties")
			invokes = invokes || str(get(p, "FunctionName", "Fn::GetAtt", 0)) == authorizerFunction && get(p, "Principal") == "apigateway.amazonaws.com"
		}
		if !invokes {
			t.Errorf("%s: API Gateway may not invoke %s", stage, authorizerFunction)
		}
	}
}

// TestRefusalsAnswerAsTheLocalGateway: the stage answers the authorizer's Deny
// and failure with the bodies the local gateway renders (authorizer.Refuse),
// so that local and deployed answers cannot drift.
func TestRefusalsAnswerAsTheLocalGateway(t *testing.T) {
	t.Parallel()
	deny := authorizer.Deny("arn", `a "quoted" message`)
	wantDeny, _ := authorizer.Refuse(deny, nil)
	wantFail, _ := authorizer.Refuse(deny, authorizer.ErrFailed)
	checkFiles(t, forEachStage(func(s stack) []string {
		var problems []string
		for _, id := range ofType(s.tpl, "AWS::Serverless::Api") {
			for typ, want := range map[string]authorizer.Refusal{
				"ACCESS_DENIED":                  wantDeny,
				"AUTHORIZER_FAILURE":             wantFail,
				"AUTHORIZER_CONFIGURATION_ERROR": wantFail,
			} {
				r := get(s.resource(id), "GatewayResponses", typ)
				body := authorizer.Render(str(get(r, "ResponseTemplates", "application/json")), deny.Context)
				status := str(get(r, "StatusCode"))
				retry := strings.Trim(str(get(r, "ResponseParameters", "Headers", "Retry-After")), "'")
				if body != want.Body || status != fmt.Sprint(want.Status) || retry != want.RetryAfter {
					problems = append(problems, fmt.Sprintf("%s %s: %s %q Retry-After %q; the local gateway: %d %q Retry-After %q",
						id, typ, status, body, retry, want.Status, want.Body, want.RetryAfter))
				}
			}
		}
		return problems
	}), []edit{
		{"a Deny is API Gateway's 403", "        ACCESS_DENIED:\n          StatusCode: \"401\"", "        ACCESS_DENIED:\n          StatusCode: \"403\""},
		{"a Deny loses its message", `'{"message":"$context.authorizer.message"}'`, `'{"message":"invalid credentials"}'`},
		{"an authorizer failure is a 500", "        AUTHORIZER_FAILURE:\n          StatusCode: \"503\"", "        AUTHORIZER_FAILURE:\n          StatusCode: \"500\""},
	})
}

// TestSecretsOnlyInTheAuthorizer: only the authorizer reads API key secrets,
// and it may do nothing else; the API function trusts its context. The
// pre-traffic hook reads one secret, the canary key's (its exact ARN is
// TestGrantsAreTheCodesCalls's).
func TestSecretsOnlyInTheAuthorizer(t *testing.T) {
	t.Parallel()
	tpl, err := parseYAML(readFile(t, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ofType(tpl, "AWS::Serverless::Function") {
		stmts, _ := statements(tpl, id)
		var actions, secretActions []string
		for _, st := range stmts {
			actions = append(actions, strs(st["Action"])...)
			for _, a := range strs(st["Action"]) {
				if strings.HasPrefix(a, "secretsmanager:") {
					secretActions = append(secretActions, a)
				}
			}
		}
		switch {
		case id == authorizerFunction && !slices.Equal(actions, []string{"secretsmanager:GetSecretValue"}):
			t.Errorf("%s may %v, want secretsmanager:GetSecretValue only", id, actions)
		case id == hookFunction && !slices.Equal(secretActions, []string{"secretsmanager:GetSecretValue"}):
			t.Errorf("%s may %v on secrets, want secretsmanager:GetSecretValue of the canary key only", id, secretActions)
		case id != authorizerFunction && id != hookFunction && len(secretActions) > 0:
			t.Errorf("%s may %v: only the authorizer reads secrets", id, actions)
		}
		env := asObj(get(functionProps(tpl, id), "Environment", "Variables"))
		if _, ok := env["SECRET_PREFIX"]; ok != (id == authorizerFunction || id == hookFunction) {
			t.Errorf("%s: SECRET_PREFIX set %v", id, ok)
		}
	}
}
