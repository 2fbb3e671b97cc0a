package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/vip-messages/api/internal/table"
)

// referenceJSON is encoding/json's Item for m, HTML escaping off.
func referenceJSON(t *testing.T, m table.Message) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(item(m)); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// appendItem writes what encoding/json writes for Item, for any strings and
// any timestamp (the seed corpus is hardTexts; `go test -fuzz AppendItem`
// searches further).
func FuzzAppendItem(f *testing.F) {
	for i, s := range hardTexts {
		f.Add(s, s+"x", int64(1780000000000+i), i%2 == 0)
	}
	f.Add("", "", int64(0), true)
	f.Add("\xed\xa0\x80 surrogate", "\xf4\x90\x80\x80 beyond", int64(-1), false)
	f.Add("a\u2028b\u2029c\u202a", "\x7f\u00a0", int64(9999999999999), true)
	f.Fuzz(func(t *testing.T, a, b string, ts int64, nilLabels bool) {
		m := table.Message{
			MessageID: a, Timestamp: ts, ConversationID: a, UserName: b, Kind: a + b, Source: b,
			Labels: []string{a, b}, CustomLabelIDs: []string{b}, Text: a + "\n" + b,
		}
		if nilLabels {
			m.Labels, m.CustomLabelIDs = nil, nil
		}
		if got, want := string(appendItem(nil, m)), referenceJSON(t, m); got != want {
			t.Fatalf("appendItem differs from encoding/json:\n got %q\nwant %q", got, want)
		}
	})
}
