package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/table"
)

// hardTexts are texts whose JSON escaping differs most between encoders and
// between the body and the runtime's second pass.
var hardTexts = []string{
	"", "plain", `<script>&amp;</script>`, `"quoted" \back\slash\`, "tab\tnew\nline\rcr",
	"\x00\x01\x1f\x7f", "\b\f", "\u2028\u2029", "\u0080\u009f", "é漢字🙂", "bad \xff\xfe utf-8",
	strings.Repeat(`"`, 1000), strings.Repeat("\x01", 1000), strings.Repeat("<&>", 1000),
}

func hardMessages() []table.Message {
	var out []table.Message
	for i, s := range hardTexts {
		out = append(out, table.Message{
			MessageID: "m", Timestamp: 1780000000000 + int64(i), ConversationID: "c" + s, UserName: s,
			Kind: "text", Source: "web", Labels: []string{s, "x"}, Text: s,
		})
	}
	return out
}

// item is a message's Item: encoding/json of it is the reference appendItem
// and the page body are held to.
func item(m table.Message) Item {
	return Item{
		Timestamp:      m.Timestamp,
		Date:           time.UnixMilli(m.Timestamp).UTC().Format(dateLayout),
		ConversationID: m.ConversationID,
		UserName:       m.UserName,
		Kind:           m.Kind,
		Source:         m.Source,
		Labels:         nonNil(m.Labels),
		CustomLabelIDs: nonNil(m.CustomLabelIDs),
		Text:           m.Text,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// tokenOf is the cursor of a page that ends before the message with sort key sk
// ("through" it, as a page cut by size ends).
func tokenOf(t testing.TB, sk string) string {
	t.Helper()
	pos, err := messages.ParseCursor("v1." + base64.RawURLEncoding.EncodeToString([]byte(sk+"\x00")))
	if err != nil {
		t.Fatal(err)
	}
	return pos.Token()
}

// runtimeBytes is what aws-lambda-go's runtime sends for resp, with the
// options lambda.Start uses (functions/vip-messages/main.go).
func runtimeBytes(t testing.TB, resp events.APIGatewayProxyResponse) []byte {
	t.Helper()
	out, err := lambda.NewHandler(func() (events.APIGatewayProxyResponse, error) { return resp, nil }).Invoke(context.Background(), []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The body written item by item is the JSON of ListResponse (without HTML
// escaping), and the size it reports is exactly what the runtime sends.
func TestProxyBytesExact(t *testing.T) {
	hdr := headers("req-\"<id>\"")
	for _, more := range []bool{false, true} {
		b, err := newPageBody(hdr, MaxResponseBytes, len(hardMessages()))
		if err != nil {
			t.Fatal(err)
		}
		var want ListResponse
		want.Items = []Item{}
		for _, m := range hardMessages() {
			if !b.Add(m) {
				t.Fatal("a small page refused an item")
			}
			want.Items = append(want.Items, item(m))
		}
		want.Returned, want.MayHaveMore = len(want.Items), more
		cursor := ""
		if more {
			cursor = tokenOf(t, table.MessageSK(1780000000000, strings.Repeat("é", 100)))
			want.NextCursor = cursor
		}
		body, n := b.finish(more, cursor)

		var enc bytes.Buffer
		e := json.NewEncoder(&enc)
		e.SetEscapeHTML(false)
		if err := e.Encode(want); err != nil {
			t.Fatal(err)
		}
		if got, exp := body, strings.TrimSuffix(enc.String(), "\n"); got != exp {
			t.Fatalf("body differs from ListResponse's JSON:\n got %.300s\nwant %.300s", got, exp)
		}
		out := runtimeBytes(t, events.APIGatewayProxyResponse{StatusCode: 200, Headers: hdr, Body: body})
		if n != len(out) {
			t.Fatalf("counted %d bytes, the runtime sent %d", n, len(out))
		}
	}
}

// The runtime leaves '<', '>' and '&' alone (lambda.WithSetEscapeHTML defaults
// to false): with escaping, a '<' would cost 7 bytes of payload, not 1, and
// the count would be wrong.
func TestRuntimeDoesNotEscapeHTML(t *testing.T) {
	out := runtimeBytes(t, events.APIGatewayProxyResponse{StatusCode: 200, Body: `{"text":"<&>"}`})
	if !bytes.Contains(out, []byte(`<&>`)) || bytes.Contains(out, []byte(`\u003c`)) {
		t.Fatalf("the runtime escapes HTML: %s", out)
	}
}

// The page stops before its response would pass the bound, whatever the
// bound, and always takes its first item.
func TestPageBodyStopsAtTheBound(t *testing.T) {
	hdr := headers("req-1")
	msgs := hardMessages()
	for limit := 1000; limit < 40000; limit += 777 {
		b, err := newPageBody(hdr, limit, len(msgs))
		if err != nil {
			t.Fatal(err)
		}
		var took []Item
		for _, m := range msgs {
			if !b.Add(m) {
				break
			}
			took = append(took, item(m))
		}
		if len(took) == 0 {
			t.Fatal("the first item was refused")
		}
		cursor := tokenOf(t, table.MessageSK(9999999999999, strings.Repeat("z", 512)))
		body, n := b.finish(true, cursor)
		out := runtimeBytes(t, events.APIGatewayProxyResponse{StatusCode: 200, Headers: hdr, Body: body})
		if n != len(out) {
			t.Fatalf("limit %d: counted %d, sent %d", limit, n, len(out))
		}
		if len(took) > 1 && len(out) > limit {
			t.Fatalf("limit %d: a page of %d items is %d bytes", limit, len(took), len(out))
		}
		if len(cursor) != messages.MaxCursorLen {
			t.Fatalf("the longest cursor is %d bytes, MaxCursorLen says %d", len(cursor), messages.MaxCursorLen)
		}
	}
}

// BenchmarkPageBody is the cost of the byte budget: a 50-item page of
// 1,000-character texts written item by item with its size kept ("budget"),
// against one json.Encoder pass over the whole ListResponse ("no budget").
//
//	go test -run '^$' -bench PageBody -benchmem ./internal/api
func BenchmarkPageBody(b *testing.B) {
	var msgs []table.Message
	for i := range 50 {
		msgs = append(msgs, table.Message{
			MessageID: "m", Timestamp: 1780000000000 + int64(i), ConversationID: "conv-12345", UserName: "Ann <ann@example.com>",
			Kind: "text", Source: "whatsapp", Labels: []string{"frustrated", "billing"}, CustomLabelIDs: []string{"cl-1"},
			Text: strings.Repeat(`Hello "there" <b>&</b> `, 50)[:1000],
		})
	}
	hdr := headers("req-1")
	cursor := tokenOf(b, table.MessageSK(1780000000000, "m"))
	b.Run("budget", func(b *testing.B) {
		for b.Loop() {
			pb, err := newPageBody(hdr, MaxResponseBytes, len(msgs))
			if err != nil {
				b.Fatal(err)
			}
			for _, m := range msgs {
				pb.Add(m)
			}
			body, _ := pb.finish(true, cursor)
			_ = events.APIGatewayProxyResponse{StatusCode: 200, Headers: hdr, Body: body}
		}
	})
	b.Run("no budget", func(b *testing.B) {
		for b.Loop() {
			r := ListResponse{Items: make([]Item, len(msgs)), Returned: len(msgs), MayHaveMore: true, NextCursor: cursor}
			for i, m := range msgs {
				r.Items[i] = item(m)
			}
			var buf bytes.Buffer
			e := json.NewEncoder(&buf)
			e.SetEscapeHTML(false)
			if err := e.Encode(r); err != nil {
				b.Fatal(err)
			}
			_ = events.APIGatewayProxyResponse{StatusCode: 200, Headers: hdr, Body: buf.String()}
		}
	})
}
