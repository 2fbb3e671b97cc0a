package api

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vip-messages/api/internal/clienterr"
	"github.com/vip-messages/api/internal/messages"
	"github.com/vip-messages/api/internal/rfc3339"
	"github.com/vip-messages/api/internal/table"
)

// Query-string rules, as openapi.yaml states them.
const (
	minLimit     = 1
	maxLimit     = 200
	defaultLimit = 50
	maxBeforeLen = 1024
	// maxBeforeMS is the largest epoch-ms a 13-digit sort key holds (year 2286).
	maxBeforeMS = 9_999_999_999_999
	maxWindow   = 31 * 24 * time.Hour
)

var (
	contentTypes = []string{"text", "postback", "attachment", "other"}
	// The dates a 13-digit millisecond sort key holds, with room for the end of
	// the last day.
	minDate = time.Unix(0, 0).UTC()
	maxDate = time.Date(2285, 12, 31, 23, 59, 59, 999_999_999, time.UTC)
)

// queryLabelPattern is what a `label` of the query may hold: a label
// (table.LabelPattern) without '%' or ';'. API Gateway's emulators pass an
// escape they cannot decode through as it was sent (`label=a%ZZ` arrives as
// "a%ZZ"), and split pairs on '&' only (`label=a;limit=5` arrives as one
// label): the handler cannot tell such a value from a decoded one, so it
// refuses both characters rather than filter on what the client did not mean
// (docs/api.md, "Percent-encoding").
const queryLabelPattern = `^[^#%;\p{Cc}]+$`

// knownParams in schema order: violations are reported in this order, then
// unknown parameters in name order.
var knownParams = []string{"workspaceId", "mediumId", "from", "to", "label", "contentType", "limit", "before"}

// params is a query string that passed the schema.
type params struct {
	workspaceID, mediumID string
	from, to              bound
	label, contentType    string
	limit                 int
	before                string // "" when absent
}

// bound is a parsed from/to value: a whole UTC day, or an instant.
type bound struct {
	t        time.Time
	dateOnly bool
}

// labelsParams are the parameters of GET /vip-messages/labels: the window's,
// with the same rules; the others are unknown there.
var labelsParams = knownParams[:4]

// validate checks the query string against the schema and reports every
// violation at once. single holds one value per name, multi every value (API
// Gateway fills both; either may be nil in hand-made events).
func validate(single map[string]string, multi map[string][]string) (params, error) {
	return validateParams(knownParams, single, multi)
}

// validateParams is validate for a route whose parameters are known, a prefix
// of knownParams in its order.
func validateParams(known []string, single map[string]string, multi map[string][]string) (params, error) {
	values := map[string][]string{}
	for k, v := range multi {
		values[k] = v
	}
	for k, v := range single {
		if _, ok := values[k]; !ok {
			values[k] = []string{v}
		}
	}

	var p params
	var vs []clienterr.Violation
	add := func(v *clienterr.Violation) {
		if v != nil {
			vs = append(vs, *v)
		}
	}
	// get returns the single value of a parameter, or a violation when it is repeated.
	get := func(key string) (string, bool) {
		v, ok := values[key]
		if !ok || len(v) == 0 {
			return "", false
		}
		if len(v) > 1 {
			add(&clienterr.Violation{
				Message: fmt.Sprintf("%q must be given only once", key),
				Path:    []string{key}, Type: "any.duplicate",
				Context: ctx(key, v),
			})
			return "", false
		}
		return v[0], true
	}

	for _, key := range known {
		if len(values[key]) > 1 {
			get(key) // reports the repetition
			continue
		}
		raw, present := get(key)
		switch key {
		case "workspaceId", "mediumId":
			if !present {
				add(required(key))
				continue
			}
			add(checkID(key, raw))
			if key == "workspaceId" {
				p.workspaceID = raw
			} else {
				p.mediumID = raw
			}
		case "from", "to":
			if !present {
				add(required(key))
				continue
			}
			b, v := parseBound(key, raw)
			add(v)
			if key == "from" {
				p.from = b
			} else {
				p.to = b
			}
		case "label":
			if present {
				add(checkLabel(raw))
				p.label = raw
			}
		case "contentType":
			if present {
				if !slices.Contains(contentTypes, raw) {
					c := ctx(key, raw)
					c["valids"] = contentTypes
					add(&clienterr.Violation{
						Message: fmt.Sprintf("%q must be one of [%s]", key, strings.Join(contentTypes, ", ")),
						Path:    []string{key}, Type: "any.only", Context: c,
					})
				}
				p.contentType = raw
			}
		case "limit":
			p.limit = defaultLimit
			if present {
				n, v := parseLimit(raw)
				add(v)
				p.limit = n
			}
		case "before":
			if present {
				add(checkBefore(raw))
				p.before = raw
			}
		}
	}

	var unknown []string
	for k := range values {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		c := ctx(k, values[k])
		c["child"] = k
		if len(values[k]) == 1 {
			c["value"] = values[k][0]
		}
		add(&clienterr.Violation{Message: fmt.Sprintf("%q is not allowed", k), Path: []string{k}, Type: "object.unknown", Context: c})
	}

	if len(vs) > 0 {
		return params{}, &clienterr.Error{Kind: clienterr.InvalidQuery, Violations: vs}
	}
	return p, nil
}

