package sampleevent

import (
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/signature"
)

func TestResign(t *testing.T) {
	const secret, old = "s3cret", "2026-01-01T00:00:00Z"
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	ev := func(sig string) events.APIGatewayProxyRequest {
		return events.APIGatewayProxyRequest{
			Headers:                         map[string]string{"X-Date": old, "x-signature": sig, "x-api-key": "k-0000001"},
			MultiValueHeaders:               map[string][]string{"x-date": {old}, "X-Signature": {sig}},
			QueryStringParameters:           map[string]string{"workspaceId": "ws-demo", "label": "b"},
			MultiValueQueryStringParameters: map[string][]string{"workspaceId": {"ws-demo"}, "label": {"a", "b"}},
		}
	}
	// The event's own query: both labels, as the handler reads them.
	query := map[string][]string{"workspaceId": {"ws-demo"}, "label": {"a", "b"}}
	renewed := signature.SignV2(secret, "2026-06-01T12:00:00Z", query)
	cases := []struct {
		name    string
		in      events.APIGatewayProxyRequest
		wantSig string
	}{
		{"valid v1 signature is renewed as v2", ev(auth.Sign(secret, old)), renewed},
		{"valid v2 signature is renewed", ev(signature.SignV2(secret, old, query)), renewed},
		{"v2 of another query stays wrong", ev(signature.SignV2(secret, old, map[string][]string{"workspaceId": {"ws-demo"}})), signature.SignV2(secret, old, map[string][]string{"workspaceId": {"ws-demo"}})},
		{"wrong signature stays wrong", ev("00"), "00"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := Resign(c.in, secret, now)
			if out.Headers["X-Date"] != "2026-06-01T12:00:00Z" || out.MultiValueHeaders["x-date"][0] != "2026-06-01T12:00:00Z" {
				t.Fatalf("x-date not renewed: %v %v", out.Headers, out.MultiValueHeaders)
			}
			if out.Headers["x-signature"] != c.wantSig || out.MultiValueHeaders["X-Signature"][0] != c.wantSig {
				t.Fatalf("signature %q, want %q", out.Headers["x-signature"], c.wantSig)
			}
			if c.in.Headers["X-Date"] != old {
				t.Fatal("the input event was modified")
			}
		})
	}
	if got := Resign(events.APIGatewayProxyRequest{Headers: map[string]string{}}, secret, now); len(got.Headers) != 0 {
		t.Fatal("an event without x-date gained headers")
	}
}

func TestResignAs(t *testing.T) {
	const demo, mine, old = "demo-secret", "my-secret", "2026-01-01T00:00:00Z"
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	date := "2026-06-01T12:00:00Z"
	ev := func(sig string) events.APIGatewayProxyRequest {
		return events.APIGatewayProxyRequest{
			Headers:           map[string]string{"x-date": old, "x-signature": sig, "X-Api-Key": "demo-key-0001"},
			MultiValueHeaders: map[string][]string{"x-api-key": {"demo-key-0001"}},
		}
	}
	for _, c := range []struct {
		name          string
		in            events.APIGatewayProxyRequest
		signed        bool
		wantKey, want string
	}{
		{"right for the demo secret", ev(auth.Sign(demo, old)), true, "my-key-0001", signature.SignV2(mine, date, nil)},
		{"right for the new secret", ev(auth.Sign(mine, old)), true, "my-key-0001", signature.SignV2(mine, date, nil)},
		{"right for neither: an error sample", ev(auth.Sign("other", old)), false, "demo-key-0001", auth.Sign("other", old)},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, signed := ResignAs(c.in, []string{demo, mine}, "my-key-0001", mine, now)
			if signed != c.signed || out.Headers["x-signature"] != c.want || out.Headers["x-date"] != date {
				t.Fatalf("signed %v, headers %v", signed, out.Headers)
			}
			if out.Headers["X-Api-Key"] != c.wantKey || out.MultiValueHeaders["x-api-key"][0] != c.wantKey {
				t.Fatalf("key %v %v, want %s", out.Headers, out.MultiValueHeaders, c.wantKey)
			}
		})
	}
}

// TestResignAuthorizer: an authorizer event is signed over its own method and
// resource, which the authorizer checks.
func TestResignAuthorizer(t *testing.T) {
	const secret, old = "s3cret", "2026-01-01T00:00:00Z"
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	q := map[string][]string{"workspaceId": {"ws-demo"}}
	for _, line := range [][2]string{{"GET", "/vip-messages"}, {"DELETE", "/admin"}} {
		in := events.APIGatewayCustomAuthorizerRequestTypeRequest{
			Type: "REQUEST", MethodArn: "arn", HTTPMethod: line[0], Resource: line[1],
			Headers:                         map[string]string{"x-date": old, "x-api-key": "demo-key-0001", "x-signature": signature.SignV2For(secret, line[0], line[1], old, q)},
			MultiValueQueryStringParameters: q,
		}
		out, ok := ResignAuthorizerAs(in, []string{secret}, "", secret, now)
		want := signature.SignV2For(secret, line[0], line[1], "2026-06-01T12:00:00Z", q)
		if !ok || out.Headers["x-signature"] != want || out.MethodArn != "arn" {
			t.Errorf("%v: signed %v, %v; want %s", line, ok, out.Headers, want)
		}
	}
}

func TestStatus(t *testing.T) {
	for name, want := range map[string]int{"list.json": 200, "list-label.json": 200, "error-422-query.json": 422,
		"authorizer-allow.json": 200, "authorizer-401-bad-signature.json": 401} {
		if got, err := Status("events/" + name); err != nil || got != want {
			t.Errorf("Status(%s) = %d, %v; want %d", name, got, err, want)
		}
	}
	if _, err := Status("events/env.json"); err == nil {
		t.Error("env.json has a status")
	}
}
