package pretraffic_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/vip-messages/api/internal/app"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/auth/keystore"
	"github.com/vip-messages/api/internal/authorizer"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/pretraffic"
	"github.com/vip-messages/api/internal/table"
	"github.com/vip-messages/api/internal/testkit/contract"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Main(m)) }

const (
	target       = "arn:aws:lambda:us-east-1:123456789012:function:vip-messages-dev:7"
	authz        = "arn:aws:lambda:us-east-1:123456789012:function:vip-messages-authorizer-dev"
	secretPrefix = "vip-api/dev/api-keys"
)

// invokeFunc stands in for one function behind Lambda's Invoke.
type invokeFunc func(ctx context.Context, payload []byte) (*lambda.InvokeOutput, error)

// functions is Lambda: each function name runs its invokeFunc.
type functions map[string]invokeFunc

func (f functions) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	fn, ok := f[aws.ToString(in.FunctionName)]
	if !ok {
		return nil, errors.New("ResourceNotFoundException: " + aws.ToString(in.FunctionName))
	}
	return fn(ctx, in.Payload)
}

// handler turns a typed Lambda handler into an invokeFunc; a returned error
// is a function error, as Lambda reports it.
func handler[In, Out any](h func(context.Context, In) (Out, error)) invokeFunc {
	return func(ctx context.Context, payload []byte) (*lambda.InvokeOutput, error) {
		var in In
		if err := json.Unmarshal(payload, &in); err != nil {
			return nil, err
		}
		resp, err := h(ctx, in)
		if err != nil {
			return &lambda.InvokeOutput{FunctionError: aws.String("Unhandled"), Payload: []byte(`{"errorMessage":"x"}`)}, nil
		}
		out, err := json.Marshal(resp)
		return &lambda.InvokeOutput{Payload: out}, err
	}
}

// secrets is Secrets Manager: secret name to SecretString.
type secrets map[string]string

