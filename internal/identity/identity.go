// Package identity resolves who a member is across channels. Its rules are
// deterministic: an exact normalised phone number or email, collector
// identify and alias calls, and explicit merges by an operator. Two members
// that each hold a verified identity are never merged on a signal; the link
// is listed as a conflict for an operator instead.
//
// The Resolver is a subscription on the event log: it reads the collector's
// segment.identify and segment.alias events (only those the collector
// stored: lianlu.TrustedEvent) and links their userId,
// anonymousId and contact traits to members, in the subscription's
// transaction (exactly once). Touches recorded under those ids before the
// link (subjects user/<userId> and anon/<anonymousId>) then appear on the
// member's timeline; those recorded after it carry her subject member/<id>
// (see sqlstore.Appender).
package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// SubscriptionName is the resolver's position on the event log.
const SubscriptionName = "identity"

// Decision is what a rule says about a signal that ties an identity held by
// one member to another.
type Decision struct {
	// Merge is false when the two must stay apart: a conflict.
	Merge bool
	// IntoTarget merges the holder into the target (else the target into
	// the holder).
	IntoTarget bool
}

// Decide applies the merge rule to a signal tying target (the member the
// signal's strongest identity names) to holder (who holds another of its
// identities): members that both hold verified identities are never merged
// automatically; otherwise the member without one is merged into the one
// with one, and the target wins a tie.
func Decide(targetVerified, holderVerified bool) Decision {
	switch {
	case targetVerified && holderVerified:
		return Decision{}
	case holderVerified:
		return Decision{Merge: true, IntoTarget: false}
	default:
		return Decision{Merge: true, IntoTarget: true}
	}
}

// Config configures a Resolver.
type Config struct {
	Logger *slog.Logger
	// BatchSize is events per transaction (default 100).
	BatchSize int
}

// Resolver links collector identities to members.
type Resolver struct {
	db       *sqlstore.DB
	logger   *slog.Logger
	consumer *sqlstore.Consumer
}

// NewResolver returns a resolver over db; Start runs it.
func NewResolver(db *sqlstore.DB, cfg Config) *Resolver {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Resolver{db: db, logger: cfg.Logger.With(slog.String("component", "identity"))}
	r.consumer = sqlstore.NewConsumer(db, sqlstore.ConsumerConfig{
		Name:      SubscriptionName,
		Filter:    lianlu.EventFilter{Types: []string{collect.SegmentTypePrefix + collect.SegmentIdentify, collect.SegmentTypePrefix + collect.SegmentAlias}},
		BatchSize: cfg.BatchSize,
		Handler:   r.handle,
		Logger:    cfg.Logger,
	})
	return r
}

// Start runs the subscription until Stop or ctx ends.
func (r *Resolver) Start(ctx context.Context) error { return r.consumer.Start(ctx) }

// Stop finishes the current batch and stops.
func (r *Resolver) Stop() { r.consumer.Stop() }

// ProcessOnce handles one batch (for tests and tools).
func (r *Resolver) ProcessOnce(ctx context.Context) (int, error) { return r.consumer.ProcessOnce(ctx) }

// segmentMessage is what the resolver reads from a stored Segment message.
type segmentMessage struct {
	Type        string         `json:"type"`
	UserID      string         `json:"userId"`
	AnonymousID string         `json:"anonymousId"`
	PreviousID  string         `json:"previousId"`
	Traits      map[string]any `json:"traits"`
}

// Claims returns the identities a Segment message asserts, strongest first
// (contacts, then userId, then anonymousId), normalised in region; traits
// that do not normalise are left out. None is verified: a tracking SDK
// only claims them.
func Claims(ctx context.Context, tx *sqlstore.Tx, e lianlu.Event, region string) ([]lianlu.Identity, error) {
	var m segmentMessage
	if err := json.Unmarshal(e.Data, &m); err != nil {
		return nil, nil // not a message this resolver understands
	}
	var out []lianlu.Identity
	add := func(kind, value string) {
		if value == "" {
			return
		}
		v, err := sqlstore.NormalizeIdentity(kind, "", value, region)
		if err != nil {
			return
		}
		out = append(out, lianlu.Identity{Kind: kind, Value: v, Source: e.Source})
	}
	trait := func(k string) string {
		switch v := m.Traits[k].(type) {
		case string:
			return v
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return ""
	}
	add(lianlu.IdentityPhone, trait("phone"))
	add(lianlu.IdentityEmail, trait("email"))
	add(lianlu.IdentityWeChatUnionID, trait("wechat_unionid"))
	add(lianlu.IdentityUserID, m.UserID)
	switch m.Type {
	case collect.SegmentAlias:
		// previousId is an earlier userId when one is known, else the
		// anonymousId the visitor had.
		kind := lianlu.IdentityAnonymousID
		if v, err := sqlstore.NormalizeIdentity(lianlu.IdentityUserID, "", m.PreviousID, region); err == nil {
			if _, err := sqlstore.MemberIDByIdentityTx(ctx, tx, lianlu.IdentityUserID, "", v); err == nil {
				kind = lianlu.IdentityUserID
			} else if lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
				return nil, err
			}
		}
		add(kind, m.PreviousID)
	default:
		add(lianlu.IdentityAnonymousID, m.AnonymousID)
	}
	return out, nil
}

