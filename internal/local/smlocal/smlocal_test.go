package smlocal_test

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/smlocal"
)

// newClient serves a fresh Service and returns a real SDK client for it, with
// retries but no backoff delay.
func newClient(t *testing.T) (*smlocal.Service, *secretsmanager.Client) {
	t.Helper()
	svc := smlocal.New()
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	return svc, smlocal.NewClient(srv.URL, func(o *secretsmanager.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 3
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
}

func get(ctx context.Context, c *secretsmanager.Client, id string) (*secretsmanager.GetSecretValueOutput, error) {
	return c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
}

func TestLifecycleThroughSDK(t *testing.T) {
	ctx := context.Background()
	svc, c := newClient(t)
	fixed := time.Date(2026, 6, 1, 12, 0, 0, 500_000_000, time.UTC)
	svc.Now = func() time.Time { return fixed }

	created, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("p/k1"), SecretString: aws.String("v1")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(created.Name) != "p/k1" || aws.ToString(created.VersionId) == "" {
		t.Fatalf("create: %+v", created)
	}
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("p/k1"), SecretString: aws.String("x")}); !errors.As(err, new(*types.ResourceExistsException)) {
		t.Fatalf("second create: %v, want ResourceExistsException", err)
	}

	got, err := get(ctx, c, "p/k1")
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.SecretString) != "v1" || aws.ToString(got.ARN) != aws.ToString(created.ARN) ||
		len(got.VersionStages) != 1 || got.VersionStages[0] != "AWSCURRENT" || !got.CreatedDate.Equal(fixed) {
		t.Fatalf("get: %+v (created %v)", got, got.CreatedDate)
	}
	// By ARN too.
	if got, err := get(ctx, c, aws.ToString(created.ARN)); err != nil || aws.ToString(got.SecretString) != "v1" {
		t.Fatalf("get by ARN: %v %v", got, err)
	}

	put, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("p/k1"), SecretString: aws.String("v2")})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := get(ctx, c, "p/k1"); aws.ToString(got.SecretString) != "v2" || aws.ToString(got.VersionId) != aws.ToString(put.VersionId) {
		t.Fatalf("after put: %+v", got)
	}
	prev, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("p/k1"), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || aws.ToString(prev.SecretString) != "v1" {
		t.Fatalf("AWSPREVIOUS: %v %v", prev, err)
	}

	del, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("p/k1"), RecoveryWindowInDays: aws.Int64(7)})
	if err != nil {
		t.Fatal(err)
	}
	if want := fixed.AddDate(0, 0, 7); !del.DeletionDate.Equal(want) {
		t.Fatalf("deletion date %v, want %v", del.DeletionDate, want)
	}
	if _, err := get(ctx, c, "p/k1"); !errors.As(err, new(*types.InvalidRequestException)) {
		t.Fatalf("get scheduled for deletion: %v, want InvalidRequestException", err)
	}
	desc, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("p/k1")})
	if err != nil || desc.DeletedDate == nil || len(desc.VersionIdsToStages) != 2 {
		t.Fatalf("describe: %+v %v", desc, err)
	}
	if _, err := c.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String("p/k1")}); err != nil {
		t.Fatal(err)
	}
	if got, err := get(ctx, c, "p/k1"); err != nil || aws.ToString(got.SecretString) != "v2" {
		t.Fatalf("after restore: %v %v", got, err)
	}
	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("p/k1"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(ctx, c, "p/k1"); !errors.As(err, new(*types.ResourceNotFoundException)) {
		t.Fatalf("get after force delete: %v, want ResourceNotFoundException", err)
	}
	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("nope")}); !errors.As(err, new(*types.ResourceNotFoundException)) {
		t.Fatalf("delete unknown: %v", err)
	}
	if n := svc.Calls(smlocal.OpGetSecretValue); n != 7 {
		t.Fatalf("GetSecretValue calls = %d, want 7", n)
	}
}

func TestFailureInjection(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		failure   smlocal.Failure
		wantCalls int // with 3 attempts
		wantOK    bool
		wantCode  string
	}{
		{"throttling is retried until attempts run out", smlocal.Throttling, 3, false, "ThrottlingException"},
		{"a 500 is retried until attempts run out", smlocal.Internal, 3, false, "InternalServiceError"},
		{"one throttle then success", withCount(smlocal.Throttling, 1), 2, true, ""},
		{"access denied is not retried", smlocal.Failure{Status: 400, Type: "AccessDeniedException", Message: "no"}, 1, false, "AccessDeniedException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, c := newClient(t)
			if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("v")}); err != nil {
				t.Fatal(err)
			}
			f := tt.failure
			svc.SetFailure(smlocal.OpGetSecretValue, &f)
			_, err := get(ctx, c, "s")
			if tt.wantOK != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			var apiErr smithy.APIError
			if !tt.wantOK && (!errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.wantCode) {
				t.Fatalf("err = %v, want code %s", err, tt.wantCode)
			}
			if n := svc.Calls(smlocal.OpGetSecretValue); n != tt.wantCalls {
				t.Fatalf("calls = %d, want %d", n, tt.wantCalls)
			}
			svc.SetFailure(smlocal.OpGetSecretValue, nil)
			if _, err := get(ctx, c, "s"); err != nil {
				t.Fatalf("after clearing: %v", err)
			}
		})
	}
}

