package keystore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/metrics"
)

// SecretsManager is the part of the Secrets Manager client the key store uses;
// *secretsmanager.Client implements it.
type SecretsManager interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// CacheConfig sets the key store's cache lifetimes. A zero field takes its default.
type CacheConfig struct {
	// TTL is how long a found key is used before it is read again (KEY_CACHE_TTL).
	TTL time.Duration
	// NegativeTTL is how long an unknown (or unusable) key id is remembered, so
	// that a flood of random key ids does not become Secrets Manager calls
	// (KEY_NEGATIVE_TTL).
	NegativeTTL time.Duration
	// StaleTTL is how long past its TTL a found key keeps serving while Secrets
	// Manager fails (stale-if-error) (KEY_STALE_TTL). Past it, requests for the
	// key get auth.ErrUnavailable.
	StaleTTL time.Duration
}

// Defaults of CacheConfig.
const (
	DefaultKeyTTL         = 5 * time.Minute
	DefaultNegativeKeyTTL = 30 * time.Second
	DefaultStaleKeyTTL    = time.Hour
)

const (
	// staleRetryInterval spaces refresh attempts for a key served stale, so an
	// outage does not turn every request into a Secrets Manager call.
	staleRetryInterval = 5 * time.Second
	// fetchTimeout bounds one lookup (with the SDK's retries). It is detached from
	// the first caller's context, since other callers may be waiting on it.
	fetchTimeout = 3 * time.Second
	// maxEntries bounds the cache; past it, dead entries are swept and then
	// negative ones dropped.
	maxEntries = 10000
)

// Store reads API keys from Secrets Manager (secret <prefix>/<keyId>, value
// auth.SecretValue) and caches them in memory. It is safe for concurrent use, and
// makes at most one call per key id at a time; while that call refreshes an
// expired key, other requests for it use the value it had.
type Store struct {
	client SecretsManager
	prefix string
	cfg    CacheConfig
	log    *slog.Logger
	// Now is the cache's clock; set it before first use. Nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	entries  map[string]*entry
	inflight map[string]*flight

	denied atomic.Uint64
}

type entry struct {
	found   bool // false: remembered as unknown or unusable
	value   auth.SecretValue
	expires time.Time
	// staleUntil (found entries) is the stale-if-error bound; retryAt the earliest
	// next refresh attempt after a failed one.
	staleUntil time.Time
	retryAt    time.Time
}

type flight struct {
	done  chan struct{}
	value auth.SecretValue
	err   error
	// denied: Secrets Manager answered AccessDenied (an unknown key, see fetch).
	// Written before done is closed, read by the waiters after.
	denied bool
}

// New returns a key store reading secrets named prefix/<keyId> through
// client; a nil log discards.
func New(client SecretsManager, prefix string, cfg CacheConfig, log *slog.Logger) *Store {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultKeyTTL
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = DefaultNegativeKeyTTL
	}
	if cfg.StaleTTL <= 0 {
		cfg.StaleTTL = DefaultStaleKeyTTL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{
		client: client, prefix: prefix, cfg: cfg, log: log, Now: time.Now,
		entries: map[string]*entry{}, inflight: map[string]*flight{},
	}
}

// DeniedLookups counts the GetSecretValue calls Secrets Manager answered with
// AccessDeniedException, each answered as an unknown key (see fetch). Kept apart
// from the 401s so that a real permission mistake shows up as a spike.
func (s *Store) DeniedLookups() uint64 { return s.denied.Load() }

// Config returns the cache lifetimes in force, defaults filled in.
func (s *Store) Config() CacheConfig { return s.cfg }

// LookupKey returns the key's secret value. It answers auth.ErrUnauthenticated for a
// key that does not exist, is scheduled for deletion or has a malformed value,
// and an error matching auth.ErrUnavailable when Secrets Manager fails and no usable
// cached value is left.
func (s *Store) LookupKey(ctx context.Context, keyID string) (auth.SecretValue, error) {
	rec := metrics.FromContext(ctx)
	s.mu.Lock()
	now := s.now()
	if e := s.entries[keyID]; e != nil {
		if now.Before(e.expires) || e.found && now.Before(e.retryAt) && now.Before(e.staleUntil) {
			s.mu.Unlock()
			rec.KeyCache(true)
			return e.result()
		}
	}
	f := s.inflight[keyID]
	if e := s.entries[keyID]; f != nil && e != nil && e.found && now.Before(e.staleUntil) {
		// A refresh is under way: the requests that arrive meanwhile keep using the
		// value they had a moment ago instead of all waiting on Secrets Manager.
		s.mu.Unlock()
		rec.KeyCache(true)
		return e.value, nil
	}
	if f == nil {
		f = &flight{done: make(chan struct{})}
		s.inflight[keyID] = f
		go s.run(context.WithoutCancel(ctx), keyID, f)
	}
	s.mu.Unlock()

	// A miss: this request waits for Secrets Manager (its own call or another
	// request's), and the metrics say for how long.
	rec.KeyCache(false)
	start := time.Now()
	defer func() { rec.WaitedSecretsManager(time.Since(start)) }()
	select {
	case <-f.done:
		if f.denied {
			rec.KeyLookupDenied()
		}
		return f.value, f.err
	case <-ctx.Done():
		return auth.SecretValue{}, fmt.Errorf("%w: %w", auth.ErrUnavailable, ctx.Err())
	}
}

