// Package pretraffic is the CodeDeploy PreTraffic hook of the API function:
// before any traffic moves to a new version, it calls that version as a client
// would, through the authorizer the stage's API Gateway runs, and reports
// Succeeded only if each answer is the contract's (openapi.yaml):
//
//  1. an unsigned request: the authorizer denies it with the contract's 401,
//     and the new version, invoked without an authorizer context (as if the
//     authorizer were bypassed), answers the contract's 401 too;
//  2. a request signed with a wrong secret: the authorizer denies it (401);
//  3. a version 2 request signed with the stage's canary key: the authorizer
//     allows it with the key as usageIdentifierKey and in its context, and the
//     new version, invoked with that context, answers 200 with a page (limit=1
//     over the last hour of the canary channel; an empty page is a page).
//
// The canary key is a secret under the stage's prefix (CanaryKeyID), readable
// by the hook alone besides the authorizer; docs/deploying.md creates it.
package pretraffic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/vip-messages/api/client"
	"github.com/vip-messages/api/internal/app/envvar"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/auth/keystore"
	"github.com/vip-messages/api/internal/authorizer"
	"github.com/vip-messages/api/internal/awsenv"
	"github.com/vip-messages/api/internal/signature"
)

// The canary: a key that may read one VIP workspace with one connected
// channel, kept only for this hook. The key id is 20+ characters, as a key
// of a deployed stage must be (it is also an API Gateway API key).
const (
	CanaryKeyID     = "canary-pre-traffic-hook"
	CanaryWorkspace = "canary-pre-traffic"
	CanaryMedium    = "canary"
)

// SetupCommand is what creates the canary of a stage (docs/deploying.md,
// "The canary"); the hook's failure names it when the key is missing.
func SetupCommand(stage string) string {
	return fmt.Sprintf("vipctl workspaces put --stage %[1]s --vip %[2]s && vipctl channels connect --stage %[1]s %[2]s %[3]s && vipctl keys create --stage %[1]s --tier basic --id %[4]s --workspace %[2]s",
		stage, CanaryWorkspace, CanaryMedium, CanaryKeyID)
}

// Event is what CodeDeploy sends a lifecycle hook.
type Event struct {
	DeploymentID                  string `json:"DeploymentId"`
	LifecycleEventHookExecutionID string `json:"LifecycleEventHookExecutionId"`
}

// Invoker is the part of the Lambda client the hook uses.
type Invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// Reporter is the part of the CodeDeploy client the hook uses.
type Reporter interface {
	PutLifecycleEventHookExecutionStatus(ctx context.Context, in *codedeploy.PutLifecycleEventHookExecutionStatusInput, optFns ...func(*codedeploy.Options)) (*codedeploy.PutLifecycleEventHookExecutionStatusOutput, error)
}

// Hook checks the version Target (a qualified function ARN) behind the
// authorizer Authorizer and reports the result.
type Hook struct {
	Lambda     Invoker
	CodeDeploy Reporter
	Secrets    keystore.SecretsManager
	// Target is the new version of the API function; Authorizer the function
	// (name or ARN) the stage's API Gateway invokes as its authorizer.
	Target, Authorizer string
	// SecretPrefix is the stage's key prefix; Stage names the stage in the
	// setup command of a missing canary.
	SecretPrefix, Stage string
	Log                 *slog.Logger
	// Now is the clock of x-date and the window; nil means time.Now.
	Now func() time.Time
}

// FromEnv reads the hook's settings (TARGET_VERSION_ARN,
// AUTHORIZER_FUNCTION, SECRET_PREFIX, STAGE, all required) through getenv into
// a Hook without its clients. Every problem is reported at once.
func FromEnv(getenv func(string) string) (*Hook, error) {
	r := envvar.New(getenv)
	h := &Hook{Target: r.Required("TARGET_VERSION_ARN"), Authorizer: r.Required("AUTHORIZER_FUNCTION"),
		SecretPrefix: r.Required("SECRET_PREFIX"), Stage: r.Required("STAGE")}
	return h, r.Err()
}

