// Package ddbtest gives tests a real DynamoDB Local: one server per test binary
// (or the one named by VIP_TEST_DYNAMODB_ENDPOINT), and a fresh table per test.
package ddbtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/vip-messages/api/internal/local/ddblocal"
)

// EndpointEnv names an already running DynamoDB Local to reuse.
const EndpointEnv = "VIP_TEST_DYNAMODB_ENDPOINT"

var (
	endpoint string
	tableSeq atomic.Int64
)

// Main starts DynamoDB Local (unless EndpointEnv names one), runs the tests and
// stops it. Use it from TestMain: os.Exit(ddbtest.Main(m)).
func Main(m *testing.M) int {
	if endpoint = os.Getenv(EndpointEnv); endpoint != "" {
		return m.Run()
	}
	// No deadline of its own: go test's -timeout bounds a server that never answers.
	srv, err := ddblocal.Start(context.Background(), ddblocal.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ddbtest:", err)
		return 1
	}
	defer srv.Stop()
	endpoint = srv.Endpoint
	return m.Run()
}

// Endpoint is the DynamoDB Local URL of this test binary.
func Endpoint(t testing.TB) string {
	t.Helper()
	if endpoint == "" {
		t.Fatal("ddbtest: DynamoDB Local is not running; call ddbtest.Main from TestMain")
	}
	return endpoint
}

// Client returns a client for this binary's DynamoDB Local.
func Client(t testing.TB) *dynamodb.Client {
	return ddblocal.NewClient(Endpoint(t))
}

// NewTable creates a table with the template's schema but no stream, unique
// to the test, and deletes it when the test ends. Stream records slow DynamoDB
// Local down for every binary that shares it (ddblocal.CreateTableWithoutStream):
// a test that reads the stream uses NewStreamTable.
func NewTable(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	return newTable(t, ddblocal.CreateTableWithoutStream)
}

// NewStreamTable is NewTable with the template's stream.
func NewStreamTable(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	return newTable(t, ddblocal.CreateTable)
}

func newTable(t testing.TB, create func(context.Context, *dynamodb.Client, string) error) (*dynamodb.Client, string) {
	t.Helper()
	client := Client(t)
	name := fmt.Sprintf("t%d-%d-%s", os.Getpid(), tableSeq.Add(1), sanitize(t.Name()))
	if len(name) > 255 {
		name = name[:255]
	}
	if err := create(context.Background(), client, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return client, name
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}
