// Package smlocal is a small in-memory Secrets Manager for tests and the local
// stack. It speaks the service's JSON 1.1 protocol for the calls this project
// makes (GetSecretValue, CreateSecret, PutSecretValue, DeleteSecret,
// RestoreSecret, DescribeSecret, ListSecrets with name filters), so the real SDK client talks to it through
// its standard endpoint override (BaseEndpoint, or AWS_ENDPOINT_URL_SECRETS_MANAGER).
// It counts calls per operation and can be told to fail, for cache and outage
// tests. Request signatures are not checked.
package smlocal

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Operation names, as in the X-Amz-Target header after "secretsmanager.".
const (
	OpGetSecretValue = "GetSecretValue"
	OpCreateSecret   = "CreateSecret"
	OpPutSecretValue = "PutSecretValue"
	OpDeleteSecret   = "DeleteSecret"
	OpRestoreSecret  = "RestoreSecret"
	OpDescribeSecret = "DescribeSecret"
	OpListSecrets    = "ListSecrets"
)

// AllOperations, given to SetFailure, makes every operation fail.
const AllOperations = "*"

const (
	targetPrefix = "secretsmanager."
	contentType  = "application/x-amz-json-1.1"
	// Region and account of the ARNs it makes up.
	Region  = "us-east-1"
	account = "000000000000"

	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
)

// Failure is an error answer injected with SetFailure.
type Failure struct {
	Status  int    // HTTP status
	Type    string // the __type error code
	Message string
	// Count is how many calls fail before the failure clears itself; 0 means
	// until SetFailure(op, nil).
	Count int
}

// Common failures: the SDK retries the first two (throttling with its throttle
// budget), not the last two.
var (
	Throttling = Failure{Status: http.StatusBadRequest, Type: "ThrottlingException", Message: "Rate exceeded"}
	Internal   = Failure{Status: http.StatusInternalServerError, Type: "InternalServiceError", Message: "An error occurred on the server side."}
	// AccessDenied is what IAM answers for a request the caller's policy does not allow.
	AccessDenied = Failure{Status: http.StatusBadRequest, Type: "AccessDeniedException",
		Message: "User is not authorized to perform: secretsmanager:GetSecretValue on resource"}
	// DecryptionFailure is Secrets Manager failing to decrypt with the secret's KMS key.
	DecryptionFailure = Failure{Status: http.StatusBadRequest, Type: "DecryptionFailure",
		Message: "Secrets Manager can't decrypt the protected secret text using the provided KMS key."}
)

// Service is the Secrets Manager endpoint, an http.Handler.
type Service struct {
	// Now stamps dates; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	secrets  map[string]*secret // by name
	calls    map[string]int
	failures map[string]*Failure
}

type secret struct {
	arn, name, description string
	created, changed       time.Time
	deletedAt              time.Time // zero unless scheduled for deletion
	versions               []*version
}

type version struct {
	id      string
	str     *string
	bin     []byte
	stages  []string
	created time.Time
}

// New returns an empty Service.
func New() *Service {
	return &Service{secrets: map[string]*secret{}, calls: map[string]int{}, failures: map[string]*Failure{}}
}

// Calls returns how many requests for op arrived (failed ones included).
func (s *Service) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// ResetCalls sets every call count to zero.
func (s *Service) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
}

// SetFailure makes op (or AllOperations) answer f; nil clears it.
func (s *Service) SetFailure(op string, f *Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == nil {
		delete(s.failures, op)
		return
	}
	c := *f
	s.failures[op] = &c
}