func ctx(key string, value any) map[string]any {
	return map[string]any{"key": key, "label": key, "value": value}
}

func required(key string) *clienterr.Violation {
	return &clienterr.Violation{
		Message: fmt.Sprintf("%q is required", key),
		Path:    []string{key}, Type: "any.required",
		Context: map[string]any{"key": key, "label": key},
	}
}

func checkID(key, raw string) *clienterr.Violation {
	switch {
	case raw == "":
		return &clienterr.Violation{Message: fmt.Sprintf("%q is not allowed to be empty", key), Path: []string{key}, Type: "string.empty", Context: ctx(key, raw)}
	case len(raw) > table.MaxIDLen:
		c := ctx(key, raw)
		c["limit"] = table.MaxIDLen
		return &clienterr.Violation{Message: fmt.Sprintf("%q length must be less than or equal to %d characters long", key, table.MaxIDLen), Path: []string{key}, Type: "string.max", Context: c}
	case !table.ValidPublicID(raw):
		c := ctx(key, raw)
		c["regex"] = "/" + table.IDPattern + "/"
		return &clienterr.Violation{Message: fmt.Sprintf("%q with value %q fails to match the required pattern: /%s/", key, raw, table.IDPattern), Path: []string{key}, Type: "string.pattern.base", Context: c}
	}
	return nil
}

func checkLabel(raw string) *clienterr.Violation {
	const key = "label"
	switch {
	case raw == "":
		return &clienterr.Violation{Message: `"label" is not allowed to be empty`, Path: []string{key}, Type: "string.empty", Context: ctx(key, raw)}
	case utf8.RuneCountInString(raw) > table.MaxLabelLen:
		c := ctx(key, raw)
		c["limit"] = table.MaxLabelLen
		return &clienterr.Violation{Message: fmt.Sprintf(`"label" length must be less than or equal to %d characters long`, table.MaxLabelLen), Path: []string{key}, Type: "string.max", Context: c}
	case !table.ValidLabel(raw) || strings.ContainsAny(raw, "%;"):
		c := ctx(key, raw)
		c["regex"] = "/" + queryLabelPattern + "/"
		return &clienterr.Violation{Message: fmt.Sprintf("%q with value %q fails to match the required pattern: /%s/", key, raw, queryLabelPattern), Path: []string{key}, Type: "string.pattern.base", Context: c}
	}
	return nil
}

// parseBound reads a date (YYYY-MM-DD, a UTC day) or an RFC 3339 date-time with
// an offset and optional fraction, both strictly (internal/rfc3339).
func parseBound(key, raw string) (bound, *clienterr.Violation) {
	var b bound
	if t, err := rfc3339.ParseDate(raw); err == nil {
		b = bound{t: t, dateOnly: true}
	} else if t, err := rfc3339.Parse(raw); err == nil {
		b = bound{t: t}
	} else {
		c := ctx(key, raw)
		c["format"] = "iso"
		return b, &clienterr.Violation{
			Message: fmt.Sprintf("%q must be in ISO 8601 date format (YYYY-MM-DD, or a date-time with an offset such as 2026-06-01T12:00:00Z)", key),
			Path:    []string{key}, Type: "date.format", Context: c,
		}
	}
	if b.t.Before(minDate) {
		c := ctx(key, raw)
		c["limit"] = minDate.Format(time.RFC3339)
		return b, &clienterr.Violation{Message: fmt.Sprintf("%q must be greater than or equal to %q", key, c["limit"]), Path: []string{key}, Type: "date.min", Context: c}
	}
	if b.t.After(maxDate) {
		c := ctx(key, raw)
		c["limit"] = maxDate.Format(time.RFC3339Nano)
		return b, &clienterr.Violation{Message: fmt.Sprintf("%q must be less than or equal to %q", key, c["limit"]), Path: []string{key}, Type: "date.max", Context: c}
	}
	return b, nil
}