func (s secrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	v, ok := s[aws.ToString(in.SecretId)]
	if !ok {
		return nil, &smtypes.ResourceNotFoundException{Message: aws.String("not found")}
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}

// canarySecrets holds the canary key as vipctl keys create stores it.
func canarySecrets(t *testing.T, workspaces ...string) secrets {
	t.Helper()
	v, err := auth.SecretValue{Secrets: []string{"canary-secret-0123456789"}, WorkspaceIDs: workspaces, MinSignatureVersion: 2}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return secrets{auth.SecretName(secretPrefix, pretraffic.CanaryKeyID): v}
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

// realAuthorizer is the authorizer function as deployed, reading keys from sm.
func realAuthorizer(sm keystore.SecretsManager) invokeFunc {
	ks := keystore.New(sm, secretPrefix, keystore.CacheConfig{}, nil)
	return handler(authorizer.New(auth.NewVerifier(ks, nil), nil).Handle)
}

// authenticatorFunc is a broken build's signature check.
type authenticatorFunc func(headers map[string]string) (auth.Key, error)

func (f authenticatorFunc) Authenticate(_ context.Context, _, _ string, headers map[string]string, _ map[string][]string, _ map[string][]string) (auth.Key, error) {
	return f(headers)
}

// brokenAuthorizer runs the authorizer's own code around a broken check.
func brokenAuthorizer(check authenticatorFunc) invokeFunc {
	return handler(authorizer.New(check, nil).Handle)
}

// realAPI is the API function as the new version runs it, on a table that
// holds the canary workspace, its channel and one message of the last hour.
// Every answer is also validated against openapi.yaml, so the hook's check
// and the contract's cannot disagree on the real function's answers.
func realAPI(t *testing.T) invokeFunc {
	t.Helper()
	db, name := ddbtest.NewTable(t)
	err := seed.NewWriter(db, name).Write(t.Context(), seed.Dataset{
		Workspaces: []seed.Workspace{{ID: pretraffic.CanaryWorkspace, VIP: true}},
		Channels:   []seed.Channel{{WorkspaceID: pretraffic.CanaryWorkspace, MediumID: pretraffic.CanaryMedium, Connected: true}},
		Messages: []seed.ChannelMessages{{WorkspaceID: pretraffic.CanaryWorkspace, MediumID: pretraffic.CanaryMedium, Messages: []table.Message{{
			MessageID: "m1", Timestamp: time.Now().Add(-time.Minute).UnixMilli(), ConversationID: "c1", UserName: "canary",
			Kind: "text", Source: "user", Labels: []string{}, CustomLabelIDs: []string{}, Text: "hello",
		}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return apiOn(t, db, name)
}

// apiOn is the API function on table name, as template.yaml configures it.
// Its answers are validated against openapi.yaml.
func apiOn(t *testing.T, db *dynamodb.Client, name string) invokeFunc {
	t.Helper()
	env := map[string]string{"TABLE_NAME": name, "LOG_LEVEL": "error", "FILTER_MAX_CALLS": "8", "FILTER_MAX_ITEMS": "4000"}
	cfg, err := app.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	h := app.NewWithClient(cfg, db, cfg.Logger(io.Discard))
	return handler(func(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		resp, err := h.Handle(ctx, req)
		if err == nil {
			contract.CheckEvent(t, req, resp)
		}
		return resp, err
	})
}

// trustingEveryone is a build that serves a request without the
// authorizer's context as if the canary key had signed it.
func trustingEveryone(api invokeFunc) invokeFunc {
	return func(ctx context.Context, payload []byte) (*lambda.InvokeOutput, error) {
		var req events.APIGatewayProxyRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, err
		}
		if req.RequestContext.Authorizer == nil {
			req.RequestContext.Authorizer = auth.Key{ID: pretraffic.CanaryKeyID, WorkspaceIDs: []string{pretraffic.CanaryWorkspace}}.AuthorizerContext()
		}
		b, err := json.Marshal(req)
		if err != nil {
			return nil, err
		}
		return api(ctx, b)
	}
}

// unmetered is an authorizer whose Allow names no usageIdentifierKey.
func unmetered(z invokeFunc) invokeFunc {
	return func(ctx context.Context, payload []byte) (*lambda.InvokeOutput, error) {
		out, err := z(ctx, payload)
		if err != nil || out.FunctionError != nil {
			return out, err
		}
		var resp events.APIGatewayCustomAuthorizerResponse
		if err := json.Unmarshal(out.Payload, &resp); err != nil {
			return nil, err
		}
		resp.UsageIdentifierKey = ""
		out.Payload, err = json.Marshal(resp)
		return out, err
	}
}

func answering(status int, body string) invokeFunc {
	return func(context.Context, []byte) (*lambda.InvokeOutput, error) {
		out, err := json.Marshal(events.APIGatewayProxyResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: body})
		return &lambda.InvokeOutput{Payload: out}, err
	}
}

func TestHook(t *testing.T) {
	canaryKey := func(headers map[string]string) (auth.Key, error) {
		if headers[auth.HeaderKeyID] == "" {
			return auth.Key{}, auth.ErrUnauthenticated
		}
		return auth.Key{ID: headers[auth.HeaderKeyID], WorkspaceIDs: []string{pretraffic.CanaryWorkspace}}, nil
	}
	for _, tc := range []struct {
		name string
		// lambda builds the stage's functions: the new version and the authorizer.
		lambda  func(t *testing.T, sm secrets) functions
		secrets func(t *testing.T) secrets
		wantErr string // "" for Succeeded
	}{
		{"the real authorizer and version answer the contract", func(t *testing.T, sm secrets) functions {
			return functions{target: realAPI(t), authz: realAuthorizer(sm)}
		}, canaryOnly, ""},
		{"a version that answers 200 unsigned", func(t *testing.T, sm secrets) functions {
			return functions{target: trustingEveryone(realAPI(t)), authz: realAuthorizer(sm)}
		}, canaryOnly, "unsigned request: new version"},
		{"a version that answers 401 in another shape", func(t *testing.T, sm secrets) functions {
			return functions{target: answering(http.StatusUnauthorized, `{"error":"unauthorized"}`), authz: realAuthorizer(sm)}
		}, canaryOnly, "unsigned request: new version"},
		{"an authorizer that allows unsigned requests", func(t *testing.T, sm secrets) functions {
			return functions{target: realAPI(t), authz: brokenAuthorizer(func(map[string]string) (auth.Key, error) {
				return auth.Key{ID: pretraffic.CanaryKeyID, WorkspaceIDs: []string{pretraffic.CanaryWorkspace}}, nil
			})}
		}, canaryOnly, "unsigned request: authorizer: allowed"},
		{"an authorizer that allows wrong signatures", func(t *testing.T, sm secrets) functions {
			return functions{target: realAPI(t), authz: brokenAuthorizer(canaryKey)}
		}, canaryOnly, "wrongly signed request: authorizer: allowed"},
		{"an authorizer that denies signed requests", func(t *testing.T, sm secrets) functions {
			return functions{target: realAPI(t), authz: brokenAuthorizer(func(map[string]string) (auth.Key, error) { return auth.Key{}, auth.ErrUnauthenticated })}
		}, canaryOnly, "signed canary request: authorizer: denied"},
		{"a canary key without the canary workspace", func(t *testing.T, sm secrets) functions {
			return functions{target: realAPI(t), authz: realAuthorizer(sm)}
		}, func(t *testing.T) secrets {
			return canarySecrets(t, "another-workspace", pretraffic.CanaryWorkspace+"x")
		}, "may not read workspace"},
		{"an authorizer without a usageIdentifierKey", func(t *testing.T, sm secrets) functions {
			return functions{target: realAPI(t), authz: unmetered(realAuthorizer(sm))}
		}, canaryOnly, "signed canary request: authorizer: usageIdentifierKey"},
		{"a version that fails signed requests (its table is not there)", func(t *testing.T, sm secrets) functions {
			return functions{target: apiOn(t, ddbtest.Client(t), "no-such-table"), authz: realAuthorizer(sm)}
		}, canaryOnly, "signed canary request: new version: status 5"},
		{"a version that answers 200 in another shape", func(t *testing.T, sm secrets) functions {
			real := realAPI(t)
			return functions{authz: realAuthorizer(sm), target: func(ctx context.Context, payload []byte) (*lambda.InvokeOutput, error) {
				if !strings.Contains(string(payload), auth.ContextKeyID) {
					return real(ctx, payload)
				}
				return answering(http.StatusOK, `{"data":[],"returned":0,"mayHaveMore":false}`)(ctx, payload)
			}}
		}, canaryOnly, "signed canary request: new version: 200 body has no"},
		{"no canary key", func(t *testing.T, sm secrets) functions {
			return functions{target: realAPI(t), authz: realAuthorizer(sm)}
		}, func(*testing.T) secrets { return secrets{} }, "vipctl keys create --stage dev --tier basic --id " + pretraffic.CanaryKeyID},
		{"a version that crashes", func(t *testing.T, sm secrets) functions {
			return functions{target: handler(func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
				return events.APIGatewayProxyResponse{}, errors.New("boom")
			}), authz: realAuthorizer(sm)}
		}, canaryOnly, "failed (Unhandled)"},
		{"the hook may not invoke the authorizer", func(t *testing.T, sm secrets) functions {
			return functions{target: realAPI(t)}
		}, canaryOnly, "ResourceNotFoundException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			rec := &recorder{}
			sm := tc.secrets(t)
			h := &pretraffic.Hook{Lambda: tc.lambda(t, sm), CodeDeploy: rec, Secrets: sm, Target: target, Authorizer: authz,
				SecretPrefix: secretPrefix, Stage: "dev", Log: slog.New(slog.NewJSONHandler(&logs, nil))}
			if err := h.Handle(t.Context(), pretraffic.Event{DeploymentID: "d-1", LifecycleEventHookExecutionID: "hook-1"}); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			want := cdtypes.LifecycleEventStatusSucceeded
			if tc.wantErr != "" {
				want = cdtypes.LifecycleEventStatusFailed
			}
			if len(rec.got) != 1 || rec.got[0] != want {
				t.Fatalf("reported %v, want [%s]; logs:\n%s", rec.got, want, logs.String())
			}
			if !strings.Contains(logs.String(), tc.wantErr) {
				t.Errorf("logs do not say %q:\n%s", tc.wantErr, logs.String())
			}
			if strings.Contains(logs.String(), "canary-secret") {
				t.Errorf("the logs carry the canary's secret:\n%s", logs.String())
			}
		})
	}
}

func canaryOnly(t *testing.T) secrets { return canarySecrets(t, pretraffic.CanaryWorkspace) }

// TestHookReportFails: a report CodeDeploy did not take is an error, so Lambda retries.
func TestHookReportFails(t *testing.T) {
	rec := &recorder{err: errors.New("throttled")}
	sm := canaryOnly(t)
	h := &pretraffic.Hook{Lambda: functions{target: realAPI(t), authz: realAuthorizer(sm)}, CodeDeploy: rec, Secrets: sm,
		Target: target, Authorizer: authz, SecretPrefix: secretPrefix, Stage: "dev", Log: slog.New(slog.DiscardHandler)}
	if err := h.Handle(t.Context(), pretraffic.Event{DeploymentID: "d-1", LifecycleEventHookExecutionID: "hook-1"}); err == nil {
		t.Fatal("Handle returned nil although the report failed")
	}
}
