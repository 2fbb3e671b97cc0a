// Package roundtrip counts the dependency round trips a request waits on. A
// Recorder is a reverse proxy put in front of a local endpoint (DynamoDB Local,
// the local Secrets Manager): it records when each call started and ended, and
// can add a fixed delay per call so that a saved round trip shows in
// milliseconds too. CriticalPath then gives the longest chain of calls in which
// each one started after the previous one ended: the round trips that were
// waited for one after another.
package roundtrip

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"time"
)

// Call is one proxied request.
type Call struct {
	// Op is the AWS operation (the X-Amz-Target header), e.g.
	// "DynamoDB_20120810.Query".
	Op         string
	Start, End time.Time
	// Body is the request's body (the operation's JSON input).
	Body []byte
}

// Recorder proxies to one endpoint and records every call.
type Recorder struct {
	URL string // the proxy's address: point the SDK's endpoint here

	srv   *httptest.Server
	delay time.Duration
	mu    sync.Mutex
	calls []*Call
}

// NewRecorder proxies to target, adding delay before each call is forwarded.
func NewRecorder(target string, delay time.Duration) (*Recorder, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	r := &Recorder{delay: delay}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ErrorLog = log.New(io.Discard, "", 0) // a cancelled call is expected here
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// The call is recorded when it starts: a call still finishing when a
		// test calls Reset belongs to the earlier request, not the next one.
		c := &Call{Op: req.Header.Get("X-Amz-Target"), Start: time.Now()}
		c.Body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(c.Body))
		r.mu.Lock()
		r.calls = append(r.calls, c)
		r.mu.Unlock()
		if r.delay > 0 {
			time.Sleep(r.delay)
		}
		proxy.ServeHTTP(w, req)
		r.mu.Lock()
		c.End = time.Now()
		r.mu.Unlock()
	}))
	r.URL = r.srv.URL
	return r, nil
}

// Calls returns the calls recorded since the last Reset.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Call, len(r.calls))
	for i, c := range r.calls {
		out[i] = *c
	}
	return out
}

// Reset forgets the recorded calls.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

// Close stops the proxy.
func (r *Recorder) Close() { r.srv.Close() }

// CriticalPath is the length of the longest chain of calls in which each call
// starts after the previous one ended. Calls that overlap count once.
func CriticalPath(calls []Call) int {
	calls = slices.Clone(calls)
	slices.SortFunc(calls, func(a, b Call) int { return a.End.Compare(b.End) })
	// depth[i] is the longest chain that ends with calls[i].
	depth := make([]int, len(calls))
	longest := 0
	for i, c := range calls {
		depth[i] = 1
		for j := range i {
			if !calls[j].End.After(c.Start) && depth[j]+1 > depth[i] {
				depth[i] = depth[j] + 1
			}
		}
		longest = max(longest, depth[i])
	}
	return longest
}
