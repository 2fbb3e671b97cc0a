package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/vip-messages/api/internal/auth"
	schema "github.com/vip-messages/api/internal/table"
)

func init() {
	register(&command{name: "keys", summary: "create, rotate and revoke API keys (Secrets Manager)", subs: []*command{
		{name: "create", args: "--workspace ID [--workspace ID ...] [--id KEYID] [--tier T --stage S] [--min-signature-version 1] [--prefix P] [--json]", summary: "create a key, version 2 signatures only unless --min-signature-version 1; prints its id and secret once", run: keysCreate},
		{name: "rotate", args: "[--force] [--stage S] [--prefix P] [--json] KEYID", summary: "add a new current secret, keep the old one as previous", run: keysRotate},
		{name: "retire-previous", args: "[--stage S] [--prefix P] KEYID", summary: "drop the previous secret once callers use the new one", run: keysRetirePrevious},
		{name: "revoke", args: "[--force] [--recovery-days N] [--stage S] [--prefix P] KEYID", summary: "delete the key's API Gateway key and its secret (recoverable unless --force)", run: keysRevoke},
		{name: "restore", args: "[--stage S [--tier T]] [--prefix P] KEYID", summary: "undo a revoke within its recovery window (with --stage, its API Gateway key too)", run: keysRestore},
		{name: "set-tier", args: "--tier T --stage S KEYID", summary: "move a key to a rate-limit tier of a deployed stage (registers it there if needed)", run: keysSetTier},
		{name: "show", args: "[--stage S] [--prefix P] KEYID", summary: "show a key's workspaces and number of secrets (never the secrets)", run: keysShow},
		{name: "list", args: "[--limit N] [--next TOKEN] [--all] [--json] [--stage S] [--prefix P]", summary: "list the keys under the prefix, revoked ones included", run: keysList},
		{name: "set-workspaces", args: "[--workspace ID ...] [--min-signature-version 1|2] [--stage S] [--prefix P] KEYID", summary: "replace the workspaces a key may read, or the oldest signature version it accepts", run: keysSetWorkspaces},
	}})
}

// keyIDPrefix starts generated key ids.
const keyIDPrefix = "vk_"

// newKeyID is keyIDPrefix and 20 random hex digits: [A-Za-z0-9_-]{8,128}.
func newKeyID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return keyIDPrefix + hex.EncodeToString(b)
}

// newSecret is 32 random bytes, base64url without padding (43 characters, safe
// in shells and URLs).
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// keyFlags are the flags every keys subcommand has.
type keyFlags struct {
	f      *flags
	prefix string
	// stage is --stage of a command without edge flags: it names the prefix only.
	stage string
	// local is set by open: the endpoint is on this machine (the local stack).
	local bool
}

func (k *keyFlags) register(f *flags, e *env) {
	k.f = f
	prefixTarget.register(f, e, &k.prefix)
}

// registerStage adds --stage to a command that touches only the key's secret,
// so that every keys command takes the same --stage as create and revoke.
func (k *keyFlags) registerStage(f *flags, e *env) {
	f.StringVar(&k.stage, "stage", e.getenv(envStage), "deployed stage (dev, staging, prod) whose secret prefix to use unless --prefix or $"+envSecretPrefix+" names one ($"+envStage+")")
}

// open returns the Secrets Manager client once the shared guard passed.
func (k *keyFlags) open(ctx context.Context, e *env) (*secretsmanager.Client, error) {
	prefixTarget.forStage(k.f, e, &k.prefix, k.stage)
	sm, local, err := openSecrets(ctx, e, k.f, k.prefix)
	k.local = local
	return sm, err
}

func (k *keyFlags) name(keyID string) string {
	return auth.SecretName(strings.TrimSuffix(k.prefix, "/"), keyID)
}

func workspaceFlag(f *flags) *stringList {
	var ws stringList
	f.Var(&ws, "workspace", "a workspace id the key may read (repeat, or comma-separate)")
	return &ws
}

func checkWorkspaces(f *flags, ws stringList) error {
	if len(ws) == 0 {
		return f.usageErr("missing --workspace")
	}
	for _, w := range ws {
		if !schema.ValidPublicID(w) {
			return f.usageErr("--workspace %q: want 1-128 of [A-Za-z0-9._:-]", w)
		}
	}
	return nil
}

