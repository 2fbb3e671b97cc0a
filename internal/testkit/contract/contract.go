// Package contract checks responses against openapi.yaml, so that the spec and
// the code cannot drift: every test that produces a response passes it here.
// Only tests import it.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/vip-messages/api/internal/local/repo"
)

var (
	once    sync.Once
	router  routers.Router
	loadErr error
)

func load() (routers.Router, error) {
	once.Do(func() {
		path, err := repo.Path("openapi.yaml")
		if err != nil {
			loadErr = err
			return
		}
		doc, err := openapi3.NewLoader().LoadFromFile(path)
		if err != nil {
			loadErr = err
			return
		}
		if loadErr = doc.Validate(context.Background()); loadErr != nil {
			return
		}
		router, loadErr = gorillamux.NewRouter(doc)
	})
	return router, loadErr
}

// LocalBase is the server of openapi.yaml that test requests are matched against.
const LocalBase = "http://localhost:3000"

// CheckEvent validates the handler's response to a proxy event against
// openapi.yaml, and the rules the schema cannot say.
func CheckEvent(t testing.TB, req events.APIGatewayProxyRequest, resp events.APIGatewayProxyResponse) {
	t.Helper()
	q := url.Values{}
	for k, vs := range req.MultiValueQueryStringParameters {
		q[k] = vs
	}
	for k, v := range req.QueryStringParameters {
		if _, ok := q[k]; !ok {
			q.Set(k, v)
		}
	}
	u := LocalBase + "/vip-messages"
	if req.Resource == "/vip-messages/labels" {
		u = LocalBase + req.Resource
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	h := http.Header{}
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	Check(t, u, resp.StatusCode, h, []byte(resp.Body))
}

// Check validates one HTTP response to GET rawURL against openapi.yaml.
func Check(t testing.TB, rawURL string, status int, header http.Header, body []byte) {
	t.Helper()
	r, err := load()
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	// Match the spec's local server whatever port the test server has.
	u.Scheme, u.Host = "http", "localhost:3000"
	httpReq, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	route, params, err := r.FindRoute(httpReq)
	if err != nil {
		t.Fatalf("openapi.yaml has no route for %s: %v", u, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: httpReq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: status,
		Header: header,
		Body:   io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("response %d does not match openapi.yaml: %v\nbody: %s", status, err, body)
	}

	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if cc := header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id header")
	}
	if status == http.StatusServiceUnavailable && header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if status == http.StatusOK {
		var page struct {
			Items       []json.RawMessage `json:"items"`
			Returned    int               `json:"returned"`
			MayHaveMore bool              `json:"mayHaveMore"`
			NextCursor  *string           `json:"nextCursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("200 body: %v", err)
		}
		if page.Returned != len(page.Items) {
			t.Errorf("returned %d but %d items", page.Returned, len(page.Items))
		}
		if page.MayHaveMore != (page.NextCursor != nil) {
			t.Errorf("mayHaveMore %v but nextCursor present %v", page.MayHaveMore, page.NextCursor != nil)
		}
	}
}
