package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/gateway"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/signature"
	"github.com/vip-messages/api/internal/testkit/testproc"
)

// rieStage is the local gateway in front of both built functions under
// aws-lambda-rie, as a stage puts API Gateway in front of them: the authorizer
// first, then the per-key bucket, then the API function. handled counts the
// API function's invocations.
type rieStage struct {
	url     string
	handled atomic.Int64
	apiAddr string // the API function's emulator, for events sent to it directly
}

func startRIEStage(t *testing.T, opt gateway.Options) *rieStage {
	t.Helper()
	st := stack(t)
	bins := buildLambdas(t)
	var env []string
	for k, v := range st.Env() {
		env = append(env, k+"="+v)
	}
	authzAddr, _ := testproc.StartRIE(t, bins.RIE, bins.Authorizer, env)
	apiAddr, _ := testproc.StartRIE(t, bins.RIE, bins.API, env)
	s := &rieStage{apiAddr: apiAddr}
	opt.Authorizer = func(_ context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		var out events.APIGatewayCustomAuthorizerResponse
		invokeRIE(t, authzAddr, ev, &out)
		return out, nil
	}
	h := func(_ context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		s.handled.Add(1)
		var out events.APIGatewayProxyResponse
		invokeRIE(t, apiAddr, ev, &out)
		return out, nil
	}
	srv := httptest.NewServer(gateway.NewWithOptions(gateway.VipMessages, h, opt))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// send sends GET /vip-messages?query with the headers and returns the status
// and the body's message.
func (s *rieStage) send(t *testing.T, method, query string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+"/vip-messages?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m struct{ Message string }
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m.Message
}

// signedV2 are the headers of a version 2 signature for the request line and
// query (raw, as on the wire).
func signedV2(t *testing.T, keyID, secret, method, rawQuery string, at time.Time) map[string]string {
	t.Helper()
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		t.Fatal(err)
	}
	d := at.UTC().Format(time.RFC3339)
	return map[string]string{"x-api-key": keyID, "x-date": d, "x-signature": signature.SignV2For(secret, method, signature.Path, d, q)}
}

