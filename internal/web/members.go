package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/access"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// memberOf returns a member as the user may see her: masked exactly as the
// API masks her for a token of the user's department (access.MemberFor).
func memberOf(s *session, m lianlu.Member) lianlu.Member { return access.MemberFor(s.principal(), m) }

type membersData struct {
	Query   string
	Invalid bool
	Missed  bool
	Members []lianlu.Member
	// Conflicts are the open identity conflicts (shown to the departments
	// that see members' contacts, who act on them).
	Conflicts    []lianlu.IdentityConflict
	SeesPII      bool
	CanResolve   bool
	ConflictMore bool
	Done         string
	DoneID       string
}

// memberListLimit bounds the newest members and the open conflicts shown.
const memberListLimit = 50

// findMember reads the search box: a member number (short, optionally
// with #), an email address or a phone number, looked up through the
// member service's identities (normalised as everywhere else).
func (c *Console) findMember(r *http.Request, q string) (lianlu.Member, error) {
	if n, err := strconv.ParseInt(strings.TrimPrefix(q, "#"), 10, 64); err == nil && n > 0 && len(strings.TrimPrefix(q, "#")) < 8 {
		return c.cfg.Members.FindMemberByID(r.Context(), n)
	}
	kind := lianlu.IdentityPhone
	if strings.Contains(q, "@") {
		kind = lianlu.IdentityEmail
	}
	if !access.MayFindBy(sessionOf(r).principal(), kind) {
		return lianlu.Member{}, lianlu.Errorf(lianlu.EFORBIDDEN, "only departments that see members' contact details may search by %s", kind)
	}
	return c.cfg.Members.FindMemberByIdentity(r.Context(), kind, "", q)
}

// handleMembers searches by member id, phone or email, lists the newest
// members and the identity conflicts left for a person.
func (c *Console) handleMembers(w http.ResponseWriter, r *http.Request) error {
	s := sessionOf(r)
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := membersData{Query: q, SeesPII: seesPII(s)}
	d.CanResolve = d.SeesPII && s.user.Role.AtLeast(lianlu.RoleOperator)
	if done := r.URL.Query().Get("done"); slices.Contains([]string{"merged", "dismissed"}, done) {
		if _, err := strconv.ParseInt(r.URL.Query().Get("id"), 10, 64); err == nil {
			d.Done, d.DoneID = done, r.URL.Query().Get("id")
		}
	}
	if q != "" && len(q) <= 320 {
		m, err := c.findMember(r, q)
		switch lianlu.ErrorCode(err) {
		case "":
			http.Redirect(w, r, "/members/"+strconv.FormatInt(m.ID, 10), http.StatusSeeOther)
			return nil
		case lianlu.EINVALID:
			d.Invalid = true
		case lianlu.ENOTFOUND:
			d.Missed = true
		default:
			return err
		}
	} else if q != "" {
		d.Invalid = true
	}
	ms, err := c.cfg.Queries.RecentMembers(r.Context(), memberListLimit)
	if err != nil {
		return err
	}
	for _, m := range ms {
		d.Members = append(d.Members, memberOf(s, m))
	}
	if d.SeesPII {
		cs, err := c.cfg.Members.FindConflicts(r.Context(), lianlu.ConflictOpen, 0, memberListLimit+1)
		if err != nil {
			return err
		}
		d.ConflictMore = len(cs) > memberListLimit
		d.Conflicts = cs[:min(len(cs), memberListLimit)]
	}
	return c.render(w, r, http.StatusOK, "members", "members", true, d)
}

// timelineRow is one entry of a member's cross-channel timeline, with the
// facts of its event worth a line.
type timelineRow struct {
	lianlu.TimelineEntry
	Facts []fact
}

// fact is one labelled value of a timeline entry.
type fact struct {
	Key   string
	Value string
	Href  string
}

// storeRef is a store with its name, for links.
type storeRef struct {
	Code, Name string
}

// memberOffer is an offer sent to the member, with its coupon.
type memberOffer struct {
	lianlu.OfferSend
	Rule   string
	Coupon *lianlu.Coupon
}

