// Package access decides, after authentication, whether a key may read a
// workspace channel, in the order openapi.yaml states: the key must allow the
// workspace, the workspace must exist and be VIP, and the channel must exist and
// be connected.
//
// Its verdicts are *clienterr.Error values (Forbidden: ErrKeyNotAllowed,
// ErrNotVIP; NotFound: ErrWorkspaceNotFound, ErrChannelNotFound); a DynamoDB
// throttling or outage wraps clienterr.ErrUnavailable. Anything else (a validation error,
// a missing table) is a bug: 500.
package access

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/metrics"
	"github.com/vip-messages/api/internal/table"
)

// Errors of Check. Their messages are what the client reads.
var (
	ErrKeyNotAllowed     = clienterr.New(clienterr.Forbidden, "this API key is not allowed for the workspace")
	ErrWorkspaceNotFound = clienterr.New(clienterr.NotFound, "workspace not found")
	ErrNotVIP            = clienterr.New(clienterr.Forbidden, "workspace is not a VIP workspace")
	ErrChannelNotFound   = clienterr.New(clienterr.NotFound, "channel not found or not connected to the workspace")
)

// DynamoDB is the part of the DynamoDB client Check uses; *dynamodb.Client
// implements it.
type DynamoDB interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// Config of a Checker.
type Config struct {
	// TTL is how long a workspace/channel answer is reused (WORKSPACE_CACHE_TTL);
	// zero means DefaultTTL.
	TTL time.Duration
}

// DefaultTTL is Config.TTL's default: a VIP or connection change shows within a minute.
const DefaultTTL = time.Minute

const (
	// maxUnprocessedRounds bounds the re-reads of UnprocessedKeys (throttling)
	// before giving up with clienterr.ErrUnavailable.
	maxUnprocessedRounds = 4
	maxEntries           = 10000
)

// Checker runs the access checks, caching each workspace/channel answer for the TTL.
type Checker struct {
	db    DynamoDB
	table string
	ttl   time.Duration
	// Now is the cache's clock; set it before first use. Nil means time.Now.
	Now func() time.Time
	// sleep waits between UnprocessedKeys rounds; tests shorten it.
	sleep func(context.Context, time.Duration) error

	mu    sync.Mutex
	cache map[[2]string]cached
}

type cached struct {
	err     error // nil when access is granted
	expires time.Time
}

// NewChecker returns a Checker reading table through db.
func NewChecker(db DynamoDB, table string, cfg Config) *Checker {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	return &Checker{db: db, table: table, ttl: cfg.TTL, Now: time.Now, sleep: sleepCtx, cache: map[[2]string]cached{}}
}

// TTL returns the cache lifetime in force.
func (c *Checker) TTL() time.Duration { return c.ttl }

// Check returns nil when key may read channel mediumID of workspaceID, or one of
// the package's errors. The key's own workspace list is checked first, so a key
// asking for another workspace causes no read.
func (c *Checker) Check(ctx context.Context, key auth.Key, workspaceID, mediumID string) error {
	if verdict, known := c.Known(ctx, key, workspaceID, mediumID); known {
		return verdict
	}
	metrics.FromContext(ctx).WorkspaceCache(false)
	k := [2]string{workspaceID, mediumID}
	now := c.now()

	verdict, err := c.read(ctx, workspaceID, mediumID)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cache) >= maxEntries {
		for key, old := range c.cache {
			if !now.Before(old.expires) || len(c.cache) >= maxEntries*9/10 {
				delete(c.cache, key)
			}
		}
	}
	c.cache[k] = cached{err: verdict, expires: now.Add(c.ttl)}
	return verdict
}

// Known returns the verdict of Check when it needs no read: the key does not
// allow the workspace, or the answer is cached. A caller may start work that
// only an allowed request needs (the page's Query) while Check reads, when the
// verdict is not known. An answer from the cache counts as a workspace cache
// hit in ctx's metrics.
func (c *Checker) Known(ctx context.Context, key auth.Key, workspaceID, mediumID string) (verdict error, known bool) {
	if !key.Allows(workspaceID) {
		return ErrKeyNotAllowed, true
	}
	verdict, known = c.cached(workspaceID, mediumID)
	if known {
		metrics.FromContext(ctx).WorkspaceCache(true)
	}
	return verdict, known
}

func (c *Checker) cached(workspaceID, mediumID string) (verdict error, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cache[[2]string{workspaceID, mediumID}]
	if !ok || !c.now().Before(e.expires) {
		return nil, false
	}
	return e.err, true
}

// read fetches the workspace and channel items in one BatchGetItem and returns
// the verdict, or an error when it could not read them.
func (c *Checker) read(ctx context.Context, workspaceID, mediumID string) (verdict, err error) {
	pk := table.WorkspacePK(workspaceID)
	wsKey := table.Key(pk, table.WorkspaceSK())
	chKey := table.Key(pk, table.ChannelSK(mediumID))
	req := map[string]types.KeysAndAttributes{c.table: {
		Keys:                     []map[string]types.AttributeValue{wsKey, chKey},
		ProjectionExpression:     aws.String("#sk, #vip, #connected"),
		ExpressionAttributeNames: map[string]string{"#sk": table.SortKeyAttr, "#vip": table.VIPAttr, "#connected": table.ConnectedAttr},
	}}
	var items []map[string]types.AttributeValue
	for round := 0; len(req) > 0; round++ {
		if round == maxUnprocessedRounds {
			return nil, fmt.Errorf("%w: BatchGetItem left keys unprocessed after %d rounds", clienterr.ErrUnavailable, round)
		}
		if round > 0 {
			// Unprocessed keys mean throttling: back off before asking again.
			if err := c.sleep(ctx, time.Duration(10<<round)*time.Millisecond); err != nil {
				return nil, fmt.Errorf("%w: %w", clienterr.ErrUnavailable, err)
			}
		}
		out, err := c.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return nil, fmt.Errorf("access: BatchGetItem: %w", clienterr.Outage(err))
		}
		items = append(items, out.Responses[c.table]...)
		req = out.UnprocessedKeys
	}

	var ws, ch map[string]types.AttributeValue
	for _, it := range items {
		sk, _ := it[table.SortKeyAttr].(*types.AttributeValueMemberS)
		switch {
		case sk == nil:
		case sk.Value == table.WorkspaceSK():
			ws = it
		case sk.Value == table.ChannelSK(mediumID):
			ch = it
		}
	}
	switch {
	case ws == nil:
		return ErrWorkspaceNotFound, nil
	case !boolAttr(ws, table.VIPAttr):
		return ErrNotVIP, nil
	case ch == nil || !boolAttr(ch, table.ConnectedAttr):
		return ErrChannelNotFound, nil
	}
	return nil, nil
}

// boolAttr is true only for a BOOL attribute set to true; missing or mistyped is false.
func boolAttr(item map[string]types.AttributeValue, name string) bool {
	b, ok := item[name].(*types.AttributeValueMemberBOOL)
	return ok && b.Value
}

func (c *Checker) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