func (r *Resolver) handle(ctx context.Context, tx *sqlstore.Tx, events []lianlu.Event) error {
	ctx = lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "system:identity", Department: lianlu.DeptSales, Role: lianlu.RoleOperator})
	for _, e := range events {
		if !lianlu.TrustedEvent(e) {
			// Not the collector's (lianlu.TrustedEvent): it ties nobody
			// to anybody.
			r.logger.Warn("untrusted identity signal ignored", slog.Int64("seq", e.Seq), slog.String("source", e.Source))
			continue
		}
		claims, err := Claims(ctx, tx, e, r.db.PhoneRegion())
		if err != nil {
			return err
		}
		if err := r.Link(ctx, tx, claims, e.Seq); err != nil {
			return fmt.Errorf("event %d: %w", e.Seq, err)
		}
	}
	return nil
}

// Link ties claims, strongest first, to one member: the holder of the
// strongest claim someone holds, or a new member when nobody holds any and
// there is more than an anonymousId to go by. Unheld claims are added to
// her; claims held by another member merge the two by Decide, or record a
// conflict. eventSeq names the signal in conflicts (0 for none).
func (r *Resolver) Link(ctx context.Context, tx *sqlstore.Tx, claims []lianlu.Identity, eventSeq int64) error {
	if len(claims) == 0 {
		return nil
	}
	holders := make([]int64, len(claims))
	target := int64(0)
	for i, c := range claims {
		id, err := sqlstore.MemberIDByIdentityTx(ctx, tx, c.Kind, c.Namespace, c.Value)
		if err != nil && lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
			return err
		}
		holders[i] = id
		if target == 0 {
			target = id
		}
	}
	if target == 0 {
		if claims[0].Kind == lianlu.IdentityAnonymousID {
			return nil // an anonymous visitor is not a member yet
		}
		id, _, err := sqlstore.FindOrCreateMemberTx(ctx, tx, claims[0])
		if err != nil {
			return err
		}
		target, holders[0] = id, id
	}
	for i, c := range claims {
		holder := holders[i]
		switch {
		case holder == target:
			continue
		case holder == 0:
			owner, err := sqlstore.AddIdentityTx(ctx, tx, target, c)
			if err != nil {
				return err
			}
			if owner == target {
				continue
			}
			holder = owner // another member holds it after all
		}
		next, err := r.join(ctx, tx, target, holder, c, eventSeq)
		if err != nil {
			return err
		}
		target = next
		// Holders of later claims may have been merged into target.
		for j := i + 1; j < len(claims); j++ {
			if holders[j] == holder {
				holders[j] = target
			}
		}
	}
	return nil
}

// join applies Decide to target and holder and returns the member the
// remaining claims go to.
func (r *Resolver) join(ctx context.Context, tx *sqlstore.Tx, target, holder int64, c lianlu.Identity, eventSeq int64) (int64, error) {
	tv, err := sqlstore.MemberHasVerifiedIdentityTx(ctx, tx, target)
	if err != nil {
		return 0, err
	}
	hv, err := sqlstore.MemberHasVerifiedIdentityTx(ctx, tx, holder)
	if err != nil {
		return 0, err
	}
	d := Decide(tv, hv)
	if !d.Merge {
		reason := fmt.Sprintf("a collector call ties the %s of member %d to member %d; both hold verified identities", c.Kind, holder, target)
		if _, err := sqlstore.RecordConflictTx(ctx, tx, target, holder, c.Kind, c.Value, reason, eventSeq); err != nil {
			return 0, err
		}
		r.logger.Info("identity conflict recorded", slog.Int64("member_a", target), slog.Int64("member_b", holder), slog.String("kind", c.Kind))
		return target, nil
	}
	into, from := target, holder
	if !d.IntoTarget {
		into, from = holder, target
	}
	reason := "a collector call shares their " + c.Kind
	mm, err := sqlstore.MergeMembersTx(ctx, tx, into, from, true, reason)
	if err != nil {
		return 0, err
	}
	if err := sqlstore.WriteAudit(ctx, tx, "member.merged", "member", strconv.FormatInt(into, 10), lianlu.DeptSales,
		map[string]any{"from": from, "reason": reason, "automatic": true, "moved": mm.Moved, "event_seq": eventSeq}); err != nil {
		return 0, err
	}
	return into, nil
}
