package metrics

import (
	"context"
	"time"
)

// Recorder gathers what the layers below a request handler measure for it:
// time waited on each dependency and cache outcomes. The handler puts one in
// the request's context (NewContext); the key store, the access checker and
// the DynamoDB client wrapper find it there (FromContext). Every method is a
// no-op on a nil *Recorder, so code runs unchanged without one. Not safe for
// concurrent use: work a request does on another goroutine records into a
// Recorder of its own (see Add).
type Recorder struct {
	// SecretsManager is the time the request waited on Secrets Manager (a key
	// cache miss), DynamoDB the time spent in DynamoDB calls (retries included).
	SecretsManager, DynamoDB time.Duration
	// SecretsManagerWaits and DynamoDBCalls count them; zero means the
	// dependency was not involved, and its time metric is left out.
	SecretsManagerWaits, DynamoDBCalls       int
	KeyCacheHits, KeyCacheMisses             int
	WorkspaceCacheHits, WorkspaceCacheMisses int
	// KeyLookupsDenied counts key lookups Secrets Manager answered with
	// AccessDeniedException, which the key store treats as an unknown key (a 401):
	// apart from the other 401s, so that a policy that lost its grant shows.
	KeyLookupsDenied int
}

type recorderKey struct{}

// NewContext returns ctx carrying r.
func NewContext(ctx context.Context, r *Recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

// FromContext returns the Recorder of ctx, or nil.
func FromContext(ctx context.Context) *Recorder {
	r, _ := ctx.Value(recorderKey{}).(*Recorder)
	return r
}

// KeyCache records a key store lookup answered from its cache (hit) or not.
func (r *Recorder) KeyCache(hit bool) {
	if r == nil {
		return
	}
	if hit {
		r.KeyCacheHits++
	} else {
		r.KeyCacheMisses++
	}
}

// KeyLookupDenied records a key lookup answered AccessDenied (see KeyLookupsDenied).
func (r *Recorder) KeyLookupDenied() {
	if r == nil {
		return
	}
	r.KeyLookupsDenied++
}

// WorkspaceCache records a workspace/channel check answered from its cache or not.
func (r *Recorder) WorkspaceCache(hit bool) {
	if r == nil {
		return
	}
	if hit {
		r.WorkspaceCacheHits++
	} else {
		r.WorkspaceCacheMisses++
	}
}

// WaitedSecretsManager adds time spent waiting for a Secrets Manager answer.
func (r *Recorder) WaitedSecretsManager(d time.Duration) {
	if r == nil {
		return
	}
	r.SecretsManager += d
	r.SecretsManagerWaits++
}

// CalledDynamoDB adds the time of one DynamoDB call.
func (r *Recorder) CalledDynamoDB(d time.Duration) {
	if r == nil {
		return
	}
	r.DynamoDB += d
	r.DynamoDBCalls++
}

// Join adds what o recorded on another goroutine that started when r's
// DynamoDB time was mark and ran beside r's own: their DynamoDB calls
// overlapped, so the request waited the longer of the two, not their sum.
func (r *Recorder) Join(o *Recorder, mark time.Duration) {
	if r == nil || o == nil {
		return
	}
	r.SecretsManager += o.SecretsManager
	r.DynamoDB = mark + max(r.DynamoDB-mark, o.DynamoDB)
	r.SecretsManagerWaits += o.SecretsManagerWaits
	r.DynamoDBCalls += o.DynamoDBCalls
	r.KeyCacheHits += o.KeyCacheHits
	r.KeyCacheMisses += o.KeyCacheMisses
	r.WorkspaceCacheHits += o.WorkspaceCacheHits
	r.WorkspaceCacheMisses += o.WorkspaceCacheMisses
	r.KeyLookupsDenied += o.KeyLookupsDenied
}
