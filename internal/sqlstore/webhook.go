package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
	"github.com/lianlu/lianlu/internal/netguard"
	"github.com/lianlu/lianlu/internal/webhook"
)

// WebhookConsumerName is the subscription that fans new events out to
// webhook deliveries.
const WebhookConsumerName = "webhooks"

// DefaultSecretGrace is how long a rotated-out signing secret keeps signing
// alongside the new one, so that receivers can switch without failures.
const DefaultSecretGrace = 24 * time.Hour

// WebhookService implements webhook.Service (subscriptions and the delivery
// log) and webhook.Store (the durable delivery queue the worker claims
// from).
//
// Signing secrets are stored as they are, not hashed: unlike API tokens,
// which are only compared, a webhook secret is the HMAC key of every
// delivery and must be read back to sign. It is returned only by
// CreateWebhook and RotateWebhookSecret, never by reads.
type WebhookService struct {
	db *DB
	// SecretGrace is how long a rotated-out secret keeps signing (default
	// DefaultSecretGrace).
	SecretGrace time.Duration
	// Outbound checks a subscription's URL when it is saved (nil: public
	// addresses only); the worker checks again at every delivery.
	Outbound *netguard.Policy

	mu     sync.Mutex
	notify chan struct{}
}

// NewWebhookService returns the webhook service of db.
func NewWebhookService(db *DB) *WebhookService {
	return &WebhookService{db: db, SecretGrace: DefaultSecretGrace, notify: make(chan struct{})}
}

var (
	_ webhook.Service = (*WebhookService)(nil)
	_ webhook.Store   = (*WebhookService)(nil)
)

// Enqueued returns a channel closed at the next commit through this service
// that enqueued deliveries (fan-out and replays).
func (s *WebhookService) Enqueued() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notify
}

func (s *WebhookService) signal() {
	s.mu.Lock()
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}

// Appended returns the database's append notifier: direct deliveries are
// enqueued by flows in transactions that append events.
func (s *WebhookService) Appended() <-chan struct{} { return s.db.Appended() }

const webhookColumns = `id, url, event_types, department, description, status, previous_secret_until, created_by, created_at, updated_at, disabled_at`

func (s *WebhookService) scanWebhook(r rowScanner) (webhook.Webhook, error) {
	var w webhook.Webhook
	var types string
	var dept *string
	err := r.Scan(&w.ID, &w.URL, &types, &dept, &w.Description, &w.Status, nullTime{&w.PreviousSecretExpiresAt},
		&w.CreatedBy, sqlTime{&w.CreatedAt}, sqlTime{&w.UpdatedAt}, nullTime{&w.DisabledAt})
	if err != nil {
		return w, err
	}
	w.Department = deref(dept)
	if err := json.Unmarshal([]byte(types), &w.EventTypes); err != nil {
		return w, fmt.Errorf("webhook %d: stored event types: %w", w.ID, err)
	}
	if w.PreviousSecretExpiresAt != nil && !w.PreviousSecretExpiresAt.After(s.db.Now()) {
		w.PreviousSecretExpiresAt = nil
	}
	return w, nil
}

func (s *WebhookService) findWebhookTx(ctx context.Context, tx *Tx, id int64) (webhook.Webhook, error) {
	w, err := s.scanWebhook(tx.queryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id))
	if err != nil {
		return w, fmt.Errorf("webhook %d: %w", id, mapError(err))
	}
	return w, nil
}

