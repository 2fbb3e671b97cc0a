package signature

import "testing"

// The cost v2 adds to a request: the canonical query and one HMAC over it,
// for a typical query (a label with a space and UTF-8, a date-time bound).
func BenchmarkSignV2(b *testing.B) {
	q := map[string][]string{"workspaceId": {"ws-demo"}, "mediumId": {"ch-demo"}, "from": {"2026-05-01T00:00:00+02:00"},
		"to": {"2026-05-31"}, "label": {"cl churné"}, "limit": {"50"}}
	b.ReportAllocs()
	for b.Loop() {
		SignV2("demo-secret-please-change", "2026-06-01T12:00:00Z", q)
	}
}

func BenchmarkSignV1(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		SignV1("demo-secret-please-change", "2026-06-01T12:00:00Z")
	}
}
