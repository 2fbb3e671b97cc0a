package messages_test

import (
	"context"
	"maps"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/local/seed"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/table"
)

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
func l(vs ...types.AttributeValue) types.AttributeValue {
	return &types.AttributeValueMemberL{Value: vs}
}

var null types.AttributeValue = &types.AttributeValueMemberNULL{Value: true}

// validItem is a projected message item as table.Message.Item writes it.
func validItem() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"sk": s("1780000000000#m1"), "messageId": s("m1"), "timestamp": n("1780000000000"),
		"conversationId": s("c1"), "userName": s("ann"), "kind": s("text"), "source": s("web"),
		"labels": l(s("a"), s("b")), "customLabelIds": l(), "text": s("secret text"),
	}
}

func with(changes map[string]types.AttributeValue, drop ...string) map[string]types.AttributeValue {
	av := validItem()
	maps.Copy(av, changes)
	for _, k := range drop {
		delete(av, k)
	}
	return av
}

func TestDecodeItem(t *testing.T) {
	valid := table.Message{MessageID: "m1", Timestamp: 1780000000000, ConversationID: "c1", UserName: "ann",
		Kind: "text", Source: "web", Labels: []string{"a", "b"}, CustomLabelIDs: []string{}, Text: "secret text"}
	changed := func(f func(*table.Message)) table.Message {
		m := valid
		f(&m)
		return m
	}
	tests := []struct {
		name    string
		item    map[string]types.AttributeValue
		want    table.Message
		wantErr string // a part of the error; "" for none
	}{
		{"as written", validItem(), valid, ""},
		{"labels as a string set", with(map[string]types.AttributeValue{"labels": &types.AttributeValueMemberSS{Value: []string{"a", "b"}}}), valid, ""},
		{"labels absent", with(nil, "labels", "customLabelIds"), changed(func(m *table.Message) { m.Labels = []string{} }), ""},
		{"labels NULL", with(map[string]types.AttributeValue{"labels": null}), changed(func(m *table.Message) { m.Labels = []string{} }), ""},
		{"optional strings absent", with(nil, "messageId", "conversationId", "userName", "kind", "source", "text"),
			changed(func(m *table.Message) {
				m.MessageID, m.ConversationID, m.UserName, m.Kind, m.Source, m.Text = "", "", "", "", "", ""
			}), ""},
		{"text NULL", with(map[string]types.AttributeValue{"text": null}), changed(func(m *table.Message) { m.Text = "" }), ""},
		{"sort key absent", with(nil, "sk"), table.Message{}, "sk is missing"},
		{"sort key NULL", with(map[string]types.AttributeValue{"sk": null}), table.Message{}, "sk is a"},
		{"sort key a number", with(map[string]types.AttributeValue{"sk": n("1")}), table.Message{}, "sk is a"},
		{"timestamp absent", with(nil, "timestamp"), table.Message{}, "timestamp is missing"},
		{"timestamp a string", with(map[string]types.AttributeValue{"timestamp": s("1780000000000")}), table.Message{}, "timestamp is a"},
		{"timestamp a fraction", with(map[string]types.AttributeValue{"timestamp": n("1.5")}), table.Message{}, "64-bit integer"},
		{"timestamp too large", with(map[string]types.AttributeValue{"timestamp": n("99999999999999999999")}), table.Message{}, "64-bit integer"},
		{"text a number", with(map[string]types.AttributeValue{"text": n("7")}), table.Message{}, "text is a"},
		{"text a list", with(map[string]types.AttributeValue{"text": l(s("secret"))}), table.Message{}, "text is a"},
		{"labels a string", with(map[string]types.AttributeValue{"labels": s("a")}), table.Message{}, "labels is a"},
		{"a label a number", with(map[string]types.AttributeValue{"customLabelIds": l(s("a"), n("2"))}), table.Message{}, "customLabelIds[1] is a"},
		{"a label NULL", with(map[string]types.AttributeValue{"labels": l(null)}), table.Message{}, "labels[0] is a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sk, got, err := messages.DecodeItem(tt.item)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "1780000000000") {
					t.Fatalf("the error shows a value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sk != "1780000000000#m1" || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q %#v\nwant %#v", sk, got, tt.want)
			}
		})
	}
}

// On every item table.Message.Item writes, the decoder reads what attributevalue
// reads (with labels never nil), and gives back the message written.
func TestDecodeItemMatchesAttributevalue(t *testing.T) {
	msgs := seed.Generate(rand.New(rand.NewPCG(3, 3)), t0, t1, 500)
	msgs = append(msgs, table.Message{MessageID: "bare", Timestamp: 1}) // no labels, empty strings
	for _, m := range msgs {
		av, err := m.Item(ws, ch)
		if err != nil {
			t.Fatal(err)
		}
		sk, got, err := messages.DecodeItem(av)
		if err != nil {
			t.Fatal(err)
		}
		var ref table.Message
		if err := attributevalue.UnmarshalMap(av, &ref); err != nil {
			t.Fatal(err)
		}
		want := m
		if want.Labels == nil {
			want.Labels = []string{}
		}
		if want.CustomLabelIDs == nil {
			want.CustomLabelIDs = []string{}
		}
		if !reflect.DeepEqual(got, ref) || !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded %#v\nattributevalue %#v\nwritten %#v", got, ref, want)
		}
		if sk != table.MessageSK(m.Timestamp, m.MessageID) {
			t.Fatalf("sort key %q, want %q", sk, table.MessageSK(m.Timestamp, m.MessageID))
		}
	}
}

// A stored item of the wrong shape fails the page with an error naming the
// attribute, never with a message of zero values.
func TestListRejectsWrongType(t *testing.T) {
	good := manyMessages(3, 1)
	f := newFixture(t, messages.Budget{}, good)
	bad := with(map[string]types.AttributeValue{
		"pk": s(table.MessagePK(ws, ch)), "sk": s(table.MessageSK(good[1].Timestamp+1, "bad")),
		"timestamp": s("not a number"),
	})
	if _, err := f.client.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &f.table, Item: bad}); err != nil {
		t.Fatal(err)
	}
	_, err := f.store.List(context.Background(), messages.Query{WorkspaceID: ws, MediumID: ch, From: t0, Until: t1, Limit: 10})
	if err == nil || !strings.Contains(err.Error(), "timestamp is a") {
		t.Fatalf("error %v, want one about the timestamp", err)
	}
}
