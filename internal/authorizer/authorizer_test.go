package authorizer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/authorizer"
	"github.com/vip-messages/api/internal/metrics"
	"github.com/vip-messages/api/internal/signature"
)

// The authorizer runs the real auth.Verifier over an in-memory key source;
// the key store itself is tested against the local Secrets Manager in
// internal/auth.

const (
	keyID, secret = "demo-key-0001", "demo-secret-value"
	v1KeyID       = "v1-key-000001"
	methodArn     = "arn:aws:execute-api:eu-west-1:123456789012:abc123/dev/GET/vip-messages"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// keySource answers from memory and records every lookup in the request's
// metrics as a cache miss that waited on Secrets Manager, as keystore.Store
// records a cold one.
type keySource struct{ fail error }

func (k keySource) LookupKey(ctx context.Context, id string) (auth.SecretValue, error) {
	rec := metrics.FromContext(ctx)
	rec.KeyCache(false)
	rec.WaitedSecretsManager(time.Millisecond)
	if k.fail != nil {
		return auth.SecretValue{}, k.fail
	}
	switch id {
	case keyID:
		return auth.SecretValue{Secrets: []string{secret}, WorkspaceIDs: []string{"ws-a", "ws-b"}, MinSignatureVersion: 2}, nil
	case v1KeyID:
		return auth.SecretValue{Secrets: []string{secret}, WorkspaceIDs: []string{"ws-a"}}, nil
	}
	return auth.SecretValue{}, auth.ErrUnauthenticated
}

func newAuthorizer(ks keySource, log *slog.Logger, opts ...authorizer.Option) *authorizer.Authorizer {
	v := auth.NewVerifier(ks, log)
	v.Now = func() time.Time { return now }
	return authorizer.New(v, log, opts...)
}

// event is API Gateway's REQUEST authorizer event for a request with these
// headers and query.
func event(method, resource string, headers map[string]string, query map[string]string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	ev := events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type: "REQUEST", MethodArn: methodArn, Resource: resource, Path: resource, HTTPMethod: method,
		Headers: headers, MultiValueHeaders: map[string][]string{}, QueryStringParameters: query,
		MultiValueQueryStringParameters: map[string][]string{},
		RequestContext:                  events.APIGatewayCustomAuthorizerRequestTypeRequestContext{RequestID: "req-1", Stage: "dev"},
	}
	for k, v := range headers {
		ev.MultiValueHeaders[k] = []string{v}
	}
	for k, v := range query {
		ev.MultiValueQueryStringParameters[k] = []string{v}
	}
	return ev
}

var query = map[string]string{"workspaceId": "ws-a", "mediumId": "ch-1", "from": "2026-11-20", "to": "2026-11-26"}

func multi(q map[string]string) map[string][]string { return signature.Query(q, nil) }

// signed are the headers of a request signed with version 2 for method and path.
func signed(id, sec, method, path string, at time.Time) map[string]string {
	d := at.Format(time.RFC3339)
	return map[string]string{"x-api-key": id, "x-date": d, "x-signature": signature.SignV2For(sec, method, path, d, multi(query))}
}