// TestAuthorizerBeforeHandlerUnderRIE: both built functions under
// aws-lambda-rie behind the local gateway. Unsigned, wrongly signed, stale
// and unknown-key requests get the contract's 401 messages, never reach the
// API function and never take a token of the key's bucket (the issue's
// reproduction: a flood naming the key left its owner 9 of 10 requests
// answered 429); signed ones do;
// 401 comes before 422, 422 before 403/404; another method or path is
// refused even with a valid version 2 signature.
func TestAuthorizerBeforeHandlerUnderRIE(t *testing.T) {
	const burst = 3
	// A bucket that does not refill within the test: only authorized
	// requests take its tokens.
	s := startRIEStage(t, gateway.Options{RateLimit: 1e-6, Burst: burst})
	now := time.Now()
	to := now.UTC().Format(time.DateOnly)
	from := now.UTC().AddDate(0, 0, -6).Format(time.DateOnly)
	good := url.Values{"workspaceId": {seed.DemoWorkspace}, "mediumId": {seed.DemoChannel}, "from": {from}, "to": {to}, "limit": {"5"}}.Encode()
	key, secret := devstack.DemoKeyID, devstack.DemoSecret

	refused := []struct {
		name    string
		headers map[string]string
		msg     string
	}{
		{"unsigned, only the key id", map[string]string{"x-api-key": key}, "missing x-date header"},
		{"no headers", nil, "missing x-api-key header"},
		{"wrongly signed", signedV2(t, key, "not-the-secret", http.MethodGet, good, now), auth.ErrUnauthenticated.Message},
		{"stale", signedV2(t, key, secret, http.MethodGet, good, now.Add(-2*time.Minute)), "stale x-date header"},
		{"unknown key", signedV2(t, "nobody-key-0001", secret, http.MethodGet, good, now), auth.ErrUnauthenticated.Message},
		{"signed for another query", signedV2(t, key, secret, http.MethodGet, good+"&label=x", now), auth.ErrUnauthenticated.Message},
	}
	// Far more refused requests than the bucket holds.
	for range 2 {
		for _, tc := range refused {
			status, msg := s.send(t, http.MethodGet, good, tc.headers)
			if status != http.StatusUnauthorized || !strings.HasPrefix(msg, tc.msg) {
				t.Errorf("%s: %d %q, want 401 %q…", tc.name, status, msg, tc.msg)
			}
		}
	}
	if n := s.handled.Load(); n != 0 {
		t.Fatalf("the API function was invoked %d times for refused requests", n)
	}

	// The order of answers: 401 before 422, 422 before 403/404.
	bad := url.Values{"workspaceId": {seed.DemoBasicWorkspace}, "mediumId": {"ch-nope"}, "from": {from}, "to": {to}, "limit": {"0"}}.Encode()
	if status, _ := s.send(t, http.MethodGet, bad, signedV2(t, key, "not-the-secret", http.MethodGet, bad, now)); status != http.StatusUnauthorized {
		t.Errorf("a wrong signature on an invalid query: %d, want 401", status)
	}
	if status, _ := s.send(t, http.MethodGet, bad, signedV2(t, key, secret, http.MethodGet, bad, now)); status != http.StatusUnprocessableEntity {
		t.Errorf("a signed invalid query of a foreign channel: %d, want 422", status)
	}
	notVIP := url.Values{"workspaceId": {seed.DemoBasicWorkspace}, "mediumId": {seed.DemoBasicChannel}, "from": {from}, "to": {to}}.Encode()
	if status, _ := s.send(t, http.MethodGet, notVIP, signedV2(t, key, secret, http.MethodGet, notVIP, now)); status != http.StatusForbidden {
		t.Errorf("a signed request for a workspace that is not VIP: %d, want 403", status)
	}
	// The 422 and the 403 took two tokens; a signed request takes the last.
	if status, msg := s.send(t, http.MethodGet, good, signedV2(t, key, secret, http.MethodGet, good, now)); status != http.StatusOK {
		t.Errorf("a signed request: %d %q, want 200", status, msg)
	}
	if status, _ := s.send(t, http.MethodGet, good, signedV2(t, key, secret, http.MethodGet, good, now)); status != http.StatusTooManyRequests {
		t.Errorf("authorized request %d of a bucket of %d: %d, want 429", burst+1, burst, status)
	}
	if n := s.handled.Load(); n != burst {
		t.Errorf("the API function was invoked %d times, want %d (the 422, the 403, the 200; the 401s and the 429 stop before it)", n, burst)
	}

	// Another method through the gateway: its 404, before the authorizer.
	if status, msg := s.send(t, http.MethodDelete, good, signedV2(t, key, secret, http.MethodDelete, good, now)); status != http.StatusNotFound || msg != gateway.NotFoundMessage {
		t.Errorf("DELETE: %d %q", status, msg)
	}
	// A crafted event sent to the API function directly, with the context
	// of a valid v2 signature over its own request line: still refused.
	for _, line := range [][2]string{{http.MethodDelete, "/vip-messages"}, {http.MethodGet, "/admin"}} {
		ev := events.APIGatewayProxyRequest{
			HTTPMethod: line[0], Resource: line[1], Path: line[1],
			QueryStringParameters: map[string]string{"workspaceId": seed.DemoWorkspace, "mediumId": seed.DemoChannel, "from": from, "to": to},
			RequestContext:        events.APIGatewayProxyRequestContext{RequestID: "crafted", Authorizer: auth.Key{ID: key, WorkspaceIDs: []string{seed.DemoWorkspace}}.AuthorizerContext()},
		}
		var resp events.APIGatewayProxyResponse
		invokeRIE(t, s.apiAddr, ev, &resp)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s sent to the function: %d %s", line[0], line[1], resp.StatusCode, resp.Body)
		}
	}
}
