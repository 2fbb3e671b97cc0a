// Package client calls the VIP messages API (GET /vip-messages): it signs every
// request as it sends it (x-api-key, x-date, and an x-signature of version 2,
// which binds the signature to the query, or of version 1 on request: see
// Client.SignatureVersion), lists one page or walks every page with the cursor,
// decodes the API's error bodies into *APIError, and retries 503 (and 429)
// answers a bounded number of times, honouring Retry-After, with jittered
// exponential backoff.
//
//	c := client.New("https://abc123.execute-api.us-east-1.amazonaws.com/prod", keyID, secret)
//	for item, err := range c.All(ctx, client.Query{
//		WorkspaceID: "ws-demo", MediumID: "ch-demo", From: "2026-06-01", To: "2026-06-07",
//	}) {
//		if err != nil {
//			return err // an *APIError for an API answer; errors.Is(err, client.ErrForbidden), ...
//		}
//		fmt.Println(item.Date, item.UserName, item.Text)
//	}
//
// The examples (example_test.go: Example, ExampleClient_List, ExampleAPIError)
// run this walk, one page at a time and the error handling, as tests. The
// package depends on the standard library and the module's own
// internal/signature (standard library only), the one implementation of the
// signature that the server checks.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vip-messages/api/internal/signature"
)

// Header names of the signature (openapi.yaml, components/securitySchemes).
const (
	HeaderKeyID     = "x-api-key"
	HeaderDate      = "x-date"
	HeaderSignature = "x-signature"
)

// Path is the list's resource, appended to the base URL.
const Path = "/vip-messages"

// LabelsPath is the label overview's resource (Client.Labels).
const LabelsPath = "/vip-messages/labels"

// maxBody bounds how much of a response is read.
const maxBody = 16 << 20

// Signature versions (Client.SignatureVersion).
const (
	// SignatureV2 signs the method, path, every query parameter and x-date:
	// x-signature: v2=<hex>. A captured request cannot be replayed with another query.
	SignatureV2 = signature.V2
	// SignatureV1 signs x-date only (the seed's scheme). Keys whose secret says
	// "minSignatureVersion": 2 refuse it.
	SignatureV1 = signature.V1
)

// Sign is the version 1 x-signature for date: lowercase hex of
// HMAC-SHA256(key = secret, message = date exactly as sent in x-date).
func Sign(secret, date string) string { return signature.SignV1(secret, date) }

// SignV2 is the version 2 x-signature of a request with this query (as
// decoded: the values API Gateway hands the function) sent with this x-date:
// "v2=" and the lowercase hex of HMAC-SHA256(secret, "v2\nGET\n/vip-messages\n"
// + canonical query + "\n" + date). See docs/signing.md.
func SignV2(secret, date string, query url.Values) string {
	return signature.SignV2(secret, date, query)
}

// CanonicalQuery is the canonical query that SignV2 signs: every name=value
// pair percent-encoded per RFC 3986 (upper-case hex), sorted, joined by '&'.
func CanonicalQuery(query url.Values) string { return signature.Canonical(query) }

// SignedHeaders are the three version 1 authentication headers for a request
// sent at now. x-date is RFC 3339 in UTC, to the second. Prefer SignedHeadersV2.
func SignedHeaders(keyID, secret string, now time.Time) http.Header {
	date := now.UTC().Format(time.RFC3339)
	return headers(keyID, date, Sign(secret, date))
}

// SignedHeadersV2 are the three version 2 authentication headers for a
// request with this query sent at now. Send the query exactly as given (for
// example with query.Encode(), which writes '+' as %2B): API Gateway decodes
// a literal '+' in a query string to a space.
func SignedHeadersV2(keyID, secret string, now time.Time, query url.Values) http.Header {
	date := now.UTC().Format(time.RFC3339)
	return headers(keyID, date, SignV2(secret, date, query))
}

func headers(keyID, date, sig string) http.Header {
	h := http.Header{}
	h.Set(HeaderKeyID, keyID)
	h.Set(HeaderDate, date)
	h.Set(HeaderSignature, sig)
	return h
}

// RetryPolicy bounds the retries of 503 and 429 answers. Each retry is signed
// afresh. The wait before retry n (1-based) is the larger of the answer's
// Retry-After and a jittered exponential backoff, uniform in
// [d/2, d] with d = min(BaseDelay·2^(n-1), MaxDelay).
type RetryPolicy struct {
	// MaxRetries is how many times one request is retried after its first
	// attempt: 0 means DefaultMaxRetries, a negative value never retries.
	MaxRetries int
	// BaseDelay and MaxDelay shape the backoff; 0 means the defaults.
	BaseDelay, MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After waited for; an answer asking for
	// longer is returned at once. 0 means DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
}