func keyArg(f *flags, pos []string) (string, error) {
	if !auth.ValidKeyID(pos[0]) {
		return "", f.usageErr("%q is not a key id ([A-Za-z0-9_-]{8,128})", pos[0])
	}
	return pos[0], nil
}

// keyOut is what create and rotate print.
type keyOut struct {
	KeyID        string   `json:"keyId"`
	Secret       string   `json:"secret"`
	SecretName   string   `json:"secretName"`
	WorkspaceIDs []string `json:"workspaceIds"`
}

func (e *env) printKey(k keyOut, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(k)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "key id\t%s\n", k.KeyID)
	fmt.Fprintf(tw, "secret\t%s\n", k.Secret)
	fmt.Fprintf(tw, "secret name\t%s\n", k.SecretName)
	fmt.Fprintf(tw, "workspaces\t%s\n", strings.Join(k.WorkspaceIDs, ","))
	return tw.Flush()
}

func keysCreate(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "--workspace ID [--workspace ID ...] [--id KEYID] [--tier T --stage S] [--min-signature-version 1] [--prefix P] [--json]")
	var kf keyFlags
	kf.register(f, e)
	var ef edgeFlags
	ef.register(f, e, true)
	ws := workspaceFlag(f)
	// New keys refuse version 1: a captured version 1 request can be replayed
	// with any other query for a minute.
	minVersion := minSignatureVersionFlag(f, 2)
	id := f.String("id", "", "the key id (default: generated, "+keyIDPrefix+"<20 hex digits>)")
	asJSON := f.Bool("json", false, "print one JSON object")
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	if err := checkWorkspaces(f, *ws); err != nil {
		return err
	}
	if err := ef.check(f, true); err != nil {
		return err
	}
	if err := checkMinSignatureVersion(f, *minVersion); err != nil {
		return err
	}
	keyID := *id
	if keyID == "" {
		keyID = newKeyID()
	} else if !auth.ValidKeyID(keyID) {
		return f.usageErr("--id %q is not a key id ([A-Za-z0-9_-]{8,128})", keyID)
	}
	if ef.deployed() {
		if err := checkEdgeKeyID(keyID); err != nil {
			return f.usageErr("--id: %s", err)
		}
	}
	prefixTarget.forStage(f, e, &kf.prefix, ef.stage)
	sm, err := kf.open(ctx, e)
	if err != nil {
		return err
	}
	if err := ef.requireStage(f, kf.local); err != nil {
		return err
	}
	// The edge first: a key API Gateway refuses (an id in use, no such stage)
	// leaves no secret behind, and the secret is printed only once both exist.
	if ef.deployed() {
		g, err := newEdge(ctx, e, ef.stage)
		if err != nil {
			return err
		}
		if _, err := g.register(ctx, keyID, ef.tier); err != nil {
			return err
		}
	}
	v := auth.SecretValue{Secrets: []string{newSecret()}, WorkspaceIDs: *ws, MinSignatureVersion: storedMinVersion(*minVersion)}
	s, err := v.Encode()
	if err != nil {
		return err
	}
	name := kf.name(keyID)
	_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(name),
		SecretString: aws.String(s),
		Description:  aws.String("VIP messages API key " + keyID),
	})
	if err != nil {
		if ef.deployed() {
			err = fmt.Errorf("%w (its API Gateway key was registered: vipctl keys revoke --stage %s %s removes it)", smError(err, keyID, name), ef.stage, keyID)
			return err
		}
		return smError(err, keyID, name)
	}
	if err := e.printKey(keyOut{KeyID: keyID, Secret: v.Secrets[0], SecretName: name, WorkspaceIDs: v.WorkspaceIDs}, *asJSON); err != nil {
		return err
	}
	if ef.deployed() {
		fmt.Fprintf(e.stderr, "Key %s is in tier %s of stage %s.\n", keyID, ef.tier, ef.stage)
	}
	fmt.Fprintf(e.stderr, "Key %s accepts signatures %s.\n", keyID, signaturesAccepted(v.MinSignatureVersion))
	fmt.Fprintln(e.stderr, "Store the secret now: vipctl does not show it again.")
	return nil
}

