// Package sampleevent loads the sample API Gateway events of events/ and signs
// them afresh, since x-date must be within a minute of the server's clock.
// The API function's samples (list*.json, labels*.json, error-*.json) carry the context the
// authorizer would add, so the function needs no signature; the authorizer's
// (authorizer-*.json) are REQUEST authorizer events, signed.
package sampleevent

import (
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/rfc3339"
	"github.com/vip-messages/api/internal/signature"
)

// Files lists the sample API Gateway events in dir (the repository's events/):
// list*.json and labels*.json answer 200, error-NNN-*.json answer NNN. The folder also holds
// what is not an API event (env.json, the stream sample stream-*.json).
func Files(dir string) ([]string, error) {
	var out []string
	for _, pattern := range []string{"list*.json", "labels*.json", "error-*.json"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, err
		}
		out = append(out, m...)
	}
	sort.Strings(out)
	return out, nil
}

// AuthorizerFiles lists the authorizer's sample events in dir:
// authorizer-allow*.json are allowed, authorizer-NNN-*.json answer NNN.
func AuthorizerFiles(dir string) ([]string, error) {
	return filepath.Glob(filepath.Join(dir, "authorizer-*.json"))
}

// Status is the status a sample event answers, from its file name; an
// authorizer's Allow is 200.
func Status(path string) (int, error) {
	name := filepath.Base(path)
	if strings.HasPrefix(name, "list") || strings.HasPrefix(name, "labels") || strings.HasPrefix(name, "authorizer-allow") {
		return 200, nil
	}
	name = strings.TrimPrefix(name, "authorizer")
	if n, ok := strings.CutPrefix(name, "-"); ok {
		name = "error-" + n // authorizer-NNN-*.json
	}
	if n, ok := strings.CutPrefix(name, "error-"); ok && len(n) > 3 {
		if code, err := strconv.Atoi(n[:3]); err == nil {
			return code, nil
		}
	}
	return 0, fmt.Errorf("%s: not a sample event name (list*.json, labels*.json, error-NNN-*.json)", name)
}

// Load reads a REST proxy event from a JSON file.
func Load(path string) (events.APIGatewayProxyRequest, error) {
	var ev events.APIGatewayProxyRequest
	raw, err := os.ReadFile(path)
	if err != nil {
		return ev, err
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ev, fmt.Errorf("%s: %w", path, err)
	}
	return ev, nil
}

// Date is the event's x-date, the instant its signature was made for.
func Date(ev events.APIGatewayProxyRequest) (time.Time, error) {
	_, v, ok := header(ev.Headers, auth.HeaderDate)
	if !ok {
		return time.Time{}, fmt.Errorf("event has no %s header", auth.HeaderDate)
	}
	return rfc3339.Parse(v)
}

// Resign moves the event's x-date to now and, when its signature was right for
// secret, signs it again with secret: version 2, over the event's own query
// parameters. A deliberately wrong signature stays
// wrong, and an event without the headers is left alone, so error samples keep
// their error.
func Resign(ev events.APIGatewayProxyRequest, secret string, now time.Time) events.APIGatewayProxyRequest {
	out, _ := ResignAs(ev, []string{secret}, "", secret, now)
	return out
}

