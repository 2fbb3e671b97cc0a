package gateway

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/authorizer"
)

func TestEventLikeAPIGateway(t *testing.T) {
	var got events.APIGatewayProxyRequest
	h := New(VipMessages,
		func(_ context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			got = ev
			return events.APIGatewayProxyResponse{StatusCode: 418, Headers: map[string]string{"X-A": "1"},
				MultiValueHeaders: map[string][]string{"X-B": {"2", "3"}}, Body: "teapot"}, nil
		})
	srv := httptest.NewServer(h)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/vip-messages?limit=1&limit=2&label=a%2Bb", nil)
	req.Header.Add("x-date", "d1")
	req.Header.Add("X-Date", "d2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	if resp.StatusCode != 418 || string(body) != "teapot" || resp.Header.Get("X-A") != "1" || !slices.Equal(resp.Header.Values("X-B"), []string{"2", "3"}) {
		t.Fatalf("response not passed through: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if got.QueryStringParameters["limit"] != "2" || !slices.Equal(got.MultiValueQueryStringParameters["limit"], []string{"1", "2"}) {
		t.Errorf("repeated parameter: single %q multi %v; API Gateway keeps the last in the single map", got.QueryStringParameters["limit"], got.MultiValueQueryStringParameters["limit"])
	}
	if got.QueryStringParameters["label"] != "a+b" {
		t.Errorf("label %q, want the decoded a+b", got.QueryStringParameters["label"])
	}
	if !slices.Equal(got.MultiValueHeaders["X-Date"], []string{"d1", "d2"}) {
		t.Errorf("repeated header: %v", got.MultiValueHeaders)
	}
	if got.RequestContext.RequestID == "" || got.RequestContext.Stage != "local" || got.HTTPMethod != http.MethodGet {
		t.Errorf("request context %+v", got.RequestContext)
	}
}

func TestEmptyQueryIsNull(t *testing.T) {
	ev := Event(httptest.NewRequest(http.MethodGet, "/vip-messages", nil), VipMessages, nil)
	if ev.QueryStringParameters != nil || ev.MultiValueQueryStringParameters != nil {
		t.Fatal("API Gateway sends null query maps for an empty query string")
	}
}

func TestOtherRoutesAnswerLikeAPIGateway(t *testing.T) {
	h := New(VipMessages, func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		t.Fatal("handler called")
		return events.APIGatewayProxyResponse{}, nil
	})
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/", nil),
		httptest.NewRequest(http.MethodPost, "/vip-messages", nil),
		httptest.NewRequest(http.MethodGet, "/vip-messages/x", nil),
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		// The deployed stage's MISSING_AUTHENTICATION_TOKEN gateway response.
		if w.Code != http.StatusNotFound || w.Body.String() != `{"message":"not found: this API serves GET /vip-messages and GET /vip-messages/labels only"}` ||
			w.Header().Get("Content-Type") != "application/json" || len(w.Header().Get("X-Request-Id")) != 36 {
			t.Errorf("%s %s: %d %s %v", r.Method, r.URL.Path, w.Code, w.Body, w.Header())
		}
	}
}

// TestMoreRoutes: Options.Routes reach the same handler, each event naming its
// own resource (which the handler and the authorizer's signature check read).
func TestMoreRoutes(t *testing.T) {
	var resources []string
	h := NewWithOptions(VipMessages, func(_ context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		resources = append(resources, ev.Resource+" "+ev.RequestContext.ResourcePath)
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	}, Options{Routes: []Route{Labels}})
	for _, c := range []struct {
		method, path string
		status       int
	}{{http.MethodGet, "/vip-messages", 200}, {http.MethodGet, "/vip-messages/labels", 200}, {http.MethodPost, "/vip-messages/labels", 404}, {http.MethodGet, "/vip-messages/labels/x", 404}} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		if w.Code != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, w.Code, c.status)
		}
	}
	if want := []string{"/vip-messages /vip-messages", "/vip-messages/labels /vip-messages/labels"}; !slices.Equal(resources, want) {
		t.Errorf("resources %v, want %v", resources, want)
	}
}

