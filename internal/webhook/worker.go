package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/netguard"
)

// Config configures a Worker. Zero fields take the documented defaults.
type Config struct {
	// Store is the delivery queue (required).
	Store Store
	// FanOut, when set, runs alongside the worker: the subscription that
	// turns new events into deliveries (sqlstore.WebhookService.FanOut).
	FanOut Runner
	// Client sends the requests. Default: Outbound's client
	// (netguard.Policy.NewClient), which does not follow redirects (a 3xx
	// is a failed attempt).
	Client *http.Client
	// Outbound decides which addresses deliveries may reach (nil: public
	// addresses only). A delivery to a refused address is dead at once.
	Outbound *netguard.Policy
	// Logger receives operational logs; default discards.
	Logger *slog.Logger
	// Now is the clock for webhook-timestamp and attempt times; default
	// time.Now.
	Now func() time.Time
	// Concurrency is how many deliveries are in flight at once (default 4).
	Concurrency int
	// Timeout bounds one request (default 10s).
	Timeout time.Duration
	// MaxAttempts is how many attempts a delivery gets before it is dead
	// (default 8).
	MaxAttempts int
	// BackoffBase and BackoffCap shape the retry delays (default 5s and 1h);
	// see Backoff.
	BackoffBase time.Duration
	BackoffCap  time.Duration
	// Rand is the jitter source, returning [0, 1); default math/rand/v2.
	Rand func() float64
	// PollInterval is how often the worker looks for due deliveries without
	// a wake-up: retries coming due and deliveries enqueued by other nodes
	// (default 1s).
	PollInterval time.Duration
	// Lease is how long a claimed delivery is hidden from other workers; an
	// attempt not recorded by then (a crashed node) is retried. Default
	// Timeout + 1 minute.
	Lease time.Duration
	// UserAgent is sent with every request (default "Lianlu-Webhooks/1").
	UserAgent string
}

// Runner is a background worker with Start and Stop, such as a
// sqlstore.Consumer.
type Runner interface {
	Start(ctx context.Context) error
	Stop()
}

// maxErrorLen caps the error text stored per attempt.
const maxErrorLen = 512

// Worker delivers due webhooks. All its state is in the Store, so that
// deliveries survive restarts and several nodes can run workers at once.
type Worker struct {
	cfg     Config
	logger  *slog.Logger
	backoff Backoff

	mu      sync.Mutex
	running bool
	stop    chan struct{}
	done    chan struct{}
}

// NewWorker returns a worker; Start runs it.
func NewWorker(cfg Config) *Worker {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 5 * time.Second
	}
	if cfg.BackoffCap <= 0 {
		cfg.BackoffCap = time.Hour
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = cfg.Timeout + time.Minute
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Lianlu-Webhooks/1"
	}
	if cfg.Client == nil {
		cfg.Client = cfg.Outbound.NewClient(netguard.ClientOptions{Timeout: cfg.Timeout})
	}
	return &Worker{
		cfg:     cfg,
		logger:  cfg.Logger.With(slog.String("worker", "webhooks")),
		backoff: Backoff{Base: cfg.BackoffBase, Cap: cfg.BackoffCap, Rand: cfg.Rand},
	}
}

// Start runs the fan-out (when configured) and the delivery loop until Stop
// is called or ctx ends. Cancelling ctx aborts requests in flight; their
// deliveries are retried when their lease runs out.
func (w *Worker) Start(ctx context.Context) error {
	if w.cfg.Store == nil {
		return lianlu.Errorf(lianlu.EINVALID, "webhook worker needs a store")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		return lianlu.Errorf(lianlu.ECONFLICT, "webhook worker already running")
	}
	if w.cfg.FanOut != nil {
		if err := w.cfg.FanOut.Start(ctx); err != nil {
			return fmt.Errorf("webhook fan-out: %w", err)
		}
	}
	w.running = true
	w.stop = make(chan struct{})
	w.done = make(chan struct{})
	go w.run(ctx, w.stop, w.done)
	return nil
}

// Stop stops claiming, lets the requests in flight finish (each is bounded
// by Timeout) and records them, then stops the fan-out.
func (w *Worker) Stop() {
	w.mu.Lock()
	if !w.running {
		w.mu.Unlock()
		return
	}
	w.running = false
	close(w.stop)
	done := w.done
	w.mu.Unlock()
	<-done
	if w.cfg.FanOut != nil {
		w.cfg.FanOut.Stop()
	}
}