type memberData struct {
	Member      lianlu.Member
	SeesPII     bool
	CanMerge    bool
	HomeStore   *storeRef
	JoinedStore *storeRef
	JoinedStaff string
	Timeline    []timelineRow
	TimelineMax int
	Kinds       []kindCount
	Orders      []sqlstore.OrderSummary
	Feedback    []lianlu.Feedback
	Offers      []memberOffer
	Conflicts   []lianlu.IdentityConflict
	Done        string
}

// kindCount counts the timeline's entries of one kind.
type kindCount struct {
	Kind string
	N    int
}

// timelineLimit is how much of a member's history her page shows.
const timelineLimit = 100

func (c *Console) handleMember(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	m, err := c.cfg.Members.FindMemberByID(r.Context(), id)
	if err != nil {
		return err
	}
	s := sessionOf(r)
	d := memberData{Member: memberOf(s, m), SeesPII: seesPII(s), TimelineMax: timelineLimit}
	d.CanMerge = d.SeesPII && s.user.Role.AtLeast(lianlu.RoleOperator) && m.MergedInto == 0
	if r.URL.Query().Get("done") == "merged" {
		d.Done = "merged"
	}
	if d.HomeStore, err = c.storeRef(r, m.HomeStore); err != nil {
		return err
	}
	if d.JoinedStore, err = c.storeRef(r, m.JoinedStore); err != nil {
		return err
	}
	d.JoinedStaff = m.JoinedStaff
	if m.JoinedStaff != "" && m.JoinedStore != "" {
		if st, err := c.cfg.Stores.FindStoreByCode(r.Context(), m.JoinedStore); err == nil {
			for _, p := range st.Staff {
				if p.Code == m.JoinedStaff {
					d.JoinedStaff = p.Name + " (" + p.Code + ")"
				}
			}
		}
	}
	// The user sees the events and data the API would show her.
	p := s.principal()
	entries, err := c.cfg.Members.Timeline(r.Context(), id, lianlu.TimelineFilter{Limit: timelineLimit, Departments: access.EventDepartments(p)})
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, e := range entries {
		e.Event = access.EventFor(p, e.Event)
		d.Timeline = append(d.Timeline, timelineRow{TimelineEntry: e, Facts: entryFacts(e, d.SeesPII)})
		counts[e.Kind]++
	}
	for _, k := range timelineKinds {
		if counts[k] > 0 {
			d.Kinds = append(d.Kinds, kindCount{Kind: k, N: counts[k]})
		}
	}
	if d.Orders, err = c.cfg.Queries.RecentOrders(r.Context(), "", id, 50); err != nil {
		return err
	}
	if d.Feedback, err = c.cfg.Queries.RecentFeedback(r.Context(), id, 50); err != nil {
		return err
	}
	if d.Offers, err = c.memberOffers(r, id, d.SeesPII); err != nil {
		return err
	}
	if d.SeesPII {
		// The open conflicts this member is part of.
		for after := int64(0); ; {
			cs, err := c.cfg.Members.FindConflicts(r.Context(), lianlu.ConflictOpen, after, 500)
			if err != nil {
				return err
			}
			for _, cf := range cs {
				if cf.MemberA == id || cf.MemberB == id {
					d.Conflicts = append(d.Conflicts, cf)
				}
			}
			if len(cs) < 500 {
				break
			}
			after = cs[len(cs)-1].ID
		}
	}
	return c.render(w, r, http.StatusOK, "member", "members", true, d)
}

// timelineKinds orders the kinds of a member's timeline for the summary.
var timelineKinds = []string{"member", "visit", "interaction", "touch", "order", "work_order", "service_request", "handoff", "feedback", "offer"}

func (c *Console) storeRef(r *http.Request, code string) (*storeRef, error) {
	if code == "" {
		return nil, nil
	}
	st, err := c.cfg.Stores.FindStoreByCode(r.Context(), code)
	switch lianlu.ErrorCode(err) {
	case "":
		return &storeRef{Code: code, Name: st.Name}, nil
	case lianlu.ENOTFOUND:
		return &storeRef{Code: code, Name: code}, nil
	}
	return nil, err
}

