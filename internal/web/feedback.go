package web

import (
	"net/http"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

type feedbackListData struct {
	Feedback []lianlu.Feedback
	Backlog  []lianlu.BacklogItem
}

func (c *Console) handleFeedbackList(w http.ResponseWriter, r *http.Request) error {
	fb, err := c.cfg.Queries.RecentFeedback(r.Context(), 0, 50)
	if err != nil {
		return err
	}
	bl, err := c.cfg.Feedback.FindBacklogItems(r.Context(), lianlu.BacklogOpen, 0, 50)
	if err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "feedback", "feedback", true, feedbackListData{Feedback: fb, Backlog: bl})
}

type feedbackData struct {
	Feedback   lianlu.Feedback
	WorkOrders []lianlu.WorkOrder
	Timeline   timelineView
}

func (c *Console) handleFeedback(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	f, err := c.cfg.Feedback.FindFeedbackByID(r.Context(), id)
	if err != nil {
		return err
	}
	d := feedbackData{Feedback: f}
	if d.WorkOrders, err = c.cfg.WorkOrders.FindWorkOrders(r.Context(), lianlu.WorkOrderFilter{Subject: sqlstore.FeedbackSubject(id), Limit: 100}); err != nil {
		return err
	}
	if d.Timeline, err = c.buildTimeline(r.Context(), sessionOf(r).principal(), c.translatorOf(r), sqlstore.FeedbackSubject(id)); err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "feedback1", "feedback", true, d)
}
