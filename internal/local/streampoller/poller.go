// Package streampoller plays, on this machine, the Lambda event source
// mapping of a DynamoDB stream (template.yaml's AWS::Lambda::EventSourceMapping):
// it reads DynamoDB Local's stream shard by shard (following splits and
// closed shards, parents before children), drops what the mapping's
// FilterCriteria drops, and invokes the function's handler in process with
// the mapping's batch size and batching window, its timeout as deadline, and
// the mapping's failure handling: ReportBatchItemFailures, retries up to
// MaximumRetryAttempts, BisectBatchOnFunctionError. `make run` runs the label
// indexer with it; the stream tests read the stream through it.
package streampoller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Handler is a stream function's handler, e.g. labelindex.Indexer.Handle.
type Handler func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// Discarded describes a batch given up after its retries, as Lambda sends it
// to the mapping's OnFailure destination: where, not what.
type Discarded struct {
	ShardID                     string
	FirstSequence, LastSequence string
	Records, Attempts           int
	Reason                      string
}

// Poller invokes a handler with the records of a stream.
type Poller struct {
	stream  *Stream
	mapping Mapping
	handler Handler
	log     *slog.Logger

	// PollInterval is the pause after a pass that found nothing: Lambda polls
	// a DynamoDB stream's shards four times a second.
	PollInterval time.Duration
	// RetryDelay is the pause before a failed batch is retried.
	RetryDelay time.Duration
	// OnDiscard, when set, is told about every discarded batch.
	OnDiscard func(Discarded)

	caughtUp     chan struct{}
	caughtUpOnce sync.Once
}

// New returns a poller of the stream arn for the mapping m.
func New(api StreamsAPI, arn string, m Mapping, h Handler, log *slog.Logger) *Poller {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Poller{stream: NewStream(api, arn, m.StartingPosition, m.Filter), mapping: m, handler: h, log: log,
		PollInterval: 250 * time.Millisecond, RetryDelay: 200 * time.Millisecond, caughtUp: make(chan struct{})}
}

// CaughtUp is closed once the poller has delivered everything the stream
// held when it started (the demo data of `make run`, say) and found every
// readable shard at its end.
func (p *Poller) CaughtUp() <-chan struct{} { return p.caughtUp }