func parseLimit(raw string) (int, *clienterr.Violation) {
	const key = "limit"
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, &clienterr.Violation{Message: `"limit" must be a number`, Path: []string{key}, Type: "number.base", Context: ctx(key, raw)}
	}
	c := ctx(key, f)
	switch {
	case f != math.Trunc(f):
		return 0, &clienterr.Violation{Message: `"limit" must be an integer`, Path: []string{key}, Type: "number.integer", Context: c}
	case f < minLimit:
		c["limit"] = minLimit
		return 0, &clienterr.Violation{Message: fmt.Sprintf(`"limit" must be greater than or equal to %d`, minLimit), Path: []string{key}, Type: "number.min", Context: c}
	case f > maxLimit:
		c["limit"] = maxLimit
		return 0, &clienterr.Violation{Message: fmt.Sprintf(`"limit" must be less than or equal to %d`, maxLimit), Path: []string{key}, Type: "number.max", Context: c}
	}
	return int(f), nil
}

// checkBefore applies the schema to `before`; whether a non-numeric value is a
// cursor this API issued is decided later (a 400, not a 422).
func checkBefore(raw string) *clienterr.Violation {
	const key = "before"
	switch {
	case raw == "":
		return &clienterr.Violation{Message: `"before" is not allowed to be empty`, Path: []string{key}, Type: "string.empty", Context: ctx(key, raw)}
	case len(raw) > maxBeforeLen:
		c := ctx(key, raw)
		c["limit"] = maxBeforeLen
		return &clienterr.Violation{Message: fmt.Sprintf(`"before" length must be less than or equal to %d characters long`, maxBeforeLen), Path: []string{key}, Type: "string.max", Context: c}
	case isDigits(raw):
		if n, err := strconv.ParseInt(raw, 10, 64); err != nil || n > maxBeforeMS {
			c := ctx(key, raw)
			c["limit"] = maxBeforeMS
			return &clienterr.Violation{Message: fmt.Sprintf(`"before" as an epoch-ms timestamp must be less than or equal to %d`, int64(maxBeforeMS)), Path: []string{key}, Type: "number.max", Context: c}
		}
	}
	return nil
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// query turns valid params into the half-open interval [from, until) and the
// cursor position, or a 400.
func (p params) query() (messages.Query, error) {
	from := p.from.t
	until := p.to.t
	if p.to.dateOnly {
		until = until.AddDate(0, 0, 1) // a date-only `to` includes that whole day
	} else {
		// A date-time `to` is inclusive: every message of its millisecond counts.
		until = time.UnixMilli(until.UnixMilli() + 1)
	}
	if p.from.t.After(p.to.t) && !(p.to.dateOnly && from.Before(until)) {
		return messages.Query{}, errWindowReversed
	}
	// openapi.yaml: (end-exclusive − from) longer than 31 days is a 400.
	if until.Sub(from) > maxWindow {
		return messages.Query{}, errWindowTooLong
	}
	q := messages.Query{
		WorkspaceID: p.workspaceID, MediumID: p.mediumID,
		From: from, Until: until,
		Label: p.label, ContentType: p.contentType, Limit: p.limit,
	}
	switch {
	case p.before == "":
	case isDigits(p.before):
		n, _ := strconv.ParseInt(p.before, 10, 64) // checked by the schema
		pos := messages.PositionAt(n)
		q.Before = &pos
	default:
		pos, err := messages.ParseCursor(p.before)
		if err != nil {
			return messages.Query{}, err
		}
		q.Before = &pos
	}
	return q, nil
}
