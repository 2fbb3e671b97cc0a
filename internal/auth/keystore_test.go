package auth_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/auth/keystore"
	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/local/smlocal"
	"github.com/vip-messages/api/internal/metrics"
)

func TestCacheHitWithinTTL(t *testing.T) {
	e := newEnv(t)
	e.putKey(goodKey, []string{current}, []string{"ws-a"})
	for i := range 50 {
		if _, err := e.auth(e.signed(goodKey, current, 0)); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		e.clock.Advance(keystore.DefaultKeyTTL / 100)
	}
	if n := e.getCalls(); n != 1 {
		t.Fatalf("50 requests within the TTL made %d GetSecretValue calls, want 1", n)
	}
	e.clock.Advance(keystore.DefaultKeyTTL / 2)
	if _, err := e.auth(e.signed(goodKey, current, 0)); err != nil {
		t.Fatal(err)
	}
	if n := e.getCalls(); n != 2 {
		t.Fatalf("after the TTL: %d calls, want 2", n)
	}
}

func TestConfiguredTTLs(t *testing.T) {
	e := newEnv(t, func(c *keystore.CacheConfig) {
		c.TTL, c.NegativeTTL, c.StaleTTL = time.Minute, 10*time.Second, 2*time.Minute
	})
	if got := e.store.Config(); got.TTL != time.Minute || got.NegativeTTL != 10*time.Second || got.StaleTTL != 2*time.Minute {
		t.Fatalf("Config() = %+v", got)
	}
	if got := keystore.New(nil, prefix, keystore.CacheConfig{}, nil).Config(); got.TTL != keystore.DefaultKeyTTL ||
		got.NegativeTTL != keystore.DefaultNegativeKeyTTL || got.StaleTTL != keystore.DefaultStaleKeyTTL {
		t.Fatalf("defaults: %+v", got)
	}
	e.putKey(goodKey, []string{current}, []string{"ws-a"})
	steps := []struct {
		advance time.Duration
		key     string
		calls   int
	}{
		{0, goodKey, 1},
		{59 * time.Second, goodKey, 1},
		{time.Second, goodKey, 2},
		{0, unknownKey, 3},
		{9 * time.Second, unknownKey, 3},
		{time.Second, unknownKey, 4},
	}
	for i, s := range steps {
		e.clock.Advance(s.advance)
		_, _ = e.auth(e.signed(s.key, current, 0))
		if n := e.getCalls(); n != s.calls {
			t.Fatalf("step %d: %d calls, want %d", i, n, s.calls)
		}
	}
}

func TestNegativeCacheUnderRandomKeyFlood(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]string, 150)
	for i := range ids {
		ids[i] = fmt.Sprintf("rnd-%016x", rng.Uint64())
	}
	seen := map[string]bool{}
	for i := range 1000 {
		id := ids[rng.IntN(len(ids))]
		seen[id] = true
		if _, err := e.auth(e.signed(id, "x", 0)); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("request %d: err = %v, want ErrUnauthenticated", i, err)
		}
		if i%100 == 99 {
			e.clock.Advance(2 * time.Second) // 18 s in all: within the negative TTL
		}
	}
	if n := e.getCalls(); n != len(seen) {
		t.Fatalf("1000 requests over %d distinct unknown ids made %d calls, want one per id", len(seen), n)
	}
	e.clock.Advance(keystore.DefaultNegativeKeyTTL)
	_, _ = e.auth(e.signed(ids[0], "x", 0))
	if n := e.getCalls(); n != len(seen)+1 {
		t.Fatalf("after the negative TTL: %d calls, want %d", n, len(seen)+1)
	}
}

// gated holds every GetSecretValue call until release is closed.
type gated struct {
	keystore.SecretsManager
	release chan struct{}
}

func (g gated) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	<-g.release
	return g.SecretsManager.GetSecretValue(ctx, in, optFns...)
}

