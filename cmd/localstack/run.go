package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vip-messages/api/internal/app"
	"github.com/vip-messages/api/internal/app/authorizer"
	"github.com/vip-messages/api/internal/local/ddblocal"
	"github.com/vip-messages/api/internal/local/devstack"
	"github.com/vip-messages/api/internal/local/gateway"
	"github.com/vip-messages/api/internal/local/seed"
)

// Environment variables that choose make run's ports (the flags win), so that
// `make run LOCAL_API_PORT=3001` works as well as RUN_FLAGS.
const (
	envAPIPort     = "LOCAL_API_PORT"
	envDynamoPort  = "LOCAL_DYNAMODB_PORT"
	envSecretsPort = "LOCAL_SECRETS_PORT"
)

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	addr := fs.String("addr", devstack.APIAddr, "address of the API (host:port)")
	secretsAddr := fs.String("secrets-addr", devstack.SecretsAddr,
		"address of the local Secrets Manager endpoint; 0.0.0.0:8010 lets a sam local container reach it on Linux (docs/local-stack.md)")
	// Off by default, so local load tests are not throttled; on, a client's
	// 429 handling can be tried (docs/local-stack.md).
	rate := fs.Float64("rate-limit", 0, "per-key token bucket: requests per second for each x-api-key, as a deployed tier's usage plan (0: no limit)")
	burst := fs.Int("burst", 0, "per-key token bucket size (with -rate-limit; default the rate, at least 1)")
	apiPort := fs.Int("api-port", envInt(envAPIPort), "port of the API, replacing -addr's ($"+envAPIPort+")")
	dynamoPort := fs.Int("dynamodb-port", envInt(envDynamoPort), fmt.Sprintf("port of DynamoDB Local ($%s; default %d)", envDynamoPort, devstack.DynamoPort))
	secretsPort := fs.Int("secrets-port", envInt(envSecretsPort), "port of the local Secrets Manager, replacing -secrets-addr's ($"+envSecretsPort+")")
	_ = fs.Parse(args)
	for _, p := range []struct {
		name string
		v    *int
	}{{"api-port", apiPort}, {"dynamodb-port", dynamoPort}, {"secrets-port", secretsPort}} {
		if *p.v < 0 || *p.v > 65535 {
			return fmt.Errorf("-%s %d is not a port", p.name, *p.v)
		}
	}
	*addr = withPort(*addr, *apiPort)
	*secretsAddr = withPort(*secretsAddr, *secretsPort)
	if *dynamoPort == 0 {
		*dynamoPort = devstack.DynamoPort
	}
	if *rate < 0 || *burst < 0 {
		return fmt.Errorf("-rate-limit and -burst must not be negative")
	}
	if *burst == 0 {
		*burst = max(1, int(*rate))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := serve(ctx, *addr, *secretsAddr, *dynamoPort, gateway.Options{RateLimit: *rate, Burst: *burst})
	if ctx.Err() != nil {
		// Ctrl-C, at any moment: a stop asked for, not a failure.
		fmt.Println("\nstopped.")
		return nil
	}
	return err
}

