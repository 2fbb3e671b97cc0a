package streampoller

import (
	"fmt"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// Mapping is the configuration of the event source mapping that the poller
// plays: what template.yaml's AWS::Lambda::EventSourceMapping says.
type Mapping struct {
	// Function is the logical id of the function the mapping invokes.
	Function string
	// BatchSize is the most records one invocation gets.
	BatchSize int
	// BatchingWindow is how long records are gathered before an invocation
	// when fewer than BatchSize are there.
	BatchingWindow time.Duration
	// BisectBatchOnFunctionError splits a batch whose invocation failed in two.
	BisectBatchOnFunctionError bool
	// MaximumRetryAttempts is how often a failing batch is retried before it
	// is discarded; -1 retries until the records expire (never, locally).
	MaximumRetryAttempts int
	// ReportBatchItemFailures makes the function's BatchItemFailures a
	// partial success; without it any reported failure fails the whole batch.
	ReportBatchItemFailures bool
	// StartingPosition is TRIM_HORIZON or LATEST.
	StartingPosition string
	// Filter is the mapping's FilterCriteria.
	Filter Filter
	// Timeout is the function's timeout: the deadline of each invocation.
	Timeout time.Duration
}

// Only the properties the poller plays; intrinsic tags (!Ref, !GetAtt)
// decode as plain scalars.
type template struct {
	Globals struct {
		Function struct {
			Timeout int `yaml:"Timeout"`
		} `yaml:"Function"`
	} `yaml:"Globals"`
	Resources map[string]struct {
		Type       string `yaml:"Type"`
		Properties struct {
			// Event source mapping.
			FunctionName                   string    `yaml:"FunctionName"`
			BatchSize                      *int      `yaml:"BatchSize"`
			MaximumBatchingWindowInSeconds int       `yaml:"MaximumBatchingWindowInSeconds"`
			BisectBatchOnFunctionError     bool      `yaml:"BisectBatchOnFunctionError"`
			MaximumRetryAttempts           *int      `yaml:"MaximumRetryAttempts"`
			FunctionResponseTypes          []string  `yaml:"FunctionResponseTypes"`
			StartingPosition               string    `yaml:"StartingPosition"`
			ParallelizationFactor          *int      `yaml:"ParallelizationFactor"`
			FilterCriteria                 yaml.Node `yaml:"FilterCriteria"`
			// Function.
			Timeout int `yaml:"Timeout"`
		} `yaml:"Properties"`
	} `yaml:"Resources"`
}

// FromTemplate reads the one AWS::Lambda::EventSourceMapping of the SAM
// template at path (and its function's Timeout). Anything the poller cannot
// play the same way is an error rather than silently different behaviour.
func FromTemplate(path string) (Mapping, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Mapping{}, err
	}
	var doc template
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return Mapping{}, fmt.Errorf("parse %s: %w", path, err)
	}
	var m Mapping
	found := 0
	for id, r := range doc.Resources {
		if r.Type != "AWS::Lambda::EventSourceMapping" {
			continue
		}
		found++
		p := r.Properties
		m = Mapping{
			Function:                   p.FunctionName,
			BatchSize:                  100, // the service's default for DynamoDB streams
			BatchingWindow:             time.Duration(p.MaximumBatchingWindowInSeconds) * time.Second,
			BisectBatchOnFunctionError: p.BisectBatchOnFunctionError,
			MaximumRetryAttempts:       -1,
			StartingPosition:           p.StartingPosition,
		}
		if p.BatchSize != nil {
			m.BatchSize = *p.BatchSize
		}
		if p.MaximumRetryAttempts != nil {
			m.MaximumRetryAttempts = *p.MaximumRetryAttempts
		}
		for _, t := range p.FunctionResponseTypes {
			if t != "ReportBatchItemFailures" {
				return Mapping{}, fmt.Errorf("%s: %s: unknown FunctionResponseTypes %q", path, id, t)
			}
			m.ReportBatchItemFailures = true
		}
		if p.ParallelizationFactor != nil && *p.ParallelizationFactor != 1 {
			return Mapping{}, fmt.Errorf("%s: %s: ParallelizationFactor %d: the local poller runs one batch per shard at a time", path, id, *p.ParallelizationFactor)
		}
		if m.BatchSize < 1 || m.BatchSize > 10000 {
			return Mapping{}, fmt.Errorf("%s: %s: BatchSize %d out of 1..10000", path, id, m.BatchSize)
		}
		switch m.StartingPosition {
		case "TRIM_HORIZON", "LATEST":
		default:
			return Mapping{}, fmt.Errorf("%s: %s: StartingPosition %q: want TRIM_HORIZON or LATEST", path, id, m.StartingPosition)
		}
		if m.Filter, err = filterFromNode(&p.FilterCriteria); err != nil {
			return Mapping{}, fmt.Errorf("%s: %s: %w", path, id, err)
		}
	}
	if found != 1 {
		return Mapping{}, fmt.Errorf("%s: want one AWS::Lambda::EventSourceMapping, found %d", path, found)
	}
	fn, ok := doc.Resources[m.Function]
	if !ok {
		return Mapping{}, fmt.Errorf("%s: the event source mapping's function %q is not a resource of the template", path, m.Function)
	}
	secs := fn.Properties.Timeout
	if secs == 0 {
		secs = doc.Globals.Function.Timeout
	}
	if secs == 0 {
		secs = 3 // Lambda's default
	}
	m.Timeout = time.Duration(secs) * time.Second
	return m, nil
}

func filterFromNode(n *yaml.Node) (Filter, error) {
	if n.Kind == 0 {
		return Filter{}, nil
	}
	var fc struct {
		Filters []struct {
			Pattern string `yaml:"Pattern"`
		} `yaml:"Filters"`
	}
	if err := n.Decode(&fc); err != nil {
		return Filter{}, fmt.Errorf("FilterCriteria: %w", err)
	}
	var patterns []string
	for _, f := range fc.Filters {
		patterns = append(patterns, f.Pattern)
	}
	return ParseFilter(patterns...)
}