// The query decoding of a REST API's Lambda proxy event, as recorded against
// AWS: '+' is a space, %2B a plus, ':' and '/' stay, UTF-8 is decoded.
func TestQueryDecodedLikeAPIGateway(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/vip-messages?dateTimeOffset=2023-06-12T18:05:10.123456+00:00&email=test%2Balias@gmail.com"+
		"&plus=test+alias@gmail.com&url=https://www.google.com/&whitespace=foo%20bar&label=churn%C3%A9", nil)
	ev := Event(r, VipMessages, nil)
	for name, want := range map[string]string{
		"dateTimeOffset": "2023-06-12T18:05:10.123456 00:00",
		"email":          "test+alias@gmail.com",
		"plus":           "test alias@gmail.com",
		"url":            "https://www.google.com/",
		"whitespace":     "foo bar",
		"label":          "churné",
	} {
		if got := ev.QueryStringParameters[name]; got != want || !slices.Equal(ev.MultiValueQueryStringParameters[name], []string{want}) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// fakeAuthorizer allows a request whose x-signature is "ok" as its x-api-key,
// denies any other with a message, and fails for x-signature "fail".
func fakeAuthorizer(_ context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	switch ev.Headers["X-Signature"] {
	case "ok":
		return authorizer.Allow(ev.MethodArn, auth.Key{ID: ev.Headers["X-Api-Key"], WorkspaceIDs: []string{"ws"}}), nil
	case "fail":
		return events.APIGatewayCustomAuthorizerResponse{}, authorizer.ErrFailed
	}
	return authorizer.Deny(ev.MethodArn, `bad "signature"`), nil
}

func TestTokenBucketPerKey(t *testing.T) {
	clock := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	calls := 0
	h := NewWithOptions(VipMessages,
		func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			calls++
			return events.APIGatewayProxyResponse{StatusCode: 200, Body: "{}"}, nil
		}, Options{Authorizer: fakeAuthorizer, RateLimit: 2, Burst: 3, Now: func() time.Time { return clock }})
	do := func(key string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/vip-messages", nil)
		r.Header.Set("x-api-key", key)
		r.Header.Set("x-signature", "ok")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := 0; i < 3; i++ {
		if w := do("key-a"); w.Code != 200 {
			t.Fatalf("request %d within the burst: %d", i+1, w.Code)
		}
	}
	w := do("key-a")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" || w.Header().Get("Content-Type") != "application/json" ||
		w.Body.String() != `{"message":"`+ThrottledMessage+`"}` || w.Header().Get("X-Request-Id") == "" {
		t.Fatalf("over the burst: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if calls != 3 {
		t.Fatalf("the handler ran %d times, want 3: a throttled request never reaches it", calls)
	}
	if w := do("key-b"); w.Code != 200 {
		t.Fatalf("another key has its own bucket: %d", w.Code)
	}
	clock = clock.Add(500 * time.Millisecond) // one token at 2/s
	if w := do("key-a"); w.Code != 200 {
		t.Fatalf("after a refill: %d", w.Code)
	}
	if w := do("key-a"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("bucket empty again: %d", w.Code)
	}
	clock = clock.Add(time.Hour) // refills to the burst, no more
	for i := 0; i < 3; i++ {
		if w := do("key-a"); w.Code != 200 {
			t.Fatalf("after an hour, request %d: %d", i+1, w.Code)
		}
	}
	if w := do("key-a"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("the bucket holds Burst tokens at most: %d", w.Code)
	}
}

// TestAuthorizerFirst: a request the authorizer denies gets the stage's 401
// with the authorizer's message, and one it cannot decide the stage's 503;
// neither reaches the handler nor takes a token of the key's bucket, however
// many there are. The handler gets the authorizer's context.
func TestAuthorizerFirst(t *testing.T) {
	clock := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	var got []events.APIGatewayProxyRequest
	h := NewWithOptions(VipMessages,
		func(_ context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			got = append(got, ev)
			return events.APIGatewayProxyResponse{StatusCode: 200, Body: "{}"}, nil
		}, Options{Authorizer: fakeAuthorizer, RateLimit: 1, Burst: 2, Now: func() time.Time { return clock }})
	do := func(sig string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/vip-messages", nil)
		r.Header.Set("x-api-key", "key-a-000001")
		r.Header.Set("x-signature", sig)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for range 50 {
		if w := do("wrong"); w.Code != http.StatusUnauthorized || w.Body.String() != `{"message":"bad \"signature\""}` ||
			w.Header().Get("Content-Type") != "application/json" || w.Header().Get("X-Request-Id") == "" {
			t.Fatalf("denied: %d %v %s", w.Code, w.Header(), w.Body)
		}
		if w := do("fail"); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != authorizer.FailureRetryAfter || w.Body.String() != authorizer.FailureBody {
			t.Fatalf("failed: %d %v %s", w.Code, w.Header(), w.Body)
		}
	}
	if len(got) != 0 {
		t.Fatalf("the handler ran %d times for refused requests", len(got))
	}
	for i := range 2 {
		if w := do("ok"); w.Code != 200 {
			t.Fatalf("authorized request %d within the burst after 100 refused ones: %d", i+1, w.Code)
		}
	}
	if w := do("ok"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("over the burst: %d", w.Code)
	}
	if k, ok := auth.KeyFromAuthorizer(got[0].RequestContext.Authorizer); !ok || k.ID != "key-a-000001" {
		t.Errorf("the handler got context %v", got[0].RequestContext.Authorizer)
	}
}

func TestNoLimitByDefault(t *testing.T) {
	h := New(VipMessages,
		func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			return events.APIGatewayProxyResponse{StatusCode: 200}, nil
		})
	for i := 0; i < 1000; i++ {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/vip-messages", nil))
		if w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
}

func TestBucketsStayBounded(t *testing.T) {
	clock := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	l := newLimiter(1, 1, func() time.Time { return clock })
	for i := 0; i < 3*maxBuckets; i++ {
		l.take(strconv.Itoa(i))
		if i%maxBuckets == 0 {
			clock = clock.Add(time.Second) // the earlier buckets are full again
		}
	}
	if len(l.buckets) > maxBuckets+1 {
		t.Fatalf("%d buckets", len(l.buckets))
	}
}

// A body is written as it is, or decoded first when the handler says it is
// base64; an undecodable one is API Gateway's 502.
func TestResponseBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		resp   events.APIGatewayProxyResponse
		status int
		body   string
	}{
		{"text", events.APIGatewayProxyResponse{StatusCode: 200, Body: `{"items":[]}`}, 200, `{"items":[]}`},
		{"base64", events.APIGatewayProxyResponse{StatusCode: 201, Body: "aGk=", IsBase64Encoded: true}, 201, "hi"},
		{"bad base64", events.APIGatewayProxyResponse{StatusCode: 200, Body: "%%", IsBase64Encoded: true}, 502, `{"message":"` + BadGatewayMessage + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(VipMessages, func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
				return tc.resp, nil
			})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/vip-messages", nil))
			if w.Code != tc.status || w.Body.String() != tc.body {
				t.Fatalf("%d %q, want %d %q", w.Code, w.Body, tc.status, tc.body)
			}
		})
	}
}

