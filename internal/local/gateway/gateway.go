// Package gateway serves a Lambda proxy handler over plain HTTP the way API
// Gateway's REST API does: HTTP request -> the REQUEST authorizer -> the usage
// plan's per-key bucket -> events.APIGatewayProxyRequest with the authorizer's
// context -> the handler -> HTTP response. The local stack uses it; production
// uses API Gateway.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/authorizer"
)

// HandlerFunc is a REST proxy Lambda handler.
type HandlerFunc func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)

// AuthorizerFunc is a REQUEST Lambda authorizer.
type AuthorizerFunc func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error)

// Route is the one method and path the API serves.
type Route struct {
	Method, Path string
	Stage        string
}

// VipMessages is the route of this API, GET /vip-messages (openapi.yaml), as the
// local stack serves it, in stage "local".
var VipMessages = Route{Method: http.MethodGet, Path: "/vip-messages", Stage: "local"}

// Labels is the label overview's route, GET /vip-messages/labels, served by
// the same function (Options.Routes).
var Labels = Route{Method: http.MethodGet, Path: "/vip-messages/labels", Stage: "local"}

// The messages of the answers the gateway makes itself, the same as the
// deployed stage's GatewayResponses in template.yaml (TestMessagesAreTheDeployedStages).
const (
	NotFoundMessage  = "not found: this API serves GET /vip-messages and GET /vip-messages/labels only" // api.ErrRouteNotFound's
	ThrottledMessage = "too many requests: this API key is over its rate limit, retry after Retry-After seconds"
	// BadGatewayMessage is API Gateway's own for a failed integration.
	BadGatewayMessage = "Internal server error"
)

// Options of a gateway beyond its route.
type Options struct {
	// Routes are more routes to the same handler (and authorizer), as the
	// template's API function has more than one Api event.
	Routes []Route
	// Authorizer, when set, runs before everything else but the route, as
	// API Gateway runs the stage's REQUEST authorizer (no cache): a Deny
	// answers the stage's 401 and an error its 503 (authorizer.Refuse), and
	// neither reaches a bucket or the handler. An Allow's context goes to the
	// handler in requestContext.authorizer.
	Authorizer AuthorizerFunc
	// RateLimit, when positive, gives every key the authorizer allowed (its
	// usageIdentifierKey) its own token bucket, like a deployed stage's usage
	// plan throttle: Burst tokens, refilled at RateLimit per second. A request
	// finding the bucket empty gets API Gateway's 429 with Retry-After, and
	// never reaches the handler. Only authorized requests take a token.
	// Zero (the default) applies no limit, so local load tests are not throttled.
	RateLimit float64
	Burst     int
	// Now is the bucket's clock; nil means time.Now.
	Now func() time.Time
}

// New returns an http.Handler that routes Route to h, without rate limits.
func New(route Route, h HandlerFunc) http.Handler { return NewWithOptions(route, h, Options{}) }

// NewWithOptions returns an http.Handler that routes Route to h. As the
// deployed stage, any other method or path answers 404 {"message": ...}, a
// handler error answers 502, and with Options.RateLimit a key over its
// bucket answers 429; each of these with Content-Type application/json and
// X-Request-Id.
func NewWithOptions(route Route, h HandlerFunc, opt Options) http.Handler {
	var limit *limiter
	if opt.RateLimit > 0 {
		limit = newLimiter(opt.RateLimit, max(opt.Burst, 1), opt.Now)
	}
	routes := append([]Route{route}, opt.Routes...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := slices.IndexFunc(routes, func(rt Route) bool { return r.Method == rt.Method && r.URL.Path == rt.Path })
		if i < 0 {
			writeMessage(w, http.StatusNotFound, NotFoundMessage)
			return
		}
		route := routes[i]
		body, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		ev := Event(r, route, body)
		usageKey := ""
		if opt.Authorizer != nil {
			decision, err := opt.Authorizer(r.Context(), authorizer.Event(ev, MethodArn(route)))
			if refusal, refused := authorizer.Refuse(decision, err); refused {
				if refusal.RetryAfter != "" {
					w.Header().Set("Retry-After", refusal.RetryAfter)
				}
				writeBody(w, refusal.Status, refusal.Body)
				return
			}
			ev = authorizer.WithContext(ev, decision)
			usageKey = decision.UsageIdentifierKey
		}
		if limit != nil && usageKey != "" {
			if wait, ok := limit.take(usageKey); !ok {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
				writeMessage(w, http.StatusTooManyRequests, ThrottledMessage)
				return
			}
		}
		resp, err := h(r.Context(), ev)
		if err != nil {
			writeMessage(w, http.StatusBadGateway, BadGatewayMessage)
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
		if resp.IsBase64Encoded {
			out, err := base64.StdEncoding.DecodeString(resp.Body)
			if err != nil {
				writeMessage(w, http.StatusBadGateway, BadGatewayMessage)
				return
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = w.Write(out)
			return
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.WriteString(w, resp.Body) // no copy of a page's body
	})
}

// writeMessage answers as the deployed stage's gateway responses do.
func writeMessage(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(map[string]string{"message": msg})
	writeBody(w, status, string(body))
}

// writeBody answers with a gateway response's body and headers.
func writeBody(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Request-Id", newRequestID())
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// MethodArn is the ARN the local stage's authorizer is asked about, in the
// shape API Gateway gives (account and API id are placeholders).
func MethodArn(route Route) string {
	return authorizer.MethodArn("local", "000000000000", "local", route.Stage, route.Method, route.Path)
}

// limiter holds a token bucket per key.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds the memory a flood of random keys can take: past it, full
// buckets (the same as no bucket) are dropped.
const maxBuckets = 10000

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	if now == nil {
		now = time.Now
	}
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// take spends a token of key's bucket; when there is none it reports how long
// until there is.
func (l *limiter) take(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.dropFull(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
}

func (l *limiter) dropFull(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// Event builds the proxy event API Gateway would send for r. As there, the
// single-value maps hold the last value of a repeated header or parameter, and
// query names and values are decoded as a form is: %XX, and '+' as a space
// (a REST API's Lambda proxy event has "plus=a+b" as "a b" and "a%2Bb" as
// "a+b", recorded against AWS by LocalStack's validated API Gateway tests).
// See splitQuery for what cannot be decoded.
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
	for k, vs := range splitQuery(r.URL.RawQuery) {
		ev.MultiValueQueryStringParameters[k] = vs
		ev.QueryStringParameters[k] = vs[len(vs)-1]
	}
	if len(ev.QueryStringParameters) == 0 {
		// API Gateway sends null, not {}, for an empty query string.
		ev.QueryStringParameters, ev.MultiValueQueryStringParameters = nil, nil
	}
	return ev
}

// splitQuery splits a raw query string into parameters as API Gateway's emulators
// do (SAM CLI's start-api and LocalStack read it with werkzeug; docs/api.md,
// "Percent-encoding"): pairs are separated by '&' only, so a ';' stays in its
// value; a pair without '=' has the value ""; '+' is a space and %XX a byte,
// and a '%' not followed by two hex digits stays as it was sent. Unlike
// url.ParseQuery, it never drops a pair: the handler sees every parameter
// and refuses what it cannot use.
func splitQuery(raw string) map[string][]string {
	q := map[string][]string{}
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		name = formUnescape(name)
		q[name] = append(q[name], formUnescape(value))
	}
	return q
}

// formUnescape decodes '+' and every well-formed %XX, and keeps anything else.
func formUnescape(s string) string {
	if !strings.ContainsAny(s, "+%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
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
