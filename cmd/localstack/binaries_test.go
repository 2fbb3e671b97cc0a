package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/vip-messages/api/internal/local/repo"
)

// lambdaBinaries are both functions, built as a deploy builds them but for
// this machine, and aws-lambda-rie: built once per test binary, in one go
// build (one compile graph, parallel links), for every test that runs them
// under the emulator.
type lambdaBinaries struct {
	API, Indexer, RIE string
}

var built struct {
	once sync.Once
	dir  string
	bins lambdaBinaries
	err  error
	out  []byte
}

func buildLambdas(t *testing.T) lambdaBinaries {
	t.Helper()
	built.once.Do(func() {
		root, err := repo.Root()
		if err != nil {
			built.err = err
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "localstack-lambdas-"); built.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", built.dir+string(filepath.Separator),
			"./functions/vip-messages", "./functions/label-indexer",
			"github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		built.out, built.err = cmd.CombinedOutput()
		built.bins = lambdaBinaries{
			API:     filepath.Join(built.dir, "vip-messages"),
			Indexer: filepath.Join(built.dir, "label-indexer"),
			RIE:     filepath.Join(built.dir, "aws-lambda-rie"),
		}
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.bins
}

// removeLambdas deletes what buildLambdas built; TestMain calls it.
func removeLambdas() {
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
}