// apiError is an error answer in the protocol's shape.
type apiError struct {
	status int
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func errNotFound() *apiError {
	return &apiError{http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."}
}

func errMarkedForDeletion() *apiError {
	return &apiError{http.StatusBadRequest, "InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion."}
}

func errParam(msg string) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidParameterException", msg}
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeError(w, &apiError{http.StatusMethodNotAllowed, "UnknownOperationException", "only POST is supported"})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	if !ok {
		writeError(w, &apiError{http.StatusBadRequest, "UnknownOperationException", "missing or foreign X-Amz-Target"})
		return
	}
	var in map[string]any
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "SerializationException", "request body is not a JSON object"})
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	if err := s.injected(op); err != nil {
		writeError(w, err)
		return
	}
	var out any
	var err *apiError
	switch op {
	case OpGetSecretValue:
		out, err = s.getSecretValue(in)
	case OpCreateSecret:
		out, err = s.createSecret(in)
	case OpPutSecretValue:
		out, err = s.putSecretValue(in)
	case OpDeleteSecret:
		out, err = s.deleteSecret(in)
	case OpRestoreSecret:
		out, err = s.restoreSecret(in)
	case OpDescribeSecret:
		out, err = s.describeSecret(in)
	case OpListSecrets:
		out, err = s.listSecrets(in)
	default:
		err = &apiError{http.StatusBadRequest, "UnknownOperationException", "operation " + op + " is not supported by smlocal"}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", contentType)
	_ = json.NewEncoder(w).Encode(out)
}

// injected returns the failure set for op, if any, counting it down.
func (s *Service) injected(op string) *apiError {
	for _, key := range []string{op, AllOperations} {
		f := s.failures[key]
		if f == nil {
			continue
		}
		if f.Count > 0 {
			if f.Count--; f.Count == 0 {
				delete(s.failures, key)
			}
		}
		return &apiError{f.Status, f.Type, f.Message}
	}
	return nil
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.typ, "Message": e.msg})
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// epoch is the protocol's timestamp: seconds since the epoch, a JSON number.
func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func str(in map[string]any, name string) (string, bool) {
	v, ok := in[name].(string)
	return v, ok
}

// find resolves a SecretId, a name or an ARN.
func (s *Service) find(in map[string]any) (*secret, *apiError) {
	id, ok := str(in, "SecretId")
	if !ok || id == "" {
		return nil, errParam("SecretId is required")
	}
	if sec := s.secrets[id]; sec != nil {
		return sec, nil
	}
	for _, sec := range s.secrets {
		if sec.arn == id {
			return sec, nil
		}
	}
	return nil, errNotFound()
}

