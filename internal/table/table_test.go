package table_test

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/vip-messages/api/internal/table"
)

func TestKeys(t *testing.T) {
	tests := []struct{ name, got, want string }{
		{"message partition", table.MessagePK("ws-1", "ch.2"), "MSG#ws-1#ch.2"},
		{"message sort key pads to 13 digits", table.MessageSK(42, "m-1"), "0000000000042#m-1"},
		{"largest millisecond", table.MessageSK(9_999_999_999_999, "ü"), "9999999999999#ü"},
		{"position before a millisecond", table.MessageSKAt(1780000000123), "1780000000123"},
		{"label partition", table.LabelPK("ws", "ch", "très frustré"), "LBL#ws#ch#très frustré"},
		{"workspace partition", table.WorkspacePK("ws:1"), "WS#ws:1"},
		{"workspace item", table.WorkspaceSK(), "WS"},
		{"channel item", table.ChannelSK("ch_9"), "CH#ch_9"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if !strings.HasPrefix(table.MessagePK("a", "b"), table.MessagePKPrefix) || !strings.HasPrefix(table.LabelPK("a", "b", "c"), table.LabelPKPrefix) {
		t.Error("a partition key does not start with its prefix")
	}
	// Time order is string order, and every message of a millisecond sorts
	// after the position of that millisecond and before the next one.
	if !(table.MessageSK(999, "zzz") < table.MessageSKAt(1000) && table.MessageSKAt(1000) < table.MessageSK(1000, "!")) {
		t.Error("sort keys are not in time order")
	}
}

func TestKey(t *testing.T) {
	k := table.Key("MSG#w#c", "0000000000001#m")
	pk, _ := k["pk"].(*types.AttributeValueMemberS)
	sk, _ := k["sk"].(*types.AttributeValueMemberS)
	if len(k) != 2 || pk == nil || pk.Value != "MSG#w#c" || sk == nil || sk.Value != "0000000000001#m" {
		t.Fatalf("Key = %#v", k)
	}
}

func TestParseMessagePK(t *testing.T) {
	tests := []struct {
		pk, ws, medium string
		ok             bool
	}{
		{table.MessagePK("ws", "ch"), "ws", "ch", true},
		{"MSG#ws#ch#x", "", "", false}, // a '#' in an id would make keys ambiguous
		{"MSG#ws", "", "", false},
		{"MSG##ch", "", "", false},
		{"MSG#ws#", "", "", false},
		{table.LabelPK("ws", "ch", "x"), "", "", false},
		{table.WorkspacePK("ws"), "", "", false},
	}
	for _, tt := range tests {
		ws, medium, ok := table.ParseMessagePK(tt.pk)
		if ws != tt.ws || medium != tt.medium || ok != tt.ok {
			t.Errorf("ParseMessagePK(%q) = %q, %q, %v; want %q, %q, %v", tt.pk, ws, medium, ok, tt.ws, tt.medium, tt.ok)
		}
	}
}

func TestParseLabelPK(t *testing.T) {
	tests := []struct {
		pk, ws, medium, label string
		ok                    bool
	}{
		{table.LabelPK("ws", "ch", "urgent"), "ws", "ch", "urgent", true},
		{"LBL#ws#ch#a#b", "ws", "ch", "a#b", true}, // never written: labels hold no '#'; split at the first two
		{"LBL#ws#ch#", "", "", "", false},
		{"LBL#ws#ch", "", "", "", false},
		{"LBL##ch#x", "", "", "", false},
		{table.MessagePK("ws", "ch"), "", "", "", false},
	}
	for _, tt := range tests {
		ws, medium, label, ok := table.ParseLabelPK(tt.pk)
		if ws != tt.ws || medium != tt.medium || label != tt.label || ok != tt.ok {
			t.Errorf("ParseLabelPK(%q) = %q, %q, %q, %v", tt.pk, ws, medium, label, ok)
		}
	}
}

func TestValidMessageSK(t *testing.T) {
	tests := []struct {
		sk string
		ok bool
	}{
		{table.MessageSK(0, "a"), true},
		{table.MessageSK(1780000000123, "msg-000001"), true},
		{table.MessageSK(1, "ü-ñ"), true},
		{table.MessageSK(1, strings.Repeat("a", table.MaxMessageIDLen)), true},
		{table.MessageSK(1, strings.Repeat("a", table.MaxMessageIDLen+1)), false},
		{table.MessageSK(1, ""), false},
		{table.MessageSK(1, "a#b"), false},
		{table.MessageSK(1, "a\tb"), false},
		{table.MessageSK(1, "\xff"), false},
		{table.MessageSK(10_000_000_000_000, "a"), false}, // 14 digits
		{table.MessageSKAt(1), false},
		{"000000000000x#a", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := table.ValidMessageSK(tt.sk); got != tt.ok {
			t.Errorf("ValidMessageSK(%q) = %v, want %v", tt.sk, got, tt.ok)
		}
	}
}

func TestIDAndLabelRules(t *testing.T) {
	tests := []struct {
		name                     string
		s                        string
		id, publicID, validLabel bool
	}{
		{"plain", "ws-1", true, true, true},
		{"every allowed punctuation", "a.b_c:d-e", true, true, true},
		{"128 bytes", strings.Repeat("a", 128), true, true, true},
		{"129 bytes", strings.Repeat("a", 129), true, false, false},
		{"empty", "", false, false, false},
		{"key separator", "a#b", false, false, false},
		{"space", "a b", true, false, true},
		{"accents", "très", true, false, true},
		{"slash", "a/b", true, false, true},
		{"control character", "a\nb", true, false, false},
		{"128 accented characters", strings.Repeat("é", 128), true, false, true},
		{"invalid UTF-8", "\xff", true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := table.ValidID(tt.s); got != tt.id {
				t.Errorf("ValidID = %v, want %v", got, tt.id)
			}
			if got := table.ValidPublicID(tt.s); got != tt.publicID {
				t.Errorf("ValidPublicID = %v, want %v", got, tt.publicID)
			}
			if got := table.ValidLabel(tt.s); got != tt.validLabel {
				t.Errorf("ValidLabel = %v, want %v", got, tt.validLabel)
			}
		})
	}
}

// The attribute name constants are what the item types' tags write.
func TestTagsMatchAttributeNames(t *testing.T) {
	tests := []struct {
		item  any
		names []string
	}{
		{table.WorkspaceItem{PK: "p", SK: "s", VIP: true, Name: "n"}, []string{table.PartitionKeyAttr, table.SortKeyAttr, table.VIPAttr, table.NameAttr}},
		{table.ChannelItem{PK: "p", SK: "s", Connected: true, Name: "n"}, []string{table.PartitionKeyAttr, table.SortKeyAttr, table.ConnectedAttr, table.NameAttr}},
		{table.MessageItem{PK: "p", SK: "s", Message: table.Message{Kind: "text", Labels: []string{"a"}, CustomLabelIDs: []string{"b"}}},
			[]string{table.PartitionKeyAttr, table.SortKeyAttr, table.KindAttr, table.LabelsAttr, table.CustomLabelIDsAttr}},
	}
	for _, tt := range tests {
		av, err := attributevalue.MarshalMap(tt.item)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tt.names {
			if _, ok := av[n]; !ok {
				t.Errorf("%T has no attribute %q: %v", tt.item, n, av)
			}
		}
	}
}

func TestMessageItem(t *testing.T) {
	ok := table.Message{MessageID: "m-1", Timestamp: 1780000000123, Text: "hi"}
	av, err := ok.Item("ws", "ch")
	if err != nil {
		t.Fatal(err)
	}
	var back table.MessageItem
	if err := attributevalue.UnmarshalMap(av, &back); err != nil {
		t.Fatal(err)
	}
	if back.PK != table.MessagePK("ws", "ch") || back.SK != table.MessageSK(ok.Timestamp, ok.MessageID) || back.Text != "hi" {
		t.Fatalf("item %+v", back)
	}
	// Item is written out by hand: it must be what attributevalue writes.
	full := table.Message{MessageID: "m-2", Timestamp: 1780000000456, ConversationID: "c", UserName: "u",
		Kind: "text", Source: "s", Labels: []string{"a", "b"}, CustomLabelIDs: []string{"x"}, Text: "t"}
	for _, m := range []table.Message{ok, full, {MessageID: "m-3"}} {
		got, err := m.Item("ws", "ch")
		if err != nil {
			t.Fatal(err)
		}
		want, err := attributevalue.MarshalMap(table.MessageItem{PK: table.MessagePK("ws", "ch"),
			SK: table.MessageSK(m.Timestamp, m.MessageID), Message: m.WithLabelLists()})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Item(%+v)\n got %#v\nwant %#v", m, got, want)
		}
	}
	// Absent label lists are stored as empty lists, which a contains() filter
	// reads, never as NULL.
	for _, n := range []string{table.LabelsAttr, table.CustomLabelIDsAttr} {
		if l, isList := av[n].(*types.AttributeValueMemberL); !isList || len(l.Value) != 0 {
			t.Errorf("%s = %#v, want an empty list", n, av[n])
		}
	}

	bad := []struct {
		name       string
		ws, medium string
		m          table.Message
	}{
		{"empty workspace", "", "ch", ok},
		{"'#' in medium", "ws", "c#h", ok},
		{"'#' in message id", "ws", "ch", table.Message{MessageID: "m#1", Timestamp: 1}},
		{"control character in message id", "ws", "ch", table.Message{MessageID: "m\n1", Timestamp: 1}},
		{"timestamp past 13 digits", "ws", "ch", table.Message{MessageID: "m", Timestamp: 10_000_000_000_000}},
		{"'#' in a label", "ws", "ch", table.Message{MessageID: "m", Timestamp: 1, Labels: []string{"a#b"}}},
		{"empty custom label id", "ws", "ch", table.Message{MessageID: "m", Timestamp: 1, CustomLabelIDs: []string{""}}},
	}
	for _, tt := range bad {
		if _, err := tt.m.Item(tt.ws, tt.medium); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestCounterKeys(t *testing.T) {
	sk := table.MessageSK(time.Date(2026, 6, 3, 23, 59, 59, 999e6, time.UTC).UnixMilli(), "m-1")
	csk, ok := table.CounterSK(sk)
	day, shard, parsed := table.ParseDaySK(csk)
	if !ok || !parsed || !day.Equal(time.Date(2026, 6, 3, 0, 0, 0, 0, time.UTC)) || shard != table.MessageShard(sk) {
		t.Fatalf("CounterSK(%q) = %q: day %v shard %d (%v %v)", sk, csk, day, shard, ok, parsed)
	}
	lo, hi := table.DaySKRange(time.Date(2026, 6, 3, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 3, 0, 0, 0, 0, time.UTC))
	if !(lo <= csk && csk <= hi) {
		t.Errorf("%q is outside its day's range %q..%q", csk, lo, hi)
	}
	next, _ := table.CounterSK(table.MessageSK(time.Date(2026, 6, 4, 0, 0, 0, 0, time.UTC).UnixMilli(), "m-1"))
	if next <= hi {
		t.Errorf("the next day's %q is inside %q..%q", next, lo, hi)
	}
	if got, ok := table.ParseMarkerSK(table.MarkerSK(sk)); !ok || got != sk {
		t.Errorf("ParseMarkerSK(MarkerSK(%q)) = %q, %v", sk, got, ok)
	}
	if !(table.MarkerSKAt(1780000000000) < table.MarkerSK(table.MessageSK(1780000000000, "a")) && table.MarkerSK(table.MessageSK(1780000000000, "a")) < table.MarkerSKAt(1780000000001)) {
		t.Error("markers are not in time order")
	}
	if ws, medium, ok := table.ParseCounterPK(table.CounterPK("ws", "ch")); !ok || ws != "ws" || medium != "ch" {
		t.Errorf("ParseCounterPK: %q %q %v", ws, medium, ok)
	}
	if l, ok := table.LabelOfCountAttr(table.CountAttr("très")); !ok || l != "très" {
		t.Errorf("LabelOfCountAttr: %q %v", l, ok)
	}
	for _, a := range []string{table.TotalAttr, table.CustomAttr, table.PartitionKeyAttr, table.SortKeyAttr} {
		if _, ok := table.LabelOfCountAttr(a); ok {
			t.Errorf("%q reads as a label count", a)
		}
	}
	for _, bad := range []string{"D#2026-06-03", "D#2026-06-03#9", "D#2026-13-03#1", "M#x"} {
		if _, _, ok := table.ParseDaySK(bad); ok {
			t.Errorf("ParseDaySK(%q) ok", bad)
		}
	}
}

// The rules are checked by hand; they must accept exactly what their patterns
// (what openapi.yaml states) and length limits accept.
func FuzzRulesMatchPatterns(f *testing.F) {
	for _, s := range []string{"", "ws-1", "a.b_c:d-e", "ws 1", "ws#1", "wé", "frustrated", "a#b", "a\tb", "\u0085",
		"\u200b", "é", "\xff", "日本語", strings.Repeat("a", table.MaxIDLen+1), strings.Repeat("é", table.MaxLabelLen+1)} {
		f.Add(s)
	}
	id, label := regexp.MustCompile(table.IDPattern), regexp.MustCompile(table.LabelPattern)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := table.ValidPublicID(s), len(s) <= table.MaxIDLen && id.MatchString(s); got != want {
			t.Errorf("ValidPublicID(%q) = %v, the pattern says %v", s, got, want)
		}
		if got, want := table.ValidLabel(s), utf8.ValidString(s) && utf8.RuneCountInString(s) <= table.MaxLabelLen && label.MatchString(s); got != want {
			t.Errorf("ValidLabel(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}
