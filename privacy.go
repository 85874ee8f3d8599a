package lianlu

import (
	"context"
	"encoding/json"
	"time"
)

// ConsentValues are the form and query values that mean yes: what the join
// page's checkbox sends ("yes") and the usual spellings of an HTML
// checkbox or a boolean. Anything else — "no", "false", "0", "off", an
// empty or missing value, garbage — is not consent.
var ConsentValues = []string{"yes", "true", "1", "on"}

// ParseConsent reports whether a submitted consent value is an explicit
// yes (one of ConsentValues, exactly). Consent is never inferred from a
// value merely being present (PIPL art. 14: consent is given by a clear
// affirmative act).
func ParseConsent(v string) bool {
	for _, yes := range ConsentValues {
		if v == yes {
			return true
		}
	}
	return false
}

// Consent event types: member.consented records a yes, and
// member.consent_withdrawn records a no or a withdrawal, each with purpose,
// channel and time. What was done under consent before its withdrawal is
// kept (PIPL art. 15).
const (
	EventConsented        = "member.consented"
	EventConsentWithdrawn = "member.consent_withdrawn"
)

// Erased is the tombstone that replaces a personal value when a member's
// personal information is erased: in state and in the data of the log's
// events, which keep their seq, type and time so that counts and KPIs stay
// true.
const Erased = "[erased]"

// Kinds of personal-information requests (PIPL arts. 44–47).
const (
	// PrivacyAccess: she asks what Lianlu holds about her (art. 44, 45).
	PrivacyAccess = "access"
	// PrivacyCopy: she asks for a copy of it (art. 45).
	PrivacyCopy = "copy"
	// PrivacyCorrect: she asks for inaccurate or incomplete data to be
	// corrected (art. 46).
	PrivacyCorrect = "correct"
	// PrivacyErase: she asks for her personal information to be deleted
	// (art. 47).
	PrivacyErase = "erase"
	// PrivacyWithdrawConsent: she withdraws her consent (art. 15); it is
	// honoured at once, when the request is recorded.
	PrivacyWithdrawConsent = "withdraw_consent"
)

// PrivacyRequestKinds lists the kinds of personal-information requests.
var PrivacyRequestKinds = []string{PrivacyAccess, PrivacyCopy, PrivacyCorrect, PrivacyErase, PrivacyWithdrawConsent}

// Statuses of a personal-information request: open until it is completed,
// or refused with a reason (art. 50).
const (
	PrivacyOpen      = "open"
	PrivacyCompleted = "completed"
	PrivacyRefused   = "refused"
)

// PrivacyDepartment is the department that handles personal-information
// requests by default: customer service, who speaks with members. Its
// managers (and admins) export, correct and erase.
const PrivacyDepartment = DeptService

// DefaultPrivacySLA is the default time to answer a personal-information
// request, in calendar time from when the member made it. PIPL asks for an
// answer without undue delay (art. 50) and names no period; 15 days is a
// cautious default, to be set to what the brand's counsel decides
// (LIANLU_PRIVACY_SLA).
const DefaultPrivacySLA = 15 * 24 * time.Hour

