package main

// The round-trip recorder of the performance tests counts the dependency round
// trips a request waits on. A Recorder is a reverse proxy put in front of a
// local endpoint (DynamoDB Local, the local Secrets Manager): it records when
// each call started and ended, and can add a fixed delay per call so that a
// saved round trip shows in milliseconds too. CriticalPath then gives the
// longest chain of calls in which each one started after the previous one
// ended: the round trips that were waited for one after another.

import (
	"bytes"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
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

func TestCriticalPath(t *testing.T) {
	at := func(ms int) time.Time { return time.UnixMilli(int64(ms)) }
	call := func(start, end int) Call { return Call{Start: at(start), End: at(end)} }
	for _, tc := range []struct {
		name  string
		calls []Call
		want  int
	}{
		{"none", nil, 0},
		{"one", []Call{call(0, 10)}, 1},
		{"three in a row", []Call{call(0, 10), call(11, 20), call(21, 30)}, 3},
		{"back to back counts as after", []Call{call(0, 10), call(10, 20)}, 2},
		{"two overlapping then one", []Call{call(0, 10), call(2, 12), call(13, 20)}, 2},
		{"all overlapping", []Call{call(0, 10), call(1, 11), call(2, 12)}, 1},
		{"order of recording does not matter", []Call{call(21, 30), call(0, 10), call(11, 20)}, 3},
		{"a long call beside a chain of two", []Call{call(0, 30), call(1, 5), call(6, 9)}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CriticalPath(tc.calls); got != tc.want {
				t.Errorf("CriticalPath = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestRecorderProxiesAndRecords(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, _ := io.ReadAll(r.Body) // the proxy forwards the body it recorded
		io.WriteString(w, "answer to "+r.Header.Get("X-Amz-Target")+" "+string(in))
	}))
	defer backend.Close()
	rec, err := NewRecorder(backend.URL, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()

	for _, op := range []string{"A.One", "A.Two"} {
		req, _ := http.NewRequest(http.MethodPost, rec.URL, strings.NewReader(`{"op":"`+op+`"}`))
		req.Header.Set("X-Amz-Target", op)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "answer to "+op+" "+`{"op":"`+op+`"}` {
			t.Fatalf("body %q", body)
		}
	}
	calls := rec.Calls()
	if len(calls) != 2 || calls[0].Op != "A.One" || calls[1].Op != "A.Two" ||
		string(calls[0].Body) != `{"op":"A.One"}` || string(calls[1].Body) != `{"op":"A.Two"}` {
		t.Fatalf("calls %+v", calls)
	}
	if d := calls[0].End.Sub(calls[0].Start); d < 5*time.Millisecond {
		t.Errorf("the delay was not applied: the call took %v", d)
	}
	if got := CriticalPath(calls); got != 2 {
		t.Errorf("sequential calls: critical path %d, want 2", got)
	}
	rec.Reset()
	if len(rec.Calls()) != 0 {
		t.Error("Reset kept calls")
	}
}
