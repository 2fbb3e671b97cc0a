package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/api"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/authorizer"
	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/signature"
	"github.com/vip-messages/api/internal/testkit/contract"
)

func TestStatuses(t *testing.T) {
	f := newFixture()
	h := f.h
	// A key allowed only for ws-basic, to ask for ws-vip.
	otherKey := func(h map[string]string) {
		h["X-Api-Key"] = "other-key-0001"
		h["X-Signature"] = auth.Sign("other-secret", h["X-Date"])
	}
	// A key allowed for a workspace that does not exist.
	ghostKey := func(h map[string]string) {
		h["X-Api-Key"] = "ghost-key-0001"
		h["X-Signature"] = auth.Sign("ghost-secret", h["X-Date"])
	}
	unknownKey := func(h map[string]string) { h["X-Api-Key"] = "no-such-key-123" }
	wrongSig := func(h map[string]string) { h["X-Signature"] = auth.Sign("not-the-secret", h["X-Date"]) }

	cases := []struct {
		name   string
		ev     events.APIGatewayProxyRequest
		status int
		body   string // a substring of the body
	}{
		{"ok date-only window", request(window(nil)), 200, `"items":[{`},
		{"ok date-time window", request(window(map[string]string{"from": "2026-11-25T10:00:00+02:00", "to": "2026-11-26T00:00:00.5Z"})), 200, `"returned":`},
		{"ok epoch-ms before", request(window(map[string]string{"before": strconv.FormatInt(day.Add(24*time.Hour).UnixMilli(), 10)})), 200, `"items":[{`},
		{"ok before older than the window: empty", request(window(map[string]string{"before": "1000"})), 200, `{"items":[],"returned":0,"mayHaveMore":false}`},
		{"ok exactly 31 days", request(window(map[string]string{"from": "2026-10-27", "to": "2026-11-26"})), 200, `"items":[{`},
		{"ok label and contentType", request(window(map[string]string{"label": "frustrated", "contentType": "text", "limit": "3"})), 200, `"returned":`},

		{"400 reversed", request(window(map[string]string{"from": "2026-11-26", "to": "2026-11-20"})), 400, `must not be after`},
		{"400 reversed date-times", request(window(map[string]string{"from": "2026-11-26T00:00:01Z", "to": "2026-11-26T00:00:00Z"})), 400, `must not be after`},
		{"400 32 days", request(window(map[string]string{"from": "2026-10-26", "to": "2026-11-26"})), 400, `31 days`},
		{"400 31 days and 1 ms", request(window(map[string]string{"from": "2026-10-26T00:00:00Z", "to": "2026-11-26T00:00:00.001Z"})), 400, `31 days`},
		{"400 malformed cursor", request(window(map[string]string{"before": "v1.bm90LWEta2V5"})), 400, `before`},
		{"400 foreign token", request(window(map[string]string{"before": "abc"})), 400, `before`},

		{"401 no headers", request(window(nil), func(h map[string]string) { clear(h) }), 401, `x-api-key`},
		{"401 stale", request(window(nil), func(h map[string]string) {
			h["X-Date"] = time.Now().Add(-2 * time.Minute).UTC().Format(time.RFC3339)
			h["X-Signature"] = auth.Sign(demoSecret, h["X-Date"])
		}), 401, `server time`},
		{"401 unknown key", request(window(nil), unknownKey), 401, `{"message":"invalid credentials"}`},
		{"401 wrong signature", request(window(nil), wrongSig), 401, `{"message":"invalid credentials"}`},
		{"401 before validation", request(map[string]string{"limit": "x"}, wrongSig), 401, `invalid credentials`},

		{"403 key not allowed", request(window(nil), otherKey), 403, `not allowed for the workspace`},
		{"403 not VIP", request(window(map[string]string{"workspaceId": wsBasic, "mediumId": chBasic})), 403, `not a VIP`},
		{"403 workspace not in the key's list, existing or not", request(window(map[string]string{"workspaceId": "ws-nope"})), 403, `not allowed`},
		{"404 unknown workspace", request(window(map[string]string{"workspaceId": wsGhost}), ghostKey), 404, `workspace not found`},
		{"404 unknown channel", request(window(map[string]string{"mediumId": "ch-nope"})), 404, `channel not found`},
		{"404 disconnected channel", request(window(map[string]string{"mediumId": chOff})), 404, `channel not found`},

		{"422 missing all", request(nil), 422, `"type":"any.required"`},
		{"422 limit 0", request(window(map[string]string{"limit": "0"})), 422, `"type":"number.min"`},
		{"422 limit 201", request(window(map[string]string{"limit": "201"})), 422, `"type":"number.max"`},
		{"422 limit 1.5", request(window(map[string]string{"limit": "1.5"})), 422, `"type":"number.integer"`},
		{"422 limit abc", request(window(map[string]string{"limit": "abc"})), 422, `"type":"number.base"`},
		{"422 repeated limit", request(window(map[string]string{"limit": "1|2"})), 422, `"type":"any.duplicate"`},
		{"422 unknown parameter", request(window(map[string]string{"contentype": "text"})), 422, `"type":"object.unknown"`},
		{"422 bad contentType", request(window(map[string]string{"contentType": "video"})), 422, `"type":"any.only"`},
		{"422 hash in workspace", request(window(map[string]string{"workspaceId": "ws#1"})), 422, `"type":"string.pattern.base"`},
		{"422 empty medium", request(window(map[string]string{"mediumId": ""})), 422, `"type":"string.empty"`},
		{"422 long label", request(window(map[string]string{"label": strings.Repeat("x", 129)})), 422, `"type":"string.max"`},
		{"422 hash in label", request(window(map[string]string{"label": "a#b"})), 422, `"type":"string.pattern.base"`},
		{"422 control character in label", request(window(map[string]string{"label": "a\tb"})), 422, `"type":"string.pattern.base"`},
		{"ok label with a space and accents", request(window(map[string]string{"label": "très frustré"})), 200, `"items":[{`},
		{"422 lower-case t in date-time", request(window(map[string]string{"from": "2026-11-20t10:00:00Z"})), 422, `"type":"date.format"`},
		{"422 comma fraction", request(window(map[string]string{"from": "2026-11-20T10:00:00,5Z"})), 422, `"type":"date.format"`},
		{"422 date without offset", request(window(map[string]string{"from": "2026-11-20T10:00:00"})), 422, `"type":"date.format"`},
		{"422 date garbage", request(window(map[string]string{"to": "yesterday"})), 422, `"type":"date.format"`},
		{"422 before 1970", request(window(map[string]string{"from": "1969-12-31"})), 422, `"type":"date.min"`},
		{"422 epoch before too large", request(window(map[string]string{"before": "99999999999999"})), 422, `"type":"number.max"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := call(t, h, c.ev)
			if resp.StatusCode != c.status || !strings.Contains(resp.Body, c.body) {
				t.Fatalf("got %d %s\nwant %d containing %s", resp.StatusCode, resp.Body, c.status, c.body)
			}
		})
	}

	t.Run("401 bodies of unknown key and wrong signature are identical", func(t *testing.T) {
		a := call(t, h, request(window(nil), unknownKey))
		b := call(t, h, request(window(nil), wrongSig))
		if a.Body != b.Body {
			t.Fatalf("%s != %s", a.Body, b.Body)
		}
	})
	t.Run("422 lists every violation in schema order", func(t *testing.T) {
		resp := call(t, h, request(map[string]string{"mediumId": "a#b", "limit": "500", "zzz": "1", "aaa": "2"}))
		var body struct{ Error []clienterr.Violation }
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range body.Error {
			got = append(got, v.Path[0]+":"+v.Type)
		}
		want := []string{"workspaceId:any.required", "mediumId:string.pattern.base", "from:any.required", "to:any.required",
			"limit:number.max", "aaa:object.unknown", "zzz:object.unknown"}
		if !slices.Equal(got, want) {
			t.Fatalf("got %v\nwant %v", got, want)
		}
	})
	t.Run("an item carries every field, arrays never null", func(t *testing.T) {
		p := decodePage(t, call(t, h, request(window(map[string]string{"limit": "200"}))))
		for _, it := range p.Items {
			if it.Labels == nil || it.CustomLabelIDs == nil || it.Date != time.UnixMilli(it.Timestamp).UTC().Format("2006-01-02T15:04:05.000Z") {
				t.Fatalf("bad item %+v", it)
			}
		}
	})
	checkNoSecretsLogged(t, f.logs.String())
}

// 503: the key store unavailable for a key it has not cached, and DynamoDB
// down for the access check and the page; the body never says why.
func TestUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")}
	down := fmt.Errorf("messages: query: %w", clienterr.Outage(refused))
	for _, tc := range []struct {
		name   string
		break_ func(*fixture)
		line   string // the log line with the cause: the authorizer's or the handler's
	}{
		{"key store unavailable", func(f *fixture) { f.keys.fail = fmt.Errorf("%w: %w", auth.ErrUnavailable, refused) }, "authorize"},
		{"dynamodb down", func(f *fixture) { f.access.fail, f.store.fail = down, down }, "request"},
		{"dynamodb down for the page only", func(f *fixture) { f.store.fail = down }, "request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture()
			tc.break_(f)
			resp := f.call(t, request(window(nil)))
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Headers["Retry-After"] == "" ||
				resp.Body != `{"message":"service temporarily unavailable, please retry"}` {
				t.Fatalf("got %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
			}
			if line := logLine(t, f.logs.String(), tc.line); line["level"] != "ERROR" || !strings.Contains(fmt.Sprint(line["error"]), "connection refused") {
				t.Fatalf("the cause is not logged as an error: %v", line)
			}
			checkNoSecretsLogged(t, f.logs.String())
		})
	}
}

type brokenStore struct{ panics bool }

func (b brokenStore) List(context.Context, messages.Query) (messages.Page, error) {
	if b.panics {
		panic("index out of range [3] with length 3")
	}
	return messages.Page{}, errors.New("ValidationException: secret table detail at /var/task")
}

// 500: a bug answers "internal error" and logs the detail, never sends it.
func TestInternalErrorDoesNotLeak(t *testing.T) {
	for _, panics := range []bool{false, true} {
		t.Run(fmt.Sprint("panic ", panics), func(t *testing.T) {
			var logs bytes.Buffer
			h := api.New(newAccessFake(), brokenStore{panics: panics}, slog.New(slog.NewJSONHandler(&logs, nil)))
			resp := call(t, h, request(window(nil)))
			if resp.StatusCode != 500 || resp.Body != `{"message":"internal error"}` {
				t.Fatalf("got %d %s", resp.StatusCode, resp.Body)
			}
			if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "test-request") {
				t.Fatalf("the detail is not logged with the request id: %s", logs.String())
			}
		})
	}
}

// One log line per request, with the fields operators need and nothing secret.
func TestRequestLogLine(t *testing.T) {
	f := newFixture()
	ev := request(window(map[string]string{"limit": "5"}))
	resp := call(t, f.h, ev)
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %s", l)
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d request lines", len(lines))
	}
	for _, k := range []string{"requestId", "apiKeyId", "workspaceId", "mediumId", "status", "ItemsReturned", "ReadCapacity", "Latency", "BodyBytes"} {
		if _, ok := lines[0][k]; !ok {
			t.Errorf("request line lacks %s: %v", k, lines[0])
		}
	}
	if lines[0]["ItemsReturned"] != float64(5) || lines[0]["BodyBytes"] != float64(len(resp.Body)) {
		t.Errorf("ItemsReturned = %v BodyBytes = %v, body of %d bytes", lines[0]["ItemsReturned"], lines[0]["BodyBytes"], len(resp.Body))
	}
	checkNoSecretsLogged(t, f.logs.String(), ev.Headers["X-Signature"], ev.Headers["X-Date"])
}

type slowStore struct{}

func (slowStore) List(ctx context.Context, _ messages.Query) (messages.Page, error) {
	<-ctx.Done()
	return messages.Page{}, fmt.Errorf("messages: query: %w", clienterr.Outage(ctx.Err()))
}

// A dependency that hangs ends in our own 503 before the Lambda deadline, not in
// API Gateway's bare 502/504.
func TestSlowDependencyAnswers503BeforeTheDeadline(t *testing.T) {
	h := api.New(newAccessFake(), slowStore{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	ev := request(window(nil))
	resp, err := h.Handle(ctx, authorized(ev))
	if err != nil {
		t.Fatal(err)
	}
	contract.CheckEvent(t, ev, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || ctx.Err() != nil {
		t.Fatalf("got %d (lambda context: %v), want a 503 while the Lambda still has time", resp.StatusCode, ctx.Err())
	}
}

// A 401 is one line at the default level, the request's own, with metrics on
// and off: its request id, the key id when it is well formed, and why
// (auth.Reasons), never the signature or the x-date; the verifier logs nothing
// of its own.
func TestUnauthorizedLogLine(t *testing.T) {
	var logs bytes.Buffer
	h := api.New(newAccessFake(), newStoreFake(), slog.New(slog.NewJSONHandler(&logs, nil)), api.WithMetrics("prod"))
	ev := request(window(nil))
	if resp := handle(t, h, ev); resp.StatusCode != http.StatusUnauthorized || resp.Body != `{"message":"invalid credentials"}` {
		t.Fatalf("a request without the authorizer's context: %d %s", resp.StatusCode, resp.Body)
	}
	m := requestLine(t, logs.String())
	if m["status"] != float64(401) || m["reason"] != "invalid credentials" || m["apiKeyId"] != nil || m["level"] != "INFO" {
		t.Errorf("line %v, want the request's INFO line without a key", m)
	}
	checkNoSecretsLogged(t, logs.String(), ev.Headers["X-Signature"], ev.Headers["X-Date"])
}

// TestOnlyItsRoute: the handler refuses every request line but GET
// /vip-messages with the stage's 404, before anything else, even when the
// authorizer let it through (a v2 signature over the crafted request line).
func TestOnlyItsRoute(t *testing.T) {
	f := newFixture()
	for _, tc := range []struct{ method, resource, path string }{
		{http.MethodDelete, "/vip-messages", "/vip-messages"},
		{http.MethodPost, "/vip-messages", "/vip-messages"},
		{http.MethodGet, "/admin", "/admin"},
		{http.MethodGet, "/vip-messages", "/admin"},
		{http.MethodGet, "/{proxy+}", "/vip-messages"},
	} {
		ev := request(window(nil))
		ev.HTTPMethod, ev.Resource, ev.Path = tc.method, tc.resource, tc.path
		date := ev.Headers["X-Date"]
		ev.Headers["X-Signature"] = signature.SignV2For(demoSecret, tc.method, tc.resource, date,
			signature.Query(ev.QueryStringParameters, ev.MultiValueQueryStringParameters))
		for name, resp := range map[string]events.APIGatewayProxyResponse{
			"through the authorizer": f.call(t, ev),
			"with the context":       handle(t, f.h, authorized(ev)),
		} {
			if resp.StatusCode != http.StatusNotFound || resp.Body != `{"message":"not found: this API serves GET /vip-messages and GET /vip-messages/labels only"}` {
				t.Errorf("%s %s (path %s) %s: %d %s", tc.method, tc.resource, tc.path, name, resp.StatusCode, resp.Body)
			}
		}
	}
}

// TestKeyFromTheAuthorizer: the handler reads the key's id and workspaces
// from the authorizer's context and nowhere else: not the headers.
func TestKeyFromTheAuthorizer(t *testing.T) {
	f := newFixture()
	ev := request(window(nil)) // signed by the demo key, allowed ws-vip
	onlyBasic := authorizer.WithContext(ev, authorizer.Allow(testMethodArn, auth.Key{ID: "other-key-0001", WorkspaceIDs: []string{wsBasic}}))
	if resp := handle(t, f.h, onlyBasic); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a key whose context allows ws-basic only read ws-vip: %d %s", resp.StatusCode, resp.Body)
	}
	if line := requestLine(t, f.logs.String()); line["apiKeyId"] != "other-key-0001" {
		t.Errorf("logged key %v, want the context's", line["apiKeyId"])
	}
	for _, c := range []map[string]any{nil, {"principalId": demoKeyID}, {"keyId": demoKeyID}} {
		ev := ev
		ev.RequestContext.Authorizer = c
		if resp := handle(t, f.h, ev); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("context %v: %d %s, want 401", c, resp.StatusCode, resp.Body)
		}
	}
}

// TestAnswerOrder: 401 (the authorizer) before 422 before 403/404.
func TestAnswerOrder(t *testing.T) {
	f := newFixture()
	wrongSig := func(h map[string]string) { h["X-Signature"] = auth.Sign("not-the-secret", h["X-Date"]) }
	otherKey := func(h map[string]string) {
		h["X-Api-Key"] = "other-key-0001"
		h["X-Signature"] = auth.Sign("other-secret", h["X-Date"])
	}
	bad := map[string]string{"limit": "0"}
	for _, tc := range []struct {
		name string
		ev   events.APIGatewayProxyRequest
		want int
	}{
		{"unsigned, invalid query, forbidden workspace", request(window(bad), wrongSig), 401},
		{"invalid query, forbidden workspace", request(window(bad), otherKey), 422},
		{"invalid query, unknown channel", request(window(map[string]string{"limit": "0", "mediumId": "ch-nope"})), 422},
		{"forbidden workspace", request(window(nil), otherKey), 403},
		{"unknown channel", request(window(map[string]string{"mediumId": "ch-nope"})), 404},
	} {
		if resp := f.call(t, tc.ev); resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, resp.Body, tc.want)
		}
	}
}
