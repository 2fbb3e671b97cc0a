package stacktest_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/devstack/stacktest"
	"github.com/vip-messages/api/internal/local/gateway"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/local/smlocal"
	"github.com/vip-messages/api/internal/testkit/contract"
)

var seedNow = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

func TestMain(m *testing.M) {
	os.Exit(stacktest.Main(m, stacktest.SeedNow(seedNow), stacktest.CacheTTL(time.Nanosecond)))
}

func get(t *testing.T, url, keyID, secret string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	date := time.Now().UTC().Format(time.RFC3339)
	req.Header.Set(auth.HeaderKeyID, keyID)
	req.Header.Set(auth.HeaderDate, date)
	req.Header.Set(auth.HeaderSignature, auth.Sign(secret, date))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// The URL serves the real handler on the seeded stack, with the options of Main:
// the data as of SeedNow, and caches short enough that a new key works at once.
func TestAPIServesTheDemoStack(t *testing.T) {
	stack, base := stacktest.API(t)
	if again, _ := stacktest.API(t); again != stack {
		t.Fatal("a second call started another stack")
	}
	if !stack.SeedNow.Equal(seedNow) {
		t.Fatalf("seeded as of %v, want %v", stack.SeedNow, seedNow)
	}
	url := base + gateway.VipMessages.Path + "?workspaceId=" + seed.DemoWorkspace + "&mediumId=" + seed.DemoChannel + "&from=2026-11-20&to=2026-11-26&limit=3"

	status, header, body := get(t, url, devstack.DemoKeyID, devstack.DemoSecret)
	contract.Check(t, url, status, header, body)
	if status != http.StatusOK {
		t.Fatalf("demo key: %d %s", status, body)
	}

	// Unknown, then created: with the default 30 s negative cache the second
	// request would still be a 401.
	const keyID, secret = "late-key-0001", "late-secret"
	if status, _, _ := get(t, url, keyID, secret); status != http.StatusUnauthorized {
		t.Fatalf("unknown key: %d", status)
	}
	if err := smlocal.PutKey(context.Background(), stack.SecretsManager(), stack.SecretPrefix, keyID,
		auth.SecretValue{Secrets: []string{secret}, WorkspaceIDs: []string{seed.DemoWorkspace}}); err != nil {
		t.Fatal(err)
	}
	if status, _, body := get(t, url, keyID, secret); status != http.StatusOK {
		t.Fatalf("key created after a miss: %d %s", status, body)
	}
}

// Handler is the handler behind the URL, for proxy events.
func TestHandlerAnswersEvents(t *testing.T) {
	h := stacktest.Handler(t)
	date := time.Now().UTC().Format(time.RFC3339)
	ev := events.APIGatewayProxyRequest{
		HTTPMethod: http.MethodGet, Path: gateway.VipMessages.Path, Resource: gateway.VipMessages.Path,
		Headers: map[string]string{auth.HeaderKeyID: devstack.DemoKeyID, auth.HeaderDate: date,
			auth.HeaderSignature: auth.Sign(devstack.DemoSecret, date)},
		QueryStringParameters: map[string]string{"workspaceId": seed.DemoWorkspace, "mediumId": seed.DemoOffChannel,
			"from": "2026-11-20", "to": "2026-11-26"},
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "stacktest-request"},
	}
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	contract.CheckEvent(t, ev, resp)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("disconnected channel: %d %s", resp.StatusCode, resp.Body)
	}
}
