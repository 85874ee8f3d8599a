package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// maskPhone hides the middle of a phone number (+86138****5678). Members'
// contacts are personal data: until data grants decide who sees them in
// full, only administrators do.
func maskPhone(p string, full bool) string {
	if full || len(p) < 8 {
		return p
	}
	return p[:len(p)-8] + "****" + p[len(p)-4:]
}

func maskEmail(e string, full bool) string {
	if full || e == "" {
		return e
	}
	name, domain, ok := strings.Cut(e, "@")
	if !ok || len(name) < 2 {
		return "***@" + domain
	}
	return name[:1] + "***@" + domain
}

// memberView is a member as the user may see it.
type memberView struct {
	lianlu.Member
	Phone, Email string
}

func viewMember(m lianlu.Member, s *session) memberView {
	full := s.user.Role == lianlu.RoleAdmin
	return memberView{Member: m, Phone: maskPhone(m.Phone, full), Email: maskEmail(m.Email, full)}
}

type membersData struct {
	Query   string
	Invalid bool
	Missed  bool
	Members []memberView
}

// handleMembers searches by member id, phone or email, and lists the
// newest members.
func (c *Console) handleMembers(w http.ResponseWriter, r *http.Request) error {
	s := sessionOf(r)
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := membersData{Query: q}
	if q != "" {
		var id int64
		contact := q
		if n, err := strconv.ParseInt(strings.TrimPrefix(q, "#"), 10, 64); err == nil && len(q) < 8 {
			id, contact = n, ""
		}
		m, err := c.cfg.Queries.FindMember(r.Context(), id, contact)
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
	}
	ms, err := c.cfg.Queries.RecentMembers(r.Context(), 50)
	if err != nil {
		return err
	}
	for _, m := range ms {
		d.Members = append(d.Members, viewMember(m, s))
	}
	return c.render(w, r, http.StatusOK, "members", "members", false, d)
}

// memberData is a member's profile: what the member services hold today
// (contacts, orders, feedback, the events about the member). Identities,
// consents, tags and the home store join it with the identity capability.
type memberData struct {
	Member   memberView
	Orders   []sqlstore.OrderSummary
	Feedback []lianlu.Feedback
	Events   []lianlu.Event
}

func (c *Console) handleMember(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	m, err := c.cfg.Queries.FindMember(r.Context(), id, "")
	if err != nil {
		return err
	}
	d := memberData{Member: viewMember(m, sessionOf(r))}
	if d.Orders, err = c.cfg.Queries.RecentOrders(r.Context(), "", id, 50); err != nil {
		return err
	}
	if d.Feedback, err = c.cfg.Queries.RecentFeedback(r.Context(), id, 50); err != nil {
		return err
	}
	f := lianlu.EventFilter{Subject: "member/" + strconv.FormatInt(id, 10), Limit: 100}
	if s := sessionOf(r); s.user.Role != lianlu.RoleAdmin {
		f.Departments = []string{s.user.Department}
	}
	if d.Events, err = c.cfg.Queries.LatestEvents(r.Context(), f); err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "member", "members", true, d)
}
