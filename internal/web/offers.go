package web

import (
	"net/http"
	"slices"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// offerRow is an offer rule with what it did.
type offerRow struct {
	lianlu.OfferRule
	Stats sqlstore.OfferStats
}

type offersData struct {
	Rules []offerRow
	// Sends are the latest decisions of every rule.
	Sends []lianlu.OfferSend
	Names map[int64]string
}

// offerListLimit bounds the rules shown, offerSendLimit the latest sends.
const (
	offerListLimit = 100
	offerSendLimit = 30
)

// handleOffers lists the offer rules with their sends by status and their
// coupons issued and redeemed, and the latest sends.
func (c *Console) handleOffers(w http.ResponseWriter, r *http.Request) error {
	rules, err := c.cfg.Offers.FindRules(r.Context(), 0, offerListLimit)
	if err != nil {
		return err
	}
	stats, err := c.cfg.Queries.OfferStats(r.Context())
	if err != nil {
		return err
	}
	d := offersData{Names: map[int64]string{}}
	for _, rule := range rules {
		d.Rules = append(d.Rules, offerRow{OfferRule: rule, Stats: stats[rule.ID]})
		d.Names[rule.ID] = rule.Title
	}
	// Sends for the departments the API gives them to.
	if p := sessionOf(r).principal(); p.IsAdmin() || slices.Contains(lianlu.OfferDepartments, p.Department) {
		if d.Sends, err = c.cfg.Offers.FindSends(r.Context(), 0, 0, 0, offerSendLimit); err != nil {
			return err
		}
	}
	if !seesPII(sessionOf(r)) {
		// A coupon code is as good as money to whoever holds it.
		for i := range d.Sends {
			d.Sends[i].Coupon = ""
		}
	}
	return c.render(w, r, http.StatusOK, "offers", "offers", true, d)
}