// PrivacyRequest is a member's request about her personal information,
// handled as a handoff to the privacy department with a deadline.
type PrivacyRequest struct {
	ID       int64  `json:"id"`
	MemberID int64  `json:"member_id"`
	Kind     string `json:"kind"`
	Status   string `json:"status"`
	// Channel is how she made it (phone, store, email, letter, app…).
	Channel string `json:"channel"`
	// Note is what she asked, in the words of whoever recorded it.
	Note string `json:"note,omitempty"`
	// Department handles it; HandoffID is its handoff, measured like every
	// other handoff.
	Department string `json:"department"`
	HandoffID  int64  `json:"handoff_id"`
	// ReceivedAt is when she made the request; DueAt is the deadline.
	ReceivedAt time.Time `json:"received_at"`
	DueAt      time.Time `json:"due_at"`
	RecordedBy string    `json:"recorded_by"`
	// ClosedAt and ClosedBy say when and by whom it was completed or
	// refused; Resolution is the operator's note, RefusalReason the reason
	// given to her for a refusal (required, art. 50).
	ClosedAt      *time.Time `json:"closed_at,omitempty"`
	ClosedBy      string     `json:"closed_by,omitempty"`
	Resolution    string     `json:"resolution,omitempty"`
	RefusalReason string     `json:"refusal_reason,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// PrivacyRequestInput records a member's request.
type PrivacyRequestInput struct {
	Kind    string `json:"kind"`
	Channel string `json:"channel"`
	Note    string `json:"note"`
	// ReceivedAt is when she made it (default now); the deadline runs from
	// here.
	ReceivedAt time.Time `json:"received_at"`
}

// PrivacyRequestFilter selects personal-information requests.
type PrivacyRequestFilter struct {
	MemberID int64
	Status   string
	Kind     string
	AfterID  int64
	Limit    int
}

// MemberCorrection corrects a member's personal fields; nil fields keep
// their value. Name is kept as the trait "name"; Traits are merged key by
// key (null removes a key), as MemberUpdate's are.
type MemberCorrection struct {
	Phone  *string         `json:"phone"`
	Email  *string         `json:"email"`
	Name   *string         `json:"name"`
	Traits json.RawMessage `json:"traits"`
}

// MemberExport is everything Lianlu holds about a member, as one document
// (PIPL art. 45): her profile with identities, consents, tags and merges,
// what she bought and how it was delivered, service and feedback, offers
// and coupons, her requests and her events in the log.
type MemberExport struct {
	GeneratedAt time.Time `json:"generated_at"`
	Member      Member    `json:"member"`
	// MergedMembers are the records merged into her.
	MergedMembers []Member      `json:"merged_members"`
	Orders        []Order       `json:"orders"`
	Fulfillments  []Fulfillment `json:"fulfillments"`
	WorkOrders    []WorkOrder   `json:"work_orders"`
	// ServiceRequests are her on-site service requests (work orders of kind
	// on_site, with their dispatch); they are listed in WorkOrders too.
	ServiceRequests []WorkOrder      `json:"service_requests"`
	Feedback        []Feedback       `json:"feedback"`
	OfferSends      []OfferSend      `json:"offer_sends"`
	Coupons         []Coupon         `json:"coupons"`
	Interactions    []Event          `json:"interactions"`
	PrivacyRequests []PrivacyRequest `json:"privacy_requests"`
	// Events are every event of the log about her or her orders, work
	// orders, feedback and collector identities, oldest first.
	Events []Event `json:"events"`
}

// ErasureReport tells what an erasure replaced. Counts are of rows
// changed; nothing is deleted but her identities (so that her phone or
// email no longer finds her) and every event keeps its seq.
type ErasureReport struct {
	MemberID int64     `json:"member_id"`
	ErasedAt time.Time `json:"erased_at"`
	// AlreadyErased is set when she had been erased before: nothing more
	// was done.
	AlreadyErased bool `json:"already_erased"`
	// Members are her record and those merged into her.
	Members    []int64 `json:"members"`
	Identities int64   `json:"identities"`
	Orders     int64   `json:"orders"`
	WorkOrders int64   `json:"work_orders"`
	Feedback   int64   `json:"feedback"`
	Events     int64   `json:"events"`
	// Deliveries counts outbound webhook deliveries whose payload was
	// scrubbed (pending offer deliveries are also stopped).
	Deliveries int64 `json:"deliveries"`
}

// PrivacyService records and handles members' personal-information
// requests and carries out their rights: export, correction, erasure and
// withdrawal of consent. Every operation is audited.
type PrivacyService interface {
	// RecordPrivacyRequest records a member's request, appends
	// privacy_request.received and opens its handoff to the privacy
	// department, due after the privacy SLA from ReceivedAt. A withdrawal
	// of consent is carried out at once and the request completed.
	// EINVALID names the field; ENOTFOUND for an unknown member.
	RecordPrivacyRequest(ctx context.Context, memberID int64, in PrivacyRequestInput) (PrivacyRequest, error)
	// FindPrivacyRequestByID returns a request or ENOTFOUND.
	FindPrivacyRequestByID(ctx context.Context, id int64) (PrivacyRequest, error)
	// FindPrivacyRequests lists requests by id.
	FindPrivacyRequests(ctx context.Context, f PrivacyRequestFilter) ([]PrivacyRequest, error)
	// CompletePrivacyRequest closes an open request as done and completes
	// its handoff. ENOTFOUND; ECONFLICT when it is not open.
	CompletePrivacyRequest(ctx context.Context, id int64, resolution string) (PrivacyRequest, error)
	// RefusePrivacyRequest closes an open request as refused, with the
	// reason she is given (required: EINVALID without one), and completes
	// its handoff. ENOTFOUND; ECONFLICT when it is not open.
	RefusePrivacyRequest(ctx context.Context, id int64, reason string) (PrivacyRequest, error)
	// ExportMember returns everything held about a member (audited).
	// ENOTFOUND.
	ExportMember(ctx context.Context, id int64) (MemberExport, error)
	// CorrectMember corrects a member's personal fields, appends
	// member.corrected (naming the fields, not their values) and audits
	// it. EINVALID names the field; ECONFLICT when another member holds the
	// new phone or email, or she was merged or erased; ENOTFOUND.
	CorrectMember(ctx context.Context, id int64, c MemberCorrection) (Member, error)
	// EraseMember replaces a member's personal information, and that of
	// the records merged into her, by the Erased tombstone in state and in
	// the log's event data, removes her identities, withdraws her consents,
	// appends member.erased and audits it. Idempotent. ECONFLICT for a
	// member merged into another (erase that one); ENOTFOUND.
	EraseMember(ctx context.Context, id int64) (ErasureReport, error)
}
