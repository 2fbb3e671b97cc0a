package seed

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/vip-messages/api/internal/table"
)

// The demo data set of the local stack (docs/local-stack.md).
const (
	DemoWorkspace       = "ws-demo"
	DemoChannel         = "ch-demo"
	DemoOffChannel      = "ch-off"   // exists, not connected: 404
	DemoBasicWorkspace  = "ws-basic" // exists, not VIP: 403
	DemoBasicChannel    = "ch-basic" // connected, in the non-VIP workspace
	DemoMessageCount    = 3000       // over the last DemoDays days
	DemoDays            = 60
	demoSameMillisecond = 12 // messages in each cluster sharing one millisecond
)

// Kinds of message entries (the API's contentType values).
var Kinds = []string{"text", "postback", "attachment", "other"}

// BuiltinLabels are label values the AI assigns.
var BuiltinLabels = []string{"frustrated", "angry", "happy", "confused", "urgent"}

// CustomLabelIDs are custom AI label ids of the demo workspace.
var CustomLabelIDs = []string{"cl-billing", "cl-churn-risk", "cl-feature-request"}

// Demo is the demo data set, the same for the same now: ws-demo (VIP) with the
// connected ch-demo holding DemoMessageCount messages over the DemoDays days
// before now, the disconnected ch-off, and the non-VIP ws-basic.
func Demo(now time.Time) Dataset {
	return Dataset{
		Workspaces: []Workspace{
			{ID: DemoWorkspace, Name: "Demo VIP workspace", VIP: true},
			{ID: DemoBasicWorkspace, Name: "Demo basic workspace", VIP: false},
		},
		Channels: []Channel{
			{WorkspaceID: DemoWorkspace, MediumID: DemoChannel, Name: "Demo channel", Connected: true},
			{WorkspaceID: DemoWorkspace, MediumID: DemoOffChannel, Name: "Disconnected channel", Connected: false},
			{WorkspaceID: DemoBasicWorkspace, MediumID: DemoBasicChannel, Name: "Basic channel", Connected: true},
		},
		Messages: []ChannelMessages{
			{WorkspaceID: DemoWorkspace, MediumID: DemoChannel,
				Messages: Generate(rand.New(rand.NewPCG(1, 2)), now.Add(-DemoDays*24*time.Hour), now, DemoMessageCount)},
			{WorkspaceID: DemoBasicWorkspace, MediumID: DemoBasicChannel,
				Messages: Generate(rand.New(rand.NewPCG(3, 4)), now.Add(-DemoDays*24*time.Hour), now, 50)},
		},
	}
}

// Generate makes n messages with timestamps in [from, to), spread over
// conversations, kinds and labels; every 250th message starts a cluster of
// messages that share one millisecond.
func Generate(rng *rand.Rand, from, to time.Time, n int) []table.Message {
	span := to.UnixMilli() - from.UnixMilli()
	out := make([]table.Message, 0, n)
	var ts int64
	for i := range n {
		// Messages 1..demoSameMillisecond-1 of every 250 keep the previous timestamp.
		if i%250 == 0 || i%250 >= demoSameMillisecond {
			ts = from.UnixMilli() + rng.Int64N(span)
		}
		out = append(out, randomMessage(rng, fmt.Sprintf("msg-%06d", i), ts))
	}
	return out
}

func randomMessage(rng *rand.Rand, id string, ts int64) table.Message {
	m := table.Message{
		MessageID:      id,
		Timestamp:      ts,
		ConversationID: fmt.Sprintf("conv-%03d", rng.IntN(120)),
		UserName:       demoUsers[rng.IntN(len(demoUsers))],
		Kind:           pick(rng, Kinds, []int{70, 10, 15, 5}),
		Source:         demoSources[rng.IntN(len(demoSources))],
		Labels:         []string{},
		CustomLabelIDs: []string{},
	}
	for _, l := range BuiltinLabels {
		if rng.IntN(100) < 12 {
			m.Labels = append(m.Labels, l)
		}
	}
	for _, l := range CustomLabelIDs {
		if rng.IntN(100) < 6 {
			m.CustomLabelIDs = append(m.CustomLabelIDs, l)
		}
	}
	words := make([]string, 4+rng.IntN(14))
	for j := range words {
		words[j] = demoWords[rng.IntN(len(demoWords))]
	}
	m.Text = strings.Join(words, " ")
	return m
}

func pick(rng *rand.Rand, values []string, weights []int) string {
	total := 0
	for _, w := range weights {
		total += w
	}
	r := rng.IntN(total)
	for i, w := range weights {
		if r < w {
			return values[i]
		}
		r -= w
	}
	return values[len(values)-1]
}

var (
	demoUsers   = []string{"Aiko Tanaka", "Ben Carter", "Chloé Martin", "Diego Ruiz", "Emma Schulz", "Farah Khan", "Grace Lee", "Hugo Silva"}
	demoSources = []string{"line", "messenger", "whatsapp", "web"}
	demoWords   = []string{"order", "refund", "please", "still", "waiting", "thanks", "broken", "delivery", "account", "help", "invoice", "great", "again", "why", "today", "support", "app", "login", "charge", "love"}
)