// memberOffers lists what offer rules sent the member, with coupons; the
// coupon codes only for those who see her contacts (a code is as good as
// money to whoever holds it).
func (c *Console) memberOffers(r *http.Request, id int64, pii bool) ([]memberOffer, error) {
	sends, err := c.cfg.Offers.FindSends(r.Context(), id, 0, 0, 50)
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	var out []memberOffer
	for _, s := range sends {
		o := memberOffer{OfferSend: s}
		if _, ok := names[s.RuleID]; !ok {
			rule, err := c.cfg.Offers.FindRule(r.Context(), s.RuleID)
			if err != nil && lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
				return nil, err
			}
			names[s.RuleID] = rule.Title
		}
		o.Rule = names[s.RuleID]
		if s.Coupon != "" {
			cp, err := c.cfg.Offers.FindCoupon(r.Context(), s.Coupon)
			if err != nil && lianlu.ErrorCode(err) != lianlu.ENOTFOUND {
				return nil, err
			}
			if err == nil {
				if !pii {
					cp.Code = ""
				}
				o.Coupon = &cp
			}
		}
		if !pii {
			o.OfferSend.Coupon = ""
		}
		out = append(out, o)
	}
	return out, nil
}

// factKeys are the fields of event data a timeline line shows, in order:
// what happened where, never contacts or addresses (those stay on the
// profile, masked as the user must see them).
// Free text (titles, reasons) may hold anything, as traits may: only
// those who see contacts see it.
var factKeys = []struct {
	key, label string
	text       bool
}{
	{"event", "fact.event", false}, {"name", "fact.page", false}, {"store", "fact.store", false}, {"staff", "fact.staff", false},
	{"sku", "fact.sku", false}, {"product_id", "fact.sku", false}, {"channel", "fact.channel", false}, {"total", "fact.total", false},
	{"revenue", "fact.total", false}, {"kind", "fact.kind", false}, {"skill", "fact.skill", false}, {"rating", "fact.rating", false},
	{"problem_type", "fact.problem", false}, {"rule", "fact.rule", false}, {"from", "fact.merged_from", false},
	{"title", "fact.title", true}, {"reason", "fact.reason", true},
}

// entryFacts picks the facts of a timeline entry's event. Collector events
// carry the Segment message (event name, page name, properties,
// campaign context); the others their command's data.
func entryFacts(e lianlu.TimelineEntry, pii bool) []fact {
	var data map[string]any
	if json.Unmarshal(e.Event.Data, &data) != nil || data == nil {
		return nil
	}
	flat := map[string]any{}
	for k, v := range data {
		flat[k] = v
	}
	if props, ok := data["properties"].(map[string]any); ok {
		for k, v := range props {
			if _, taken := flat[k]; !taken {
				flat[k] = v
			}
		}
	}
	var out []fact
	seen := map[string]bool{}
	for _, k := range factKeys {
		v, ok := flat[k.key]
		if !ok || seen[k.label] || (k.text && !pii) {
			continue
		}
		var text string
		switch x := v.(type) {
		case string:
			text = x
		case float64:
			text = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			continue
		default:
			continue
		}
		if text == "" {
			continue
		}
		seen[k.label] = true
		f := fact{Key: k.label, Value: text}
		switch k.key {
		case "store":
			f.Href = "/stores/" + text
		case "from":
			f.Href = "/members/" + text
		}
		out = append(out, f)
	}
	if ctx, ok := data["context"].(map[string]any); ok {
		if camp, ok := ctx["campaign"].(map[string]any); ok {
			if name, ok := camp["name"].(string); ok && name != "" {
				src, _ := camp["source"].(string)
				out = append(out, fact{Key: "fact.campaign", Value: strings.TrimSuffix(name+" · "+src, " · ")})
			}
		}
	}
	if code, ok := data["coupon"].(string); ok && code != "" && pii {
		out = append(out, fact{Key: "fact.coupon", Value: code})
	}
	return out
}