// withPort replaces the port of addr (host:port) when port is not 0.
func withPort(addr string, port int) string {
	if port == 0 {
		return addr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// envInt is the integer in the variable, or 0 (unset or not a number, which
// the flag's range check then reports as the default).
func envInt(name string) int {
	n, err := strconv.Atoi(strings.TrimSpace(os.Getenv(name)))
	if err != nil {
		return 0
	}
	return n
}

// portHint says how to pick another port.
func portHint(what string, port int, flagName, envName string) string {
	return fmt.Sprintf("%s port %d is busy (another make run?): pick another with %s=%d make run, or RUN_FLAGS='-%s %d'",
		what, port, envName, port+1, flagName, port+1)
}

func serve(ctx context.Context, addr, secretsAddr string, dynamoPort int, gw gateway.Options) error {
	// Bind the API first, so a busy port is an error at once, not after
	// DynamoDB Local started, nor a banner.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			_, port, _ := net.SplitHostPort(addr)
			p, _ := strconv.Atoi(port)
			return fmt.Errorf("%s (%w)", portHint("API", p, "api-port", envAPIPort), err)
		}
		return err
	}
	defer ln.Close()

	fmt.Println("starting DynamoDB Local, the local Secrets Manager endpoint and the demo data ...")
	stack, err := devstack.Start(ctx, devstack.Options{SecretsAddr: secretsAddr, DynamoPort: dynamoPort})
	switch {
	case errors.Is(err, ddblocal.ErrPortBusy):
		return fmt.Errorf("%s (%w)", portHint("DynamoDB Local", dynamoPort, "dynamodb-port", envDynamoPort), err)
	case errors.Is(err, syscall.EADDRINUSE):
		_, port, _ := net.SplitHostPort(secretsAddr)
		p, _ := strconv.Atoi(port)
		return fmt.Errorf("%s (%w)", portHint("Secrets Manager", p, "secrets-port", envSecretsPort), err)
	case err != nil:
		return err
	}
	defer stack.Close()

	// The same path as the Lambda: configuration from the environment.
	for k, v := range stack.Env() {
		os.Setenv(k, v)
	}
	api, err := localAPI(ctx, os.Getenv, os.Stdout, gw)
	if err != nil {
		return err
	}
	// The label indexer on the stream, as in a deployed stage: a message any
	// writer puts reaches label queries within a second or two.
	cfg, err := app.FromEnv(os.Getenv)
	if err != nil {
		return err
	}
	// Its per-batch lines are debug here: the terminal stays quiet until the
	// banner, and LOG_LEVEL=debug shows them.
	indexer, err := stack.LabelIndexer(ctx, slog.New(batchesAtDebug{cfg.Logger(os.Stdout).Handler()}))
	if err != nil {
		return err
	}
	indexerCtx, stopIndexer := context.WithCancel(ctx)
	indexerDone := make(chan error, 1)
	go func() { indexerDone <- indexer.Run(indexerCtx) }()
	defer func() { stopIndexer(); <-indexerDone }()
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	// The banner comes after the indexer has caught up with the demo data, so
	// that it is not buried under the catch-up's batch lines and label queries
	// are complete once it shows.
	fmt.Println("label indexer: catching up with the table's stream ...")
	select {
	case <-indexer.CaughtUp():
		fmt.Println("label indexer: caught up (LOG_LEVEL=debug logs each batch's lag)")
	case <-ctx.Done():
	case err = <-errc:
		return err
	}
	if ctx.Err() == nil {
		printReady(os.Stdout, stack, addr)
		if gw.RateLimit > 0 {
			fmt.Printf("Per-key rate limit: %g requests/s, burst %d (429 with Retry-After beyond).\n", gw.RateLimit, gw.Burst)
		}
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
		fmt.Println("\nstopping ...")
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// printReady prints the banner: where everything is, the line that points
// vipctl and the docs' examples at this stack, and a version-2 request signed
// with the secret from that environment (never a --secret flag, which ps shows).
func printReady(w io.Writer, stack *devstack.Stack, addr string) {
	to := time.Now().UTC()
	from := to.AddDate(0, 0, -6)
	query := fmt.Sprintf("workspaceId=%s&mediumId=%s&from=%s&to=%s&limit=5",
		seed.DemoWorkspace, seed.DemoChannel, from.Format(time.DateOnly), to.Format(time.DateOnly))
	fmt.Fprintf(w, `
VIP messages API ready at http://%s/vip-messages
  DynamoDB Local   %s  (table %s)
  Secrets Manager  %s  (prefix %s, region %s)
  demo key         %s  (workspace %s, channel %s)

In another terminal, point vipctl and the docs' examples at it, then send a signed request (version 2):

export VIP_API_URL=http://%s VIP_API_KEY=%s VIP_API_SECRET=%s
go run ./cmd/vipctl messages list --workspace %s --medium %s --from %s --to %s --limit 5

or with curl: URL="$VIP_API_URL/vip-messages?%s"; curl -sS -H @<(go run ./cmd/vipctl sign "$URL") "$URL"

vipctl's operator commands (keys, workspaces, channels, index) against this stack:
export AWS_REGION=%s AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_ENDPOINT_URL_DYNAMODB=%s AWS_ENDPOINT_URL_SECRETS_MANAGER=%s
%s
Ctrl-C stops everything.
`, addr, stack.DynamoEndpoint, stack.Table, stack.SecretsEndpoint, stack.SecretPrefix, devstack.Region,
		devstack.DemoKeyID, seed.DemoWorkspace, seed.DemoChannel,
		addr, devstack.DemoKeyID, devstack.DemoSecret,
		seed.DemoWorkspace, seed.DemoChannel, from.Format(time.DateOnly), to.Format(time.DateOnly),
		query,
		devstack.Region, stack.DynamoEndpoint, stack.SecretsEndpoint, cacheHint(os.Getenv("KEY_CACHE_TTL"), os.Getenv("KEY_NEGATIVE_TTL")))
}

// cacheHint says how soon key changes show, and how to see them at once: a
// changed key waits for KEY_CACHE_TTL, a restored one (remembered as unknown
// while revoked) for KEY_NEGATIVE_TTL.
func cacheHint(ttl, negative string) string {
	if ttl == "" || negative == "" {
		return "Key changes (vipctl keys rotate, revoke, ...) show within KEY_CACHE_TTL (5m by default), a restored or new key\n" +
			"within KEY_NEGATIVE_TTL (30s): KEY_CACHE_TTL=2s KEY_NEGATIVE_TTL=2s make run shows them at once.\n"
	}
	return "Key changes (vipctl keys rotate, revoke, ...) show within KEY_CACHE_TTL=" + ttl + ", a restored or new key within KEY_NEGATIVE_TTL=" + negative + ".\n"
}

// batchesAtDebug logs the label indexer's info lines, one per batch (a
// deployed stage's metrics documents), at debug level.
type batchesAtDebug struct{ slog.Handler }

func (h batchesAtDebug) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, demote(l))
}

// Handle checks the level itself: metrics.Log hands its documents to the
// handler without asking Enabled.
func (h batchesAtDebug) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level)
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h batchesAtDebug) WithAttrs(as []slog.Attr) slog.Handler {
	return batchesAtDebug{h.Handler.WithAttrs(as)}
}

func (h batchesAtDebug) WithGroup(name string) slog.Handler {
	return batchesAtDebug{h.Handler.WithGroup(name)}
}

func demote(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

// localAPI is the API as a stage serves it: the authorizer and the API
// function, each configured from the environment as its Lambda is, behind the
// local gateway, which invokes the authorizer first (opt.Authorizer is set
// here).
func localAPI(ctx context.Context, getenv func(string) string, logOut io.Writer, opt gateway.Options) (http.Handler, error) {
	h, err := app.Load(ctx, getenv, logOut)
	if err != nil {
		return nil, err
	}
	z, err := authorizer.Load(ctx, getenv, logOut)
	if err != nil {
		return nil, err
	}
	opt.Authorizer = z.Handle
	opt.Routes = []gateway.Route{gateway.Labels}
	return gateway.NewWithOptions(gateway.VipMessages, h.Handle, opt), nil
}