// CreateWebhook stores a subscription with a new secret; see
// webhook.Service. It receives only events appended after it was created.
// A URL whose host is a literal address Outbound refuses (or localhost)
// is invalid.
func (s *WebhookService) CreateWebhook(ctx context.Context, c webhook.Create) (webhook.WithSecret, error) {
	errs := c.Validate()
	if webhook.ValidateURL(c.URL) == "" {
		if err := s.Outbound.CheckURL(c.URL); err != nil {
			errs = append(errs, lianlu.FieldError{Field: "url", Message: err.Error()})
		}
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return webhook.WithSecret{}, err
	}
	var out webhook.WithSecret
	err = s.db.WithTx(ctx, func(tx *Tx) error {
		if c.Department != "" {
			ok, err := departmentExists(ctx, tx, c.Department)
			if err != nil {
				return err
			} else if !ok {
				errs = append(errs, lianlu.FieldError{Field: "department", Message: "unknown department " + c.Department})
			}
		}
		if len(errs) > 0 {
			return lianlu.Invalid(errs...)
		}
		var afterSeq int64
		if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events`).Scan(&afterSeq); err != nil {
			return fmt.Errorf("create webhook: log head: %w", err)
		}
		types, err := json.Marshal(c.EventTypes)
		if err != nil {
			return err
		}
		d := tx.db.dialect
		w := webhook.Webhook{URL: c.URL, EventTypes: c.EventTypes, Department: c.Department, Description: c.Description,
			Status: webhook.StatusActive, CreatedBy: actorOf(ctx), CreatedAt: tx.now, UpdatedAt: tx.now}
		if err := tx.queryRow(ctx, `INSERT INTO webhooks (url, event_types, department, description, status, secret, after_seq, created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			w.URL, string(types), nullString(w.Department), w.Description, w.Status, secret, afterSeq, w.CreatedBy,
			d.timeArg(tx.now), d.timeArg(tx.now)).Scan(&w.ID); err != nil {
			return fmt.Errorf("insert webhook: %w", mapError(err))
		}
		if err := WriteAudit(ctx, tx, "webhook.created", "webhook", strconv.FormatInt(w.ID, 10), w.Department,
			map[string]any{"url": w.URL, "event_types": w.EventTypes, "description": w.Description}); err != nil {
			return err
		}
		out = webhook.WithSecret{Webhook: w, Secret: secret}
		return nil
	})
	return out, err
}

// FindWebhookByID returns a webhook without its secret.
func (s *WebhookService) FindWebhookByID(ctx context.Context, id int64) (webhook.Webhook, error) {
	w, err := s.scanWebhook(s.db.readRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id))
	if err != nil {
		return w, fmt.Errorf("webhook %d: %w", id, mapError(err))
	}
	return w, nil
}

