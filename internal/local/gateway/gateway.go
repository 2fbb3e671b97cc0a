// Package gateway serves a Lambda proxy handler over plain HTTP the way API
// Gateway's REST API does: HTTP request -> events.APIGatewayProxyRequest -> the
// handler -> HTTP response. The local stack uses it; production uses API Gateway.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// HandlerFunc is a REST proxy Lambda handler.
type HandlerFunc func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// Route is the one method and path the API serves.
type Route struct {
	Method, Path string
	Stage        string
}

// VipMessages is the route of this API, GET /vip-messages (openapi.yaml), as the
// local stack serves it, in stage "local".
var VipMessages = Route{Method: http.MethodGet, Path: "/vip-messages", Stage: "local"}

// New returns an http.Handler that routes Route to h. Like API Gateway, any other
// method or path answers 403 {"message":"Missing Authentication Token"}, and a
// handler error answers 502.
func New(route Route, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != route.Method || r.URL.Path != route.Path {
			writeJSON(w, http.StatusForbidden, `{"message":"Missing Authentication Token"}`)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		resp, err := h(r.Context(), Event(r, route, body))
		if err != nil {
			writeJSON(w, http.StatusBadGateway, `{"message": "Internal server error"}`)
			return
		}
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		for k, vs := range resp.MultiValueHeaders {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		out := []byte(resp.Body)
		if resp.IsBase64Encoded {
			if out, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
				writeJSON(w, http.StatusBadGateway, `{"message": "Internal server error"}`)
				return
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(out)
	})
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// Event builds the proxy event API Gateway would send for r. As there, the
// single-value maps hold the last value of a repeated header or parameter.
func Event(r *http.Request, route Route, body []byte) events.APIGatewayProxyRequest {
	ev := events.APIGatewayProxyRequest{
		Resource:                        route.Path,
		Path:                            r.URL.Path,
		HTTPMethod:                      r.Method,
		Headers:                         map[string]string{},
		MultiValueHeaders:               map[string][]string{},
		QueryStringParameters:           map[string]string{},
		MultiValueQueryStringParameters: map[string][]string{},
		Body:                            string(body),
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID:        newRequestID(),
			Stage:            route.Stage,
			ResourcePath:     route.Path,
			HTTPMethod:       r.Method,
			Path:             "/" + route.Stage + r.URL.Path,
			Protocol:         r.Proto,
			RequestTimeEpoch: time.Now().UnixMilli(),
			Identity:         events.APIGatewayRequestIdentity{SourceIP: sourceIP(r), UserAgent: r.UserAgent()},
		},
	}
	for k, vs := range r.Header {
		// API Gateway keeps the client's spelling; Go has canonicalised it,
		// which the handler must (and does) accept.
		ev.MultiValueHeaders[k] = vs
		ev.Headers[k] = vs[len(vs)-1]
	}
	if r.Host != "" {
		ev.Headers["Host"] = r.Host
		ev.MultiValueHeaders["Host"] = []string{r.Host}
	}
	for k, vs := range r.URL.Query() {
		ev.MultiValueQueryStringParameters[k] = vs
		ev.QueryStringParameters[k] = vs[len(vs)-1]
	}
	if len(ev.QueryStringParameters) == 0 {
		// API Gateway sends null, not {}, for an empty query string.
		ev.QueryStringParameters, ev.MultiValueQueryStringParameters = nil, nil
	}
	return ev
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return strings.Join([]string{h[:8], h[8:12], h[12:16], h[16:20], h[20:]}, "-")
}