// Load is FromEnv with the AWS configuration (internal/awsenv), the clients
// and a JSON logger to logOut: all the hook's main needs. Every problem is
// reported at once.
func Load(getenv func(string) string, logOut io.Writer) (*Hook, error) {
	h, err := FromEnv(getenv)
	cfg, awsErr := awsenv.Config(getenv)
	if err := errors.Join(err, awsErr); err != nil {
		return nil, err
	}
	h.Lambda, h.CodeDeploy, h.Secrets = lambda.NewFromConfig(cfg), codedeploy.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg)
	h.Log = slog.New(slog.NewJSONHandler(logOut, nil))
	return h, nil
}

// Handle is the Lambda handler. A failed check is reported as Failed (CodeDeploy
// then stops the deployment and keeps the old version); only a failed report is
// returned as an error, so that Lambda retries it.
func (h *Hook) Handle(ctx context.Context, ev Event) error {
	status := cdtypes.LifecycleEventStatusSucceeded
	if err := h.Check(ctx); err != nil {
		status = cdtypes.LifecycleEventStatusFailed
		h.Log.LogAttrs(ctx, slog.LevelError, "pre-traffic check failed", slog.String("target", h.Target), slog.String("error", err.Error()))
	} else {
		h.Log.LogAttrs(ctx, slog.LevelInfo, "pre-traffic check passed", slog.String("target", h.Target))
	}
	_, err := h.CodeDeploy.PutLifecycleEventHookExecutionStatus(ctx, &codedeploy.PutLifecycleEventHookExecutionStatusInput{
		DeploymentId:                  aws.String(ev.DeploymentID),
		LifecycleEventHookExecutionId: aws.String(ev.LifecycleEventHookExecutionID),
		Status:                        status,
	})
	if err != nil {
		return fmt.Errorf("report %s to CodeDeploy: %w", status, err)
	}
	return nil
}

// methodArn is the method ARN of the synthetic requests' authorizer events;
// the authorizer's policy names it and nothing reads it back.
const methodArn = "arn:aws:execute-api:us-east-1:000000000000:pre-traffic/pre-traffic/GET/vip-messages"

// Request is a synthetic GET /vip-messages as API Gateway hands it on, for
// query q (each name once). Without headers it is unsigned.
func Request(q map[string]string, headers map[string]string) events.APIGatewayProxyRequest {
	h := map[string]string{"Accept": "application/json", "User-Agent": "vip-messages-pre-traffic"}
	for k, v := range headers {
		h[k] = v
	}
	mh := make(map[string][]string, len(h))
	for k, v := range h {
		mh[k] = []string{v}
	}
	mq := make(map[string][]string, len(q))
	for k, v := range q {
		mq[k] = []string{v}
	}
	return events.APIGatewayProxyRequest{
		Resource: signature.Path, Path: signature.Path, HTTPMethod: http.MethodGet,
		Headers: h, MultiValueHeaders: mh, QueryStringParameters: q, MultiValueQueryStringParameters: mq,
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID: "pre-traffic", Stage: "pre-traffic", HTTPMethod: http.MethodGet,
			ResourcePath: signature.Path, Path: signature.Path,
		},
	}
}

// canaryQuery is a small recent page of the canary channel.
func canaryQuery(now time.Time) map[string]string {
	return map[string]string{
		"workspaceId": CanaryWorkspace, "mediumId": CanaryMedium, "limit": "1",
		"from": now.Add(-time.Hour).UTC().Format(time.RFC3339), "to": now.UTC().Format(time.RFC3339),
	}
}

// signed is Request for q with version 2 signature headers of keyID and secret.
func signed(q map[string]string, keyID, secret string, now time.Time) events.APIGatewayProxyRequest {
	date := now.UTC().Format(time.RFC3339)
	r := Request(q, nil)
	sig := signature.SignV2(secret, date, signature.Query(r.QueryStringParameters, r.MultiValueQueryStringParameters))
	return Request(q, map[string]string{auth.HeaderKeyID: keyID, auth.HeaderDate: date, auth.HeaderSignature: sig})
}

