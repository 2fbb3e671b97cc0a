package auth_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/auth/keystore"
	"github.com/vip-messages/api/internal/local/smlocal"
	"github.com/vip-messages/api/internal/testkit/testproc"
)

const prefix = "vip-api/test/api-keys"

// start is the fake clock's first reading.
var start = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// clock is a fake clock safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(start.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// env is a Verifier over a KeyStore over the real SDK client over smlocal.
type env struct {
	t      *testing.T
	sm     *smlocal.Service
	client *secretsmanager.Client
	store  *keystore.Store
	v      *auth.Verifier
	clock  *clock
	logs   *testproc.Buffer
}

type envOption func(*keystore.CacheConfig)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	sm := smlocal.New()
	srv := httptest.NewServer(sm)
	t.Cleanup(srv.Close)
	client := smlocal.NewClient(srv.URL, func(o *secretsmanager.Options) {
		// Two attempts, no backoff sleeps, no client-side retry quota: fast, and
		// the retry path is still exercised.
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 2
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			so.RateLimiter = ratelimit.None
		})
	})
	logs := &testproc.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := keystore.CacheConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	c := newClock()
	store := keystore.New(client, prefix, cfg, log)
	store.Now = c.Now
	v := auth.NewVerifier(store, log)
	v.Now = c.Now
	return &env{t: t, sm: sm, client: client, store: store, v: v, clock: c, logs: logs}
}

func (e *env) putKey(keyID string, secrets, workspaces []string) {
	e.t.Helper()
	err := smlocal.PutKey(context.Background(), e.client, prefix, keyID, auth.SecretValue{Secrets: secrets, WorkspaceIDs: workspaces})
	if err != nil {
		e.t.Fatal(err)
	}
}

// putRaw stores a secret string as is, bypassing validation.
func (e *env) putRaw(keyID, value string) {
	e.t.Helper()
	_, err := e.client.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(auth.SecretName(prefix, keyID)), SecretString: aws.String(value)})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) deleteKey(keyID string) {
	e.t.Helper()
	_, err := e.client.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{
		SecretId: aws.String(auth.SecretName(prefix, keyID)), RecoveryWindowInDays: aws.Int64(7)})
	if err != nil {
		e.t.Fatal(err)
	}
}

// signed returns headers signed with secret at the clock's time plus skew.
func (e *env) signed(keyID, secret string, skew time.Duration) map[string]string {
	date := e.clock.Now().Add(skew).Format(time.RFC3339)
	return map[string]string{"x-api-key": keyID, "x-date": date, "x-signature": auth.Sign(secret, date)}
}

func (e *env) auth(h map[string]string) (auth.Key, error) {
	return e.v.Authenticate(context.Background(), "GET", "/vip-messages", h, nil, nil)
}

func (e *env) getCalls() int { return e.sm.Calls(smlocal.OpGetSecretValue) }
