package auth

import "encoding/json"

// The members of the context a Lambda authorizer returns for an authenticated
// request, which API Gateway hands the API function as
// requestContext.authorizer. Context values must be strings, numbers or
// booleans, so the workspace list is a JSON array in a string.
const (
	ContextKeyID        = "keyId"
	ContextWorkspaceIDs = "workspaceIds"
)

// AuthorizerContext is the key as the authorizer passes it on.
func (k Key) AuthorizerContext() map[string]any {
	ws := k.WorkspaceIDs
	if ws == nil {
		ws = []string{}
	}
	b, _ := json.Marshal(ws) // a []string always encodes
	return map[string]any{ContextKeyID: k.ID, ContextWorkspaceIDs: string(b)}
}

// KeyFromAuthorizer reads the key an authorizer passed on (AuthorizerContext);
// ok is false when the context holds none, or a malformed one.
func KeyFromAuthorizer(c map[string]any) (k Key, ok bool) {
	id, _ := c[ContextKeyID].(string)
	raw, _ := c[ContextWorkspaceIDs].(string)
	if !ValidKeyID(id) || raw == "" {
		return Key{}, false
	}
	var ws []string
	if err := json.Unmarshal([]byte(raw), &ws); err != nil {
		return Key{}, false
	}
	return Key{ID: id, WorkspaceIDs: ws}, true
}
