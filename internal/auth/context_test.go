package auth_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/vip-messages/api/internal/auth"
)

// TestAuthorizerContextRoundTrip: the key survives the trip through API
// Gateway, which passes the authorizer's context on as JSON values.
func TestAuthorizerContextRoundTrip(t *testing.T) {
	for _, k := range []auth.Key{
		{ID: "demo-key-0001", WorkspaceIDs: []string{"ws-a", "ws,\"b\""}},
		{ID: "demo-key-0001", WorkspaceIDs: []string{}},
	} {
		raw, err := json.Marshal(k.AuthorizerContext())
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		for name, v := range c {
			if _, ok := v.(string); !ok {
				t.Errorf("context member %s is %T: API Gateway takes strings, numbers and booleans only", name, v)
			}
		}
		got, ok := auth.KeyFromAuthorizer(c)
		if !ok || !reflect.DeepEqual(got, k) {
			t.Errorf("round trip of %+v gave %+v, %v", k, got, ok)
		}
	}
}

func TestKeyFromAuthorizerRefusesWhatIsNotAKey(t *testing.T) {
	for _, c := range []map[string]any{
		nil,
		{},
		{"principalId": "x", "integrationLatency": 3},
		{auth.ContextKeyID: "demo-key-0001"},
		{auth.ContextKeyID: "bad key", auth.ContextWorkspaceIDs: `["ws"]`},
		{auth.ContextKeyID: "demo-key-0001", auth.ContextWorkspaceIDs: `ws`},
		{auth.ContextKeyID: 42, auth.ContextWorkspaceIDs: `["ws"]`},
	} {
		if k, ok := auth.KeyFromAuthorizer(c); ok {
			t.Errorf("KeyFromAuthorizer(%v) = %+v, want none", c, k)
		}
	}
}
