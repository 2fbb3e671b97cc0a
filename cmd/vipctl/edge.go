package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/smithy-go"
)

// The edge of a deployed stage (docs/deploying.md, "Rate limits"): every key id is also an
// API Gateway API key (name and value = the key id) attached to the usage plan
// of its tier, vip-messages-<stage>-<tier>. The local stack has no API Gateway:
// without --stage, the keys commands touch Secrets Manager only.

const envStage = "VIP_STAGE"

// The tiers, smallest first: each is an API Gateway usage plan of
// template.yaml (rate, burst, daily quota) named by planName.
const (
	tierBasic    = "basic"
	tierStandard = "standard"
	tierPremium  = "premium"
)

var tiers = []string{tierBasic, tierStandard, tierPremium}

// defaultTier is the tier of a key created without one.
const defaultTier = tierStandard

// planName is the name of a tier's usage plan in a stage.
func planName(stage, tier string) string { return fmt.Sprintf("vip-messages-%s-%s", stage, tier) }

// API Gateway accepts API key values of 20 to 128 characters; our key ids are
// those values, so a deployed stage needs ids of at least minKeyIDLen.
// Generated ids (vk_ and 20 hex digits) are 23.
const (
	minKeyIDLen = 20
	maxKeyIDLen = 128
)

// gatewayAPI is the part of API Gateway vipctl uses.
type gatewayAPI interface {
	GetUsagePlans(context.Context, *apigateway.GetUsagePlansInput, ...func(*apigateway.Options)) (*apigateway.GetUsagePlansOutput, error)
	GetApiKeys(context.Context, *apigateway.GetApiKeysInput, ...func(*apigateway.Options)) (*apigateway.GetApiKeysOutput, error)
	CreateApiKey(context.Context, *apigateway.CreateApiKeyInput, ...func(*apigateway.Options)) (*apigateway.CreateApiKeyOutput, error)
	DeleteApiKey(context.Context, *apigateway.DeleteApiKeyInput, ...func(*apigateway.Options)) (*apigateway.DeleteApiKeyOutput, error)
	CreateUsagePlanKey(context.Context, *apigateway.CreateUsagePlanKeyInput, ...func(*apigateway.Options)) (*apigateway.CreateUsagePlanKeyOutput, error)
	DeleteUsagePlanKey(context.Context, *apigateway.DeleteUsagePlanKeyInput, ...func(*apigateway.Options)) (*apigateway.DeleteUsagePlanKeyOutput, error)
}

// edgeFlags pick the deployed stage (and the tier) of a keys command.
type edgeFlags struct {
	stage, tier string
}

func (ef *edgeFlags) register(f *flags, e *env, withTier bool) {
	f.StringVar(&ef.stage, "stage", e.getenv(envStage), "deployed stage (dev, staging, prod) whose API Gateway usage plans hold the key ($"+envStage+"); empty: the local stack, which has no API Gateway")
	if withTier {
		f.StringVar(&ef.tier, "tier", defaultTier, "rate-limit tier: "+strings.Join(tiers, ", "))
	}
}

// check validates the flags before any call.
func (ef *edgeFlags) check(f *flags, withTier bool) error {
	ef.stage = strings.TrimSpace(ef.stage)
	if withTier && !slices.Contains(tiers, ef.tier) {
		return f.usageErr("--tier %q: want one of %s", ef.tier, strings.Join(tiers, ", "))
	}
	return nil
}

// requireStage: against an AWS account (Secrets Manager not on this machine)
// a stage is required, since a key that is not also an API Gateway key of its
// stage's tier is refused at the edge. local is keyFlags.local, after open.
func (ef *edgeFlags) requireStage(f *flags, local bool) error {
	if ef.stage == "" && !local {
		return f.usageErr("--stage (or $%s) is required against an AWS account: the key must also be an API Gateway key of that stage's tier", envStage)
	}
	return nil
}

// deployed reports whether the command works on a deployed stage's edge.
func (ef *edgeFlags) deployed() bool { return ef.stage != "" }

