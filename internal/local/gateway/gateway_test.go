package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"
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
	ev := Event(httptest.NewRequest(http.MethodGet, "/vip-messages", nil), Route{Path: "/vip-messages"}, nil)
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
		if w.Code != http.StatusForbidden || w.Body.String() != `{"message":"Missing Authentication Token"}` {
			t.Errorf("%s %s: %d %s", r.Method, r.URL.Path, w.Code, w.Body)
		}
	}
}
