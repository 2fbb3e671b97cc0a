package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/vip-messages/api/internal/api"
	"github.com/vip-messages/api/internal/labelindex"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/table"
	"github.com/vip-messages/api/internal/testkit/contract"
)

var budgetDay = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// bigMessages is n messages of text, one minute apart, labelled "big".
func bigMessages(prefix string, n int, text string) []table.Message {
	var out []table.Message
	for i := range n {
		out = append(out, table.Message{
			MessageID: fmt.Sprintf("%s-%03d", prefix, i), Timestamp: budgetDay.Add(time.Duration(i) * time.Minute).UnixMilli(),
			ConversationID: "c", UserName: "u", Kind: "text", Source: "web", Labels: []string{"big"}, Text: text,
		})
	}
	return out
}

// largestMessage is a message whose item is as large as DynamoDB allows, its
// text all one character.
func largestMessage(t *testing.T, id string, ts int64, fill string) table.Message {
	t.Helper()
	m := table.Message{MessageID: id, Timestamp: ts, ConversationID: "c", UserName: "u", Kind: "text", Source: "web"}
	item, err := m.Item("ws", "ch-max")
	if err != nil {
		t.Fatal(err)
	}
	m.Text = strings.Repeat(fill, labelindex.MaxItemBytes-labelindex.ItemSize(item))
	return m
}

// runtimePayload is what the Lambda runtime sends for resp (lambda.Start's
// options, as functions/vip-messages/main.go uses them).
func runtimePayload(t *testing.T, resp events.APIGatewayProxyResponse) []byte {
	t.Helper()
	out, err := lambda.NewHandler(func() (events.APIGatewayProxyResponse, error) { return resp, nil }).Invoke(context.Background(), []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPageByteBudget: pages of large messages stop before the Lambda response
// passes api.MaxResponseBytes, at every limit, each page as full as fits, and
// a walk still returns every message exactly once, in order: a cut page's
// cursor continues at the first message it left out.
func TestPageByteBudget(t *testing.T) {
	big := bigMessages("big", 15, strings.Repeat("<&>", 350*1024/3))
	var huge []table.Message
	for i, fill := range []string{"\x01", `"`, `"`} {
		huge = append(huge, largestMessage(t, fmt.Sprintf("max-%d", i), budgetDay.Add(time.Duration(i)*time.Minute).UnixMilli(), fill))
	}
	cases := []struct {
		name    string
		channel string
		query   map[string]string
		want    []table.Message
		limits  []int
	}{
		{"large messages", "ch-big", nil, big, []int{200}},
		{"largest messages", "ch-max", nil, huge, []int{1, 50}},
	}
	for _, c := range cases {
		for _, limit := range c.limits {
			t.Run(fmt.Sprintf("%s/%d", c.name, limit), func(t *testing.T) {
				t.Parallel() // each walk encodes pages of 5 MB: the cores share them
				f := newFixture()
				f.store.channels[[2]string{wsVIP, c.channel}] = c.want
				f.access.verdicts[[2]string{wsVIP, c.channel}] = nil
				q := map[string]string{"workspaceId": wsVIP, "mediumId": c.channel, "from": "2026-06-01", "to": "2026-06-01", "limit": fmt.Sprint(limit)}
				for k, v := range c.query {
					q[k] = v
				}
				var got []string
				var pages [][]api.Item
				cut := false
				for n := 0; ; n++ {
					if n > 100 {
						t.Fatal("the walk does not end")
					}
					ev := request(q)
					resp, err := f.h.Handle(context.Background(), authorized(ev))
					if err != nil {
						t.Fatal(err)
					}
					contract.CheckEvent(t, ev, resp)
					if resp.StatusCode != 200 {
						t.Fatalf("page %d: %d %.200s", n, resp.StatusCode, resp.Body)
					}
					if size := len(runtimePayload(t, resp)); size > api.MaxResponseBytes {
						t.Fatalf("page %d: the runtime sends %d bytes, over %d", n, size, api.MaxResponseBytes)
					}
					var p api.ListResponse
					if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
						t.Fatal(err)
					}
					if len(p.Items) == 0 && p.MayHaveMore {
						t.Fatalf("page %d is empty but may have more", n)
					}
					for _, it := range p.Items {
						got = append(got, fmt.Sprintf("%d/%d", it.Timestamp, len(it.Text)))
					}
					pages = append(pages, p.Items)
					if !p.MayHaveMore {
						break
					}
					cut = cut || len(p.Items) < limit
					q["before"] = p.NextCursor
				}
				var want []string
				for _, m := range slices.Backward(c.want) {
					want = append(want, fmt.Sprintf("%d/%d", m.Timestamp, len(m.Text)))
				}
				if !slices.Equal(got, want) {
					t.Fatalf("walk returned %v, want %v", got, want)
				}
				// The store was told how much it may hold, so that it stops
				// reading what could not be returned.
				if q := f.store.queries[len(f.store.queries)-1]; q.MaxBytes <= 0 || q.MaxBytes >= api.MaxResponseBytes {
					t.Fatalf("MaxBytes %d, want the room the items have in a response", q.MaxBytes)
				}
				if limit > 1 && !cut {
					t.Fatal("no page was cut by size")
				}
				// A page cut by size is full: its next item would not have fitted.
				for i := 0; i+1 < len(pages); i++ {
					if len(pages[i]) == limit {
						continue
					}
					with := append(slices.Clone(pages[i]), pages[i+1][0])
					var b bytes.Buffer
					enc := json.NewEncoder(&b)
					enc.SetEscapeHTML(false)
					if err := enc.Encode(api.ListResponse{Items: with, Returned: len(with), MayHaveMore: true, NextCursor: strings.Repeat("x", messages.MaxCursorLen)}); err != nil {
						t.Fatal(err)
					}
					size := len(runtimePayload(t, events.APIGatewayProxyResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "X-Request-Id": "test-request"}, Body: b.String()}))
					if size <= api.MaxResponseBytes {
						t.Fatalf("page %d holds %d items, but %d would have fitted (%d bytes)", i, len(pages[i]), len(with), size)
					}
				}
			})
		}
	}
}