func (e *entry) result() (auth.SecretValue, error) {
	if !e.found {
		return auth.SecretValue{}, auth.ErrUnauthenticated
	}
	return e.value, nil
}

// run makes the one call for keyID, updates the cache and wakes the waiters.
func (s *Store) run(ctx context.Context, keyID string, f *flight) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	value, found, err := s.fetch(ctx, keyID, f)

	s.mu.Lock()
	defer s.mu.Unlock()
	defer close(f.done)
	delete(s.inflight, keyID)
	now := s.now()
	if err != nil {
		if e := s.entries[keyID]; e != nil && e.found && now.Before(e.staleUntil) {
			e.retryAt = now.Add(staleRetryInterval)
			s.log.LogAttrs(ctx, slog.LevelWarn, "serving stale API key after Secrets Manager error",
				slog.String("apiKeyId", keyID), slog.Time("staleUntil", e.staleUntil), slog.String("error", err.Error()))
			f.value = e.value
			return
		}
		f.err = err
		return
	}
	e := &entry{found: found, value: value}
	if found {
		e.expires = now.Add(s.cfg.TTL)
		e.staleUntil = e.expires.Add(s.cfg.StaleTTL)
	} else {
		e.expires = now.Add(s.cfg.NegativeTTL)
		f.err = auth.ErrUnauthenticated
	}
	s.store(keyID, e, now)
	f.value = value
}

// fetch reads one key: found, not found (or unusable), or an auth.ErrUnavailable error.
func (s *Store) fetch(ctx context.Context, keyID string, f *flight) (auth.SecretValue, bool, error) {
	name := auth.SecretName(s.prefix, keyID)
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	var notFound *types.ResourceNotFoundException
	var invalid *types.InvalidRequestException
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &notFound):
		return auth.SecretValue{}, false, nil
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "AccessDeniedException":
		// The name is always <prefix>/<keyId>, under the prefix the function's policy
		// grants. Depending on how IAM evaluates a name-based request against that
		// grant, a secret that does not exist may be answered AccessDenied rather than
		// ResourceNotFound; as a 503 it would never be cached, and a flood of random
		// key ids would be one Secrets Manager call each. So it is an unknown key: the
		// uniform 401, remembered for NegativeTTL. Logged at warn and counted apart
		// (DeniedLookups), so a policy that really lost the grant is seen at once.
		s.denied.Add(1)
		f.denied = true
		s.log.LogAttrs(ctx, slog.LevelWarn, "API key secret access denied, answered as an unknown key",
			auth.UnverifiedKeyID(keyID), slog.String("error", apiErr.ErrorCode()))
		return auth.SecretValue{}, false, nil
	case errors.As(err, &invalid):
		// Answered for a secret scheduled for deletion: a revoked key.
		s.log.LogAttrs(ctx, slog.LevelInfo, "API key secret not usable", slog.String("apiKeyId", keyID), slog.String("error", invalid.ErrorCode()))
		return auth.SecretValue{}, false, nil
	case err != nil:
		// Everything else, DecryptionFailure (the KMS key of the secret) included,
		// is Secrets Manager or its setup failing, not the caller: 503, not cached.
		s.log.LogAttrs(ctx, slog.LevelWarn, "Secrets Manager GetSecretValue failed", auth.UnverifiedKeyID(keyID), slog.String("error", err.Error()))
		return auth.SecretValue{}, false, fmt.Errorf("%w: %w", auth.ErrUnavailable, err)
	}
	if out.SecretString == nil {
		s.log.LogAttrs(ctx, slog.LevelError, "malformed API key secret", slog.String("apiKeyId", keyID), slog.String("secretName", name),
			slog.String("error", "no SecretString (binary secrets are not supported)"))
		return auth.SecretValue{}, false, nil
	}
	value, err := auth.ParseSecretValue(*out.SecretString)
	if err != nil {
		// An operator error: loud in the logs, the uniform 401 to the client.
		s.log.LogAttrs(ctx, slog.LevelError, "malformed API key secret", slog.String("apiKeyId", keyID), slog.String("secretName", name), slog.String("error", err.Error()))
		return auth.SecretValue{}, false, nil
	}
	return value, true, nil
}

// store adds e, keeping the cache under maxEntries. Called with s.mu held.
func (s *Store) store(keyID string, e *entry, now time.Time) {
	if _, ok := s.entries[keyID]; !ok && len(s.entries) >= maxEntries {
		for id, old := range s.entries {
			if !now.Before(old.expires) && (!old.found || !now.Before(old.staleUntil)) {
				delete(s.entries, id)
			}
		}
		for id, old := range s.entries {
			if len(s.entries) < maxEntries*9/10 {
				break
			}
			if !old.found {
				delete(s.entries, id)
			}
		}
		if len(s.entries) >= maxEntries && !e.found {
			return
		}
	}
	s.entries[keyID] = e
}

func (s *Store) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}
