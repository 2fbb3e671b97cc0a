package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vip-messages/api/client"
	"github.com/vip-messages/api/internal/local/gateway"
)

// A 503 from the real handler (the key store unavailable for a key it has
// not cached) is retried, gives up with ErrUnavailable, and works once the outage ends.
func TestRetriesA503FromTheRealHandler(t *testing.T) {
	keys := &keySource{}
	h := apiHandler(keys, gateway.Options{})
	var requests atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	defer api.Close()

	c := client.New(api.URL, keyID, secret)
	var slept []time.Duration
	c.Sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	c.Retry = client.RetryPolicy{MaxRetries: 2}
	q := client.Query{WorkspaceID: ws, MediumID: ch,
		From: now.AddDate(0, 0, -3).Format(time.DateOnly), To: now.Format(time.DateOnly), Limit: 5}

	keys.down.Store(true)
	_, err := c.List(context.Background(), q)
	var apiErr *client.APIError
	if !errors.Is(err, client.ErrUnavailable) || !errors.As(err, &apiErr) || apiErr.RetryAfter <= 0 {
		t.Fatalf("err = %v, want a 503 APIError with Retry-After", err)
	}
	if requests.Load() != 3 || len(slept) != 2 || slept[0] < apiErr.RetryAfter {
		t.Fatalf("%d requests, slept %v; want 3 requests and 2 waits of at least Retry-After", requests.Load(), slept)
	}

	keys.down.Store(false)
	if p, err := c.List(context.Background(), q); err != nil || p.Returned == 0 {
		t.Fatalf("after the outage: %v, %+v", err, p)
	}
}

// The client's 429 handling against the local gateway's per-key token bucket
// (make run RUN_FLAGS="-rate-limit ..."), in front of the real handler: a
// request over the bucket is retried after Retry-After and then succeeds;
// another key is not held back; with retries off the 429 comes back as
// ErrTooManyRequests with its Retry-After and message.
func TestRetriesA429FromTheLocalBucket(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clockNow := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	var statuses []int
	bucket := apiHandler(&keySource{}, gateway.Options{RateLimit: 0.5, Burst: 2, Now: clockNow})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		bucket.ServeHTTP(rec, r)
		mu.Lock()
		statuses = append(statuses, rec.Code)
		mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	defer api.Close()

	c := client.New(api.URL, keyID, secret)
	var slept []time.Duration
	// Waiting moves the bucket's clock: no real sleep.
	c.Sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		mu.Lock()
		clock = clock.Add(d)
		mu.Unlock()
		return nil
	}
	q := client.Query{WorkspaceID: ws, MediumID: ch,
		From: now.AddDate(0, 0, -3).Format(time.DateOnly), To: now.Format(time.DateOnly), Limit: 1}

	for i := 0; i < 3; i++ {
		if _, err := c.List(context.Background(), q); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	// Two within the burst, the third was throttled once (2 s to the next
	// token at 0.5/s) and then served.
	if !slices.Equal(statuses, []int{200, 200, 429, 200}) || len(slept) != 1 || slept[0] < 2*time.Second {
		t.Fatalf("statuses %v, slept %v; want 200 200 429 200 and one wait of at least Retry-After (2s)", statuses, slept)
	}

	other, err := client.New(api.URL, "vk_another_key_000000", "s").List(context.Background(), q)
	var apiErr *client.APIError
	if other != nil || !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("another key: %v, want its own bucket (and the handler's 401)", err)
	}

	c.Retry.MaxRetries = -1
	c.List(context.Background(), q) // spends the token the wait refilled
	_, err = c.List(context.Background(), q)
	if !errors.Is(err, client.ErrTooManyRequests) || !errors.As(err, &apiErr) || apiErr.RetryAfter != 2*time.Second ||
		apiErr.Message != gateway.ThrottledMessage || apiErr.RequestID == "" {
		t.Fatalf("retries off: %v (%+v), want ErrTooManyRequests with Retry-After 2s", err, apiErr)
	}
}
