package pretraffic_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/vip-messages/api/internal/app"
	"github.com/vip-messages/api/internal/pretraffic"
)

// invokeFunc stands in for Lambda's Invoke: it runs a handler on the payload.
type invokeFunc func(ctx context.Context, payload []byte) (*lambda.InvokeOutput, error)

func (f invokeFunc) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	return f(ctx, in.Payload)
}

// recorder is CodeDeploy's side: it records the reported status.
type recorder struct {
	got []cdtypes.LifecycleEventStatus
	err error
}

func (r *recorder) PutLifecycleEventHookExecutionStatus(_ context.Context, in *codedeploy.PutLifecycleEventHookExecutionStatusInput, _ ...func(*codedeploy.Options)) (*codedeploy.PutLifecycleEventHookExecutionStatusOutput, error) {
	if aws.ToString(in.DeploymentId) != "d-1" || aws.ToString(in.LifecycleEventHookExecutionId) != "hook-1" {
		return nil, errors.New("wrong deployment or hook execution id")
	}
	r.got = append(r.got, in.Status)
	return &codedeploy.PutLifecycleEventHookExecutionStatusOutput{}, r.err
}

// realFunction is the API function as the new version runs it, configured as
// template.yaml configures it; the unsigned request never reaches AWS.
func realFunction(t *testing.T) invokeFunc {
	env := map[string]string{
		"TABLE_NAME": "vip-messages-dev", "SECRET_PREFIX": "vip-api/dev/api-keys", "LOG_LEVEL": "error",
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
		// Nothing listens here: any call to AWS would fail the check.
		"AWS_ENDPOINT_URL": "http://127.0.0.1:1",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	h, err := app.Load(t.Context(), func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context, payload []byte) (*lambda.InvokeOutput, error) {
		var req events.APIGatewayProxyRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, err
		}
		resp, err := h.Handle(ctx, req)
		if err != nil {
			return &lambda.InvokeOutput{FunctionError: aws.String("Unhandled")}, nil
		}
		out, err := json.Marshal(resp)
		return &lambda.InvokeOutput{Payload: out}, err
	}
}

func answering(resp events.APIGatewayProxyResponse) invokeFunc {
	return func(context.Context, []byte) (*lambda.InvokeOutput, error) {
		out, err := json.Marshal(resp)
		return &lambda.InvokeOutput{Payload: out}, err
	}
}

func TestHook(t *testing.T) {
	jsonHeaders := map[string]string{"Content-Type": "application/json"}
	for _, tc := range []struct {
		name   string
		invoke func(t *testing.T) invokeFunc
		want   cdtypes.LifecycleEventStatus
	}{
		{"the real function answers the contract's 401", realFunction, cdtypes.LifecycleEventStatusSucceeded},
		{"200", func(*testing.T) invokeFunc {
			return answering(events.APIGatewayProxyResponse{StatusCode: 200, Headers: jsonHeaders, Body: `{"data":[]}`})
		}, cdtypes.LifecycleEventStatusFailed},
		{"500 from a broken configuration", func(*testing.T) invokeFunc {
			return answering(events.APIGatewayProxyResponse{StatusCode: 500, Headers: jsonHeaders, Body: `{"message":"internal error"}`})
		}, cdtypes.LifecycleEventStatusFailed},
		{"401 in another shape", func(*testing.T) invokeFunc {
			return answering(events.APIGatewayProxyResponse{StatusCode: 401, Headers: jsonHeaders, Body: `{"error":"unauthorized"}`})
		}, cdtypes.LifecycleEventStatusFailed},
		{"401 as text", func(*testing.T) invokeFunc {
			return answering(events.APIGatewayProxyResponse{StatusCode: 401, Headers: map[string]string{"Content-Type": "text/plain"}, Body: `{"message":"x"}`})
		}, cdtypes.LifecycleEventStatusFailed},
		{"401 with extra fields", func(*testing.T) invokeFunc {
			return answering(events.APIGatewayProxyResponse{StatusCode: 401, Headers: jsonHeaders, Body: `{"message":"x","stack":"main.go:1"}`})
		}, cdtypes.LifecycleEventStatusFailed},
		{"the function crashes", func(*testing.T) invokeFunc {
			return func(context.Context, []byte) (*lambda.InvokeOutput, error) {
				return &lambda.InvokeOutput{FunctionError: aws.String("Unhandled"), Payload: []byte(`{"errorMessage":"boom"}`)}, nil
			}
		}, cdtypes.LifecycleEventStatusFailed},
		{"the invoke fails", func(*testing.T) invokeFunc {
			return func(context.Context, []byte) (*lambda.InvokeOutput, error) { return nil, errors.New("AccessDenied") }
		}, cdtypes.LifecycleEventStatusFailed},
		{"not a proxy response", func(*testing.T) invokeFunc {
			return func(context.Context, []byte) (*lambda.InvokeOutput, error) {
				return &lambda.InvokeOutput{Payload: []byte(`"hello"`)}, nil
			}
		}, cdtypes.LifecycleEventStatusFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			rec := &recorder{}
			h := &pretraffic.Hook{Lambda: tc.invoke(t), CodeDeploy: rec, Target: "arn:aws:lambda:us-east-1:123456789012:function:vip-messages-dev:7",
				Log: slog.New(slog.NewJSONHandler(&logs, nil))}
			if err := h.Handle(t.Context(), pretraffic.Event{DeploymentID: "d-1", LifecycleEventHookExecutionID: "hook-1"}); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if len(rec.got) != 1 || rec.got[0] != tc.want {
				t.Fatalf("reported %v, want [%s]; logs:\n%s", rec.got, tc.want, logs.String())
			}
		})
	}
}

// TestHookReportFails: a report CodeDeploy did not take is an error, so Lambda retries.
func TestHookReportFails(t *testing.T) {
	rec := &recorder{err: errors.New("throttled")}
	h := &pretraffic.Hook{Lambda: realFunction(t), CodeDeploy: rec, Target: "t", Log: slog.New(slog.DiscardHandler)}
	if err := h.Handle(t.Context(), pretraffic.Event{DeploymentID: "d-1", LifecycleEventHookExecutionID: "hook-1"}); err == nil {
		t.Fatal("Handle returned nil although the report failed")
	}
}