func withCount(f smlocal.Failure, n int) smlocal.Failure { f.Count = n; return f }

func TestPutKeyAndListen(t *testing.T) {
	ctx := context.Background()
	srv, err := smlocal.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := smlocal.NewClient(srv.URL)
	v := auth.SecretValue{Secrets: []string{"s1"}, WorkspaceIDs: []string{"ws"}}
	if err := smlocal.PutKey(ctx, c, "pre", "key-0001", v); err != nil {
		t.Fatal(err)
	}
	v.Secrets = []string{"s2", "s1"}
	if err := smlocal.PutKey(ctx, c, "pre", "key-0001", v); err != nil {
		t.Fatal(err)
	}
	got, err := get(ctx, c, "pre/key-0001")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := auth.ParseSecretValue(aws.ToString(got.SecretString))
	if err != nil || len(parsed.Secrets) != 2 || parsed.Secrets[0] != "s2" {
		t.Fatalf("stored %v, %v", parsed, err)
	}
	if err := smlocal.PutKey(ctx, c, "pre", "key-0002", auth.SecretValue{}); err == nil {
		t.Fatal("PutKey stored an invalid value")
	}
}

// Asked to listen on every interface (make run -secrets-addr 0.0.0.0:8010,
// for a sam local container on Linux), the endpoint answers on a
// non-loopback address of this machine, and its URL still works locally.
func TestListenOnEveryInterface(t *testing.T) {
	srv, err := smlocal.Listen("0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	u, err := url.Parse(srv.URL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("URL %s, want the loopback address", srv.URL)
	}
	var external string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() != nil && !ip.IP.IsLoopback() {
			external = ip.IP.String()
			break
		}
	}
	if external == "" {
		t.Skip("this machine has no non-loopback IPv4 address")
	}
	ctx := context.Background()
	v := auth.SecretValue{Secrets: []string{"s1"}, WorkspaceIDs: []string{"ws"}}
	if err := smlocal.PutKey(ctx, smlocal.NewClient(srv.URL), "pre", "key-0001", v); err != nil {
		t.Fatal(err)
	}
	got, err := get(ctx, smlocal.NewClient("http://"+net.JoinHostPort(external, u.Port())), "pre/key-0001")
	if err != nil {
		t.Fatalf("through %s: %v", external, err)
	}
	if !strings.Contains(aws.ToString(got.SecretString), "s1") {
		t.Fatalf("secret %q", aws.ToString(got.SecretString))
	}
}

func TestListSecretsThroughSDK(t *testing.T) {
	ctx := context.Background()
	svc, c := newClient(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	svc.Now = func() time.Time { now = now.Add(time.Second); return now }
	for _, name := range []string{"p/a", "q/x", "p/b", "p/c", "pp/d", "p/e"} {
		if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("p/c")}); err != nil {
		t.Fatal(err)
	}
	list := func(planned bool, pageSize int32) (names []string, deleted []string) {
		p := secretsmanager.NewListSecretsPaginator(c, &secretsmanager.ListSecretsInput{
			Filters:                []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"p/"}}},
			IncludePlannedDeletion: aws.Bool(planned), MaxResults: aws.Int32(pageSize),
		})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.SecretList) > int(pageSize) {
				t.Fatalf("page of %d, MaxResults %d", len(out.SecretList), pageSize)
			}
			for _, s := range out.SecretList {
				names = append(names, aws.ToString(s.Name))
				if s.DeletedDate != nil {
					deleted = append(deleted, aws.ToString(s.Name))
				}
			}
		}
		return names, deleted
	}
	for _, tc := range []struct {
		planned  bool
		size     int32
		want     string
		wantGone string
	}{
		{false, 100, "p/a p/b p/e", ""},
		{true, 2, "p/a p/b p/c p/e", "p/c"},
		{true, 1, "p/a p/b p/c p/e", "p/c"},
	} {
		names, gone := list(tc.planned, tc.size)
		if strings.Join(names, " ") != tc.want || strings.Join(gone, " ") != tc.wantGone {
			t.Errorf("planned %v, pages of %d: %v (deleted %v), want %s (deleted %s)", tc.planned, tc.size, names, gone, tc.want, tc.wantGone)
		}
	}
	_, err := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeDescription, Values: []string{"x"}}}})
	if !errors.As(err, new(*types.InvalidParameterException)) {
		t.Errorf("unsupported filter: %v", err)
	}
}
