package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/vip-messages/api/internal/labelindex/rebuild"
	"github.com/vip-messages/api/internal/rfc3339"
)

func init() {
	register(&command{name: "index", summary: "maintain the label index (DynamoDB)", subs: []*command{
		{name: "rebuild", args: "(--workspace W --medium M | --all) [--resume TOKEN] [--page-size N] [--table T]",
			summary: "backfill the label index from the messages and delete orphaned index items (idempotent, resumable)", run: indexRebuild},
		{name: "verify", args: verifyArgs,
			summary: "compare a channel's label index with its messages over a window; print every difference (exit 1 on drift)", run: indexVerify},
		{name: "replay-dlq", args: replayArgs,
			summary: "repair the messages of the stream batches in the indexer's dead-letter queue (re-read from the stream)", run: indexReplayDLQ},
	}})
}

// indexRebuild writes the label index items of existing messages: of one
// channel, or (--all) of every channel, scanning the table; then it sweeps the
// index items (of that channel, or all) and deletes the orphans, whose message
// is gone or no longer carries the label. The sweep is a Scan of the table in
// both cases: a channel's label partitions cannot be listed otherwise. A page
// at a time, with a progress line on stderr; interrupted or failed, it says
// how to resume.
func indexRebuild(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "(--workspace W --medium M | --all) [--resume TOKEN] [--page-size N] [--table T]")
	workspace := f.String("workspace", "", "workspace id of the channel")
	medium := f.String("medium", "", "medium (channel) id")
	all := f.Bool("all", false, "every channel of the table (a Scan)")
	resume := f.String("resume", "", "the resume token printed by an interrupted rebuild")
	pageSize := f.Int("page-size", 100, "items read per page (1-1000)")
	table := tableFlag(f, e)
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	switch {
	case *all && (*workspace != "" || *medium != ""):
		return f.usageErr("--all or --workspace/--medium, not both")
	case !*all && (*workspace == "" || *medium == ""):
		return f.usageErr("want --workspace and --medium, or --all")
	case *pageSize < 1 || *pageSize > 1000:
		return f.usageErr("--page-size %d: want 1-1000", *pageSize)
	}
	if !*all {
		if err := checkIDs(f, []string{"--workspace", "--medium"}, []string{*workspace, *medium}); err != nil {
			return err
		}
	}
	db, err := table.open(ctx, e)
	if err != nil {
		return err
	}
	where := "every channel"
	if !*all {
		// A rebuild of a channel that is not there would sweep the table for
		// nothing and report success with 0 messages.
		if err := channelExists(ctx, db, table.name, *workspace, *medium); err != nil {
			return err
		}
		where = "channel " + *workspace + "/" + *medium
	}
	rb := rebuild.New(db, table.name)
	rb.PageSize = *pageSize

	line := func(p rebuild.Progress) string {
		return fmt.Sprintf("%s, %s, %s written, %d repaired, %d skipped, %d over the item size limit; "+
			"orphan sweep: %s, %s checked, %s deleted; label counters of %s recounted",
			count(p.Pages, "page"), count(p.Messages, "message"), count(p.Written, "index item"), p.Repaired, p.Skipped, p.TooLarge,
			count(p.SweepPages, "page"), count(p.Checked, "index item"), count(p.Orphans, "orphan"), count(p.Recounted, "day"))
	}
	// The progress line: rewritten in place on a terminal, every 50 pages otherwise.
	token := *resume
	report := func(p rebuild.Progress) {
		token = p.Token
		switch {
		case e.stderrTTY:
			fmt.Fprintf(e.stderr, "\r\033[K%s ...", line(p))
		case (p.Pages+p.SweepPages)%50 == 0:
			fmt.Fprintf(e.stderr, "%s; resume token %s\n", line(p), p.Token)
		}
	}
	var p rebuild.Progress
	if *all {
		p, err = rb.All(ctx, *resume, report)
	} else {
		p, err = rb.Channel(ctx, *workspace, *medium, *resume, report)
	}
	if e.stderrTTY {
		fmt.Fprint(e.stderr, "\r\033[K")
	}
	// The command that continues where this one stopped.
	again := path
	if *all {
		again += " --all"
	} else {
		again += " --workspace " + *workspace + " --medium " + *medium
	}
	if f.isSet("table") {
		again += " --table " + table.name
	}
	again += " --resume " + token
	switch {
	case errors.Is(err, rebuild.ErrBadToken):
		return fmt.Errorf("--resume %q is not a token of this kind of rebuild (--all and a channel have their own)", *resume)
	case errors.Is(err, rebuild.ErrMayBeStale):
		// The resume token covers the page that could not finish.
		if token == "" {
			again = strings.TrimSuffix(again, " --resume ")
		}
		return fmt.Errorf("%s: %w; run it again to repair: %s", line(p), err, again)
	case errors.Is(err, context.Canceled) && token != "":
		return fmt.Errorf("interrupted after %s; resume with: %s", line(p), again)
	case errors.Is(err, context.Canceled):
		return errors.New("interrupted before the first page was done: nothing to resume, run it again")
	case err != nil && token != "":
		return fmt.Errorf("%s: %w; resume with: %s", line(p), err, again)
	case err != nil:
		return err
	}
	fmt.Fprintf(e.stdout, "label index rebuilt for %s: %s\n", where, line(p))
	return nil
}