func (w *Worker) run(ctx context.Context, stop, done chan struct{}) {
	defer close(done)
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, w.cfg.Concurrency)
	freed := make(chan struct{}, w.cfg.Concurrency)
	backoff := 100 * time.Millisecond
	for {
		// Take the wake-up channels before claiming, so that a delivery
		// enqueued during the claim is not missed.
		enqueued, appended := w.cfg.Store.Enqueued(), w.cfg.Store.Appended()
		free := cap(slots) - len(slots)
		var claimed []Claim
		var err error
		if free > 0 {
			claimed, err = w.cfg.Store.ClaimDeliveries(ctx, free, w.cfg.Lease)
		}
		wait := w.cfg.PollInterval
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			w.logger.Error("claim webhook deliveries", slog.Any("error", err), slog.Duration("retry_in", backoff))
			wait = backoff
			// Wait out the backoff: wake-ups would retry at once.
			enqueued, appended = nil, nil
			backoff = min(backoff*2, 30*time.Second)
		default:
			backoff = 100 * time.Millisecond
		}
		for _, c := range claimed {
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.Deliver(ctx, c)
				<-slots
				select {
				case freed <- struct{}{}:
				default:
				}
			}()
		}
		if err == nil && free > 0 && len(claimed) == free {
			// Every free slot was filled: there may be more due once a
			// slot frees up.
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-freed:
				continue
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-stop:
			timer.Stop()
			return
		case <-ctx.Done():
			timer.Stop()
			return
		case <-enqueued:
		case <-appended:
		case <-freed:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// ProcessDue claims the deliveries that are due now (up to Concurrency at a
// time) and delivers them, returning how many it attempted. Tests and tools
// use it to drive the queue step by step; a running worker does the same
// continuously.
func (w *Worker) ProcessDue(ctx context.Context) (int, error) {
	n := 0
	for {
		claimed, err := w.cfg.Store.ClaimDeliveries(ctx, w.cfg.Concurrency, w.cfg.Lease)
		if err != nil {
			return n, err
		}
		if len(claimed) == 0 {
			return n, nil
		}
		var wg sync.WaitGroup
		for _, c := range claimed {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.Deliver(ctx, c)
			}()
		}
		wg.Wait()
		n += len(claimed)
	}
}

// Deliver makes one attempt of a claimed delivery and records it.
func (w *Worker) Deliver(ctx context.Context, c Claim) {
	d := c.Delivery
	log := w.logger.With(slog.Int64("delivery_id", d.ID), slog.String("msg_id", d.MsgID))
	res := w.attempt(ctx, c)
	if ctx.Err() != nil && res.Outcome != OutcomeDelivered {
		// Aborted by shutdown, not by the receiver: leave it to the lease.
		log.Info("webhook attempt aborted by shutdown")
		return
	}
	n := d.Attempts + 1
	switch {
	case res.Outcome == OutcomeDelivered:
	case res.Outcome == OutcomeDead:
		// Refused by the outbound policy: another attempt would be too.
	case n >= w.cfg.MaxAttempts:
		res.Outcome = OutcomeDead
	default:
		res.Outcome = OutcomeRetry
		res.RetryIn = w.backoff.Delay(n)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := w.cfg.Store.RecordAttempt(rctx, res); err != nil {
		if lianlu.ErrorCode(err) == lianlu.ECONFLICT {
			log.Warn("webhook claim lost before the attempt was recorded", slog.Any("error", err))
			return
		}
		log.Error("record webhook attempt", slog.Any("error", err))
		return
	}
	switch res.Outcome {
	case OutcomeDelivered:
		log.Debug("webhook delivered", slog.Int("status", res.StatusCode), slog.Int("attempt", n))
	case OutcomeDead:
		log.Warn("webhook dead after last attempt", slog.Int("attempt", n), slog.Int("status", res.StatusCode), slog.String("last_error", res.Error))
	default:
		log.Info("webhook attempt failed", slog.Int("attempt", n), slog.Int("status", res.StatusCode),
			slog.String("last_error", res.Error), slog.Duration("retry_in", res.RetryIn))
	}
}

// attempt sends one signed request and classifies the answer.
func (w *Worker) attempt(ctx context.Context, c Claim) AttemptResult {
	d := c.Delivery
	start := w.cfg.Now()
	res := AttemptResult{DeliveryID: d.ID, Token: c.Token, StartedAt: start}
	finish := func(code int, errText string) AttemptResult {
		res.Duration = max(w.cfg.Now().Sub(start), 0)
		res.StatusCode = code
		res.Error = truncate(errText, maxErrorLen)
		if code >= 200 && code < 300 {
			res.Outcome = OutcomeDelivered
		}
		return res
	}
	rctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, d.URL, bytes.NewReader(c.Payload))
	if err != nil {
		return finish(0, "build request: "+err.Error())
	}
	ct := c.ContentType
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", w.cfg.UserAgent)
	req.Header.Set(HeaderID, d.MsgID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(start.Unix(), 10))
	var sigs []string
	for _, s := range c.Secrets {
		sig, err := Sign(s, d.MsgID, start, c.Payload)
		if err != nil {
			return finish(0, "sign: "+err.Error())
		}
		sigs = append(sigs, sig)
	}
	if len(sigs) > 0 {
		req.Header.Set(HeaderSignature, strings.Join(sigs, " "))
	}
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		var refused *netguard.RefusedError
		if errors.As(err, &refused) {
			res = finish(0, refused.Error()+" (not retried)")
			res.Outcome = OutcomeDead
			return res
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return finish(0, "timeout after "+w.cfg.Timeout.String())
		}
		return finish(0, err.Error())
	}
	defer resp.Body.Close()
	// Read a little of the body: for the log, and so that the connection
	// can be reused.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return finish(resp.StatusCode, "")
	}
	msg := "HTTP " + strconv.Itoa(resp.StatusCode)
	if s := strings.TrimSpace(strings.ToValidUTF8(string(snippet), "")); s != "" {
		msg += ": " + s
	}
	return finish(resp.StatusCode, msg)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
