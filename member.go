package lianlu

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

// Identity kinds: how a member is recognised across channels.
const (
	IdentityPhone         = "phone"
	IdentityEmail         = "email"
	IdentityWeChatOpenID  = "wechat_openid"
	IdentityWeChatUnionID = "wechat_unionid"
	// IdentityAnonymousID is a collector anonymousId (a device or browser).
	IdentityAnonymousID = "anonymous_id"
	// IdentityUserID is a collector userId (the brand's own account id).
	IdentityUserID = "user_id"
	// IdentityExternal is another system's id; Namespace names the system.
	IdentityExternal = "external"
)

// IdentityKinds lists the identity kinds.
var IdentityKinds = []string{IdentityPhone, IdentityEmail, IdentityWeChatOpenID, IdentityWeChatUnionID,
	IdentityAnonymousID, IdentityUserID, IdentityExternal}

// Identity is one identifier of a member. (Kind, Namespace, Value) is
// unique: one identifier belongs to at most one member.
type Identity struct {
	Kind string `json:"kind"`
	// Namespace qualifies Value: the system of an external id, the app of a
	// WeChat openid; empty otherwise.
	Namespace string `json:"namespace,omitempty"`
	// Value is normalised: phone numbers in E.164, emails in lower case.
	Value string `json:"value"`
	// Verified identities were asserted by a trusted channel (a join in a
	// store, an order, an operator), not merely claimed by a tracking SDK.
	// Two members that each have one are never merged automatically.
	Verified  bool      `json:"verified"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
}

// Consent is a member's answer about one purpose (such as marketing), with
// when and through which channel it was given.
type Consent struct {
	Purpose string    `json:"purpose"`
	Granted bool      `json:"granted"`
	Channel string    `json:"channel"`
	Store   string    `json:"store,omitempty"`
	At      time.Time `json:"at"`
}

// ConsentMarketing is the purpose offers need.
const ConsentMarketing = "marketing"

// MemberMerge records that From was merged into the member showing it.
type MemberMerge struct {
	ID   int64 `json:"id"`
	Into int64 `json:"into"`
	From int64 `json:"from"`
	// Automatic merges come from identity rules; others from an operator.
	Automatic bool      `json:"automatic"`
	Reason    string    `json:"reason"`
	Actor     string    `json:"actor"`
	At        time.Time `json:"at"`
	// Moved counts what moved: identities, orders, work orders, feedback,
	// consents, coupons.
	Moved map[string]int64 `json:"moved"`
}

// Member is a customer of the brand: her profile and, when read through
// the member service, her identities, consents and merges.
type Member struct {
	ID int64 `json:"id"`
	// Phone and Email are the primary contacts (also identities); PII,
	// masked for departments without access (see docs/architecture.md).
	Phone  string          `json:"phone,omitempty"`
	Email  string          `json:"email,omitempty"`
	Traits json.RawMessage `json:"traits,omitempty"`
	Tags   []string        `json:"tags,omitempty"`
	// Tier is the member price tier (see MemberTier); empty for none.
	Tier        string     `json:"tier,omitempty"`
	HomeStore   string     `json:"home_store,omitempty"`
	JoinedStore string     `json:"joined_store,omitempty"`
	JoinedStaff string     `json:"joined_staff,omitempty"`
	JoinedAt    *time.Time `json:"joined_at,omitempty"`
	// MergedInto is set on a member that was merged into another; that one
	// holds her identities and history now.
	MergedInto int64 `json:"merged_into,omitempty"`
	// ErasedAt is set once her personal information was erased (see
	// PrivacyService.EraseMember): the record stays, with tombstones.
	ErasedAt   *time.Time    `json:"erased_at,omitempty"`
	Identities []Identity    `json:"identities,omitempty"`
	Consents   []Consent     `json:"consents,omitempty"`
	Merges     []MemberMerge `json:"merges,omitempty"`
	CreatedAt  time.Time     `json:"created_at"`
	UpdatedAt  time.Time     `json:"updated_at"`
}

// HasConsent reports whether the member's latest answer for purpose is yes.
func (m Member) HasConsent(purpose string) bool {
	granted := false
	for _, c := range m.Consents {
		if c.Purpose == purpose {
			granted = c.Granted
		}
	}
	return granted
}

// MemberTier is a member price tier: members of the tier pay the catalogue
// price less DiscountPercent, in stores and online alike.
type MemberTier struct {
	Tier            string    `json:"tier"`
	Name            string    `json:"name"`
	DiscountPercent int       `json:"discount_percent"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// JoinRequest is a visitor joining the membership from a store's QR code.
type JoinRequest struct {
	Store string
	Staff string
	Phone string
	// Consent is the visitor's marketing consent on the form.
	Consent bool
	// Channel is how she joined (default "store_qr").
	Channel string
	// Locale is the language of the page she saw, kept as a trait.
	Locale string
}

// JoinResult tells whether a join created the membership.
type JoinResult struct {
	Member Member `json:"member"`
	// First is true for the first join (member.joined was recorded), false
	// for a repeat scan (only store.visited).
	First bool `json:"first"`
}

// MemberUpdate changes a member's profile; nil fields keep their value.
type MemberUpdate struct {
	Traits    json.RawMessage `json:"traits"`
	Tags      *[]string       `json:"tags"`
	Tier      *string         `json:"tier"`
	HomeStore *string         `json:"home_store"`
}

// Identity conflict statuses.
const (
	ConflictOpen      = "open"
	ConflictMerged    = "merged"
	ConflictDismissed = "dismissed"
)

// IdentityConflict is a link that identity rules would have made between
// two members who each have a verified identity: left for an operator to
// merge or dismiss.
type IdentityConflict struct {
	ID int64 `json:"id"`
	// MemberA and MemberB are the two members, MemberA the lower id.
	MemberA int64  `json:"member_a"`
	MemberB int64  `json:"member_b"`
	Kind    string `json:"kind"`
	Value   string `json:"value"`
	Reason  string `json:"reason"`
	// EventSeq is the event that raised the conflict (0 for none).
	EventSeq   int64      `json:"event_seq,omitempty"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	ResolvedBy string     `json:"resolved_by,omitempty"`
}

// TimelineEntry is one thing that happened to or with a member.
type TimelineEntry struct {
	At time.Time `json:"at"`
	// Kind groups entries: touch, visit, interaction, order, work_order,
	// feedback, offer, member, service_request.
	Kind  string `json:"kind"`
	Event Event  `json:"event"`
}

// TimelineFilter selects the entries of a member's timeline.
type TimelineFilter struct {
	// BeforeSeq returns entries before this seq (0: from the newest).
	BeforeSeq int64
	Limit     int
	// Departments keeps the events of the listed departments only (nil:
	// all). Readers pass what access.EventDepartments gives them, so that
	// a timeline shows what the events API would.
	Departments []string
}

// MemberService manages members, their identities and their timeline.
type MemberService interface {
	// FindMemberByID returns a member with identities, consents and merges,
	// or ENOTFOUND.
	FindMemberByID(ctx context.Context, id int64) (Member, error)
	// FindMemberByIdentity returns the member holding an identity (value is
	// normalised first). EINVALID for a bad kind or value, ENOTFOUND.
	FindMemberByIdentity(ctx context.Context, kind, namespace, value string) (Member, error)
	// UpdateMember changes a member's traits, tags, tier or home store.
	// EINVALID names the field, ENOTFOUND for an unknown member.
	UpdateMember(ctx context.Context, id int64, u MemberUpdate) (Member, error)
	// Join finds or creates the member of a phone number joining in a
	// store: the first join records member.joined (with store and staff),
	// consent and store.visited; a repeat records store.visited only.
	// EINVALID for a bad phone or an unknown or inactive store; an unknown
	// staff code joins without staff attribution.
	Join(ctx context.Context, r JoinRequest) (JoinResult, error)
	// SetConsent records a member's answer about a purpose (c.Purpose,
	// c.Granted, c.Channel; c.Store optional) unless it repeats the one in
	// force: a yes appends member.consented, a no or a withdrawal
	// member.consent_withdrawn. A withdrawal of marketing consent takes
	// effect at once: offers not yet delivered to her are not (see
	// internal/offer). EINVALID names the field; ENOTFOUND.
	SetConsent(ctx context.Context, id int64, c Consent) (Member, error)
	// RecordInteraction records an offline interaction as an event on the
	// member. EINVALID names the field. A repeated ExternalID returns the
	// stored event.
	RecordInteraction(ctx context.Context, in Interaction) (Event, error)
	// AddIdentity gives a member an identity (a WeChat id, an external
	// system's id, another phone or email), normalised. EINVALID names the
	// field; ECONFLICT when another member holds it (merge them instead);
	// ENOTFOUND for an unknown member.
	AddIdentity(ctx context.Context, id int64, ident Identity) (Member, error)
	// MergeMembers moves every identity and all history of from into into,
	// appends member.merged and audits it. EINVALID when they are the same
	// or either was merged already, ENOTFOUND for an unknown member.
	MergeMembers(ctx context.Context, into, from int64, reason string) (Member, error)
	// FindConflicts lists identity conflicts by id.
	FindConflicts(ctx context.Context, status string, afterID int64, limit int) ([]IdentityConflict, error)
	// DismissConflict closes an open conflict without merging (audited).
	// ENOTFOUND, or ECONFLICT when it is not open.
	DismissConflict(ctx context.Context, id int64) (IdentityConflict, error)
	// Timeline returns what happened with a member across channels, newest
	// first, as f selects. ENOTFOUND for an unknown member.
	Timeline(ctx context.Context, id int64, f TimelineFilter) ([]TimelineEntry, error)
	// SaveTier creates or changes a price tier (audited).
	SaveTier(ctx context.Context, t MemberTier) (MemberTier, error)
	// FindTiers lists the price tiers.
	FindTiers(ctx context.Context) ([]MemberTier, error)
}

// InboxMessage is an offer stored for a member in the inbox channel and
// shown on the join page once she has identified with her phone.
type InboxMessage struct {
	ID         int64      `json:"id"`
	OfferID    int64      `json:"offer_id"`
	Title      string     `json:"title"`
	Body       string     `json:"body"`
	Coupon     string     `json:"coupon,omitempty"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
}

// PIIDepartments see members' phone numbers, emails and WeChat ids; other
// departments see them masked (until data grants let an admin open them up
// field by field).
var PIIDepartments = []string{DeptAdmin, DeptSales, DeptService, DeptStores}

// SeesMemberPII reports whether p may see members' contact details.
func SeesMemberPII(p Principal) bool {
	return p.IsAdmin() || slices.Contains(PIIDepartments, p.Department)
}