// FindWebhooks lists webhooks oldest first, without their secrets.
func (s *WebhookService) FindWebhooks(ctx context.Context, f webhook.Filter) ([]webhook.Webhook, error) {
	q := `SELECT ` + webhookColumns + ` FROM webhooks WHERE id > ?`
	args := []any{f.AfterID}
	if f.Department != "" {
		q += ` AND department = ?`
		args = append(args, f.Department)
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	rows, err := s.db.readQuery(ctx, q+` ORDER BY id LIMIT `+strconv.Itoa(clampLimit(f.Limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("find webhooks: %w", err)
	}
	defer rows.Close()
	out := []webhook.Webhook{}
	for rows.Next() {
		w, err := s.scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// DisableWebhook stops a webhook and kills its pending deliveries; see
// webhook.Service.
func (s *WebhookService) DisableWebhook(ctx context.Context, id int64) (webhook.Webhook, error) {
	var w webhook.Webhook
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		if w, err = s.findWebhookTx(ctx, tx, id); err != nil {
			return err
		}
		if w.Status == webhook.StatusDisabled {
			return nil
		}
		d := tx.db.dialect
		res, err := tx.exec(ctx, `UPDATE webhooks SET status = 'disabled', disabled_at = ?, updated_at = ? WHERE id = ? AND status = 'active'`,
			d.timeArg(tx.now), d.timeArg(tx.now), id)
		if err != nil {
			return fmt.Errorf("disable webhook: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return lianlu.Errorf(lianlu.ECONFLICT, "webhook %d changed concurrently", id)
		}
		res, err = tx.exec(ctx, `UPDATE webhook_deliveries SET status = 'dead', next_attempt_at = NULL, last_error = 'webhook disabled', updated_at = ?
			WHERE webhook_id = ? AND status = 'pending'`, d.timeArg(tx.now), id)
		if err != nil {
			return fmt.Errorf("disable webhook: stop deliveries: %w", err)
		}
		stopped, _ := res.RowsAffected()
		now := tx.now
		w.Status, w.DisabledAt, w.UpdatedAt = webhook.StatusDisabled, &now, now
		return WriteAudit(ctx, tx, "webhook.disabled", "webhook", strconv.FormatInt(id, 10), w.Department,
			map[string]any{"url": w.URL, "pending_deliveries_stopped": stopped})
	})
	return w, err
}

// RotateWebhookSecret gives a webhook a new secret; see webhook.Service.
func (s *WebhookService) RotateWebhookSecret(ctx context.Context, id int64) (webhook.WithSecret, error) {
	secret, err := webhook.NewSecret()
	if err != nil {
		return webhook.WithSecret{}, err
	}
	grace := s.SecretGrace
	if grace < 0 {
		grace = 0
	}
	var out webhook.WithSecret
	err = s.db.WithTx(ctx, func(tx *Tx) error {
		w, err := s.findWebhookTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if w.Status != webhook.StatusActive {
			return lianlu.Errorf(lianlu.ECONFLICT, "webhook %d is disabled", id)
		}
		d := tx.db.dialect
		until := tx.now.Add(grace)
		// SET reads the old values, so the current secret becomes the
		// previous one.
		res, err := tx.exec(ctx, `UPDATE webhooks SET previous_secret = secret, previous_secret_until = ?, secret = ?, updated_at = ?
			WHERE id = ? AND status = 'active'`, d.timeArg(until), secret, d.timeArg(tx.now), id)
		if err != nil {
			return fmt.Errorf("rotate webhook secret: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return lianlu.Errorf(lianlu.ECONFLICT, "webhook %d changed concurrently", id)
		}
		w.UpdatedAt = tx.now
		w.PreviousSecretExpiresAt = nil
		if grace > 0 {
			w.PreviousSecretExpiresAt = &until
		}
		out = webhook.WithSecret{Webhook: w, Secret: secret}
		return WriteAudit(ctx, tx, "webhook.secret_rotated", "webhook", strconv.FormatInt(id, 10), w.Department,
			map[string]any{"previous_secret_expires_at": until})
	})
	return out, err
}

// deliveryColumns are the columns of webhook.Delivery, in scanDelivery's
// order, on webhook_deliveries aliased d.
const deliveryColumns = `d.id, d.webhook_id, d.department, d.url, d.msg_id, d.event_seq, d.event_id, d.event_type, d.subject,
	d.handoff_id, d.replay_of, d.status, d.attempts, d.next_attempt_at, d.last_status_code, d.last_error,
	d.created_at, d.updated_at, d.delivered_at`

func scanDelivery(r rowScanner, extra ...any) (webhook.Delivery, error) {
	var d webhook.Delivery
	var webhookID, seq, handoff, replayOf, code *int64
	var dept, eventID, eventType, subject, lastErr *string
	dest := []any{&d.ID, &webhookID, &dept, &d.URL, &d.MsgID, &seq, &eventID, &eventType, &subject,
		&handoff, &replayOf, &d.Status, &d.Attempts, nullTime{&d.NextAttemptAt}, &code, &lastErr,
		sqlTime{&d.CreatedAt}, sqlTime{&d.UpdatedAt}, nullTime{&d.DeliveredAt}}
	if err := r.Scan(append(dest, extra...)...); err != nil {
		return d, err
	}
	d.WebhookID, d.EventSeq, d.HandoffID, d.ReplayOf = derefInt(webhookID), derefInt(seq), derefInt(handoff), derefInt(replayOf)
	d.LastStatusCode = int(derefInt(code))
	d.Department, d.EventID, d.EventType, d.Subject, d.LastError = deref(dept), deref(eventID), deref(eventType), deref(subject), deref(lastErr)
	d.AttemptLog = []webhook.Attempt{}
	return d, nil
}

func derefInt(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}

func nullInt(n int64) any {
	if n == 0 {
		return nil
	}
	return n
}

// loadAttempts fills the attempt logs of deliveries.
func (s *WebhookService) loadAttempts(ctx context.Context, ds []webhook.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	index := make(map[int64]int, len(ds))
	args := make([]any, len(ds))
	for i, d := range ds {
		index[d.ID] = i
		args[i] = d.ID
	}
	rows, err := s.db.readQuery(ctx, `SELECT delivery_id, attempt, started_at, duration_ms, status_code, error FROM webhook_attempts
		WHERE delivery_id IN (`+placeholders(len(ds))+`) ORDER BY delivery_id, attempt`, args...)
	if err != nil {
		return fmt.Errorf("find webhook attempts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var a webhook.Attempt
		var code *int64
		var errText *string
		if err := rows.Scan(&id, &a.Attempt, sqlTime{&a.StartedAt}, &a.DurationMS, &code, &errText); err != nil {
			return err
		}
		a.StatusCode, a.Error = int(derefInt(code)), deref(errText)
		if i, ok := index[id]; ok {
			ds[i].AttemptLog = append(ds[i].AttemptLog, a)
		}
	}
	return rows.Err()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// FindDeliveries lists deliveries newest first with their attempts; see
// webhook.Service.
func (s *WebhookService) FindDeliveries(ctx context.Context, f webhook.DeliveryFilter) ([]webhook.Delivery, error) {
	q := `SELECT ` + deliveryColumns + ` FROM webhook_deliveries d WHERE 1 = 1`
	var args []any
	if f.WebhookID != 0 {
		q += ` AND d.webhook_id = ?`
		args = append(args, f.WebhookID)
	}
	if f.HandoffID != 0 {
		q += ` AND d.handoff_id = ?`
		args = append(args, f.HandoffID)
	}
	if f.Department != "" {
		q += ` AND d.department = ?`
		args = append(args, f.Department)
	}
	if f.Status != "" {
		q += ` AND d.status = ?`
		args = append(args, f.Status)
	}
	if f.BeforeID > 0 {
		q += ` AND d.id < ?`
		args = append(args, f.BeforeID)
	}
	rows, err := s.db.readQuery(ctx, q+` ORDER BY d.id DESC LIMIT `+strconv.Itoa(clampLimit(f.Limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("find webhook deliveries: %w", err)
	}
	defer rows.Close()
	out := []webhook.Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	return out, s.loadAttempts(ctx, out)
}

// FindDeliveryByID returns a delivery with its attempts.
func (s *WebhookService) FindDeliveryByID(ctx context.Context, id int64) (webhook.Delivery, error) {
	d, err := scanDelivery(s.db.readRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries d WHERE d.id = ?`, id))
	if err != nil {
		return d, fmt.Errorf("webhook delivery %d: %w", id, mapError(err))
	}
	ds := []webhook.Delivery{d}
	if err := s.loadAttempts(ctx, ds); err != nil {
		return d, err
	}
	return ds[0], nil
}

// deliveryRow is a delivery as inserted.
type deliveryRow struct {
	webhookID   int64
	department  string
	url         string
	secret      string
	msgID       string
	contentType string
	payload     []byte
	eventSeq    int64
	eventID     string
	eventType   string
	subject     string
	handoffID   int64
	replayOf    int64
}

// insertDelivery enqueues a delivery due now. It returns 0 when the
// delivery already exists (the same event for the same webhook).
func insertDelivery(ctx context.Context, tx *Tx, r deliveryRow) (int64, error) {
	d := tx.db.dialect
	var id int64
	err := tx.queryRow(ctx, `INSERT INTO webhook_deliveries (webhook_id, department, url, secret, msg_id, content_type, payload,
			event_seq, event_id, event_type, subject, handoff_id, replay_of, status, attempts, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)
		ON CONFLICT DO NOTHING RETURNING id`,
		nullInt(r.webhookID), nullString(r.department), r.url, nullString(r.secret), r.msgID, r.contentType, string(r.payload),
		nullInt(r.eventSeq), nullString(r.eventID), nullString(r.eventType), nullString(r.subject), nullInt(r.handoffID), nullInt(r.replayOf),
		d.timeArg(tx.now), d.timeArg(tx.now), d.timeArg(tx.now)).Scan(&id)
	if isNotFound(err) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("insert webhook delivery: %w", mapError(err))
	}
	return id, nil
}

// ReplayDelivery enqueues a finished delivery again; see webhook.Service.
func (s *WebhookService) ReplayDelivery(ctx context.Context, id int64) (webhook.Delivery, error) {
	var newID int64
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		var r deliveryRow
		var status string
		var webhookID, seq, handoff *int64
		var dept, secret, eventID, eventType, subject *string
		var payload string
		err := tx.queryRow(ctx, `SELECT status, webhook_id, department, url, secret, msg_id, content_type, payload, event_seq, event_id, event_type, subject, handoff_id
			FROM webhook_deliveries WHERE id = ?`, id).Scan(&status, &webhookID, &dept, &r.url, &secret, &r.msgID, &r.contentType, &payload,
			&seq, &eventID, &eventType, &subject, &handoff)
		if err != nil {
			return fmt.Errorf("webhook delivery %d: %w", id, mapError(err))
		}
		if status == webhook.DeliveryPending {
			return lianlu.Errorf(lianlu.ECONFLICT, "webhook delivery %d is still pending", id)
		}
		r.webhookID, r.eventSeq, r.handoffID = derefInt(webhookID), derefInt(seq), derefInt(handoff)
		r.department, r.secret, r.eventID, r.eventType, r.subject = deref(dept), deref(secret), deref(eventID), deref(eventType), deref(subject)
		r.payload, r.replayOf = []byte(payload), id
		if r.webhookID != 0 {
			w, err := s.findWebhookTx(ctx, tx, r.webhookID)
			if err != nil {
				return err
			}
			if w.Status != webhook.StatusActive {
				return lianlu.Errorf(lianlu.ECONFLICT, "webhook %d is disabled", w.ID)
			}
			r.url = w.URL
		}
		if newID, err = insertDelivery(ctx, tx, r); err != nil {
			return err
		}
		tx.OnCommit(s.signal)
		return WriteAudit(ctx, tx, "webhook.replayed", "webhook_delivery", strconv.FormatInt(newID, 10), r.department,
			map[string]any{"replay_of": id, "msg_id": r.msgID, "webhook_id": r.webhookID})
	})
	if err != nil {
		return webhook.Delivery{}, err
	}
	return s.FindDeliveryByID(ctx, newID)
}

// FanOut returns the subscription (named WebhookConsumerName) that turns
// each new event into a delivery per matching active webhook, in the
// consumer's transaction: every matching event is enqueued exactly once.
// Run it with the webhook.Worker (webhook.Config.FanOut).
func (s *WebhookService) FanOut() *Consumer {
	return NewConsumer(s.db, ConsumerConfig{Name: WebhookConsumerName, Handler: s.fanOut, Relevant: s.fanOutRelevant})
}

// fanOutRelevant returns whether an event matches an active webhook, by the
// webhooks stored now. Asked after the batch was read, it sees every
// webhook created before those events were: a webhook created later has
// an after_seq at or beyond them and would not get them anyway.
func (s *WebhookService) fanOutRelevant(ctx context.Context) (func(lianlu.Event) bool, error) {
	rows, err := s.db.readQuery(ctx, activeWebhooksQuery)
	if err != nil {
		return nil, fmt.Errorf("webhook fan-out: %w", err)
	}
	hooks, err := scanActiveWebhooks(rows)
	if err != nil {
		return nil, err
	}
	return func(e lianlu.Event) bool {
		for _, h := range hooks {
			if h.matches(e) {
				return true
			}
		}
		return false
	}, nil
}

const activeWebhooksQuery = `SELECT id, url, event_types, department, after_seq FROM webhooks WHERE status = 'active' ORDER BY id`

func scanActiveWebhooks(rows *sql.Rows) ([]activeWebhook, error) {
	defer rows.Close()
	var hooks []activeWebhook
	for rows.Next() {
		var h activeWebhook
		var types string
		var dept *string
		if err := rows.Scan(&h.id, &h.url, &types, &dept, &h.afterSeq); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(types), &h.types); err != nil {
			return nil, fmt.Errorf("webhook %d: stored event types: %w", h.id, err)
		}
		h.department = deref(dept)
		hooks = append(hooks, h)
	}
	return hooks, rows.Err()
}

// matches reports whether the webhook takes the event.
func (h activeWebhook) matches(e lianlu.Event) bool {
	return e.Seq > h.afterSeq && (h.department == "" || h.department == e.Department) && webhook.Matches(h.types, e.Type)
}

type activeWebhook struct {
	id         int64
	url        string
	types      []string
	department string
	afterSeq   int64
}

func (s *WebhookService) fanOut(ctx context.Context, tx *Tx, events []lianlu.Event) error {
	rows, err := tx.query(ctx, activeWebhooksQuery)
	if err != nil {
		return fmt.Errorf("webhook fan-out: %w", err)
	}
	hooks, err := scanActiveWebhooks(rows)
	if err != nil {
		return err
	}
	enqueued := 0
	for _, e := range events {
		var payload []byte
		for _, h := range hooks {
			if !h.matches(e) {
				continue
			}
			if payload == nil {
				if payload, err = json.Marshal(collect.NewCloudEvent(e)); err != nil {
					return fmt.Errorf("webhook fan-out: encode event %d: %w", e.Seq, err)
				}
			}
			id, err := insertDelivery(ctx, tx, deliveryRow{
				webhookID: h.id, department: h.department, url: h.url, msgID: "evt_" + strconv.FormatInt(e.Seq, 10),
				contentType: "application/cloudevents+json", payload: payload,
				eventSeq: e.Seq, eventID: e.ID, eventType: e.Type, subject: e.Subject,
			})
			if err != nil {
				return err
			}
			if id != 0 {
				enqueued++
			}
		}
	}
	if enqueued > 0 {
		tx.OnCommit(s.signal)
	}
	return nil
}

// DirectDelivery is a delivery to an explicit URL rather than to a
// subscription: a flow's webhook.post step.
type DirectDelivery struct {
	// URL is the absolute http(s) URL to POST to (required).
	URL string
	// Secret is a Standard Webhooks secret ("whsec_…") that signs the
	// request; empty sends it unsigned (still with webhook-id and
	// webhook-timestamp).
	Secret string
	// MsgID is the webhook-id header. Default "handoff_<HandoffID>", or a
	// random id without a handoff.
	MsgID string
	// Payload is the JSON body (required).
	Payload json.RawMessage
	// ContentType of the body; default application/json.
	ContentType string
	// EventSeq, EventID and EventType name the triggering event (optional,
	// for the log).
	EventSeq  int64
	EventID   string
	EventType string
	// Subject is the subject of the webhook.delivered event, such as the
	// handoff's subject; default "webhook_delivery/<id>".
	Subject string
	// Department owns the delivery (its log is visible to the department)
	// and the webhook.delivered event; default admin.
	Department string
	// HandoffID, when set, makes the first 2xx append a webhook.delivered
	// event (data webhook.DeliveredData) in the transaction that marks the
	// delivery delivered. A handoff has at most one delivery (replays
	// aside): enqueuing it again returns the existing one.
	HandoffID int64
}

// EnqueueDeliveryTx enqueues a direct delivery in the caller's transaction
// and returns its id; it is due at once and is sent by the webhook worker
// with the same retries, dead letter and replay as subscription deliveries.
// Returns EINVALID naming the field (url, payload, secret, msg_id,
// department).
func EnqueueDeliveryTx(ctx context.Context, tx *Tx, d DirectDelivery) (int64, error) {
	var errs []lianlu.FieldError
	d.URL = strings.TrimSpace(d.URL)
	if msg := webhook.ValidateURL(d.URL); msg != "" {
		errs = append(errs, lianlu.FieldError{Field: "url", Message: msg})
	}
	if len(d.Payload) == 0 || !json.Valid(d.Payload) {
		errs = append(errs, lianlu.FieldError{Field: "payload", Message: "must be JSON"})
	}
	if d.Secret != "" {
		if err := webhook.ParseSecret(d.Secret); err != nil {
			errs = append(errs, lianlu.FieldError{Field: "secret", Message: "must be whsec_ followed by the base64 of at least 16 bytes"})
		}
	}
	textField(&errs, "msg_id", d.MsgID, false, lianlu.MaxEventIDLen)
	textField(&errs, "content_type", d.ContentType, false, 100)
	textField(&errs, "subject", d.Subject, false, lianlu.MaxEventSubjectLen)
	if d.Department == "" {
		d.Department = lianlu.DeptAdmin
	} else if ok, err := departmentExists(ctx, tx, d.Department); err != nil {
		return 0, err
	} else if !ok {
		errs = append(errs, lianlu.FieldError{Field: "department", Message: "unknown department " + d.Department})
	}
	if len(errs) > 0 {
		return 0, lianlu.Invalid(errs...)
	}
	if d.HandoffID != 0 {
		var id int64
		err := tx.queryRow(ctx, `SELECT id FROM webhook_deliveries WHERE handoff_id = ? AND replay_of IS NULL`, d.HandoffID).Scan(&id)
		if err == nil {
			return id, nil
		} else if !isNotFound(err) {
			return 0, fmt.Errorf("find delivery of handoff %d: %w", d.HandoffID, err)
		}
	}
	if d.MsgID == "" {
		if d.HandoffID != 0 {
			d.MsgID = "handoff_" + strconv.FormatInt(d.HandoffID, 10)
		} else {
			d.MsgID = "msg_" + randomHex(12)
		}
	}
	if d.ContentType == "" {
		d.ContentType = "application/json"
	}
	id, err := insertDelivery(ctx, tx, deliveryRow{
		department: d.Department, url: d.URL, secret: d.Secret, msgID: d.MsgID, contentType: d.ContentType,
		payload: d.Payload, eventSeq: d.EventSeq, eventID: d.EventID, eventType: d.EventType, subject: d.Subject, handoffID: d.HandoffID,
	})
	if err != nil {
		return 0, err
	}
	if id == 0 {
		return 0, lianlu.Errorf(lianlu.ECONFLICT, "a delivery for handoff %d already exists", d.HandoffID)
	}
	return id, nil
}

// EnqueueFlowWebhook carries out a flow's webhook.post step in the runner's
// transaction (it fits flow.WebhookEnqueuer): it enqueues the triggering
// event e, as a structured CloudEvent, to url for the handoff, and wakes
// this process's worker at commit. secretRef names the webhook subscription
// whose current secret signs the request, by id ("12" or "webhook/12");
// empty sends it unsigned. The first 2xx appends webhook.delivered with
// data.handoff_id = handoffID.
func (s *WebhookService) EnqueueFlowWebhook(ctx context.Context, tx *Tx, url, secretRef string, e lianlu.Event, handoffID int64) error {
	secret, err := WebhookSecretTx(ctx, tx, secretRef)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(collect.NewCloudEvent(e))
	if err != nil {
		return fmt.Errorf("webhook.post: encode event: %w", err)
	}
	if _, err := EnqueueDeliveryTx(ctx, tx, DirectDelivery{
		URL: url, Secret: secret, Payload: payload, ContentType: "application/cloudevents+json",
		EventSeq: e.Seq, EventID: e.ID, EventType: e.Type, Subject: e.Subject, Department: e.Department, HandoffID: handoffID,
	}); err != nil {
		return fmt.Errorf("webhook.post: %w", err)
	}
	tx.OnCommit(s.signal)
	return nil
}

// WebhookSecretTx returns the current signing secret of the active webhook
// subscription secretRef names by id ("12" or "webhook/12"); empty for an
// empty ref. EINVALID naming secret_ref for a bad or unknown one.
func WebhookSecretTx(ctx context.Context, tx *Tx, secretRef string) (string, error) {
	if secretRef == "" {
		return "", nil
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(secretRef, "webhook/"), 10, 64)
	if err != nil || id < 1 {
		return "", lianlu.Invalid(lianlu.FieldError{Field: "secret_ref", Message: "must name a webhook by id, such as webhook/12"})
	}
	var secret string
	if err := tx.queryRow(ctx, `SELECT secret FROM webhooks WHERE id = ? AND status = 'active'`, id).Scan(&secret); isNotFound(err) {
		return "", lianlu.Invalid(lianlu.FieldError{Field: "secret_ref", Message: "no active webhook " + strconv.FormatInt(id, 10)})
	} else if err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return secret, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// claimSQL selects due deliveries to claim. On PostgreSQL, SKIP LOCKED lets
// several nodes claim at once without waiting for or taking each other's
// rows; SQLite's single writer serialises claims anyway.
func claimSQL(dialect string) string {
	q := `SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`
	if dialect == "postgres" {
		q += ` FOR UPDATE SKIP LOCKED`
	}
	return q
}

// ClaimDeliveries claims due deliveries for one attempt each; see
// webhook.Store.
func (s *WebhookService) ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]webhook.Claim, error) {
	if limit <= 0 {
		return nil, nil
	}
	d := s.db.dialect
	// Look on the reader first, so that an idle worker does not take the
	// (SQLite) writer at every poll.
	var due int
	if err := s.db.readRow(ctx, `SELECT COUNT(*) FROM (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ? LIMIT 1) due`,
		d.timeArg(s.db.Now())).Scan(&due); err != nil {
		return nil, fmt.Errorf("find due webhook deliveries: %w", err)
	}
	if due == 0 {
		return nil, nil
	}
	var claims []webhook.Claim
	err := s.db.WithTx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, claimSQL(d.name()), d.timeArg(tx.now), limit)
		if err != nil {
			return fmt.Errorf("claim webhook deliveries: %w", err)
		}
		var ids []any
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		token := randomHex(16)
		args := append([]any{token, d.timeArg(tx.now.Add(lease))}, ids...)
		if _, err := tx.exec(ctx, `UPDATE webhook_deliveries SET claim = ?, next_attempt_at = ? WHERE id IN (`+placeholders(len(ids))+`)`, args...); err != nil {
			return fmt.Errorf("claim webhook deliveries: %w", err)
		}
		rows, err = tx.query(ctx, `SELECT `+deliveryColumns+`, d.content_type, d.payload, d.secret, w.secret, w.previous_secret, w.previous_secret_until
			FROM webhook_deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id
			WHERE d.id IN (`+placeholders(len(ids))+`) ORDER BY d.next_attempt_at, d.id`, ids...)
		if err != nil {
			return fmt.Errorf("read claimed webhook deliveries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			c := webhook.Claim{Token: token}
			var payload string
			var own, current, previous *string
			var previousUntil *time.Time
			if c.Delivery, err = scanDelivery(rows, &c.ContentType, &payload, &own, &current, &previous, nullTime{&previousUntil}); err != nil {
				return err
			}
			c.Payload = []byte(payload)
			switch {
			case own != nil:
				c.Secrets = []string{*own}
			case current != nil:
				c.Secrets = []string{*current}
				if previous != nil && previousUntil != nil && previousUntil.After(tx.now) {
					c.Secrets = append(c.Secrets, *previous)
				}
			}
			claims = append(claims, c)
		}
		return rows.Err()
	})
	return claims, err
}

// RecordAttempt logs an attempt and moves its delivery on; see
// webhook.Store. A direct delivery with a handoff that is delivered appends
// webhook.delivered in the same transaction.
func (s *WebhookService) RecordAttempt(ctx context.Context, r webhook.AttemptResult) error {
	status := webhook.DeliveryPending
	switch r.Outcome {
	case webhook.OutcomeDelivered:
		status = webhook.DeliveryDelivered
	case webhook.OutcomeDead:
		status = webhook.DeliveryDead
	case webhook.OutcomeRetry:
	default:
		return lianlu.Errorf(lianlu.EINVALID, "unknown attempt outcome %q", r.Outcome)
	}
	return s.db.WithTx(ctx, func(tx *Tx) error {
		d := tx.db.dialect
		var next, deliveredAt any
		switch status {
		case webhook.DeliveryPending:
			next = d.timeArg(tx.now.Add(max(r.RetryIn, 0)))
		case webhook.DeliveryDelivered:
			deliveredAt = d.timeArg(tx.now)
		}
		var attempts int
		var handoff, seq, replayOf *int64
		var eventID, subject, dept *string
		var msgID, url string
		err := tx.queryRow(ctx, `UPDATE webhook_deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, claim = NULL,
				last_status_code = ?, last_error = ?, delivered_at = ?, updated_at = ?
			WHERE id = ? AND claim = ? AND status = 'pending'
			RETURNING attempts, handoff_id, event_seq, event_id, replay_of, subject, department, msg_id, url`,
			status, next, nullInt(int64(r.StatusCode)), nullString(r.Error), deliveredAt, d.timeArg(tx.now), r.DeliveryID, r.Token).
			Scan(&attempts, &handoff, &seq, &eventID, &replayOf, &subject, &dept, &msgID, &url)
		if isNotFound(err) {
			return lianlu.Errorf(lianlu.ECONFLICT, "webhook delivery %d is no longer claimed by this attempt", r.DeliveryID)
		} else if err != nil {
			return fmt.Errorf("record webhook attempt: %w", err)
		}
		if _, err := tx.exec(ctx, `INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error) VALUES (?, ?, ?, ?, ?, ?)`,
			r.DeliveryID, attempts, d.timeArg(r.StartedAt.UTC().Truncate(time.Microsecond)), r.Duration.Milliseconds(),
			nullInt(int64(r.StatusCode)), nullString(r.Error)); err != nil {
			return fmt.Errorf("record webhook attempt: %w", mapError(err))
		}
		if status != webhook.DeliveryDelivered || handoff == nil {
			return nil
		}
		data, err := json.Marshal(webhook.DeliveredData{
			DeliveryID: r.DeliveryID, HandoffID: *handoff, EventID: deref(eventID), EventSeq: derefInt(seq), MsgID: msgID,
			Status: status, StatusCode: r.StatusCode, URL: url, ReplayOf: derefInt(replayOf), At: tx.now,
		})
		if err != nil {
			return err
		}
		subj := deref(subject)
		if subj == "" {
			subj = "webhook_delivery/" + strconv.FormatInt(r.DeliveryID, 10)
		}
		department := deref(dept)
		if department == "" {
			department = lianlu.DeptAdmin
		}
		_, err = AppendEvents(ctx, tx, []lianlu.Event{{
			ID: "webhook-delivered-" + strconv.FormatInt(r.DeliveryID, 10), Source: CommandSource, Type: webhook.DeliveredEventType,
			Subject: subj, Department: department, Actor: "system:webhooks", CausationID: deref(eventID), Time: tx.now, Data: data,
		}})
		if err != nil {
			return fmt.Errorf("append %s: %w", webhook.DeliveredEventType, err)
		}
		return nil
	})
}
