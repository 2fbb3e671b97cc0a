package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/local/gateway"
)

// A query string with what a form decoder cannot decode (a malformed escape,
// a ';'), as API Gateway's emulators and the local gateway hand it over:
// the handler refuses it with a 422 or 400 naming the parameter, and never
// answers a page that silently left a parameter out.
func TestUndecodableQueryIsRefused(t *testing.T) {
	f := newFixture()
	const base = "workspaceId=" + wsVIP + "&mediumId=" + chOn + "&from=2026-11-20&to=2026-11-26"
	for _, c := range []struct {
		name, raw string
		status    int
		path      string // of the first violation of a 422
		typ       string // of that violation, or a substring of a 400's message
	}{
		{"malformed escape in label", base + "&label=a%ZZ", 422, "label", "string.pattern.base"},
		{"escape cut short in label", base + "&label=frustrated%2", 422, "label", "string.pattern.base"},
		{"bare percent in label", base + "&label=%", 422, "label", "string.pattern.base"},
		{"semicolon pairs in label", base + "&label=frustrated;limit=5", 422, "label", "string.pattern.base"},
		{"invalid UTF-8 in label", base + "&label=%E9", 422, "label", "string.pattern.base"},
		{"malformed escape in workspaceId", strings.Replace(base, wsVIP, wsVIP+"%ZZ", 1), 422, "workspaceId", "string.pattern.base"},
		{"semicolon pairs in mediumId", strings.Replace(base, chOn, chOn+";label=frustrated", 1), 422, "mediumId", "string.pattern.base"},
		{"semicolon pairs in to", base + ";limit=5", 422, "to", "date.format"},
		{"malformed escape in limit", base + "&limit=5%ZZ", 422, "limit", "number.base"},
		{"malformed escape in contentType", base + "&contentType=text%", 422, "contentType", "any.only"},
		{"malformed escape in a name", base + "&la%ZZbel=frustrated", 422, "la%ZZbel", "object.unknown"},
		{"semicolon pairs in before", base + "&before=1780000000000;limit=5", 400, "", `before`},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev := gateway.Event(httptest.NewRequest(http.MethodGet, "/vip-messages?"+c.raw, nil), gateway.VipMessages, nil)
			ev.Headers = request(nil).Headers // signed by the demo key (version 1 covers no query)
			resp := call(t, f.h, ev)
			if resp.StatusCode != c.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, resp.Body, c.status)
			}
			if c.status == http.StatusBadRequest {
				if !strings.Contains(resp.Body, c.typ) {
					t.Fatalf("%s, want a message about %s", resp.Body, c.typ)
				}
				return
			}
			var body struct{ Error []clienterr.Violation }
			if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
				t.Fatal(err)
			}
			if len(body.Error) == 0 || body.Error[0].Path[0] != c.path || body.Error[0].Type != c.typ {
				t.Fatalf("%s, want first %s %s", resp.Body, c.path, c.typ)
			}
		})
	}

	// What does decode is used as decoded.
	for _, raw := range []string{base + "&label=frus%74rated", base + "&label=fru%73trated&limit=%32"} {
		ev := gateway.Event(httptest.NewRequest(http.MethodGet, "/vip-messages?"+raw, nil), gateway.VipMessages, nil)
		ev.Headers = request(nil).Headers
		if resp := call(t, f.h, ev); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d %s", raw, resp.StatusCode, resp.Body)
		}
	}
}
