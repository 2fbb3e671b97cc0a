// Package pretraffic is the CodeDeploy PreTraffic hook of the API function: before
// any traffic moves to a new version, it invokes that version with a synthetic,
// unsigned GET /vip-messages and reports Succeeded only if the answer is the
// contract's 401 (openapi.yaml: a JSON body {"message": "..."}). That proves the
// new version boots, reads its configuration and serves, without a secret: an
// unsigned request never reaches Secrets Manager or DynamoDB.
package pretraffic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

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

// Hook checks the version Target (a qualified function ARN) and reports the result.
type Hook struct {
	Lambda     Invoker
	CodeDeploy Reporter
	Target     string
	Log        *slog.Logger
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

// Request is the synthetic request: what API Gateway sends for an unsigned GET.
func Request() events.APIGatewayProxyRequest {
	return events.APIGatewayProxyRequest{
		Resource: "/vip-messages", Path: "/vip-messages", HTTPMethod: http.MethodGet,
		Headers:               map[string]string{"Accept": "application/json", "User-Agent": "vip-messages-pre-traffic"},
		MultiValueHeaders:     map[string][]string{"Accept": {"application/json"}, "User-Agent": {"vip-messages-pre-traffic"}},
		QueryStringParameters: map[string]string{"workspaceId": "ws-pre-traffic", "mediumId": "ch-pre-traffic"},
		MultiValueQueryStringParameters: map[string][]string{
			"workspaceId": {"ws-pre-traffic"}, "mediumId": {"ch-pre-traffic"},
		},
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID: "pre-traffic", Stage: "pre-traffic", HTTPMethod: http.MethodGet,
			ResourcePath: "/vip-messages", Path: "/vip-messages",
		},
	}
}

// Check invokes the target once with Request and verifies the answer.
func (h *Hook) Check(ctx context.Context) error {
	payload, err := json.Marshal(Request())
	if err != nil {
		return err
	}
	out, err := h.Lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(h.Target), Payload: payload})
	if err != nil {
		return fmt.Errorf("invoke: %w", err)
	}
	if out.FunctionError != nil {
		return fmt.Errorf("the function failed (%s)", *out.FunctionError)
	}
	return CheckResponse(out.Payload)
}

// CheckResponse verifies that payload is the contract's answer to an unsigned
// request: a proxy response with status 401, a JSON content type, and a body that
// is exactly {"message": "<non-empty>"}.
func CheckResponse(payload []byte) error {
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		return fmt.Errorf("not a proxy response: %w", err)
	}
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("status %d, want 401", resp.StatusCode)
	}
	ct := resp.Headers["Content-Type"]
	if ct == "" && len(resp.MultiValueHeaders["Content-Type"]) > 0 {
		ct = resp.MultiValueHeaders["Content-Type"][0]
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return fmt.Errorf("Content-Type %q, want application/json", ct)
	}
	if resp.IsBase64Encoded {
		return errors.New("body is base64-encoded, want JSON text")
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		return fmt.Errorf("body is not a JSON object: %w", err)
	}
	msg, ok := body["message"].(string)
	if len(body) != 1 || !ok || msg == "" {
		return fmt.Errorf("body has keys %d and message %q, want exactly a non-empty message", len(body), msg)
	}
	return nil
}