func TestDecisions(t *testing.T) {
	get, path := http.MethodGet, signature.Path
	good := signed(keyID, secret, get, path, now)
	v1Date := now.Format(time.RFC3339)
	tests := []struct {
		name             string
		method, resource string
		headers          map[string]string
		allow            bool
		message          string // of a Deny
	}{
		{"signed v2", get, path, good, true, ""},
		{"a v1 key signs v1", get, path, map[string]string{"x-api-key": v1KeyID, "x-date": v1Date, "x-signature": auth.Sign(secret, v1Date)}, true, ""},
		{"unsigned", get, path, map[string]string{}, false, "missing x-api-key header"},
		{"no signature", get, path, map[string]string{"x-api-key": keyID, "x-date": v1Date}, false, "missing x-signature header"},
		{"wrong secret", get, path, signed(keyID, "not-the-secret", get, path, now), false, auth.ErrUnauthenticated.Message},
		{"unknown key", get, path, signed("nobody-0000001", secret, get, path, now), false, auth.ErrUnauthenticated.Message},
		{"stale", get, path, signed(keyID, secret, get, path, now.Add(-2*time.Minute)), false,
			"stale x-date header: it is 2m0s older than server time 2026-11-27T12:00:00Z; at most 1m0s is allowed"},
		{"v1 on a v2 key", get, path, map[string]string{"x-api-key": keyID, "x-date": v1Date, "x-signature": auth.Sign(secret, v1Date)}, false, auth.ErrV2Required.Message},
		// A GET /vip-messages signature is worth nothing on another request line.
		{"replayed on another method", http.MethodDelete, path, good, false, auth.ErrUnauthenticated.Message},
		{"replayed on another resource", get, "/admin", good, false, auth.ErrUnauthenticated.Message},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := newAuthorizer(keySource{}, nil).Handle(context.Background(), event(tt.method, tt.resource, tt.headers, query))
			if err != nil {
				t.Fatal(err)
			}
			if authorizer.Allowed(resp) != tt.allow || len(resp.PolicyDocument.Statement) != 1 ||
				!slices.Equal(resp.PolicyDocument.Statement[0].Resource, []string{methodArn}) {
				t.Fatalf("policy %+v, want allowed=%v on %s", resp.PolicyDocument, tt.allow, methodArn)
			}
			if !tt.allow {
				if resp.UsageIdentifierKey != "" {
					t.Errorf("a Deny names usage identifier key %q: it would count against a plan", resp.UsageIdentifierKey)
				}
				var body struct{ Message string }
				if err := json.Unmarshal([]byte(authorizer.Render(authorizer.DenyBody, resp.Context)), &body); err != nil || body.Message != tt.message {
					t.Errorf("401 body message %q (%v), want %q", body.Message, err, tt.message)
				}
				return
			}
			id := tt.headers["x-api-key"]
			key, ok := auth.KeyFromAuthorizer(resp.Context)
			if resp.UsageIdentifierKey != id || resp.PrincipalID != id || !ok || key.ID != id {
				t.Errorf("Allow counts %q, principal %q, context key %+v; want %s", resp.UsageIdentifierKey, resp.PrincipalID, key, id)
			}
		})
	}
}

// TestAnotherRequestLineSignedForItself: the authorizer checks the signature
// over the request line it is given, so a request signed for DELETE /admin
// passes it; the API function refuses every request line but GET
// /vip-messages (internal/api), and API Gateway routes no other to it.
func TestAnotherRequestLineSignedForItself(t *testing.T) {
	ev := event(http.MethodDelete, "/admin", signed(keyID, secret, http.MethodDelete, "/admin", now), query)
	resp, err := newAuthorizer(keySource{}, nil).Handle(context.Background(), ev)
	if err != nil || !authorizer.Allowed(resp) {
		t.Fatalf("%+v, %v: a signature over the request's own line is valid", resp, err)
	}
}

func TestUnavailableKeyStoreFails(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	_, err := newAuthorizer(keySource{fail: auth.ErrUnavailable}, log).Handle(context.Background(), event(http.MethodGet, signature.Path, signed(keyID, secret, http.MethodGet, signature.Path, now), query))
	if !errors.Is(err, authorizer.ErrFailed) {
		t.Fatalf("err = %v, want ErrFailed (the stage's 503)", err)
	}
	if !strings.Contains(logs.String(), `"effect":"Error"`) || !strings.Contains(logs.String(), "key store unavailable") {
		t.Errorf("the failure's cause is not logged:\n%s", logs.String())
	}
}

// TestRenderEscapes: a message with quotes or backslashes still renders as
// one JSON string, by the local gateway as by the stage's template.
func TestRenderEscapes(t *testing.T) {
	for _, msg := range []string{`plain`, `"quoted" \ back`, "new\nline", "très"} {
		var body struct{ Message string }
		got := authorizer.Render(authorizer.DenyBody, authorizer.Deny(methodArn, msg).Context)
		if err := json.Unmarshal([]byte(got), &body); err != nil || body.Message != msg {
			t.Errorf("Render gave %s for %q", got, msg)
		}
	}
	if got := authorizer.Render(`{"a":"$context.authorizer.none","b":$context.authorizer.n}`, map[string]any{"n": 3}); got != `{"a":"","b":3}` {
		t.Errorf("Render = %s", got)
	}
}

