package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/rie"
	"github.com/vip-messages/api/internal/sampleevent"
)

// invokeCmd is `sam local invoke` without Docker: a local stack on free ports
// (so it can run beside `make run`), seeded as of the event's own x-date so its
// window holds the demo data, the function under aws-lambda-rie, and the event
// signed afresh. An authorizer event (events/authorizer-*.json) goes to the
// authorizer, signed afresh; a DynamoDB stream event (events/stream-*.json) to
// the label indexer, as it is, once the table holds what its records say. The
// API function's samples carry the authorizer's context: they are sent as they
// are, their x-date only anchors the demo data.
func invokeCmd(args []string, stdout, logs io.Writer) error {
	fs := flag.NewFlagSet("invoke", flag.ExitOnError)
	eventPath := fs.String("event", "events/list.json", "API Gateway REST proxy event, REQUEST authorizer event, or DynamoDB stream event (JSON)")
	bootstrap := fs.String("bootstrap", "bin/local/bootstrap", "the API function binary, built for this machine")
	indexerBootstrap := fs.String("indexer-bootstrap", "bin/local/label-indexer/bootstrap", "the label indexer binary, for a stream event")
	authorizerBootstrap := fs.String("authorizer-bootstrap", "bin/local/authorizer/bootstrap", "the authorizer binary, for an authorizer event")
	rieBin := fs.String("rie", "bin/aws-lambda-rie", "the aws-lambda-rie binary")
	dynamo := fs.String("dynamodb-endpoint", "", "reuse this DynamoDB Local instead of starting one")
	_ = fs.Parse(args)

	raw, err := os.ReadFile(*eventPath)
	if err != nil {
		return err
	}
	// sign gives the payload to send; an authorizer event is signed when it is sent,
	// since seeding the stack can take longer than x-date stays fresh.
	sign := func() ([]byte, error) { return raw, nil }
	anchor := time.Now()
	switch {
	case isStreamEvent(raw):
		*bootstrap = *indexerBootstrap
	case sampleevent.IsAuthorizerEvent(raw):
		*bootstrap = *authorizerBootstrap
		ev, err := sampleevent.LoadAuthorizer(*eventPath)
		if err != nil {
			return err
		}
		sign = func() ([]byte, error) {
			signed, _ := sampleevent.ResignAuthorizerAs(ev, []string{devstack.DemoSecret}, "", devstack.DemoSecret, time.Now())
			return json.Marshal(signed)
		}
	default:
		ev, err := sampleevent.Load(*eventPath)
		if err != nil {
			return err
		}
		if anchor, err = sampleevent.Date(ev); err != nil {
			return fmt.Errorf("%s: %w", *eventPath, err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stack, err := devstack.Start(ctx, devstack.Options{FreePorts: true, SeedNow: anchor, DynamoEndpoint: *dynamo, Table: "invoke-" + strconv.FormatInt(time.Now().UnixNano(), 36)})
	if err != nil {
		return err
	}
	defer stack.Close()
	if isStreamEvent(raw) {
		// The table the event describes, which the indexer reads.
		var ev events.DynamoDBEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return err
		}
		if err := devstack.ApplyEvent(ctx, stack.DynamoDB(), stack.Table, ev); err != nil {
			return err
		}
	}

	addr, rieArgs, err := rie.Listen()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, *rieBin, append(rieArgs, *bootstrap)...)
	cmd.Env = os.Environ()
	for k, v := range stack.Env() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// The emulator's and the function's logs, INIT REPORT included, go to logs,
	// the emulator's REPORT line without its placeholder figures.
	rep := &reportFilter{w: logs}
	defer rep.Flush()
	cmd.Stdout, cmd.Stderr = rep, rep
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", *rieBin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	if err := rie.WaitListening(ctx, addr, exited); err != nil {
		return err
	}

	payload, err := sign()
	if err != nil {
		return err
	}
	resp, err := rie.Invoke(ctx, addr, payload)
	if err != nil {
		return err
	}
	out := resp.Payload
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(out)
	}
	fmt.Fprintln(stdout, pretty.String())
	if resp.Status != http.StatusOK {
		return fmt.Errorf("the emulator answered %d %s", resp.Status, http.StatusText(resp.Status))
	}
	return nil
}

// isStreamEvent: a DynamoDB stream event (Records from aws:dynamodb).
func isStreamEvent(raw []byte) bool {
	var ev struct {
		Records []struct {
			EventSource string `json:"eventSource"`
		}
	}
	return json.Unmarshal(raw, &ev) == nil && len(ev.Records) > 0 && ev.Records[0].EventSource == "aws:dynamodb"
}

// reportFilter passes the emulator's output through, line by line, except
// that the REPORT line keeps only its request id and Duration. aws-lambda-rie
// fills the other fields with placeholders, not measurements ("Init Duration:
// 0.02 ms", "Memory Size: 3008 MB", "Max Memory Used: 3008 MB"), which read
// like results right below the real INIT REPORT.
type reportFilter struct {
	w    io.Writer
	line []byte
}

func (f *reportFilter) Write(p []byte) (int, error) {
	f.line = append(f.line, p...)
	for {
		i := bytes.IndexByte(f.line, '\n')
		if i < 0 {
			return len(p), nil
		}
		if _, err := io.WriteString(f.w, filterReport(string(f.line[:i]))+"\n"); err != nil {
			return len(p), err
		}
		f.line = f.line[i+1:]
	}
}

// Flush writes a last line without its newline.
func (f *reportFilter) Flush() {
	if len(f.line) > 0 {
		_, _ = io.WriteString(f.w, filterReport(string(f.line)))
		f.line = nil
	}
}

func filterReport(line string) string {
	if !strings.HasPrefix(line, "REPORT RequestId:") {
		return line
	}
	var kept []string
	for _, field := range strings.Split(strings.TrimSpace(line), "\t") {
		if strings.HasPrefix(field, "REPORT RequestId:") || strings.HasPrefix(field, "Duration:") {
			kept = append(kept, field)
		}
	}
	return strings.Join(kept, "\t") + "\t(aws-lambda-rie's other REPORT figures are placeholders, left out; INIT REPORT above is the measured cold start)"
}

// applyEventCmd writes to make run's table what a stream event's records say
// (devstack.ApplyEvent), so that `sam local invoke LabelIndexerFunction` with
// that event finds its messages there.
func applyEventCmd(args []string) error {
	fs := flag.NewFlagSet("apply-event", flag.ExitOnError)
	endpoint := fs.String("dynamodb-endpoint", "http://127.0.0.1:"+strconv.Itoa(devstack.DynamoPort), "make run's DynamoDB Local")
	tableName := fs.String("table", devstack.Table, "make run's table")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return errors.New("usage: localstack apply-event [-dynamodb-endpoint URL] [-table T] EVENT.json")
	}
	raw, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var ev events.DynamoDBEvent
	if err := json.Unmarshal(raw, &ev); err != nil || !isStreamEvent(raw) {
		return fmt.Errorf("%s: not a DynamoDB stream event", fs.Arg(0))
	}
	if err := devstack.ApplyEvent(context.Background(), ddblocal.NewClient(*endpoint), *tableName, ev); err != nil {
		return err
	}
	fmt.Printf("%s: %d records applied to %s\n", fs.Arg(0), len(ev.Records), *tableName)
	return nil
}