const verifyArgs = "--workspace W --medium M --from DATE --to DATE [--label L]... [--scan-labels] [--settle D] [--table T]"

// indexVerify compares a channel's label index with its messages over a
// window, label by label, and the label counters with both, and prints every
// difference: one line each (problem, label, message sort key, detail), then
// a summary. Exit 1 on drift.
func indexVerify(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, verifyArgs)
	workspace := f.String("workspace", "", "workspace id of the channel (required)")
	medium := f.String("medium", "", "medium (channel) id (required)")
	from := f.String("from", "", "first day YYYY-MM-DD (UTC) or RFC 3339 date-time (required)")
	to := f.String("to", "", "last day YYYY-MM-DD (inclusive) or RFC 3339 date-time (inclusive; required)")
	var labels stringList
	f.Var(&labels, "label", "also walk this label's partition (repeatable): finds orphans under labels no message of the window carries")
	scan := f.Bool("scan-labels", false, "walk every label partition the channel has (a Scan of the whole table)")
	settle := f.Duration("settle", 5*time.Second, "wait before re-checking each difference, so that one the live indexer is about to apply is not reported")
	table := tableFlag(f, e)
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	var missing []string
	for _, r := range []struct{ name, v string }{{"--workspace", *workspace}, {"--medium", *medium}, {"--from", *from}, {"--to", *to}} {
		if r.v == "" {
			missing = append(missing, r.name)
		}
	}
	if len(missing) > 0 {
		return f.usageErr("missing %s", strings.Join(missing, ", "))
	}
	if err := checkIDs(f, []string{"--workspace", "--medium"}, []string{*workspace, *medium}); err != nil {
		return err
	}
	start, err := parseWhen(*from, false)
	if err != nil {
		return f.usageErr("--from %q: want YYYY-MM-DD or an RFC 3339 date-time", *from)
	}
	until, err := parseWhen(*to, true)
	if err != nil {
		return f.usageErr("--to %q: want YYYY-MM-DD or an RFC 3339 date-time", *to)
	}
	if !start.Before(until) {
		return f.usageErr("--from %s is after --to %s", *from, *to)
	}
	if *settle < 0 {
		return f.usageErr("--settle %s: want 0 or more", *settle)
	}
	db, err := table.open(ctx, e)
	if err != nil {
		return err
	}
	if err := channelExists(ctx, db, table.name, *workspace, *medium); err != nil {
		return err
	}
	rb := rebuild.New(db, table.name)
	if *scan {
		found, err := rb.ScanLabels(ctx, *workspace, *medium)
		if err != nil {
			return err
		}
		labels = append(labels, found...)
	}
	v, err := rb.Verify(ctx, *workspace, *medium, start, until, labels, *settle)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	for _, d := range v.Differences {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Problem, d.Label, d.SK, d.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	what := fmt.Sprintf("channel %s/%s from %s to %s: %s, %s, %s read; the label counters count %s and %s", *workspace, *medium, *from, *to,
		count(v.Messages, "message"), count(v.Labels, "label partition"), count(v.Items, "index item"),
		count(v.Total, "message"), count(v.Counted, "label"))
	if len(v.Differences) > 0 {
		return fmt.Errorf("label index differs from the table for %s: %s (repair: vipctl index rebuild --workspace %s --medium %s)",
			what, count(len(v.Differences), "difference"), *workspace, *medium)
	}
	fmt.Fprintf(e.stdout, "label index matches the table for %s\n", what)
	return nil
}

// parseWhen reads a date (a UTC day) or an RFC 3339 date-time. As an end
// (inclusive), a date means the end of its day and a date-time its
// millisecond, as the API reads `to`.
func parseWhen(s string, end bool) (time.Time, error) {
	if t, err := rfc3339.ParseDate(s); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	t, err := rfc3339.Parse(s)
	if err == nil && end {
		t = time.UnixMilli(t.UnixMilli() + 1)
	}
	return t, err
}

const replayArgs = "(--stage S | --queue-url URL) [--keep] [--table T]"

