package streampoller

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Filter is an event source mapping's FilterCriteria: a record reaches the
// function when it matches any of the patterns (none: every record). A
// pattern is matched, as Lambda does, against the record's JSON as the
// function would receive it ({"eventName": ..., "dynamodb": {"Keys": ...}}).
//
// The rules supported are the ones a key or attribute filter needs: exact
// strings, numbers and null, {"prefix": "..."} and {"exists": bool}. Any
// other rule is rejected when the filter is parsed, so that the local stack
// never silently filters differently from a deployed stage.
type Filter struct {
	patterns []map[string]any
}

// ParseFilter parses Lambda filter patterns (JSON).
func ParseFilter(patterns ...string) (Filter, error) {
	var f Filter
	for _, p := range patterns {
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(p))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return Filter{}, fmt.Errorf("filter pattern %s: %w", p, err)
		}
		if err := checkPattern(m); err != nil {
			return Filter{}, fmt.Errorf("filter pattern %s: %w", p, err)
		}
		f.patterns = append(f.patterns, m)
	}
	return f, nil
}

func checkPattern(m map[string]any) error {
	if len(m) == 0 {
		return errors.New("empty object")
	}
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			if err := checkPattern(x); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		case []any:
			if len(x) == 0 {
				return fmt.Errorf("%s: empty rule list", k)
			}
			for _, rule := range x {
				if err := checkRule(rule); err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
			}
		default:
			return fmt.Errorf("%s: want an object or a list of rules, got %v", k, v)
		}
	}
	return nil
}

func checkRule(rule any) error {
	switch r := rule.(type) {
	case string, json.Number, nil:
		return nil
	case map[string]any:
		if len(r) != 1 {
			return fmt.Errorf("rule %v: want one operator", r)
		}
		if p, ok := r["prefix"]; ok {
			if _, ok := p.(string); !ok {
				return fmt.Errorf("prefix %v: want a string", p)
			}
			return nil
		}
		if e, ok := r["exists"]; ok {
			if _, ok := e.(bool); !ok {
				return fmt.Errorf("exists %v: want true or false", e)
			}
			return nil
		}
		return fmt.Errorf("rule %v: not supported by the local poller", r)
	}
	return fmt.Errorf("rule %v: not supported by the local poller", rule)
}

// Empty reports whether the filter lets every record through.
func (f Filter) Empty() bool { return len(f.patterns) == 0 }

// Match reports whether the record reaches the function.
func (f Filter) Match(r events.DynamoDBEventRecord) bool {
	if len(f.patterns) == 0 {
		return true
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return false
	}
	var doc map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return false
	}
	for _, p := range f.patterns {
		if matchObject(p, doc) {
			return true
		}
	}
	return false
}

func matchObject(pattern, doc map[string]any) bool {
	for k, want := range pattern {
		v, present := doc[k]
		switch w := want.(type) {
		case map[string]any:
			sub, ok := v.(map[string]any)
			if !ok || !matchObject(w, sub) {
				return false
			}
		case []any:
			if !matchRules(w, v, present) {
				return false
			}
		}
	}
	return true
}

// matchRules: any rule matching the value (or, for a list value, any element).
func matchRules(rules []any, v any, present bool) bool {
	values := []any{v}
	if l, ok := v.([]any); ok {
		values = l
	}
	for _, rule := range rules {
		if r, ok := rule.(map[string]any); ok {
			if e, ok := r["exists"]; ok {
				if e.(bool) == present {
					return true
				}
				continue
			}
		}
		if !present {
			continue
		}
		for _, x := range values {
			if matchRule(rule, x) {
				return true
			}
		}
	}
	return false
}

func matchRule(rule, v any) bool {
	switch r := rule.(type) {
	case nil:
		return v == nil
	case string:
		s, ok := v.(string)
		return ok && s == r
	case json.Number:
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		a, err1 := r.Float64()
		b, err2 := n.Float64()
		return err1 == nil && err2 == nil && a == b
	case map[string]any:
		if p, ok := r["prefix"]; ok {
			s, ok := v.(string)
			return ok && strings.HasPrefix(s, p.(string))
		}
	}
	return false
}
