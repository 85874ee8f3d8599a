package web

import (
	"fmt"
	"net/http"
	"time"
)

// handleLive is the pages' change feed: a Server-Sent Events stream that
// says "changed" (with the log's head seq) whenever events are appended,
// at most once per LiveThrottle. It carries no data, so it reveals nothing
// a user may not see: the page then asks for its own live region, through
// the usual checks.
func (c *Console) handleLive(w http.ResponseWriter, r *http.Request) error {
	head, err := c.cfg.Events.MaxSeq(r.Context())
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	// The stream outlives the server's write timeout.
	rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 3000\n\n")
	if err := rc.Flush(); err != nil {
		return nil
	}
	poll := time.NewTicker(c.cfg.PollInterval)
	defer poll.Stop()
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	for {
		wake := c.cfg.Notifier.Appended()
		select {
		case <-r.Context().Done():
			return nil
		case <-c.closing:
			return nil
		case <-heartbeat.C:
			fmt.Fprintf(w, ": keep-alive\n\n")
			if err := rc.Flush(); err != nil {
				return nil
			}
			continue
		case <-wake:
		case <-poll.C:
		}
		// Appends by other nodes are only seen by polling the head.
		now, err := c.cfg.Events.MaxSeq(r.Context())
		if err != nil {
			return nil
		}
		if now == head {
			continue
		}
		head = now
		fmt.Fprintf(w, "event: changed\ndata: %d\n\n", head)
		if err := rc.Flush(); err != nil {
			return nil
		}
		select {
		case <-time.After(c.cfg.LiveThrottle):
		case <-r.Context().Done():
			return nil
		case <-c.closing:
			return nil
		}
	}
}
