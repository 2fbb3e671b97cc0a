package client_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vip-messages/api/client"
	"github.com/vip-messages/api/internal/app"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/devstack/stacktest"
	"github.com/vip-messages/api/internal/local/gateway"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/local/smlocal"
)

func TestMain(m *testing.M) { os.Exit(stacktest.Main(m)) }

// A 503 from the real handler (Secrets Manager failing for a key it has not
// cached) is retried, gives up with ErrUnavailable, and works once the outage ends.
func TestRetriesA503FromTheRealHandler(t *testing.T) {
	stack, _ := stacktest.API(t)
	sm := smlocal.New()
	smSrv := httptest.NewServer(sm)
	defer smSrv.Close()
	smClient := smlocal.NewClient(smSrv.URL, func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	if err := smlocal.PutKey(context.Background(), smClient, stack.SecretPrefix, devstack.DemoKeyID,
		auth.SecretValue{Secrets: []string{devstack.DemoSecret}, WorkspaceIDs: []string{seed.DemoWorkspace}}); err != nil {
		t.Fatal(err)
	}
	h := app.NewWithClients(stack.Config(), stack.DynamoDB(), smClient, slog.New(slog.DiscardHandler))
	var requests atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		gateway.New(gateway.VipMessages, h.Handle).ServeHTTP(w, r)
	}))
	defer api.Close()

	c := client.New(api.URL, devstack.DemoKeyID, devstack.DemoSecret)
	var slept []time.Duration
	c.Sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	c.Retry = client.RetryPolicy{MaxRetries: 2}
	to := stack.SeedNow.UTC()
	q := client.Query{WorkspaceID: seed.DemoWorkspace, MediumID: seed.DemoChannel,
		From: to.AddDate(0, 0, -3).Format(time.DateOnly), To: to.Format(time.DateOnly), Limit: 5}

	sm.SetFailure(smlocal.AllOperations, &smlocal.Internal)
	_, err := c.List(context.Background(), q)
	var apiErr *client.APIError
	if !errors.Is(err, client.ErrUnavailable) || !errors.As(err, &apiErr) || apiErr.RetryAfter <= 0 {
		t.Fatalf("err = %v, want a 503 APIError with Retry-After", err)
	}
	if requests.Load() != 3 || len(slept) != 2 || slept[0] < apiErr.RetryAfter {
		t.Fatalf("%d requests, slept %v; want 3 requests and 2 waits of at least Retry-After", requests.Load(), slept)
	}

	sm.SetFailure(smlocal.AllOperations, nil)
	if p, err := c.List(context.Background(), q); err != nil || p.Returned == 0 {
		t.Fatalf("after the outage: %v, %+v", err, p)
	}
}
