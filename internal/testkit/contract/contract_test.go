package contract

import (
	"context"
	"net/http"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/local/repo"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/table"
)

// openapi.yaml writes the standard headers once (components/responses, a YAML
// anchor); resolved, every status still declares them, and 429 and 503 their
// Retry-After.
func TestEveryResponseDeclaresTheStandardHeaders(t *testing.T) {
	path, err := repo.Path("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	op := doc.Paths.Find("/vip-messages").Get
	want := []int{200, 400, 401, 403, 404, 422, 429, 500, 503}
	retry := func(status int) bool {
		return status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests
	}
	if got := op.Responses.Len(); got != len(want) {
		t.Errorf("%d responses, want %d", got, len(want))
	}
	for _, status := range want {
		ref := op.Responses.Status(status)
		if ref == nil || ref.Value == nil {
			t.Errorf("%d: no response", status)
			continue
		}
		headers := ref.Value.Headers
		names := []string{"Cache-Control", "X-Request-Id"}
		if retry(status) {
			names = append(names, "Retry-After")
		}
		for _, name := range names {
			if h := headers[name]; h == nil || h.Value == nil || h.Value.Schema == nil {
				t.Errorf("%d: no %s header", status, name)
			}
		}
		if !retry(status) && len(headers) != 2 {
			t.Errorf("%d: headers %v, want only the standard two", status, keys(headers))
		}
		if retry(status) && !headers["Retry-After"].Value.Required {
			t.Errorf("%d: Retry-After is not required", status)
		}
		if ref.Value.Content.Get("application/json") == nil {
			t.Errorf("%d: no application/json body", status)
		}
	}
}

func keys(h openapi3.Headers) []string {
	var out []string
	for k := range h {
		out = append(out, k)
	}
	return out
}

// TestBoundsMatchTheCode: the limits openapi.yaml states for generic tools are
// the ones the code enforces or the data cannot exceed.
func TestBoundsMatchTheCode(t *testing.T) {
	path, err := repo.Path("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	op := doc.Paths.Find("/vip-messages").Get
	param := func(name string) *openapi3.Schema { return op.Parameters.GetByInAndName("query", name).Schema.Value }
	schema := func(name string) *openapi3.Schema { return doc.Components.Schemas[name].Value }
	for _, c := range []struct {
		name string
		got  *uint64
		want int
	}{
		{"workspaceId maxLength", param("workspaceId").MaxLength, table.MaxIDLen},
		{"mediumId maxLength", param("mediumId").MaxLength, table.MaxIDLen},
		{"label maxLength", param("label").MaxLength, table.MaxLabelLen},
		{"nextCursor maxLength", schema("Page").Properties["nextCursor"].Value.MaxLength, messages.MaxCursorLen},
		{"StoredText maxLength", schema("StoredText").MaxLength, labelindex.MaxItemBytes},
		{"StoredList maxItems", schema("StoredList").MaxItems, labelindex.MaxItemBytes},
	} {
		if c.got == nil || *c.got != uint64(c.want) {
			t.Errorf("%s: %v, want %d", c.name, c.got, c.want)
		}
	}
}
