// Package sampleevent loads the sample API Gateway events of events/ and signs
// them afresh, since x-date must be within a minute of the server's clock.
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
// list*.json answer 200, error-NNN-*.json answer NNN. The folder also holds
// what is not an API event (env.json, the stream sample stream-*.json).
func Files(dir string) ([]string, error) {
	var out []string
	for _, pattern := range []string{"list*.json", "error-*.json"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, err
		}
		out = append(out, m...)
	}
	sort.Strings(out)
	return out, nil
}

// Status is the status a sample event answers, from its file name.
func Status(path string) (int, error) {
	name := filepath.Base(path)
	if strings.HasPrefix(name, "list") {
		return 200, nil
	}
	if n, ok := strings.CutPrefix(name, "error-"); ok && len(n) > 3 {
		if code, err := strconv.Atoi(n[:3]); err == nil {
			return code, nil
		}
	}
	return 0, fmt.Errorf("%s: not a sample event name (list*.json, error-NNN-*.json)", name)
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
// event's own query parameters (signature.Query of its two maps, as the
// handler reads them), and, unless keyID is empty, sets x-api-key to keyID. An event whose
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
	signed := false
	for _, w := range was {
		signed = signed || hasSig && (hmac.Equal([]byte(oldSig), []byte(signature.SignV1(w, oldDate))) ||
			hmac.Equal([]byte(oldSig), []byte(signature.SignV2(w, oldDate, query))))
	}
	if signed {
		set(headers, multi, sigKey, signature.SignV2(secret, date, query))
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
