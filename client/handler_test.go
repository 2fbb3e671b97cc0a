package client_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vip-messages/api/internal/access"
	"github.com/vip-messages/api/internal/api"
	"github.com/vip-messages/api/internal/auth"
	"github.com/vip-messages/api/internal/authorizer"
	"github.com/vip-messages/api/internal/local/gateway"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/table"
)

// The client is tested against the real handler (api.Handler with the real
// auth.Verifier) behind the local gateway, over HTTP, with the handler's
// access check and message store faked in memory: the client's behaviour is
// what these tests hold, the store's is tested in internal/messages.

const (
	keyID, secret    = "client-key-0001", "client-secret-value"
	ws, ch           = "ws-vip", "ch-on"
	wsBasic, chBasic = "ws-basic", "ch-basic"
	chOff            = "ch-off"
)

// now is the end of the fixture's messages: 2,000 of them, one every 9
// minutes before it.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func fixtureMessages() []table.Message {
	labels := [][]string{{"frustrated"}, nil, {"frustrated", "urgent"}, nil, nil}
	custom := [][]string{nil, {"cl-billing"}, nil, nil, {"cl-billing"}}
	kinds := []string{"text", "postback", "text", "attachment", "other", "text", "postback"}
	var out []table.Message
	for i := range 2000 {
		out = append(out, table.Message{
			MessageID: fmt.Sprintf("msg-%05d", i), Timestamp: now.Add(-time.Duration(i) * 9 * time.Minute).UnixMilli(),
			ConversationID: fmt.Sprintf("conv-%03d", i%41), UserName: fmt.Sprintf("user %d", i%13), Kind: kinds[i%7],
			Source: "web", Labels: labels[i%5], CustomLabelIDs: custom[i%5], Text: fmt.Sprintf("text %d: é \"q\" <&>", i),
		})
	}
	return out
}

// keySource holds the client's key; down answers every lookup as a Secrets
// Manager outage (a 503).
type keySource struct{ down atomic.Bool }

func (k *keySource) LookupKey(_ context.Context, id string) (auth.SecretValue, error) {
	if k.down.Load() {
		return auth.SecretValue{}, auth.ErrUnavailable
	}
	if id != keyID {
		return auth.SecretValue{}, auth.ErrUnauthenticated
	}
	return auth.SecretValue{Secrets: []string{secret}, WorkspaceIDs: []string{ws, wsBasic}}, nil
}

// accessTable answers every check from a table, without a read.
type accessTable struct{}

func (accessTable) Known(_ context.Context, key auth.Key, workspaceID, mediumID string) (error, bool) {
	switch {
	case !key.Allows(workspaceID):
		return access.ErrKeyNotAllowed, true
	case workspaceID == wsBasic:
		return access.ErrNotVIP, true
	case workspaceID == ws && mediumID == ch:
		return nil, true
	}
	return access.ErrChannelNotFound, true
}

func (a accessTable) Check(ctx context.Context, key auth.Key, workspaceID, mediumID string) error {
	v, _ := a.Known(ctx, key, workspaceID, mediumID)
	return v
}

// memStore lists the fixture's messages as messages.Store does: window,
// label, content type, cursor and limit.
type memStore struct{ msgs []table.Message }

func (s memStore) List(_ context.Context, q messages.Query) (messages.Page, error) {
	lo, hi := table.MessageSKAt(ceilMS(q.From)), table.MessageSKAt(ceilMS(q.Until))
	if q.Before != nil {
		raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(q.Before.Token(), "v1."))
		hi = min(hi, string(raw))
	}
	page := messages.Page{Messages: []table.Message{}}
	for _, m := range s.msgs { // newest first
		sk := table.MessageSK(m.Timestamp, m.MessageID)
		if sk < lo || sk >= hi ||
			q.Label != "" && !slices.Contains(m.Labels, q.Label) && !slices.Contains(m.CustomLabelIDs, q.Label) ||
			q.ContentType != "" && m.Kind != q.ContentType {
			continue
		}
		if len(page.Messages) == q.Limit {
			next, err := messages.ParseCursor("v1." + base64.RawURLEncoding.EncodeToString([]byte(page.Keys[len(page.Keys)-1])))
			if err != nil {
				return messages.Page{}, err
			}
			page.MayHaveMore, page.Next = true, &next
			break
		}
		page.Messages = append(page.Messages, m)
		page.Keys = append(page.Keys, sk)
	}
	return page, nil
}

func ceilMS(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}

// apiHandler is the real handler over the fakes behind the local gateway;
// opts shape the gateway (a rate limit).
func apiHandler(keys *keySource, opts gateway.Options) http.Handler {
	log := slog.New(slog.DiscardHandler)
	h := api.New(accessTable{}, memStore{fixtureMessages()}, log)
	opts.Authorizer = authorizer.New(auth.NewVerifier(keys, log), log).Handle
	return gateway.NewWithOptions(gateway.VipMessages, h.Handle, opts)
}

// newAPI serves apiHandler and returns its base URL.
func newAPI(t *testing.T, keys *keySource) string {
	t.Helper()
	srv := httptest.NewServer(apiHandler(keys, gateway.Options{}))
	t.Cleanup(srv.Close)
	return srv.URL
}