// Defaults of RetryPolicy.
const (
	DefaultMaxRetries    = 3
	DefaultBaseDelay     = 200 * time.Millisecond
	DefaultMaxDelay      = 5 * time.Second
	DefaultMaxRetryAfter = 30 * time.Second
)

// Client calls the API with one key. Set its fields before first use; it is
// safe for concurrent use after that.
type Client struct {
	// BaseURL is the stage URL, e.g. https://abc123.execute-api.us-east-1.amazonaws.com/prod
	// or http://localhost:3000; Path is appended.
	BaseURL string
	KeyID   string
	Secret  string
	// HTTPClient sends the requests; nil means a client with a 30 s timeout that
	// never follows redirects (see NoRedirect).
	HTTPClient *http.Client
	Retry      RetryPolicy
	// Now is the clock x-date is taken from; nil means time.Now.
	Now func() time.Time
	// Sleep waits between retries; nil means a timer that ends early with the
	// context's error. Tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
	// UserAgent, when set, is sent as User-Agent.
	UserAgent string
	// SignatureVersion is SignatureV2 (the default, also for 0) or SignatureV1,
	// the fallback for a server that predates v2.
	SignatureVersion int
}

// defaultHTTPClient never follows a redirect: Go's client keeps custom headers on
// a redirect to another host, and x-api-key with a fresh x-signature could be
// replayed there for a minute. A 3xx comes back as an *APIError instead.
var defaultHTTPClient = &http.Client{Timeout: 30 * time.Second, CheckRedirect: NoRedirect}

// NoRedirect is an http.Client CheckRedirect that returns a redirect as the
// answer: use it in your own HTTPClient too.
func NoRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// New returns a Client for the API at baseURL with the key keyID and its secret.
func New(baseURL, keyID, secret string) *Client {
	return &Client{BaseURL: baseURL, KeyID: keyID, Secret: secret}
}

// Query is one list request (the parameters of openapi.yaml). From and To are a date (YYYY-MM-DD,
// a UTC day; To includes the whole day) or an RFC 3339 date-time (inclusive).
type Query struct {
	WorkspaceID string
	MediumID    string
	From, To    string
	// Label is a built-in label value or a custom AI label id; "" means any.
	Label string
	// ContentType is text, postback, attachment or other; "" means any.
	ContentType string
	// Limit is the page size, 1 to 200; 0 means the API's default (50).
	Limit int
	// Before is a NextCursor of an earlier page, or an epoch-ms instant
	// (strconv.FormatInt(ms, 10)); "" means the newest.
	Before string
}

