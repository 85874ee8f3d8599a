package sqlstore

import "testing"

func TestTimelineKind(t *testing.T) {
	for typ, want := range map[string]string{
		"segment.track": "touch", "touch.email_opened": "touch", "store.visited": "visit", "product.tried": "interaction",
		"order.placed": "order", "workorder.created": "work_order", "feedback.submitted": "feedback", "offer.sent": "offer",
		"coupon.redeemed": "offer", "service_request.dispatched": "service_request", "handoff.opened": "handoff",
		"handoff.breached": "handoff", "member.joined": "member",
	} {
		if got := timelineKind(typ); got != want {
			t.Errorf("timelineKind(%q) = %q, want %q", typ, got, want)
		}
	}
}