// checkEdgeKeyID: on a deployed stage the key id is an API Gateway key value,
// which API Gateway wants 20 to 128 characters long.
func checkEdgeKeyID(keyID string) error {
	if len(keyID) < minKeyIDLen || len(keyID) > maxKeyIDLen {
		return fmt.Errorf("key id %q has %d characters: on a deployed stage a key id is also its API Gateway API key value, "+
			"which must be %d to %d characters, so API Gateway would refuse every request with it; create a key with a generated id (%s + 20 hex digits)",
			keyID, len(keyID), minKeyIDLen, maxKeyIDLen, keyIDPrefix)
	}
	return nil
}

func gatewayClient(ctx context.Context, e *env) (gatewayAPI, error) {
	cfg, err := e.aws(ctx)
	if err != nil {
		return nil, err
	}
	return apigateway.NewFromConfig(cfg), nil
}

// edge is one stage's API Gateway.
type edge struct {
	gw    gatewayAPI
	stage string
}

func newEdge(ctx context.Context, e *env, stage string) (*edge, error) {
	gw, err := gatewayClient(ctx, e)
	if err != nil {
		return nil, err
	}
	return &edge{gw: gw, stage: stage}, nil
}

// plans maps the stage's tier plan ids to their tiers: every plan, or with a
// non-empty apiKeyID the plans that key is in.
func (g *edge) plans(ctx context.Context, apiKeyID string) (map[string]string, error) {
	names := map[string]string{}
	for _, t := range tiers {
		names[planName(g.stage, t)] = t
	}
	out := map[string]string{}
	in := &apigateway.GetUsagePlansInput{Limit: aws.Int32(500)}
	if apiKeyID != "" {
		in.KeyId = aws.String(apiKeyID)
	}
	for {
		page, err := g.gw.GetUsagePlans(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("API Gateway usage plans: %w", err)
		}
		for _, p := range page.Items {
			if t, ok := names[aws.ToString(p.Name)]; ok {
				out[aws.ToString(p.Id)] = t
			}
		}
		if aws.ToString(page.Position) == "" {
			return out, nil
		}
		in.Position = page.Position
	}
}

// planOf is the id of a tier's plan in the stage.
func (g *edge) planOf(ctx context.Context, tier string) (string, error) {
	plans, err := g.plans(ctx, "")
	if err != nil {
		return "", err
	}
	for id, t := range plans {
		if t == tier {
			return id, nil
		}
	}
	return "", fmt.Errorf("no API Gateway usage plan %s: is stage %s deployed from this template (make deploy STAGE=%s), in this account and region?",
		planName(g.stage, tier), g.stage, g.stage)
}

// apiKey finds the API Gateway key whose value is keyID; "" when there is none.
func (g *edge) apiKey(ctx context.Context, keyID string) (string, error) {
	in := &apigateway.GetApiKeysInput{NameQuery: aws.String(keyID), IncludeValues: aws.Bool(true), Limit: aws.Int32(500)}
	for {
		page, err := g.gw.GetApiKeys(ctx, in)
		if err != nil {
			return "", fmt.Errorf("API Gateway keys: %w", err)
		}
		for _, k := range page.Items {
			if aws.ToString(k.Value) == keyID {
				return aws.ToString(k.Id), nil
			}
		}
		if aws.ToString(page.Position) == "" {
			return "", nil
		}
		in.Position = page.Position
	}
}