// Values is the query string of q; empty fields are left out (the API then
// reports the required ones missing, in a 422).
func (q Query) Values() url.Values {
	v := url.Values{}
	for _, p := range [][2]string{
		{"workspaceId", q.WorkspaceID}, {"mediumId", q.MediumID}, {"from", q.From}, {"to", q.To},
		{"label", q.Label}, {"contentType", q.ContentType}, {"before", q.Before},
	} {
		if p[1] != "" {
			v.Set(p[0], p[1])
		}
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// Item is one message.
type Item struct {
	Timestamp      int64    `json:"timestamp"` // epoch ms
	Date           string   `json:"date"`      // RFC 3339 UTC with milliseconds
	ConversationID string   `json:"conversationId"`
	UserName       string   `json:"userName"`
	Kind           string   `json:"kind"`
	Source         string   `json:"source"`
	Labels         []string `json:"labels"`
	CustomLabelIDs []string `json:"customLabelIds"`
	Text           string   `json:"text"`
}

// Time is the item's timestamp as a time.Time in UTC.
func (it Item) Time() time.Time { return time.UnixMilli(it.Timestamp).UTC() }

// Page is one 200 answer, newest first. NextCursor is set exactly when
// MayHaveMore is true; pass it as Query.Before for the next page.
type Page struct {
	Items       []Item `json:"items"`
	Returned    int    `json:"returned"`
	MayHaveMore bool   `json:"mayHaveMore"`
	NextCursor  string `json:"nextCursor,omitempty"`
}

// List fetches one page.
func (c *Client) List(ctx context.Context, q Query) (*Page, error) {
	u, err := c.url(Path, q.Values())
	if err != nil {
		return nil, err
	}
	var page Page
	if err := c.get(ctx, u, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// LabelCount is one label's count in a window.
type LabelCount struct {
	Label string `json:"label"`
	// Kind is "builtin" (a label value) or "custom" (a custom AI label id).
	Kind  string `json:"kind"`
	Count int64  `json:"count"`
}

// Labels is the label overview of a window: Total VIP messages, and the
// labels that occur, by count (highest first), then by name.
type Labels struct {
	Total  int64        `json:"total"`
	Labels []LabelCount `json:"labels"`
}

// Labels fetches the label overview of q's window (GET /vip-messages/labels):
// for each label, the number of messages List returns with that Label over
// the window, page after page, in one request. Only q's WorkspaceID,
// MediumID, From and To are sent.
func (c *Client) Labels(ctx context.Context, q Query) (*Labels, error) {
	u, err := c.url(LabelsPath, Query{WorkspaceID: q.WorkspaceID, MediumID: q.MediumID, From: q.From, To: q.To}.Values())
	if err != nil {
		return nil, err
	}
	var out Labels
	if err := c.get(ctx, u, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// get sends r, retried as the policy says, and decodes the 200 body into out.
func (c *Client) get(ctx context.Context, r request, out any) error {
	var last error
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, r, out)
		if err == nil {
			return nil
		}
		last = err
		wait, retry := c.retryDelay(err, attempt)
		if !retry {
			return last
		}
		if err := c.sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (while waiting to retry: %w)", last, err)
		}
	}
}

// Pages walks every page of q from q.Before on, following NextCursor. It stops
// after the first error, which it yields with a nil page.
func (c *Client) Pages(ctx context.Context, q Query) iter.Seq2[*Page, error] {
	return func(yield func(*Page, error) bool) {
		for {
			page, err := c.List(ctx, q)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(page, nil) || !page.MayHaveMore {
				return
			}
			if page.NextCursor == "" || page.NextCursor == q.Before {
				yield(nil, fmt.Errorf("vip-messages: the API said mayHaveMore without a new nextCursor"))
				return
			}
			q.Before = page.NextCursor
		}
	}
}

// All walks every item of q, newest first, page by page. It stops after the
// first error, which it yields with a zero Item.
func (c *Client) All(ctx context.Context, q Query) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		for page, err := range c.Pages(ctx, q) {
			if err != nil {
				yield(Item{}, err)
				return
			}
			for _, it := range page.Items {
				if !yield(it, nil) {
					return
				}
			}
		}
	}
}

// request is one request: its URL, and the resource and query it carries,
// which a v2 signature covers.
type request struct {
	url, path string
	query     url.Values
}

// url is the request for the resource path (Path or LabelsPath) with values.
// A base URL may end with Path already.
func (c *Client) url(path string, values url.Values) (request, error) {
	base := strings.TrimRight(c.BaseURL, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return request{}, fmt.Errorf("vip-messages: base URL %q: want http(s)://host[/stage]", c.BaseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, Path) + path
	u.RawQuery = values.Encode()
	return request{url: u.String(), path: path, query: values}, nil
}

// signedHeaders are the authentication headers of one attempt.
func (c *Client) signedHeaders(r request) (http.Header, error) {
	switch c.SignatureVersion {
	case 0, SignatureV2:
		// Over the request's own resource: a signature names its path.
		date := c.now().UTC().Format(time.RFC3339)
		return headers(c.KeyID, date, signature.SignV2For(c.Secret, http.MethodGet, r.path, date, r.query)), nil
	case SignatureV1:
		return SignedHeaders(c.KeyID, c.Secret, c.now()), nil
	}
	return nil, fmt.Errorf("vip-messages: SignatureVersion %d: want %d or %d", c.SignatureVersion, SignatureV2, SignatureV1)
}

// once sends one signed request and decodes its 200 body into out.
func (c *Client) once(ctx context.Context, r request, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return err
	}
	signed, err := c.signedHeaders(r)
	if err != nil {
		return err
	}
	for k, v := range signed {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("vip-messages: reading the %d answer: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return decodeError(resp, body, c.now())
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("vip-messages: 200 answer of %s is not what the contract says: %w", r.path, err)
	}
	return nil
}

// retryDelay says whether err, the answer of attempt (0-based), is retried,
// and after how long.
func (c *Client) retryDelay(err error, attempt int) (time.Duration, bool) {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || (apiErr.Status != http.StatusServiceUnavailable && apiErr.Status != http.StatusTooManyRequests) {
		return 0, false
	}
	p := c.Retry
	maxRetries := p.MaxRetries
	if maxRetries == 0 {
		maxRetries = DefaultMaxRetries
	}
	if attempt >= maxRetries {
		return 0, false
	}
	maxAfter := cmp(p.MaxRetryAfter, DefaultMaxRetryAfter)
	if apiErr.RetryAfter > maxAfter {
		return 0, false
	}
	// Doubling, capped before it can overflow.
	d, maxDelay := cmp(p.BaseDelay, DefaultBaseDelay), cmp(p.MaxDelay, DefaultMaxDelay)
	for i := 0; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	d = d/2 + rand.N(d/2+1)
	return max(d, apiErr.RetryAfter), true
}

func cmp(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

func (c *Client) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