// readKey reads and parses a key's secret value.
func readKey(ctx context.Context, sm *secretsmanager.Client, keyID, name string) (auth.SecretValue, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	var invalid *smtypes.InvalidRequestException
	if errors.As(err, &invalid) {
		// Most likely revoked (scheduled for deletion): say so, not the raw text.
		if d, derr := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)}); derr == nil && d.DeletedDate != nil {
			return auth.SecretValue{}, revokedError(keyID, name, *d.DeletedDate)
		}
	}
	if err != nil {
		return auth.SecretValue{}, smError(err, keyID, name)
	}
	if out.SecretString == nil {
		return auth.SecretValue{}, fmt.Errorf("key %s: secret %s has no SecretString", keyID, name)
	}
	v, err := auth.ParseSecretValue(*out.SecretString)
	if err != nil {
		return auth.SecretValue{}, fmt.Errorf("key %s: secret %s: %w", keyID, name, err)
	}
	return v, nil
}

func writeKey(ctx context.Context, sm *secretsmanager.Client, keyID, name string, v auth.SecretValue) error {
	s, err := v.Encode()
	if err != nil {
		return err
	}
	_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(s)})
	return smError(err, keyID, name)
}

// keyCmd parses a command on one existing key and gives its client and name.
// check, when not nil, validates the flags first.
func keyCmd(ctx context.Context, e *env, f *flags, kf *keyFlags, args []string, check func() error) (sm *secretsmanager.Client, keyID, name string, err error) {
	pos, err := f.parse(e, args, 1, 1)
	if err != nil {
		return nil, "", "", err
	}
	if keyID, err = keyArg(f, pos); err != nil {
		return nil, "", "", err
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, "", "", err
		}
	}
	if sm, err = kf.open(ctx, e); err != nil {
		return nil, "", "", err
	}
	return sm, keyID, kf.name(keyID), nil
}

// keyValueCmd is keyCmd followed by reading the key's current value.
func keyValueCmd(ctx context.Context, e *env, f *flags, kf *keyFlags, args []string, check func() error) (sm *secretsmanager.Client, keyID, name string, v auth.SecretValue, err error) {
	if sm, keyID, name, err = keyCmd(ctx, e, f, kf, args, check); err != nil {
		return nil, "", "", v, err
	}
	v, err = readKey(ctx, sm, keyID, name)
	return sm, keyID, name, v, err
}

const cacheNote = "Running handlers pick the change up within KEY_CACHE_TTL (default 5m)."

// localCacheHint is added to cacheNote against the local stack.
const localCacheHint = "Local stack: start it with KEY_CACHE_TTL=2s KEY_NEGATIVE_TTL=2s make run to see key changes at once."

// cacheNote says when a key change shows, with the hint for the local stack.
func (e *env) cacheNote(kf *keyFlags) {
	fmt.Fprintln(e.stderr, cacheNote)
	if kf.local {
		fmt.Fprintln(e.stderr, localCacheHint)
	}
}

func keysRotate(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "[--force] [--stage S] [--prefix P] [--json] KEYID")
	var kf keyFlags
	kf.register(f, e)
	kf.registerStage(f, e)
	force := f.Bool("force", false, "rotate even if a previous secret is still listed (it stops working)")
	asJSON := f.Bool("json", false, "print one JSON object")
	sm, keyID, name, v, err := keyValueCmd(ctx, e, f, &kf, args, nil)
	if err != nil {
		return err
	}
	if len(v.Secrets) > 1 && !*force {
		return fmt.Errorf("key %s still lists a previous secret: retire it first (vipctl keys retire-previous %s), or pass --force to drop it now", keyID, keyID)
	}
	v.Secrets = []string{newSecret(), v.Secrets[0]}
	if err := writeKey(ctx, sm, keyID, name, v); err != nil {
		return err
	}
	if err := e.printKey(keyOut{KeyID: keyID, Secret: v.Secrets[0], SecretName: name, WorkspaceIDs: v.WorkspaceIDs}, *asJSON); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "New secret is current; the old one keeps working until: vipctl keys retire-previous %s\n", keyID)
	e.cacheNote(&kf)
	return nil
}

