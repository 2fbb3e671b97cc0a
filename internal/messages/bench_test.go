package messages_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/vip-messages/api/internal/local/ddblocal/ddbtest"
	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/messages"
)

// BenchmarkCost reports what DynamoDB Local says one page costs (items read and
// read capacity from ReturnConsumedCapacity) for an unfiltered page of 50 and for
// a whole label walk at limit 50, over 3,000 generated messages in 31 days.
//
//	go test -run '^$' -bench Cost ./internal/messages
func BenchmarkCost(b *testing.B) {
	client, table := ddbtest.NewTable(b)
	msgs := seed.Generate(rand.New(rand.NewPCG(9, 9)), t0, t1, 3000)
	if err := seed.NewWriter(client, table).Write(context.Background(), seed.Dataset{
		Messages: []seed.ChannelMessages{{WorkspaceID: ws, MediumID: ch, Messages: msgs}},
	}); err != nil {
		b.Fatal(err)
	}
	store := messages.NewStore(client, table, messages.Budget{})
	base := messages.Query{WorkspaceID: ws, MediumID: ch, From: t0, Until: t1, Limit: 50}

	b.Run("unfiltered page of 50", func(b *testing.B) {
		var st messages.Stats
		for b.Loop() {
			p, err := store.List(context.Background(), base)
			if err != nil {
				b.Fatal(err)
			}
			st = p.Stats
		}
		b.ReportMetric(float64(st.ItemsRead), "items/page")
		b.ReportMetric(st.ReadCapacity, "RCU/page")
		b.ReportMetric(float64(st.Calls), "calls/page")
	})
	b.Run("label walk frustrated", func(b *testing.B) {
		var st messages.Stats
		var pages, returned int
		for b.Loop() {
			st, pages, returned = messages.Stats{}, 0, 0
			q := base
			q.Label = "frustrated"
			for {
				p, err := store.List(context.Background(), q)
				if err != nil {
					b.Fatal(err)
				}
				pages++
				returned += len(p.Messages)
				st.Calls += p.Stats.Calls
				st.ItemsRead += p.Stats.ItemsRead
				st.ReadCapacity += p.Stats.ReadCapacity
				if !p.MayHaveMore {
					break
				}
				q.Before = p.Next
			}
		}
		b.ReportMetric(float64(st.ItemsRead), "items/walk")
		b.ReportMetric(float64(returned), "returned/walk")
		b.ReportMetric(st.ReadCapacity, "RCU/walk")
		b.ReportMetric(float64(st.Calls), "calls/walk")
		b.ReportMetric(float64(pages), "pages/walk")
	})
}
