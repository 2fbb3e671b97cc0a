// Package authorizer is the API's REQUEST Lambda authorizer: API Gateway runs
// it before the API function and before any usage plan counts the request. It
// verifies the signature (internal/auth) over the request API Gateway
// received, its method and resource included, and answers:
//
//   - Allow on the request's method ARN, with usageIdentifierKey = the key id
//     (the stage's ApiKeySourceType is AUTHORIZER, so only an authenticated
//     request counts against its key's plan) and the key in the context
//     (auth.Key.AuthorizerContext), which the API function trusts;
//   - Deny, with the contract's 401 message in the context: the stage's
//     ACCESS_DENIED gateway response answers 401 with DenyBody, which reads it;
//   - an error when the key store is unavailable: the stage's authorizer
//     gateway responses answer the contract's 503.
//
// Caching is off in the template: a version 2 signature is unique to its query
// and second, so a cached Allow could only serve a replay.
package authorizer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/metrics"
	"github.com/vip-messages/api/internal/signature"
)

// Authenticator verifies a request's signature (*auth.Verifier).
type Authenticator interface {
	Authenticate(ctx context.Context, method, path string, headers map[string]string, multi map[string][]string, query map[string][]string) (auth.Key, error)
}

// ContextMessage is the Deny context member that holds the 401's message,
// escaped for a JSON string (a gateway response template only substitutes).
const ContextMessage = "message"

// DenyBody is the body template of the stage's ACCESS_DENIED gateway response
// (status 401): the contract's {"message": ...} with the authorizer's message.
// The local gateway renders the same template (Render), and a test holds
// template.yaml to it.
const DenyBody = `{"message":"$context.authorizer.` + ContextMessage + `"}`

// ErrFailed is what the authorizer returns to Lambda when it cannot decide
// (the key store is unavailable): API Gateway then answers with its
// authorizer-failure gateway responses, the contract's 503. The cause is in the
// log line, never in this text.
var ErrFailed = errors.New("authorizer: cannot authenticate now")

// deniedPrincipal is the principalId of a Deny (API Gateway requires one).
const deniedPrincipal = "unauthenticated"

// Authorizer answers API Gateway's authorizer requests.
type Authorizer struct {
	auth  Authenticator
	log   *slog.Logger
	stage string // when set, each line is an EMF document (metrics.go)
	now   func() time.Time
}

// Option configures an Authorizer.
type Option func(*Authorizer)

// New returns an Authorizer; a nil log discards.
func New(a Authenticator, log *slog.Logger, opts ...Option) *Authorizer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	z := &Authorizer{auth: a, log: log, now: time.Now}
	for _, o := range opts {
		o(z)
	}
	return z
}

// Handle answers one authorizer request. Only an unavailable key store (or a
// bug) returns an error.
func (z *Authorizer) Handle(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (resp events.APIGatewayCustomAuthorizerResponse, err error) {
	start := z.now()
	var rec *metrics.Recorder
	if z.stage != "" {
		rec = &metrics.Recorder{}
		ctx = metrics.NewContext(ctx, rec)
	}
	var key auth.Key
	var authErr error
	defer func() {
		if p := recover(); p != nil {
			authErr, err = fmt.Errorf("panic: %v", p), ErrFailed
		}
		z.logDecision(ctx, ev, key, authErr, rec, z.now().Sub(start))
	}()
	key, authErr = z.auth.Authenticate(ctx, ev.HTTPMethod, ev.Resource, ev.Headers, ev.MultiValueHeaders,
		signature.Query(ev.QueryStringParameters, ev.MultiValueQueryStringParameters))
	if authErr != nil {
		if e, ok := clienterr.As(authErr); ok && e.Kind == clienterr.Unauthenticated {
			return Deny(ev.MethodArn, e.Message), nil
		}
		return events.APIGatewayCustomAuthorizerResponse{}, ErrFailed
	}
	return Allow(ev.MethodArn, key), nil
}

// Allow is the answer for an authenticated key: invoke this method, count it
// against the key's plan, and pass the key on.
func Allow(methodArn string, key auth.Key) events.APIGatewayCustomAuthorizerResponse {
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID:        key.ID,
		PolicyDocument:     policy("Allow", methodArn),
		Context:            key.AuthorizerContext(),
		UsageIdentifierKey: key.ID,
	}
}

// Deny is the answer for a request that failed authentication, with the
// client's message for the 401 body.
func Deny(methodArn, message string) events.APIGatewayCustomAuthorizerResponse {
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID:    deniedPrincipal,
		PolicyDocument: policy("Deny", methodArn),
		Context:        map[string]any{ContextMessage: jsonEscape(message)},
	}
}

func policy(effect, methodArn string) events.APIGatewayCustomAuthorizerPolicy {
	return events.APIGatewayCustomAuthorizerPolicy{
		Version: "2012-10-17",
		Statement: []events.IAMPolicyStatement{
			{Action: []string{"execute-api:Invoke"}, Effect: effect, Resource: []string{methodArn}},
		},
	}
}