// What a form decoder cannot decode reaches the handler as it was sent, as
// API Gateway's emulators pass it (werkzeug): a malformed escape stays, ';' is
// part of a value, and no pair is dropped, as url.ParseQuery drops them.
func TestQueryKeepsWhatItCannotDecode(t *testing.T) {
	for _, c := range []struct {
		name, raw string
		want      map[string][]string
	}{
		{"malformed escape", "label=a%ZZ&limit=5", map[string][]string{"label": {"a%ZZ"}, "limit": {"5"}}},
		{"escape cut short", "label=a%2", map[string][]string{"label": {"a%2"}}},
		{"bare percent", "label=%&to=%", map[string][]string{"label": {"%"}, "to": {"%"}}},
		{"malformed escape in a name", "la%ZZbel=x", map[string][]string{"la%ZZbel": {"x"}}},
		{"semicolon is no separator", "label=a;limit=5", map[string][]string{"label": {"a;limit=5"}}},
		{"semicolons only", "a=1;b=2;c=3", map[string][]string{"a": {"1;b=2;c=3"}}},
		{"well-formed escapes beside a malformed one", "label=%41%ZZ%2B+b%2f", map[string][]string{"label": {"A%ZZ+ b/"}}},
		{"invalid UTF-8 is passed as bytes", "label=%E9", map[string][]string{"label": {"\xe9"}}},
		{"no value, empty pairs", "a&&b=&=c", map[string][]string{"a": {""}, "b": {""}, "": {"c"}}},
		{"repeated", "limit=1&limit=%ZZ", map[string][]string{"limit": {"1", "%ZZ"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev := Event(httptest.NewRequest(http.MethodGet, "/vip-messages?"+c.raw, nil), VipMessages, nil)
			if !maps.EqualFunc(ev.MultiValueQueryStringParameters, c.want, slices.Equal) {
				t.Errorf("multi %q, want %q", ev.MultiValueQueryStringParameters, c.want)
			}
			for k, vs := range c.want {
				if got := ev.QueryStringParameters[k]; got != vs[len(vs)-1] {
					t.Errorf("single %s = %q, want %q", k, got, vs[len(vs)-1])
				}
			}
			if len(ev.QueryStringParameters) != len(c.want) {
				t.Errorf("single %q, want %d names", ev.QueryStringParameters, len(c.want))
			}
		})
	}
}