// Check runs the three cases; the first failure is the error.
func (h *Hook) Check(ctx context.Context) error {
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	q := canaryQuery(now)

	unsigned := Request(q, nil)
	if err := h.denied(ctx, unsigned); err != nil {
		return fmt.Errorf("unsigned request: authorizer: %w", err)
	}
	resp, err := h.invokeTarget(ctx, unsigned)
	if err == nil {
		err = CheckResponse(resp)
	}
	if err != nil {
		return fmt.Errorf("unsigned request: new version without the authorizer's context: %w", err)
	}

	secret, err := h.canarySecret(ctx)
	if err != nil {
		return err
	}
	// A secret the key does not have: its own, reversed, is never equal to it.
	wrong := []byte(secret)
	slices.Reverse(wrong)
	if err := h.denied(ctx, signed(q, CanaryKeyID, "wrong-"+string(wrong), now)); err != nil {
		return fmt.Errorf("wrongly signed request: authorizer: %w", err)
	}

	req := signed(q, CanaryKeyID, secret, now)
	allow, err := h.authorize(ctx, req)
	if err != nil {
		return fmt.Errorf("signed canary request: authorizer: %w", err)
	}
	if err := checkAllow(allow); err != nil {
		return fmt.Errorf("signed canary request: authorizer: %w", err)
	}
	resp, err = h.invokeTarget(ctx, authorizer.WithContext(req, allow))
	if err == nil {
		err = CheckPage(resp)
	}
	if err != nil {
		return fmt.Errorf("signed canary request: new version: %w", err)
	}
	return nil
}

// canarySecret reads the canary key's current secret.
func (h *Hook) canarySecret(ctx context.Context) (string, error) {
	name := auth.SecretName(h.SecretPrefix, CanaryKeyID)
	out, err := h.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	var notFound *smtypes.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return "", fmt.Errorf("canary key secret %s not found; create it: %s", name, SetupCommand(h.Stage))
	}
	if err != nil {
		return "", fmt.Errorf("canary key secret %s: %w", name, err)
	}
	v, err := auth.ParseSecretValue(aws.ToString(out.SecretString))
	if err != nil {
		return "", fmt.Errorf("canary key secret %s: %w", name, err)
	}
	if !slices.Contains(v.WorkspaceIDs, CanaryWorkspace) {
		return "", fmt.Errorf("canary key %s may not read workspace %s; fix it: vipctl keys set-workspaces --stage %s --workspace %s %s",
			CanaryKeyID, CanaryWorkspace, h.Stage, CanaryWorkspace, CanaryKeyID)
	}
	return v.Secrets[0], nil
}

// invoke calls function with payload and returns its answer; a function
// error (a crash) is an error.
func (h *Hook) invoke(ctx context.Context, function string, payload any) ([]byte, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	out, err := h.Lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(function), Payload: b})
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", function, err)
	}
	if out.FunctionError != nil {
		return nil, fmt.Errorf("%s failed (%s)", function, *out.FunctionError)
	}
	return out.Payload, nil
}

func (h *Hook) invokeTarget(ctx context.Context, req events.APIGatewayProxyRequest) ([]byte, error) {
	return h.invoke(ctx, h.Target, req)
}

// authorize asks the authorizer about req, as API Gateway does.
func (h *Hook) authorize(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	var resp events.APIGatewayCustomAuthorizerResponse
	out, err := h.invoke(ctx, h.Authorizer, authorizer.Event(req, methodArn))
	if err != nil {
		return resp, err
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return resp, fmt.Errorf("not an authorizer response: %w", err)
	}
	return resp, nil
}

// denied: the authorizer denies req, and the stage answers the contract's 401.
func (h *Hook) denied(ctx context.Context, req events.APIGatewayProxyRequest) error {
	resp, err := h.authorize(ctx, req)
	if err != nil {
		return err
	}
	r, refused := authorizer.Refuse(resp, nil)
	if !refused {
		return errors.New("allowed, want a Deny")
	}
	if resp.UsageIdentifierKey != "" {
		return errors.New("a Deny with a usageIdentifierKey, which a usage plan would count")
	}
	return checkMessage(r.Status, r.Body)
}