// TestLogNamesOnlyKnownKeys: an unknown key id, or a secret sent as x-api-key
// by mistake, is logged only as its hash; a known key by its id.
func TestLogNamesOnlyKnownKeys(t *testing.T) {
	var logs bytes.Buffer
	z := newAuthorizer(keySource{}, slog.New(slog.NewJSONHandler(&logs, nil)), authorizer.WithMetrics("dev"))
	mistaken := "c2VjcmV0LXNlbnQtYnktbWlzdGFrZQ"
	for _, h := range []map[string]string{
		signed(keyID, secret, http.MethodGet, signature.Path, now),
		signed(keyID, "wrong", http.MethodGet, signature.Path, now),
		signed("nobody-0000001", secret, http.MethodGet, signature.Path, now),
		signed(mistaken, secret, http.MethodGet, signature.Path, now),
		signed(mistaken, secret, http.MethodGet, signature.Path, now.Add(-time.Hour)),
	} {
		if _, err := z.Handle(context.Background(), event(http.MethodGet, signature.Path, h, query)); err != nil {
			t.Fatal(err)
		}
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 5 {
		t.Fatalf("%d lines, want one per decision:\n%s", len(lines), logs.String())
	}
	want := []struct{ id, hash, reason string }{
		{keyID, "", ""},
		{keyID, "", auth.ReasonSignatureMismatch},
		{"", auth.KeyIDHash("nobody-0000001"), auth.ReasonUnknownKey},
		{"", auth.KeyIDHash(mistaken), auth.ReasonUnknownKey},
		{"", auth.KeyIDHash(mistaken), auth.ReasonStaleDate},
	}
	for i, w := range want {
		l := lines[i]
		if l["apiKeyId"] != nilIfEmpty(w.id) || l["apiKeyIdHash"] != nilIfEmpty(w.hash) || l["Reason"] != nilIfEmpty(w.reason) {
			t.Errorf("line %d: apiKeyId %v, apiKeyIdHash %v, Reason %v; want %+v", i, l["apiKeyId"], l["apiKeyIdHash"], l["Reason"], w)
		}
		if w.reason != "" && l["AuthFailures"] != 1.0 {
			t.Errorf("line %d: a Deny without the AuthFailures metric: %v", i, l)
		}
	}
	for _, leak := range []string{"nobody-0000001", mistaken, secret} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("logs hold %q", leak)
		}
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TestEveryReasonIsADenyWithItsMetric: each of auth.Reasons is a Deny whose
// document counts AuthFailures under that Reason, with the decision's
// latency; a key looked up has its cache outcome.
func TestEveryReasonIsADenyWithItsMetric(t *testing.T) {
	get, path := http.MethodGet, signature.Path
	good := signed(keyID, secret, get, path, now)
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for a, b := range good {
			h[a] = b
		}
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	d := now.Format(time.RFC3339)
	cases := map[string]events.APIGatewayCustomAuthorizerRequestTypeRequest{
		auth.ReasonMissingHeader:     event(get, path, with("x-date", ""), query),
		auth.ReasonKeyIDFormat:       event(get, path, with("x-api-key", "bad key!"), query),
		auth.ReasonDateFormat:        event(get, path, with("x-date", "yesterday"), query),
		auth.ReasonStaleDate:         event(get, path, signed(keyID, secret, get, path, now.Add(-time.Hour)), query),
		auth.ReasonFutureDate:        event(get, path, signed(keyID, secret, get, path, now.Add(time.Hour)), query),
		auth.ReasonSignatureFormat:   event(get, path, with("x-signature", strings.ToUpper(good["x-signature"])), query),
		auth.ReasonUnknownKey:        event(get, path, signed("nobody-0000001", secret, get, path, now), query),
		auth.ReasonSignatureMismatch: event(get, path, signed(keyID, "wrong", get, path, now), query),
		auth.ReasonV1Refused:         event(get, path, map[string]string{"x-api-key": keyID, "x-date": d, "x-signature": auth.Sign(secret, d)}, query),
	}
	dup := event(get, path, good, query)
	dup.MultiValueHeaders["x-date"] = []string{d, d}
	cases[auth.ReasonDuplicateHeader] = dup
	for _, r := range auth.Reasons {
		ev, ok := cases[r]
		if !ok {
			t.Errorf("no case for the reason %q", r)
			continue
		}
		var logs bytes.Buffer
		z := newAuthorizer(keySource{}, slog.New(slog.NewJSONHandler(&logs, nil)), authorizer.WithMetrics("dev"))
		resp, err := z.Handle(context.Background(), ev)
		if err != nil || authorizer.Allowed(resp) {
			t.Errorf("%s: %+v %v, want a Deny", r, resp, err)
			continue
		}
		var line map[string]any
		if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		if line["Reason"] != r || line["AuthFailures"] != 1.0 || line["effect"] != "Deny" || line["AuthorizerLatency"] == nil || line["AuthorizerFailures"] != 0.0 {
			t.Errorf("%s: line %v", r, line)
		}
		looked := r == auth.ReasonUnknownKey || r == auth.ReasonSignatureMismatch || r == auth.ReasonV1Refused
		_, miss := line["KeyCacheMiss"]
		_, waited := line["SecretsManagerTime"]
		if miss != looked || waited != looked {
			t.Errorf("%s: KeyCacheMiss present %v, SecretsManagerTime present %v; want %v: only a key looked up has them", r, miss, waited, looked)
		}
	}
}