func (s *Service) getSecretValue(in map[string]any) (any, *apiError) {
	sec, err := s.find(in)
	if err != nil {
		return nil, err
	}
	if !sec.deletedAt.IsZero() {
		return nil, errMarkedForDeletion()
	}
	wantID, byID := str(in, "VersionId")
	stage, byStage := str(in, "VersionStage")
	if !byID && !byStage {
		stage, byStage = stageCurrent, true
	}
	for _, v := range sec.versions {
		if byID && v.id != wantID || byStage && !hasStage(v, stage) {
			continue
		}
		out := map[string]any{
			"ARN": sec.arn, "Name": sec.name, "VersionId": v.id,
			"VersionStages": v.stages, "CreatedDate": epoch(v.created),
		}
		if v.str != nil {
			out["SecretString"] = *v.str
		} else {
			out["SecretBinary"] = v.bin // encoding/json writes []byte as base64, as the protocol does
		}
		return out, nil
	}
	return nil, &apiError{http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for the requested version or staging label."}
}

func hasStage(v *version, stage string) bool {
	for _, s := range v.stages {
		if s == stage {
			return true
		}
	}
	return false
}

// value reads SecretString or SecretBinary (base64 on the wire).
func value(in map[string]any) (*string, []byte, *apiError) {
	sv, hasStr := str(in, "SecretString")
	bv, hasBin := str(in, "SecretBinary")
	switch {
	case hasStr && hasBin:
		return nil, nil, errParam("You can't specify both a binary secret value and a string secret value in the same secret.")
	case hasStr:
		return &sv, nil, nil
	case hasBin:
		var b []byte
		if err := json.Unmarshal([]byte(`"`+bv+`"`), &b); err != nil {
			return nil, nil, errParam("SecretBinary is not base64")
		}
		return nil, b, nil
	}
	return nil, nil, nil
}

func (s *Service) createSecret(in map[string]any) (any, *apiError) {
	name, ok := str(in, "Name")
	if !ok || name == "" || len(name) > 512 {
		return nil, errParam("Name is required (1 to 512 characters)")
	}
	if old := s.secrets[name]; old != nil {
		if !old.deletedAt.IsZero() {
			return nil, &apiError{http.StatusBadRequest, "InvalidRequestException", "You can't create this secret because a secret with this name is already scheduled for deletion."}
		}
		return nil, &apiError{http.StatusBadRequest, "ResourceExistsException", "The operation failed because the secret " + name + " already exists."}
	}
	strVal, bin, err := value(in)
	if err != nil {
		return nil, err
	}
	now := s.now()
	desc, _ := str(in, "Description")
	sec := &secret{arn: fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", Region, account, name, randomSuffix()),
		name: name, description: desc, created: now, changed: now}
	s.secrets[name] = sec
	out := map[string]any{"ARN": sec.arn, "Name": name}
	if strVal != nil || bin != nil {
		v := s.addVersion(sec, in, strVal, bin, now)
		out["VersionId"] = v.id
	}
	return out, nil
}

func (s *Service) putSecretValue(in map[string]any) (any, *apiError) {
	sec, err := s.find(in)
	if err != nil {
		return nil, err
	}
	if !sec.deletedAt.IsZero() {
		return nil, errMarkedForDeletion()
	}
	strVal, bin, err := value(in)
	if err != nil {
		return nil, err
	}
	if strVal == nil && bin == nil {
		return nil, errParam("You must provide either SecretString or SecretBinary.")
	}
	v := s.addVersion(sec, in, strVal, bin, s.now())
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": v.stages}, nil
}

// addVersion makes a new AWSCURRENT version; the old current one becomes
// AWSPREVIOUS, and versions left with no stage are dropped. A repeated
// ClientRequestToken returns the version it made (idempotency).
func (s *Service) addVersion(sec *secret, in map[string]any, strVal *string, bin []byte, now time.Time) *version {
	token, _ := str(in, "ClientRequestToken")
	if token != "" {
		for _, v := range sec.versions {
			if v.id == token {
				return v
			}
		}
	} else {
		token = randomUUID()
	}
	kept := sec.versions[:0]
	for _, v := range sec.versions {
		switch {
		case hasStage(v, stageCurrent):
			v.stages = []string{stagePrevious}
		case hasStage(v, stagePrevious):
			v.stages = nil
		}
		if len(v.stages) > 0 {
			kept = append(kept, v)
		}
	}
	v := &version{id: token, str: strVal, bin: bin, stages: []string{stageCurrent}, created: now}
	sec.versions = append(kept, v)
	sec.changed = now
	return v
}

func (s *Service) deleteSecret(in map[string]any) (any, *apiError) {
	sec, err := s.find(in)
	if err != nil {
		return nil, err
	}
	force, _ := in["ForceDeleteWithoutRecovery"].(bool)
	days := int64(30)
	if n, ok := in["RecoveryWindowInDays"].(json.Number); ok {
		if force {
			return nil, errParam("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
		}
		d, convErr := n.Int64()
		if convErr != nil || d < 7 || d > 30 {
			return nil, errParam("RecoveryWindowInDays must be between 7 and 30 days.")
		}
		days = d
	}
	if !sec.deletedAt.IsZero() && !force {
		return nil, errMarkedForDeletion()
	}
	now := s.now()
	when := now.AddDate(0, 0, int(days))
	if force {
		delete(s.secrets, sec.name)
		when = now
	} else {
		sec.deletedAt = when
	}
	return map[string]any{"ARN": sec.arn, "Name": sec.name, "DeletionDate": epoch(when)}, nil
}

func (s *Service) restoreSecret(in map[string]any) (any, *apiError) {
	sec, err := s.find(in)
	if err != nil {
		return nil, err
	}
	sec.deletedAt = time.Time{}
	return map[string]any{"ARN": sec.arn, "Name": sec.name}, nil
}

func (s *Service) describeSecret(in map[string]any) (any, *apiError) {
	sec, err := s.find(in)
	if err != nil {
		return nil, err
	}
	stages := map[string][]string{}
	for _, v := range sec.versions {
		stages[v.id] = v.stages
	}
	out := map[string]any{
		"ARN": sec.arn, "Name": sec.name, "CreatedDate": epoch(sec.created),
		"LastChangedDate": epoch(sec.changed), "VersionIdsToStages": stages,
	}
	if sec.description != "" {
		out["Description"] = sec.description
	}
	if !sec.deletedAt.IsZero() {
		out["DeletedDate"] = epoch(sec.deletedAt)
	}
	return out, nil
}

// listSecrets lists secrets in CreatedDate order (then name), the "name"
// filter as a case-sensitive prefix match as in the service, the ones scheduled
// for deletion only with IncludePlannedDeletion. NextToken is the name of the
// last secret returned. Other filter keys are refused rather than ignored.
func (s *Service) listSecrets(in map[string]any) (any, *apiError) {
	var prefixes []string
	filters, _ := in["Filters"].([]any)
	for _, f := range filters {
		m, _ := f.(map[string]any)
		if key, _ := str(m, "Key"); key != "name" {
			return nil, errParam("smlocal supports only the name filter")
		}
		vals, _ := m["Values"].([]any)
		for _, v := range vals {
			p, _ := v.(string)
			if strings.HasPrefix(p, "!") {
				return nil, errParam("smlocal does not support negated filters")
			}
			prefixes = append(prefixes, p)
		}
	}
	max := 100
	if n, ok := in["MaxResults"].(json.Number); ok {
		v, err := n.Int64()
		if err != nil || v < 1 || v > 100 {
			return nil, errParam("MaxResults must be between 1 and 100")
		}
		max = int(v)
	}
	planned, _ := in["IncludePlannedDeletion"].(bool)
	desc := false
	if o, _ := str(in, "SortOrder"); o == "desc" {
		desc = true
	}
	var all []*secret
	for _, sec := range s.secrets {
		if !sec.deletedAt.IsZero() && !planned {
			continue
		}
		match := len(prefixes) == 0
		for _, p := range prefixes {
			match = match || strings.HasPrefix(sec.name, p)
		}
		if match {
			all = append(all, sec)
		}
	}
	slices.SortFunc(all, func(a, b *secret) int {
		c := a.created.Compare(b.created)
		if c == 0 {
			c = strings.Compare(a.name, b.name)
		}
		if desc {
			c = -c
		}
		return c
	})
	if token, ok := str(in, "NextToken"); ok && token != "" {
		i := slices.IndexFunc(all, func(sec *secret) bool { return sec.name == token })
		if i < 0 {
			return nil, &apiError{http.StatusBadRequest, "InvalidNextTokenException", "The NextToken value is invalid."}
		}
		all = all[i+1:]
	}
	out := map[string]any{}
	if len(all) > max {
		all = all[:max]
		out["NextToken"] = all[max-1].name
	}
	list := make([]map[string]any, 0, len(all))
	for _, sec := range all {
		e := map[string]any{"ARN": sec.arn, "Name": sec.name, "CreatedDate": epoch(sec.created), "LastChangedDate": epoch(sec.changed)}
		if sec.description != "" {
			e["Description"] = sec.description
		}
		if !sec.deletedAt.IsZero() {
			e["DeletedDate"] = epoch(sec.deletedAt)
		}
		list = append(list, e)
	}
	out["SecretList"] = list
	return out, nil
}

func randomSuffix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func randomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Server is a Service listening on a TCP address.
type Server struct {
	*Service
	// URL is the endpoint to give the SDK, e.g. http://127.0.0.1:8010.
	URL string
	srv *http.Server
}

// Listen serves a new Service on addr ("127.0.0.1:8010"; port 0 picks a free
// one). An address on every interface ("0.0.0.0:8010", ":8010") or on the
// Docker bridge is what a `sam local` container reaches through
// host.docker.internal on Linux; URL then names the loopback address, which
// reaches it from this machine.
func Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	bound := ln.Addr().(*net.TCPAddr)
	host := bound.IP.String()
	if bound.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	svc := New()
	s := &Server{Service: svc, URL: "http://" + net.JoinHostPort(host, strconv.Itoa(bound.Port)),
		srv: &http.Server{Handler: svc, ReadHeaderTimeout: 10 * time.Second}}
	// Serve returns ErrServerClosed after Close; nothing else is expected of a live listener.
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}