func keysRetirePrevious(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "[--stage S] [--prefix P] KEYID")
	var kf keyFlags
	kf.register(f, e)
	kf.registerStage(f, e)
	sm, keyID, name, v, err := keyValueCmd(ctx, e, f, &kf, args, nil)
	if err != nil {
		return err
	}
	if len(v.Secrets) == 1 {
		fmt.Fprintf(e.stderr, "key %s has no previous secret: nothing to do\n", keyID)
		return nil
	}
	v.Secrets = v.Secrets[:1]
	if err := writeKey(ctx, sm, keyID, name, v); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "key %s: previous secret retired; only the current one works\n", keyID)
	e.cacheNote(&kf)
	return nil
}

func keysRevoke(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "[--force] [--recovery-days N] [--stage S] [--prefix P] KEYID")
	var kf keyFlags
	kf.register(f, e)
	force := f.Bool("force", false, "delete at once, without recovery")
	days := f.Int("recovery-days", 30, "days (7-30) the secret can be restored")
	var ef edgeFlags
	ef.register(f, e, false)
	sm, keyID, name, err := keyCmd(ctx, e, f, &kf, args, func() error {
		if !*force && (*days < 7 || *days > 30) {
			return f.usageErr("--recovery-days %d: want 7 to 30", *days)
		}
		prefixTarget.forStage(f, e, &kf.prefix, ef.stage)
		return ef.check(f, false)
	})
	if err != nil {
		return err
	}
	if err := ef.requireStage(f, kf.local); err != nil {
		return err
	}
	// The edge first: from then on API Gateway refuses the key, whatever the caches say.
	if ef.deployed() {
		g, err := newEdge(ctx, e, ef.stage)
		if err != nil {
			return err
		}
		found, err := g.remove(ctx, keyID)
		if err != nil {
			return err
		}
		if found {
			fmt.Fprintf(e.stdout, "key %s: API Gateway key deleted (stage %s refuses it now)\n", keyID, ef.stage)
		} else {
			fmt.Fprintf(e.stderr, "key %s: no API Gateway key with this value; revoking the secret\n", keyID)
		}
	}
	in := &secretsmanager.DeleteSecretInput{SecretId: aws.String(name)}
	if *force {
		in.ForceDeleteWithoutRecovery = aws.Bool(true)
	} else {
		in.RecoveryWindowInDays = aws.Int64(int64(*days))
	}
	out, err := sm.DeleteSecret(ctx, in)
	if err != nil {
		return smError(err, keyID, name)
	}
	if *force {
		fmt.Fprintf(e.stdout, "key %s revoked: secret %s deleted\n", keyID, name)
	} else {
		when := ""
		if out.DeletionDate != nil {
			when = " on " + out.DeletionDate.UTC().Format(time.DateOnly)
		}
		fmt.Fprintf(e.stdout, "key %s revoked: secret %s is deleted%s; until then: vipctl keys restore %s\n", keyID, name, when, keyID)
	}
	e.cacheNote(&kf)
	return nil
}

func keysShow(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "[--stage S] [--prefix P] KEYID")
	var kf keyFlags
	kf.register(f, e)
	kf.registerStage(f, e)
	_, keyID, name, v, err := keyValueCmd(ctx, e, f, &kf, args, nil)
	if err != nil {
		return err
	}
	secrets := "current"
	if len(v.Secrets) > 1 {
		secrets = "current + previous"
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "key id\t%s\n", keyID)
	fmt.Fprintf(tw, "secret name\t%s\n", name)
	fmt.Fprintf(tw, "secrets\t%s\n", secrets)
	fmt.Fprintf(tw, "workspaces\t%s\n", strings.Join(v.WorkspaceIDs, ","))
	fmt.Fprintf(tw, "signatures\t%s\n", signaturesAccepted(v.MinSignatureVersion))
	return tw.Flush()
}

func keysSetWorkspaces(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "[--workspace ID ...] [--min-signature-version 1|2] [--stage S] [--prefix P] KEYID")
	var kf keyFlags
	kf.register(f, e)
	kf.registerStage(f, e)
	ws := workspaceFlag(f)
	minVersion := minSignatureVersionFlag(f, 0)
	sm, keyID, name, v, err := keyValueCmd(ctx, e, f, &kf, args, func() error {
		if f.isSet("min-signature-version") {
			if err := checkMinSignatureVersion(f, *minVersion); err != nil || len(*ws) == 0 {
				return err
			}
		}
		return checkWorkspaces(f, *ws)
	})
	if err != nil {
		return err
	}
	if len(*ws) > 0 {
		v.WorkspaceIDs = *ws
	}
	if f.isSet("min-signature-version") {
		v.MinSignatureVersion = storedMinVersion(*minVersion)
	}
	if err := writeKey(ctx, sm, keyID, name, v); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "key %s: workspaces %s; signatures %s\n", keyID, strings.Join(v.WorkspaceIDs, ","), signaturesAccepted(v.MinSignatureVersion))
	e.cacheNote(&kf)
	return nil
}