// ResignAs moves the event's x-date to now and, when its signature was right
// (version 1 for its own x-date, or version 2 for its own x-date and query)
// with one of the secrets in was, signs it with secret, version 2 over the
// event's own method, resource and query parameters (signature.Query of its
// two maps, as the authorizer reads them), and, unless keyID is empty, sets x-api-key to keyID. An event whose
// signature was right with none of them is an error sample: only its x-date
// changes, so it keeps its error. It reports whether it signed.
func ResignAs(ev events.APIGatewayProxyRequest, was []string, keyID, secret string, now time.Time) (events.APIGatewayProxyRequest, bool) {
	dateKey, oldDate, hasDate := header(ev.Headers, auth.HeaderDate)
	sigKey, oldSig, hasSig := header(ev.Headers, auth.HeaderSignature)
	if !hasDate {
		return ev, false
	}
	headers := clone(ev.Headers)
	multi := cloneMulti(ev.MultiValueHeaders)
	date := now.UTC().Format(time.RFC3339)
	set(headers, multi, dateKey, date)
	query := signature.Query(ev.QueryStringParameters, ev.MultiValueQueryStringParameters)
	method, path := ev.HTTPMethod, ev.Resource
	if method == "" && path == "" {
		method, path = signature.Method, signature.Path
	}
	signed := false
	for _, w := range was {
		signed = signed || hasSig && (hmac.Equal([]byte(oldSig), []byte(signature.SignV1(w, oldDate))) ||
			hmac.Equal([]byte(oldSig), []byte(signature.SignV2For(w, method, path, oldDate, query))))
	}
	if signed {
		set(headers, multi, sigKey, signature.SignV2For(secret, method, path, date, query))
		if keyID != "" {
			k, _, ok := header(headers, auth.HeaderKeyID)
			if !ok {
				k = auth.HeaderKeyID
			}
			set(headers, multi, k, keyID)
		}
	}
	ev.Headers, ev.MultiValueHeaders = headers, multi
	return ev, signed
}

// header finds a header by case-insensitive name and returns its spelling.
func header(h map[string]string, name string) (key, value string, ok bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return k, v, true
		}
	}
	return "", "", false
}

// IsAuthorizerEvent: a REQUEST authorizer event, not a proxy event.
func IsAuthorizerEvent(raw []byte) bool {
	var ev struct {
		Type      string `json:"type"`
		MethodArn string `json:"methodArn"`
	}
	return json.Unmarshal(raw, &ev) == nil && ev.Type == "REQUEST" && ev.MethodArn != ""
}

// LoadAuthorizer reads a REQUEST authorizer event from a JSON file.
func LoadAuthorizer(path string) (events.APIGatewayCustomAuthorizerRequestTypeRequest, error) {
	var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
	raw, err := os.ReadFile(path)
	if err != nil {
		return ev, err
	}
	if !IsAuthorizerEvent(raw) {
		return ev, fmt.Errorf("%s: not a REQUEST authorizer event (type REQUEST, methodArn)", path)
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ev, fmt.Errorf("%s: %w", path, err)
	}
	return ev, nil
}

// ResignAuthorizerAs is ResignAs for an authorizer event: the same headers,
// signed over the event's own method, resource and query.
func ResignAuthorizerAs(ev events.APIGatewayCustomAuthorizerRequestTypeRequest, was []string, keyID, secret string, now time.Time) (events.APIGatewayCustomAuthorizerRequestTypeRequest, bool) {
	p, ok := ResignAs(events.APIGatewayProxyRequest{
		HTTPMethod: ev.HTTPMethod, Resource: ev.Resource, Headers: ev.Headers, MultiValueHeaders: ev.MultiValueHeaders,
		QueryStringParameters: ev.QueryStringParameters, MultiValueQueryStringParameters: ev.MultiValueQueryStringParameters,
	}, was, keyID, secret, now)
	ev.Headers, ev.MultiValueHeaders = p.Headers, p.MultiValueHeaders
	return ev, ok
}

// set replaces the header in both maps, whatever the spelling of its name in
// the multi-value map.
func set(h map[string]string, multi map[string][]string, key, value string) {
	h[key] = value
	for k := range multi {
		if strings.EqualFold(k, key) {
			multi[k] = []string{value}
		}
	}
}

func clone(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = v
	}
	return out
}

func cloneMulti(h map[string][]string) map[string][]string {
	if h == nil {
		return nil
	}
	out := make(map[string][]string, len(h))
	for k, v := range h {
		out[k] = append([]string(nil), v...)
	}
	return out
}