// register makes keyID an API Gateway key of the tier's plan: it creates the
// API key unless it exists, and moves it out of the stage's other tier plans.
func (g *edge) register(ctx context.Context, keyID, tier string) (created bool, err error) {
	if err := checkEdgeKeyID(keyID); err != nil {
		return false, err
	}
	target, err := g.planOf(ctx, tier)
	if err != nil {
		return false, err
	}
	id, err := g.apiKey(ctx, keyID)
	if err != nil {
		return false, err
	}
	current := map[string]string{}
	if id == "" {
		out, err := g.gw.CreateApiKey(ctx, &apigateway.CreateApiKeyInput{
			Name:        aws.String(keyID),
			Value:       aws.String(keyID),
			Enabled:     true,
			Description: aws.String("VIP messages API key " + keyID + " (its secret is in Secrets Manager)"),
			Tags:        map[string]string{"project": "vip-messages", "stage": g.stage},
		})
		if err != nil {
			return false, gatewayError(err, keyID)
		}
		id, created = aws.ToString(out.Id), true
	} else if current, err = g.plans(ctx, id); err != nil {
		return false, err
	}
	// A key sits in at most one plan per API stage: leave the old tier first.
	// Until it joins the new one (the next call) the edge refuses it.
	for plan, t := range current {
		if plan == target {
			continue
		}
		_, err := g.gw.DeleteUsagePlanKey(ctx, &apigateway.DeleteUsagePlanKeyInput{UsagePlanId: aws.String(plan), KeyId: aws.String(id)})
		if err != nil && !isCode(err, "NotFoundException") {
			return created, fmt.Errorf("key %s: leaving tier %s: %w", keyID, t, err)
		}
	}
	if _, in := current[target]; in {
		return created, nil
	}
	_, err = g.gw.CreateUsagePlanKey(ctx, &apigateway.CreateUsagePlanKeyInput{UsagePlanId: aws.String(target), KeyId: aws.String(id), KeyType: aws.String("API_KEY")})
	if err != nil {
		return created, fmt.Errorf("key %s: joining tier %s: %w", keyID, tier, err)
	}
	return created, nil
}

// remove takes keyID's API Gateway key out of the stage's plans, then deletes
// it. It reports whether there was one. The plans go first: API Gateway's
// reference does not say that DeleteApiKey leaves them, and moto keeps a
// deleted key in its plans (a restored key then sat in a tier twice).
func (g *edge) remove(ctx context.Context, keyID string) (bool, error) {
	id, err := g.apiKey(ctx, keyID)
	if err != nil || id == "" {
		return false, err
	}
	plans, err := g.plans(ctx, id)
	if err != nil {
		return false, err
	}
	for plan, t := range plans {
		_, err := g.gw.DeleteUsagePlanKey(ctx, &apigateway.DeleteUsagePlanKeyInput{UsagePlanId: aws.String(plan), KeyId: aws.String(id)})
		if err != nil && !isCode(err, "NotFoundException") {
			return false, fmt.Errorf("key %s: leaving tier %s: %w", keyID, t, err)
		}
	}
	_, err = g.gw.DeleteApiKey(ctx, &apigateway.DeleteApiKeyInput{ApiKey: aws.String(id)})
	if err != nil && !isCode(err, "NotFoundException") {
		return false, fmt.Errorf("key %s: deleting its API Gateway key: %w", keyID, err)
	}
	return true, nil
}

func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

func gatewayError(err error, keyID string) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ConflictException":
			return fmt.Errorf("key %s already exists as an API Gateway key", keyID)
		case "BadRequestException":
			return fmt.Errorf("key %s: API Gateway: %s", keyID, ae.ErrorMessage())
		}
	}
	return fmt.Errorf("key %s: API Gateway: %w", keyID, err)
}

func keysSetTier(ctx context.Context, e *env, path string, args []string) error {
	f := newFlags(path, "--tier T --stage S KEYID")
	var ef edgeFlags
	ef.register(f, e, true)
	pos, err := f.parse(e, args, 1, 1)
	if err != nil {
		return err
	}
	if err := ef.check(f, true); err != nil {
		return err
	}
	keyID, err := keyArg(f, pos)
	if err != nil {
		return err
	}
	if !ef.deployed() {
		return f.usageErr("--stage (or $%s) is required: tiers exist on deployed stages only (the local gateway's bucket is one for all keys)", envStage)
	}
	g, err := newEdge(ctx, e, ef.stage)
	if err != nil {
		return err
	}
	created, err := g.register(ctx, keyID, ef.tier)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(e.stdout, "key %s: registered at the edge of stage %s, tier %s\n", keyID, ef.stage, ef.tier)
	} else {
		fmt.Fprintf(e.stdout, "key %s: tier %s on stage %s\n", keyID, ef.tier, ef.stage)
	}
	return nil
}