// jsonEscape is s as it goes between the quotes of a JSON string.
func jsonEscape(s string) string {
	b, _ := json.Marshal(s) // a string always encodes
	return string(b[1 : len(b)-1])
}

// Render fills a gateway response template as API Gateway does, by simple
// substitution (no VTL): each $context.authorizer.<name> becomes the context
// member's value as a string, or nothing when it has none. The local gateway
// answers a Deny with Render(DenyBody, context), the stage with the same
// template.
func Render(template string, context map[string]any) string {
	const prefix = "$context.authorizer."
	var b strings.Builder
	for {
		i := strings.Index(template, prefix)
		if i < 0 {
			b.WriteString(template)
			return b.String()
		}
		b.WriteString(template[:i])
		rest := template[i+len(prefix):]
		n := 0
		for n < len(rest) && isNameByte(rest[n]) {
			n++
		}
		if v, ok := context[rest[:n]]; ok {
			fmt.Fprint(&b, v)
		}
		template = rest[n:]
	}
}

// isNameByte: a context key may hold letters, digits and '_' only.
func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// Allowed reports whether an authorizer's answer lets the request through:
// an Allow statement and no Deny.
func Allowed(resp events.APIGatewayCustomAuthorizerResponse) bool {
	allow := false
	for _, st := range resp.PolicyDocument.Statement {
		switch st.Effect {
		case "Deny":
			return false
		case "Allow":
			allow = true
		}
	}
	return allow
}

// FailureBody is the body of the stage's answer when the authorizer fails
// (AUTHORIZER_FAILURE and AUTHORIZER_CONFIGURATION_ERROR gateway responses):
// the API's own 503, with Retry-After FailureRetryAfter.
const (
	FailureBody       = `{"message":"service temporarily unavailable, please retry"}`
	FailureRetryAfter = "1"
)

// Refusal is what API Gateway answers, without invoking the API function, to
// a request the authorizer did not allow.
type Refusal struct {
	Status     int
	Body       string
	RetryAfter string // empty: no Retry-After header
}

// Refuse is the stage's answer to an authorizer's answer that is not an
// Allow (ok false for an Allow): 503 for an error, 401 with the Deny's message
// otherwise. The local gateway answers with it, as the stage's gateway
// responses do (a test holds template.yaml to DenyBody and FailureBody).
func Refuse(resp events.APIGatewayCustomAuthorizerResponse, err error) (r Refusal, refused bool) {
	switch {
	case err != nil:
		return Refusal{Status: http.StatusServiceUnavailable, Body: FailureBody, RetryAfter: FailureRetryAfter}, true
	case !Allowed(resp):
		return Refusal{Status: http.StatusUnauthorized, Body: Render(DenyBody, resp.Context)}, true
	}
	return Refusal{}, false
}

// Event is the REQUEST authorizer event API Gateway sends for a proxy
// request, with the method ARN of the API's stage.
func Event(req events.APIGatewayProxyRequest, methodArn string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	rc := req.RequestContext
	return events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type: "REQUEST", MethodArn: methodArn,
		Resource: req.Resource, Path: req.Path, HTTPMethod: req.HTTPMethod,
		Headers: req.Headers, MultiValueHeaders: req.MultiValueHeaders,
		QueryStringParameters: req.QueryStringParameters, MultiValueQueryStringParameters: req.MultiValueQueryStringParameters,
		PathParameters: req.PathParameters, StageVariables: req.StageVariables,
		RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
			Path: rc.Path, AccountID: rc.AccountID, ResourceID: rc.ResourceID, Stage: rc.Stage, RequestID: rc.RequestID,
			ResourcePath: rc.ResourcePath, HTTPMethod: rc.HTTPMethod, APIID: rc.APIID,
			Identity: events.APIGatewayCustomAuthorizerRequestTypeRequestIdentity{SourceIP: rc.Identity.SourceIP, APIKey: rc.Identity.APIKey},
		},
	}
}

// MethodArn is the ARN of a method of a stage, as API Gateway names it in
// an authorizer event: arn:aws:execute-api:region:account:api/stage/METHOD/resource.
func MethodArn(region, account, apiID, stage, method, resource string) string {
	return "arn:aws:execute-api:" + region + ":" + account + ":" + apiID + "/" + stage + "/" + method + resource
}

// WithContext is the proxy event API Gateway sends the API function after
// an Allow: the authorizer's context, and its principalId, in
// requestContext.authorizer.
func WithContext(req events.APIGatewayProxyRequest, resp events.APIGatewayCustomAuthorizerResponse) events.APIGatewayProxyRequest {
	c := make(map[string]any, len(resp.Context)+1)
	for k, v := range resp.Context {
		c[k] = v
	}
	c["principalId"] = resp.PrincipalID
	req.RequestContext.Authorizer = c
	return req
}
