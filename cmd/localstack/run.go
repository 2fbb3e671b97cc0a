package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vip-messages/api/internal/app"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/gateway"
	"github.com/vip-messages/api/internal/local/seed"
)

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	addr := fs.String("addr", devstack.APIAddr, "address of the API")
	secretsAddr := fs.String("secrets-addr", devstack.SecretsAddr,
		"address of the local Secrets Manager endpoint; 0.0.0.0:8010 lets a sam local container reach it on Linux (README)")
	// Off by default, so local load tests are not throttled; on, a client's
	// 429 handling can be tried (README, "Rate limits").
	rate := fs.Float64("rate-limit", 0, "per-key token bucket: requests per second for each x-api-key, as a deployed tier's usage plan (0: no limit)")
	burst := fs.Int("burst", 0, "per-key token bucket size (with -rate-limit; default the rate, at least 1)")
	_ = fs.Parse(args)
	if *rate < 0 || *burst < 0 {
		return fmt.Errorf("-rate-limit and -burst must not be negative")
	}
	if *burst == 0 {
		*burst = max(1, int(*rate))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Println("starting DynamoDB Local, the local Secrets Manager endpoint and the demo data ...")
	stack, err := devstack.Start(ctx, devstack.Options{SecretsAddr: *secretsAddr})
	if err != nil {
		return err
	}
	defer stack.Close()

	// The same path as the Lambda: configuration from the environment.
	for k, v := range stack.Env() {
		os.Setenv(k, v)
	}
	h, err := app.Load(ctx, os.Getenv, os.Stdout)
	if err != nil {
		return err
	}
	// The label indexer on the stream, as in a deployed stage: a message any
	// writer puts reaches label queries within a second or two.
	cfg, err := app.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	indexer, err := stack.LabelIndexer(ctx, cfg.Logger(os.Stdout))
	if err != nil {
		return err
	}
	indexerCtx, stopIndexer := context.WithCancel(ctx)
	indexerDone := make(chan error, 1)
	go func() { indexerDone <- indexer.Run(indexerCtx) }()
	defer func() { stopIndexer(); <-indexerDone }()
	go func() {
		select {
		case <-indexer.CaughtUp():
			fmt.Println("label indexer: caught up with the table's stream (LOG_LEVEL=debug logs each batch's lag)")
		case <-indexerCtx.Done():
		}
	}()
	// Bind before saying "ready", so a busy port is an error, not a banner.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           gateway.NewWithOptions(gateway.VipMessages, h.Handle, gateway.Options{RateLimit: *rate, Burst: *burst}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	printReady(stack, *addr)
	if *rate > 0 {
		fmt.Printf("Per-key rate limit: %g requests/s, burst %d (429 with Retry-After beyond).\n", *rate, *burst)
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
		fmt.Println("\nstopping ...")
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = srv.Shutdown(shutdown)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func printReady(stack *devstack.Stack, addr string) {
	to := time.Now().UTC()
	from := to.AddDate(0, 0, -6)
	url := fmt.Sprintf("http://%s/vip-messages?workspaceId=%s&mediumId=%s&from=%s&to=%s&limit=5",
		addr, seed.DemoWorkspace, seed.DemoChannel, from.Format(time.DateOnly), to.Format(time.DateOnly))
	fmt.Printf(`
VIP messages API ready at http://%s/vip-messages
  DynamoDB Local   %s  (table %s)
  Secrets Manager  %s  (prefix %s, region %s)
  demo key         %s / secret %s  (workspace %s, channel %s)

Try it (x-date must be fresh, so sign each request as you send it):

DATE=$(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ); SIG=$(printf '%%s' "$DATE" | openssl dgst -sha256 -hmac '%s' -r | cut -d' ' -f1); curl -sS -H 'x-api-key: %s' -H "x-date: $DATE" -H "x-signature: $SIG" '%s'

or: go run ./cmd/vipctl messages list --url http://%s --key %s --secret %s --workspace %s --medium %s --from %s --to %s

Ctrl-C stops everything.
`, addr, stack.DynamoEndpoint, stack.Table, stack.SecretsEndpoint, stack.SecretPrefix, devstack.Region,
		devstack.DemoKeyID, devstack.DemoSecret, seed.DemoWorkspace, seed.DemoChannel,
		devstack.DemoSecret, devstack.DemoKeyID, url,
		addr, devstack.DemoKeyID, devstack.DemoSecret, seed.DemoWorkspace, seed.DemoChannel, from.Format(time.DateOnly), to.Format(time.DateOnly))
}