func TestConcurrentLookupsMakeOneCall(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  string
		want error
	}{{"known key", goodKey, nil}, {"unknown key", unknownKey, auth.ErrUnauthenticated}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.putKey(goodKey, []string{current}, []string{"ws-a"})
			g := gated{SecretsManager: e.client, release: make(chan struct{})}
			store := keystore.New(g, prefix, keystore.CacheConfig{}, nil)
			store.Now = e.clock.Now
			v := auth.NewVerifier(store, nil)
			v.Now = e.clock.Now

			const n = 40
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for range n {
				wg.Go(func() {
					_, err := v.Authenticate(context.Background(), "GET", "/vip-messages", e.signed(tc.key, current, 0), nil, nil)
					errs <- err
				})
			}
			// Without the one-call-per-key rule every goroutine would be blocked in
			// its own call by now; the sleep only gives them time to get there.
			time.Sleep(100 * time.Millisecond)
			close(g.release)
			wg.Wait()
			close(errs)
			for err := range errs {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
			}
			if c := e.getCalls(); c != 1 {
				t.Fatalf("%d concurrent requests made %d calls, want 1", n, c)
			}
		})
	}
}

func TestWaiterContextCancelled(t *testing.T) {
	e := newEnv(t)
	e.putKey(goodKey, []string{current}, []string{"ws-a"})
	g := gated{SecretsManager: e.client, release: make(chan struct{})}
	store := keystore.New(g, prefix, keystore.CacheConfig{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := store.LookupKey(ctx, goodKey)
	if !errors.Is(err, auth.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrUnavailable wrapping the deadline", err)
	}
	// The call itself goes on and fills the cache for the next request: wait
	// for that (go test's -timeout bounds a call that never lands).
	close(g.release)
	for {
		if _, err := store.LookupKey(context.Background(), goodKey); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c := e.getCalls(); c != 1 {
		t.Fatalf("%d calls, want 1", c)
	}
}

func TestStaleIfError(t *testing.T) {
	for _, f := range []smlocal.Failure{smlocal.Throttling, smlocal.Internal} {
		t.Run(f.Type, func(t *testing.T) {
			e := newEnv(t)
			e.putKey(goodKey, []string{current}, []string{"ws-a"})
			if _, err := e.auth(e.signed(goodKey, current, 0)); err != nil {
				t.Fatal(err)
			}
			e.sm.SetFailure(smlocal.OpGetSecretValue, &f)
			steps := []struct {
				name    string
				advance time.Duration
				ok      bool
				calls   int // GetSecretValue calls so far (2 attempts per failed refresh)
			}{
				{"past the TTL: stale value served", keystore.DefaultKeyTTL, true, 3},
				{"within the retry interval: no call", 4 * time.Second, true, 3},
				{"after the retry interval: refreshed again", time.Second, true, 5},
				{"just before the stale bound", keystore.DefaultStaleKeyTTL - 6*time.Second, true, 7},
				{"at the stale bound: unavailable", time.Second, false, 9},
			}
			for _, s := range steps {
				e.clock.Advance(s.advance)
				_, err := e.auth(e.signed(goodKey, current, 0))
				switch {
				case s.ok && err != nil:
					t.Fatalf("%s: %v", s.name, err)
				case !s.ok && (!errors.Is(err, auth.ErrUnavailable) || errors.Is(err, auth.ErrUnauthenticated)):
					t.Fatalf("%s: err = %v, want ErrUnavailable and not ErrUnauthenticated", s.name, err)
				}
				if n := e.getCalls(); n != s.calls {
					t.Fatalf("%s: %d calls, want %d", s.name, n, s.calls)
				}
			}
			e.sm.SetFailure(smlocal.OpGetSecretValue, nil)
			if _, err := e.auth(e.signed(goodKey, current, 0)); err != nil {
				t.Fatalf("after recovery: %v", err)
			}
		})
	}
}

func TestOutageOnUncachedKeyIsUnavailable(t *testing.T) {
	for _, f := range []smlocal.Failure{smlocal.Throttling, smlocal.Internal, smlocal.DecryptionFailure} {
		t.Run(f.Type, func(t *testing.T) {
			e := newEnv(t)
			e.putKey(goodKey, []string{current}, []string{"ws-a"})
			_, _ = e.auth(e.signed(unknownKey, current, 0)) // negatively cached
			e.sm.SetFailure(smlocal.AllOperations, &f)
			for _, tc := range []struct {
				name string
				key  string
			}{
				{"never seen", goodKey},
				{"never seen, unknown", "key-other-0001"},
				{"negative entry expired", unknownKey},
			} {
				if tc.key == unknownKey {
					e.clock.Advance(keystore.DefaultNegativeKeyTTL)
				}
				_, err := e.auth(e.signed(tc.key, current, 0))
				if !errors.Is(err, auth.ErrUnavailable) || !errors.Is(err, clienterr.ErrUnavailable) || errors.Is(err, auth.ErrUnauthenticated) {
					t.Fatalf("%s: err = %v, want ErrUnavailable (an outage) and not ErrUnauthenticated", tc.name, err)
				}
			}
		})
	}
}

func TestMalformedSecretValues(t *testing.T) {
	for _, tc := range []struct{ name, value string }{
		{"not JSON", `secret-in-plain-text`},
		{"secrets not an array", `{"secrets": "s", "workspaceIds": []}`},
		{"no secrets", `{"secrets": [], "workspaceIds": ["ws"]}`},
		{"empty secret", `{"secrets": [""], "workspaceIds": ["ws"]}`},
		{"no workspaceIds", `{"secrets": ["s"]}`},
		{"empty workspace id", `{"secrets": ["s"], "workspaceIds": [""]}`},
		{"null", `null`},
		{"array", `["s"]`},
		{"minSignatureVersion 3", `{"secrets": ["s"], "workspaceIds": ["ws"], "minSignatureVersion": 3}`},
		{"minSignatureVersion negative", `{"secrets": ["s"], "workspaceIds": ["ws"], "minSignatureVersion": -1}`},
		{"minSignatureVersion a string", `{"secrets": ["s"], "workspaceIds": ["ws"], "minSignatureVersion": "2"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := auth.ParseSecretValue(tc.value); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if v, err := auth.ParseSecretValue(`{"secrets": ["a", "b"], "workspaceIds": [], "note": "extra fields are ignored"}`); err != nil || len(v.Secrets) != 2 || v.MinSignatureVersion != 0 {
		t.Fatalf("valid value: %v %v", v, err)
	}
	for _, min := range []int{1, 2} {
		raw := fmt.Sprintf(`{"secrets": ["a"], "workspaceIds": ["ws"], "minSignatureVersion": %d}`, min)
		v, err := auth.ParseSecretValue(raw)
		if err != nil || v.MinSignatureVersion != min {
			t.Fatalf("%s: %v %v", raw, v, err)
		}
		// Encode keeps it; a value without it stays without (old readers see nothing new).
		enc, err := v.Encode()
		if err != nil || !strings.Contains(enc, fmt.Sprintf(`"minSignatureVersion":%d`, min)) {
			t.Fatalf("Encode = %s, %v", enc, err)
		}
	}
	if enc, _ := (auth.SecretValue{Secrets: []string{"a"}, WorkspaceIDs: []string{"ws"}}).Encode(); strings.Contains(enc, "minSignatureVersion") {
		t.Fatalf("Encode without a minimum = %s", enc)
	}
}

// slowRefresh answers the first GetSecretValue at once and holds later ones
// until release is closed.
type slowRefresh struct {
	keystore.SecretsManager
	calls   atomic.Int32
	release chan struct{}
}

func (g *slowRefresh) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if g.calls.Add(1) > 1 {
		<-g.release
	}
	return g.SecretsManager.GetSecretValue(ctx, in, optFns...)
}

// While one request refreshes an expired key, the others keep the value they
// had instead of queueing behind a slow Secrets Manager.
func TestRequestsDuringARefreshDoNotWait(t *testing.T) {
	e := newEnv(t)
	e.putKey(goodKey, []string{current}, []string{"ws-a"})
	g := &slowRefresh{SecretsManager: e.client, release: make(chan struct{})}
	store := keystore.New(g, prefix, keystore.CacheConfig{}, nil)
	store.Now = e.clock.Now
	if _, err := store.LookupKey(context.Background(), goodKey); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(keystore.DefaultKeyTTL + time.Second)

	refreshed := make(chan error, 1)
	go func() {
		_, err := store.LookupKey(context.Background(), goodKey)
		refreshed <- err
	}()
	for g.calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if v, err := store.LookupKey(ctx, goodKey); err != nil || len(v.Secrets) != 1 {
		t.Fatalf("a request during the refresh: %v, %v; want the cached value at once", v, err)
	}
	select {
	case <-refreshed:
		t.Fatal("the refresh ended before it was released")
	default:
	}
	close(g.release)
	if err := <-refreshed; err != nil {
		t.Fatal(err)
	}
}

// TestSecretsManagerErrorsOfAnUncachedKey: the three answers GetSecretValue can give
// for a key id under the store's prefix, through the real SDK. ResourceNotFound and
// AccessDenied (how IAM may answer for a secret that does not exist) are an unknown
// key: the uniform 401, remembered for the negative TTL; AccessDenied is logged at
// warn and counted apart. DecryptionFailure is an outage: 503, not remembered.
func TestSecretsManagerErrorsOfAnUncachedKey(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failure *smlocal.Failure // nil: the secret does not exist
		want    error
		cached  bool
		denied  uint64
		log     string
	}{
		{"ResourceNotFoundException", nil, auth.ErrUnauthenticated, true, 0, ""},
		{"AccessDeniedException", &smlocal.AccessDenied, auth.ErrUnauthenticated, true, 1, `"level":"WARN","msg":"API key secret access denied, answered as an unknown key","apiKeyIdHash":"` + auth.KeyIDHash(unknownKey) + `","error":"AccessDeniedException"`},
		{"DecryptionFailure", &smlocal.DecryptionFailure, auth.ErrUnavailable, false, 0, `"level":"WARN","msg":"Secrets Manager GetSecretValue failed","apiKeyIdHash":"` + auth.KeyIDHash(unknownKey) + `"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.sm.SetFailure(smlocal.OpGetSecretValue, tc.failure)
			for i := range 3 {
				_, err := e.auth(e.signed(unknownKey, current, 0))
				if !errors.Is(err, tc.want) {
					t.Fatalf("request %d: err = %v, want %v", i, err, tc.want)
				}
				if tc.want == auth.ErrUnauthenticated && errors.Is(err, auth.ErrUnavailable) {
					t.Fatalf("request %d: err = %v is also ErrUnavailable (a 503)", i, err)
				}
				e.clock.Advance(time.Second)
			}
			wantCalls := 3
			if tc.cached {
				wantCalls = 1
			}
			if n := e.getCalls(); n != wantCalls {
				t.Errorf("3 requests within the negative TTL made %d GetSecretValue calls, want %d", n, wantCalls)
			}
			if got := e.store.DeniedLookups(); got != tc.denied {
				t.Errorf("DeniedLookups() = %d, want %d", got, tc.denied)
			}
			if tc.log != "" && !strings.Contains(e.logs.String(), tc.log) {
				t.Errorf("logs lack %s:\n%s", tc.log, e.logs.String())
			}
			if tc.cached {
				// Remembered for the negative TTL only: then asked again.
				e.clock.Advance(keystore.DefaultNegativeKeyTTL)
				_, _ = e.auth(e.signed(unknownKey, current, 0))
				if n := e.getCalls(); n != 2 {
					t.Errorf("after the negative TTL: %d calls, want 2", n)
				}
			}
		})
	}
}

// TestAccessDeniedInRequestMetrics: the request whose lookup Secrets Manager
// answered AccessDenied counts it in its metrics; a not-found key and a cached
// answer do not.
func TestAccessDeniedInRequestMetrics(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failure *smlocal.Failure
		want    []int // KeyLookupsDenied of two lookups in a row
	}{
		{"AccessDeniedException", &smlocal.AccessDenied, []int{1, 0}},
		{"ResourceNotFoundException", nil, []int{0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.sm.SetFailure(smlocal.OpGetSecretValue, tc.failure)
			for i, want := range tc.want {
				rec := &metrics.Recorder{}
				if _, err := e.store.LookupKey(metrics.NewContext(t.Context(), rec), unknownKey); !errors.Is(err, auth.ErrUnauthenticated) {
					t.Fatalf("lookup %d: err = %v, want ErrUnauthenticated", i, err)
				}
				if rec.KeyLookupsDenied != want {
					t.Errorf("lookup %d: KeyLookupsDenied = %d, want %d", i, rec.KeyLookupsDenied, want)
				}
			}
		})
	}
}

// The request's metrics see the key store's cache: a miss waits on Secrets
// Manager (and says how long), a hit, also of a remembered unknown key or of
// the value kept during a refresh, does not.
func TestLookupMetrics(t *testing.T) {
	e := newEnv(t)
	e.putKey(goodKey, []string{current}, []string{"ws-a"})
	g := &heldCalls{SecretsManager: e.client, release: make(chan struct{})}
	store := keystore.New(g, prefix, keystore.CacheConfig{}, nil)
	store.Now = e.clock.Now
	lookup := func(keyID string) metrics.Recorder {
		t.Helper()
		rec := &metrics.Recorder{}
		_, _ = store.LookupKey(metrics.NewContext(context.Background(), rec), keyID)
		return *rec
	}
	miss := func(r metrics.Recorder) bool {
		return r.KeyCacheMisses == 1 && r.KeyCacheHits == 0 && r.SecretsManagerWaits == 1 && r.SecretsManager > 0
	}
	hit := metrics.Recorder{KeyCacheHits: 1}
	if r := lookup(goodKey); !miss(r) {
		t.Fatalf("first lookup recorded %+v, want a miss with a wait", r)
	}
	if r := lookup(goodKey); r != hit {
		t.Fatalf("second lookup recorded %+v, want a hit", r)
	}
	if r := lookup("unknown-key-0001"); !miss(r) {
		t.Fatalf("unknown key recorded %+v, want a miss with a wait", r)
	}
	if r := lookup("unknown-key-0001"); r != hit {
		t.Fatalf("remembered unknown key recorded %+v, want a hit", r)
	}
	// Expired: the refreshing request waits; one arriving meanwhile does not.
	e.clock.Advance(keystore.DefaultKeyTTL + time.Second)
	g.hold.Store(true)
	refreshed := make(chan metrics.Recorder, 1)
	go func() { refreshed <- lookup(goodKey) }()
	for g.held.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	if r := lookup(goodKey); r != hit {
		t.Fatalf("lookup during a refresh recorded %+v, want a hit", r)
	}
	close(g.release)
	if r := <-refreshed; !miss(r) {
		t.Fatalf("refreshing lookup recorded %+v, want a miss with a wait", r)
	}
}

// heldCalls holds GetSecretValue calls until release is closed, once hold is set.
type heldCalls struct {
	keystore.SecretsManager
	hold    atomic.Bool
	held    atomic.Int32
	release chan struct{}
}

func (g *heldCalls) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if g.hold.Load() {
		g.held.Add(1)
		<-g.release
	}
	return g.SecretsManager.GetSecretValue(ctx, in, optFns...)
}