// revokedError is what a command on a revoked key says.
func revokedError(keyID, name string, deletion time.Time) error {
	return fmt.Errorf("key %s is revoked: its secret %s is deleted on %s; until then, vipctl keys restore %s brings it back",
		keyID, name, deletion.UTC().Format(time.DateOnly), keyID)
}

// keysRestore cancels a revoke (RestoreSecret) while the recovery window lasts.
func keysRestore(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "[--stage S [--tier T]] [--prefix P] KEYID")
	var kf keyFlags
	kf.register(f, e)
	var ef edgeFlags
	ef.register(f, e, true)
	sm, keyID, name, err := keyCmd(ctx, e, f, &kf, args, func() error {
		prefixTarget.forStage(f, e, &kf.prefix, ef.stage)
		return ef.check(f, true)
	})
	if err != nil {
		return err
	}
	if err := ef.requireStage(f, kf.local); err != nil {
		return err
	}
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	var missing *smtypes.ResourceNotFoundException
	if errors.As(err, &missing) {
		return fmt.Errorf("key %s not found (no secret %s): a key revoked with --force, or whose recovery window has passed, cannot be restored", keyID, name)
	}
	if err != nil {
		return smError(err, keyID, name)
	}
	if d.DeletedDate == nil {
		fmt.Fprintf(e.stderr, "key %s is not revoked: nothing to do\n", keyID)
		return nil
	}
	if _, err := sm.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String(name)}); err != nil {
		return smError(err, keyID, name)
	}
	fmt.Fprintf(e.stdout, "key %s restored: secret %s is no longer scheduled for deletion\n", keyID, name)
	// revoke deleted the key's API Gateway key, which no recovery window keeps:
	// without it the stage's edge refuses the key.
	if ef.deployed() {
		g, err := newEdge(ctx, e, ef.stage)
		if err != nil {
			return err
		}
		if _, err := g.register(ctx, keyID, ef.tier); err != nil {
			return fmt.Errorf("%w (its secret is restored: vipctl keys set-tier --stage %s --tier T %s registers it at the edge)", err, ef.stage, keyID)
		}
		fmt.Fprintf(e.stdout, "key %s: registered at the edge of stage %s, tier %s\n", keyID, ef.stage, ef.tier)
	}
	e.cacheNote(&kf)
	return nil
}

// minSignatureVersionFlag is --min-signature-version: 2 makes a key refuse
// version 1 signatures (docs/signing.md, "Moving a key to version 2 only").
// def is the default; 0 for a command that changes the key only when the flag
// is given.
func minSignatureVersionFlag(f *flags, def int) *int {
	usage := "oldest signature version the key accepts: 2 refuses version 1 (x-date only, replayable with another query), 1 accepts both"
	if def == 0 {
		usage += " (default: unchanged)"
	}
	return f.Int("min-signature-version", def, usage)
}

func checkMinSignatureVersion(f *flags, v int) error {
	if v != 1 && v != 2 {
		return f.usageErr("--min-signature-version %d: want 1 (both versions) or 2 (version 2 only)", v)
	}
	return nil
}

// storedMinVersion is the secret's minSignatureVersion: absent for 1, so that a
// key that accepts both looks as it always did.
func storedMinVersion(v int) int {
	if v <= 1 {
		return 0
	}
	return v
}

func signaturesAccepted(min int) string {
	if min >= 2 {
		return "v2 only"
	}
	return "v1 and v2"
}

// smError says what a Secrets Manager error means for the key.
func smError(err error, keyID, name string) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ResourceNotFoundException":
			return fmt.Errorf("key %s not found (no secret %s)", keyID, name)
		case "ResourceExistsException":
			return fmt.Errorf("key %s already exists (secret %s)", keyID, name)
		case "InvalidRequestException":
			return fmt.Errorf("key %s (secret %s): %s", keyID, name, ae.ErrorMessage())
		}
	}
	return fmt.Errorf("secret %s: %w", name, err)
}
