package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/devstack"
	"github.com/vip-messages/api/internal/gateway"
	"github.com/vip-messages/api/internal/service"
)

// One local API per test binary: DynamoDB Local (ddbtest), the local Secrets
// Manager, the demo data and key, and the real handler behind the gateway.
var (
	localOnce  sync.Once
	localStack *devstack.Stack
	localSrv   *httptest.Server
	localErr   error
)

func TestMain(m *testing.M) {
	code := ddbtest.Main(m)
	if localSrv != nil {
		localSrv.Close()
	}
	if localStack != nil {
		localStack.Close()
	}
	os.Exit(code)
}

// localAPI returns the shared stack and the base URL of the API on it.
func localAPI(t *testing.T) (*devstack.Stack, string) {
	t.Helper()
	endpoint := ddbtest.Endpoint(t)
	localOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		localStack, localErr = devstack.Start(ctx, devstack.Options{
			DynamoEndpoint: endpoint,
			FreePorts:      true,
			Table:          fmt.Sprintf("client-test-%d", os.Getpid()),
			SeedNow:        time.Now().UTC().Truncate(time.Second),
		})
		if localErr != nil {
			return
		}
		h := service.NewWithClients(localStack.Config(), localStack.DynamoDB(), localStack.SecretsManager(), slog.New(slog.DiscardHandler))
		localSrv = httptest.NewServer(gateway.New(gateway.Route{Method: http.MethodGet, Path: "/vip-messages", Stage: "test"}, h.Handle))
	})
	if localErr != nil {
		t.Fatal(localErr)
	}
	return localStack, localSrv.URL
}