// dlqStageName is the indexer's dead-letter queue in a stage, as template.yaml
// names it.
const dlqStageName = "vip-messages-label-indexer-dlq-${Stage}"

// queueAPI is the part of the SQS client replay-dlq uses.
type queueAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// indexReplayDLQ reads the indexer's dead-letter queue: each message names a
// stream batch Lambda gave up on (shard, sequence-number range). While the
// stream still holds those records (24 h), it reads them again and repairs
// exactly the messages they touch; the queue message is then deleted. A batch
// the stream no longer holds is left in the queue, with the channels to
// rebuild.
func indexReplayDLQ(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, replayArgs)
	queueURL := f.String("queue-url", "", "the indexer's DLQ (stack output LabelIndexerDLQUrl; default: --stage's, "+dlqStageName+")")
	keep := f.Bool("keep", false, "leave the queue's messages there, also those repaired")
	table := tableFlag(f, e)
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	stage := strings.TrimSpace(table.stage)
	if *queueURL == "" && stage == "" {
		return f.usageErr("missing --queue-url or --stage: name the stage (its queue is %s) or the queue (stack output LabelIndexerDLQUrl)", dlqStageName)
	}
	db, err := table.open(ctx, e)
	if err != nil {
		return err
	}
	cfg, err := e.aws(ctx)
	if err != nil {
		return err
	}
	q := sqs.NewFromConfig(cfg)
	if *queueURL == "" {
		name := nameInStage(dlqStageName, stage)
		got, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("find stage %s's queue %s: %w (or name it with --queue-url, stack output LabelIndexerDLQUrl)", stage, name, err)
		}
		*queueURL = aws.ToString(got.QueueUrl)
	}
	return replayDLQ(ctx, e.stdout, q, *queueURL, *keep, rebuild.New(db, table.name), dynamodbstreams.NewFromConfig(cfg))
}

// replayDLQ replays every message of the queue once.
func replayDLQ(ctx context.Context, out io.Writer, q queueAPI, queueURL string, keep bool, rb *rebuild.Rebuilder, streams rebuild.StreamAPI) error {
	var done, left int
	rebuildChannels := map[string]bool{}
	seen := map[string]bool{}
	for {
		// Received messages stay invisible for the run, so each comes once.
		got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL),
			MaxNumberOfMessages: 10, VisibilityTimeout: 900, WaitTimeSeconds: 1})
		if err != nil {
			return fmt.Errorf("read the queue: %w", err)
		}
		fresh := 0
		for _, m := range got.Messages {
			id := aws.ToString(m.MessageId)
			if seen[id] {
				continue
			}
			seen[id], fresh = true, fresh+1
			info, err := rebuild.ParseFailure(aws.ToString(m.Body))
			if err != nil {
				left++
				fmt.Fprintf(out, "message %s: %v; left in the queue\n", id, err)
				continue
			}
			res, err := rb.Replay(ctx, streams, info)
			if err != nil {
				return fmt.Errorf("shard %s %s..%s: %w", info.ShardID, info.StartSequenceNumber, info.EndSequenceNumber, err)
			}
			where := fmt.Sprintf("shard %s %s..%s", info.ShardID, info.StartSequenceNumber, info.EndSequenceNumber)
			if !res.Complete {
				left++
				for _, c := range res.Channels {
					rebuildChannels[c] = true
				}
				if len(res.Channels) == 0 {
					rebuildChannels[""] = true
				}
				fmt.Fprintf(out, "%s: the stream no longer holds all its records (%s read, %s repaired); left in the queue\n",
					where, count(res.Records, "record"), count(res.Messages, "message"))
				continue
			}
			done++
			fmt.Fprintf(out, "%s: %s, %s repaired, %s changed\n", where, count(res.Records, "record"), count(res.Messages, "message"), count(res.Changed, "index item"))
			if !keep {
				if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
					return fmt.Errorf("delete the queue message of %s: %w", where, err)
				}
			}
		}
		if fresh == 0 {
			break
		}
	}
	if left == 0 {
		fmt.Fprintf(out, "%s replayed\n", count(done, "DLQ message"))
		return nil
	}
	var cmds []string
	if rebuildChannels[""] {
		cmds = []string{"vipctl index rebuild --all"}
	} else {
		for _, c := range slices.Sorted(maps.Keys(rebuildChannels)) {
			ws, m, _ := strings.Cut(c, "/")
			cmds = append(cmds, "vipctl index rebuild --workspace "+ws+" --medium "+m)
		}
	}
	if len(cmds) > 0 {
		fmt.Fprintf(out, "rebuild:\n  %s\n", strings.Join(cmds, "\n  "))
	}
	return fmt.Errorf("%s replayed, %s not (see above); the label index may be stale until the rebuild", count(done, "DLQ message"), count(left, "message"))
}