// requireResolver allows the departments that resolve identities: those
// that see members' contacts (as the API's merge and conflict endpoints).
func requireResolver(r *http.Request) error {
	if !seesPII(sessionOf(r)) {
		return lianlu.Errorf(lianlu.EFORBIDDEN, "only sales, service, the stores and admins merge members")
	}
	return nil
}

// handleMergeMember merges another member (form field from) into the
// member of the path, on an operator's word; audited by the service.
func (c *Console) handleMergeMember(w http.ResponseWriter, r *http.Request) error {
	if err := requireResolver(r); err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	from, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(r.PostForm.Get("from")), "#"), 10, 64)
	if err != nil || from < 1 {
		return lianlu.Invalid(lianlu.FieldError{Field: "from", Message: "the number of the member to merge into this one"})
	}
	if _, err := c.cfg.Members.MergeMembers(r.Context(), id, from, strings.TrimSpace(r.PostForm.Get("reason"))); err != nil {
		return err
	}
	http.Redirect(w, r, "/members/"+strconv.FormatInt(id, 10)+"?done=merged", http.StatusSeeOther)
	return nil
}

// conflictOf returns an open identity conflict by id.
func (c *Console) conflictOf(r *http.Request) (lianlu.IdentityConflict, error) {
	id, err := pathID(r)
	if err != nil {
		return lianlu.IdentityConflict{}, err
	}
	cs, err := c.cfg.Members.FindConflicts(r.Context(), "", id-1, 1)
	if err != nil {
		return lianlu.IdentityConflict{}, err
	}
	if len(cs) == 0 || cs[0].ID != id {
		return lianlu.IdentityConflict{}, notFound()
	}
	if cs[0].Status != lianlu.ConflictOpen {
		return lianlu.IdentityConflict{}, lianlu.Errorf(lianlu.ECONFLICT, "identity conflict %d is %s", id, cs[0].Status)
	}
	return cs[0], nil
}

// handleMergeConflict resolves a conflict by merging its two members: the
// form's into names the one that stays.
func (c *Console) handleMergeConflict(w http.ResponseWriter, r *http.Request) error {
	if err := requireResolver(r); err != nil {
		return err
	}
	cf, err := c.conflictOf(r)
	if err != nil {
		return err
	}
	into, from := cf.MemberA, cf.MemberB
	switch r.PostForm.Get("into") {
	case strconv.FormatInt(cf.MemberA, 10):
	case strconv.FormatInt(cf.MemberB, 10):
		into, from = cf.MemberB, cf.MemberA
	default:
		return lianlu.Invalid(lianlu.FieldError{Field: "into", Message: "one of the two members of the conflict"})
	}
	reason := fmt.Sprintf("identity conflict #%d (%s)", cf.ID, cf.Kind)
	if note := strings.TrimSpace(r.PostForm.Get("reason")); note != "" {
		reason += ": " + note
	}
	if _, err := c.cfg.Members.MergeMembers(r.Context(), into, from, reason); err != nil {
		return err
	}
	redirectDone(w, r, "/members", "merged", cf.ID)
	return nil
}

// handleDismissConflict closes a conflict without merging (audited).
func (c *Console) handleDismissConflict(w http.ResponseWriter, r *http.Request) error {
	if err := requireResolver(r); err != nil {
		return err
	}
	cf, err := c.conflictOf(r)
	if err != nil {
		return err
	}
	if _, err := c.cfg.Members.DismissConflict(r.Context(), cf.ID); err != nil {
		return err
	}
	redirectDone(w, r, "/members", "dismissed", cf.ID)
	return nil
}

// redirectDone returns to the form's back page (a local path) or fallback,
// saying what was done to which object.
func redirectDone(w http.ResponseWriter, r *http.Request, fallback, done string, id int64) {
	back := r.PostForm.Get("back")
	if back == "" || safeNext(back) != back {
		back = fallback
	}
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	http.Redirect(w, r, back+sep+"done="+done+"&id="+strconv.FormatInt(id, 10), http.StatusSeeOther)
}