// checkAllow: an Allow naming the canary key for metering, with the context
// the API function trusts.
func checkAllow(resp events.APIGatewayCustomAuthorizerResponse) error {
	if !authorizer.Allowed(resp) {
		return fmt.Errorf("denied (%v), want an Allow", resp.Context[authorizer.ContextMessage])
	}
	if resp.UsageIdentifierKey != CanaryKeyID {
		return fmt.Errorf("usageIdentifierKey %q, want %q", resp.UsageIdentifierKey, CanaryKeyID)
	}
	k, ok := auth.KeyFromAuthorizer(resp.Context)
	if !ok || k.ID != CanaryKeyID || !k.Allows(CanaryWorkspace) {
		return errors.New("the context does not name the canary key and its workspace")
	}
	return nil
}

// proxyResponse decodes a proxy response and checks the headers every answer
// of the contract has: a JSON body as text.
func proxyResponse(payload []byte) (events.APIGatewayProxyResponse, error) {
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		return resp, fmt.Errorf("not a proxy response: %w", err)
	}
	ct := resp.Headers["Content-Type"]
	if ct == "" && len(resp.MultiValueHeaders["Content-Type"]) > 0 {
		ct = resp.MultiValueHeaders["Content-Type"][0]
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return resp, fmt.Errorf("status %d, Content-Type %q, want application/json", resp.StatusCode, ct)
	}
	if resp.IsBase64Encoded {
		return resp, errors.New("body is base64-encoded, want JSON text")
	}
	return resp, nil
}

// CheckResponse verifies that payload is the contract's answer to an
// unauthenticated request: a proxy response with status 401, a JSON content
// type, and a body that is exactly {"message": "<non-empty>"}.
func CheckResponse(payload []byte) error {
	resp, err := proxyResponse(payload)
	if err != nil {
		return err
	}
	return checkMessage(resp.StatusCode, resp.Body)
}

func checkMessage(status int, body string) error {
	if status != http.StatusUnauthorized {
		return fmt.Errorf("status %d, want 401", status)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return fmt.Errorf("401 body is not a JSON object: %w", err)
	}
	msg, ok := m["message"].(string)
	if len(m) != 1 || !ok || msg == "" {
		return fmt.Errorf("401 body has %d keys and message %q, want exactly a non-empty message", len(m), msg)
	}
	return nil
}

// CheckPage verifies that payload is the contract's 200 to the canary's
// query (openapi.yaml, Page): exactly the page's members, at most limit=1
// items, returned counting them, and nextCursor exactly when mayHaveMore.
// The page is decoded strictly into the Go client's type, as a client
// would read it.
func CheckPage(payload []byte) error {
	resp, err := proxyResponse(payload)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d, want 200 (body %.200s)", resp.StatusCode, resp.Body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(resp.Body), &raw); err != nil {
		return fmt.Errorf("200 body is not a JSON object: %w", err)
	}
	for _, k := range []string{"items", "returned", "mayHaveMore"} {
		if _, ok := raw[k]; !ok {
			return fmt.Errorf("200 body has no %q", k)
		}
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(resp.Body)))
	dec.DisallowUnknownFields()
	var page client.Page
	if err := dec.Decode(&page); err != nil {
		return fmt.Errorf("200 body is not a page: %w", err)
	}
	switch {
	case page.Items == nil:
		return errors.New("200 body: items is null, want an array")
	case len(page.Items) > 1:
		return fmt.Errorf("200 body: %d items, limit was 1", len(page.Items))
	case page.Returned != len(page.Items):
		return fmt.Errorf("200 body: returned %d with %d items", page.Returned, len(page.Items))
	case page.MayHaveMore != (page.NextCursor != ""):
		return fmt.Errorf("200 body: mayHaveMore %t with nextCursor %q", page.MayHaveMore, page.NextCursor)
	}
	return nil
}