// Run polls until ctx ends, then returns nil. Stream errors are logged and
// retried: a local stack keeps going, as the service does.
func (p *Poller) Run(ctx context.Context) error {
	for {
		worked, err := p.pass(ctx)
		if ctx.Err() != nil {
			return nil
		}
		pause := p.PollInterval
		if err != nil {
			p.log.Warn("stream poller: reading the stream failed, retrying", "stream", p.stream.arn, "error", err.Error())
			pause = time.Second
		} else if worked {
			continue
		} else if p.idle() {
			p.caughtUpOnce.Do(func() { close(p.caughtUp) })
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
	}
}

// idle: the shards were listed and none holds records waiting.
func (p *Poller) idle() bool {
	if !p.stream.initial {
		return false
	}
	for _, sh := range p.stream.shards {
		if len(sh.pending) > 0 {
			return false
		}
	}
	return true
}

// pass reads each readable shard once and invokes the function with what is
// due: a full batch, the batching window run out, or the shard's last records.
func (p *Poller) pass(ctx context.Context) (worked bool, err error) {
	s := p.stream
	if err := s.refresh(ctx, false); err != nil {
		return false, err
	}
	size := p.mapping.BatchSize
	for _, sh := range s.shards {
		if s.finished(sh) || !s.ready(sh) {
			continue
		}
		if !sh.ended && len(sh.pending) < size {
			n, tip, err := s.fetch(ctx, sh)
			if err != nil {
				return worked, err
			}
			// Not at the tip: more to read at once, even if all was filtered out.
			worked = worked || n > 0 || sh.ended || !tip
		}
		for len(sh.pending) > 0 && (len(sh.pending) >= size || sh.ended ||
			s.now().Sub(sh.pending[0].fetched) >= p.mapping.BatchingWindow) {
			n := min(size, len(sh.pending))
			p.deliver(ctx, sh.id, sh.pending[:n])
			sh.pending = sh.pending[n:]
			worked = true
			if ctx.Err() != nil {
				return worked, nil
			}
		}
	}
	return worked, nil
}

// deliver invokes the function with one batch until it succeeds or is
// discarded, as the mapping does:
//   - an invocation error (returned error, panic, timeout) fails the whole
//     batch; with BisectBatchOnFunctionError the batch is split in two and
//     the halves retried one after the other;
//   - with ReportBatchItemFailures, the records before the lowest reported
//     sequence number are done and the rest is retried; an empty or unknown
//     itemIdentifier fails the whole batch. Without it a response is success;
//   - every failed invocation counts as a retry of its records; past
//     MaximumRetryAttempts they are discarded (logged, OnDiscard) and the
//     shard moves on.
func (p *Poller) deliver(ctx context.Context, shardID string, batch []pending) {
	type part struct {
		recs     []pending
		attempts int
	}
	queue := []part{{recs: batch}}
	for len(queue) > 0 && ctx.Err() == nil {
		pt := queue[0]
		resp, err := p.invoke(ctx, pt.recs)
		if ctx.Err() != nil {
			return // stopping: an interrupted invocation is not a failure
		}
		failedAt := -1
		if err == nil && p.mapping.ReportBatchItemFailures && len(resp.BatchItemFailures) > 0 {
			failedAt, err = lowestFailure(pt.recs, resp.BatchItemFailures)
		}
		if failedAt != 0 && err == nil {
			done := pt.recs
			if failedAt > 0 {
				done = pt.recs[:failedAt]
			}
			p.logLag(shardID, done)
		}
		if err == nil && failedAt < 0 {
			queue = queue[1:]
			continue
		}
		pt.attempts++
		reason := "partial batch failure"
		if err != nil {
			reason = err.Error()
		} else {
			pt.recs = pt.recs[failedAt:]
		}
		if max := p.mapping.MaximumRetryAttempts; max >= 0 && pt.attempts > max {
			p.discard(shardID, pt.recs, pt.attempts, reason)
			queue = queue[1:]
			continue
		}
		if err != nil && p.mapping.BisectBatchOnFunctionError && len(pt.recs) > 1 {
			h := len(pt.recs) / 2
			queue = append([]part{{pt.recs[:h], pt.attempts}, {pt.recs[h:], pt.attempts}}, queue[1:]...)
		} else {
			queue[0] = pt
		}
		p.log.Warn("stream poller: batch failed, retrying", "function", p.mapping.Function, "shard", shardID,
			"records", len(pt.recs), "attempt", pt.attempts, "reason", reason)
		select {
		case <-ctx.Done():
		case <-time.After(p.RetryDelay):
		}
	}
}

// lowestFailure is the index of the lowest reported record, or an error when
// an identifier is empty or not in the batch (a full failure for Lambda).
func lowestFailure(recs []pending, failures []events.DynamoDBBatchItemFailure) (int, error) {
	lowest := len(recs)
	for _, f := range failures {
		i := -1
		for j, r := range recs {
			if f.ItemIdentifier != "" && r.rec.Change.SequenceNumber == f.ItemIdentifier {
				i = j
				break
			}
		}
		if i < 0 {
			return -1, fmt.Errorf("itemIdentifier %q is not a sequence number of the batch", f.ItemIdentifier)
		}
		lowest = min(lowest, i)
	}
	return lowest, nil
}

// invoke calls the handler as Lambda would: the event as JSON, a deadline of
// the function's timeout, a panic or a late return being a function error.
func (p *Poller) invoke(ctx context.Context, recs []pending) (resp events.DynamoDBEventResponse, err error) {
	ev := events.DynamoDBEvent{Records: make([]events.DynamoDBEventRecord, len(recs))}
	for i, r := range recs {
		ev.Records[i] = r.rec
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		return resp, fmt.Errorf("encode event: %w", err)
	}
	var in events.DynamoDBEvent
	if err := json.Unmarshal(raw, &in); err != nil {
		return resp, fmt.Errorf("decode event: %w", err)
	}
	ictx, cancel := context.WithTimeout(ctx, p.mapping.Timeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("function panicked: %v", v)
		}
	}()
	resp, err = p.handler(ictx, in)
	if err == nil && errors.Is(ictx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("task timed out after %s", p.mapping.Timeout)
	}
	return resp, err
}

// logLag logs, at debug level, how long after their writes the records were
// done: between the GetRecords call that found them and the last one that
// found the shard's end before (the write happened in between).
func (p *Poller) logLag(shardID string, done []pending) {
	if len(done) == 0 || !p.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	now := p.stream.now()
	var newest, oldestAfter time.Time
	for _, r := range done {
		if r.fetched.After(newest) {
			newest = r.fetched
		}
		if !r.after.IsZero() && (oldestAfter.IsZero() || r.after.Before(oldestAfter)) {
			oldestAfter = r.after
		}
	}
	attrs := []any{"function", p.mapping.Function, "shard", shardID, "records", len(done),
		"lagMinMs", now.Sub(newest).Milliseconds()}
	if !oldestAfter.IsZero() {
		attrs = append(attrs, "lagMaxMs", now.Sub(oldestAfter).Milliseconds())
	}
	p.log.Debug("stream poller: batch done (lag from write to done)", attrs...)
}

func (p *Poller) discard(shardID string, recs []pending, attempts int, reason string) {
	d := Discarded{ShardID: shardID, Records: len(recs), Attempts: attempts, Reason: reason}
	if len(recs) > 0 {
		d.FirstSequence, d.LastSequence = recs[0].rec.Change.SequenceNumber, recs[len(recs)-1].rec.Change.SequenceNumber
	}
	p.log.Error("stream poller: batch discarded after its retries (the OnFailure destination of a deployed stage)",
		"function", p.mapping.Function, "shard", shardID, "firstSequenceNumber", d.FirstSequence,
		"lastSequenceNumber", d.LastSequence, "records", d.Records, "attempts", attempts, "reason", reason)
	if p.OnDiscard != nil {
		p.OnDiscard(d)
	}
}
