package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/rie"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/local/smlocal"
	"github.com/vip-messages/api/internal/pretraffic"
	"github.com/vip-messages/api/internal/testkit/testproc"
)

// rieLambda is Lambda's Invoke over functions running under aws-lambda-rie,
// by function name.
type rieLambda map[string]string

func (l rieLambda) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	addr, ok := l[aws.ToString(in.FunctionName)]
	if !ok {
		return nil, errors.New("no such function: " + aws.ToString(in.FunctionName))
	}
	resp, err := rie.Invoke(ctx, addr, in.Payload)
	if err != nil {
		return nil, err
	}
	out := &lambda.InvokeOutput{Payload: resp.Payload, StatusCode: int32(resp.Status)}
	if resp.ErrorType != "" || resp.Status != http.StatusOK {
		out.FunctionError = aws.String("Unhandled " + resp.ErrorType)
	}
	return out, nil
}

// The pre-traffic hook's three cases against the built API function and
// authorizer under aws-lambda-rie, on a stack holding the canary as
// docs/deploying.md creates it.
func TestPreTrafficHookThroughRIE(t *testing.T) {
	bins := buildLambdas(t)
	ctx := t.Context()
	st, err := devstack.Start(ctx, devstack.Options{DynamoEndpoint: ddbtest.Endpoint(t), FreePorts: true, WithoutStream: true,
		Table: "pretraffic-" + strconv.FormatInt(time.Now().UnixNano(), 36)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteTables(st.DynamoDB(), st.Table); st.Close() })
	err = seed.NewWriter(st.DynamoDB(), st.Table).Write(ctx, seed.Dataset{
		Workspaces: []seed.Workspace{{ID: pretraffic.CanaryWorkspace, VIP: true}},
		Channels:   []seed.Channel{{WorkspaceID: pretraffic.CanaryWorkspace, MediumID: pretraffic.CanaryMedium, Connected: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := smlocal.PutKey(ctx, st.SecretsManager(), st.SecretPrefix, pretraffic.CanaryKeyID,
		auth.SecretValue{Secrets: []string{"canary-secret-of-the-test"}, WorkspaceIDs: []string{pretraffic.CanaryWorkspace}, MinSignatureVersion: 2}); err != nil {
		t.Fatal(err)
	}
	var env []string
	for k, v := range st.Env() {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	apiAddr, _ := testproc.StartRIE(t, bins.RIE, bins.API, env)
	authzAddr, _ := testproc.StartRIE(t, bins.RIE, bins.Authorizer, env)
	const (
		target = "arn:aws:lambda:us-east-1:123456789012:function:vip-messages-local:1"
		authz  = "arn:aws:lambda:us-east-1:123456789012:function:vip-messages-authorizer-local"
	)
	h := &pretraffic.Hook{Lambda: rieLambda{target: apiAddr, authz: authzAddr}, Secrets: st.SecretsManager(),
		Target: target, Authorizer: authz, SecretPrefix: st.SecretPrefix, Stage: "local", Log: slog.New(slog.DiscardHandler)}
	if err := h.Check(ctx); err != nil {
		t.Fatalf("the real functions fail the hook: %v", err)
	}
}
