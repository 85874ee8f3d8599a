package webhook_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu/internal/webhook"
)

// The test vector of the Standard Webhooks reference libraries.
const (
	vectorSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorMsgID   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorUnix    = 1614265330
	vectorPayload = `{"test": 2432232314}`
	vectorSig     = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSign_StandardWebhooksVector(t *testing.T) {
	for _, secret := range []string{vectorSecret, strings.TrimPrefix(vectorSecret, "whsec_")} {
		sig, err := webhook.Sign(secret, vectorMsgID, time.Unix(vectorUnix, 0), []byte(vectorPayload))
		if err != nil {
			t.Fatal(err)
		}
		if sig != vectorSig {
			t.Fatalf("Sign(%q) = %s, want %s", secret, sig, vectorSig)
		}
	}
}

func vectorHeader() http.Header {
	h := http.Header{}
	h.Set("webhook-id", vectorMsgID)
	h.Set("webhook-timestamp", strconv.Itoa(vectorUnix))
	h.Set("webhook-signature", vectorSig)
	return h
}

func TestVerify(t *testing.T) {
	at := time.Unix(vectorUnix, 0).Add(10 * time.Second)
	other, _ := webhook.NewSecret()
	for _, tc := range []struct {
		name   string
		secret string
		change func(h http.Header) []byte
		now    time.Time
		want   error
	}{
		{name: "valid", now: at},
		{name: "valid without the whsec_ prefix", secret: strings.TrimPrefix(vectorSecret, "whsec_"), now: at},
		{name: "several signatures, one valid", now: at, change: func(h http.Header) []byte {
			h.Set("webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,abc "+vectorSig+" v1,bm9wZQ==")
			return nil
		}},
		{name: "tampered body", now: at, want: webhook.ErrInvalidSignature, change: func(http.Header) []byte { return []byte(`{"test": 2432232315}`) }},
		{name: "other message id", now: at, want: webhook.ErrInvalidSignature, change: func(h http.Header) []byte {
			h.Set("webhook-id", "msg_other")
			return nil
		}},
		{name: "other secret", secret: other, now: at, want: webhook.ErrInvalidSignature},
		{name: "wrong version", now: at, want: webhook.ErrInvalidSignature, change: func(h http.Header) []byte {
			h.Set("webhook-signature", strings.Replace(vectorSig, "v1,", "v2,", 1))
			return nil
		}},
		{name: "expired timestamp", now: time.Unix(vectorUnix, 0).Add(6 * time.Minute), want: webhook.ErrTimestampExpired},
		{name: "timestamp in the future", now: time.Unix(vectorUnix, 0).Add(-6 * time.Minute), want: webhook.ErrTimestampExpired},
		{name: "timestamp changed to fit", now: time.Unix(vectorUnix, 0).Add(time.Hour), want: webhook.ErrInvalidSignature, change: func(h http.Header) []byte {
			h.Set("webhook-timestamp", strconv.Itoa(vectorUnix+3600))
			return nil
		}},
		{name: "malformed timestamp", now: at, want: webhook.ErrInvalidTimestamp, change: func(h http.Header) []byte {
			h.Set("webhook-timestamp", "yesterday")
			return nil
		}},
		{name: "missing signature", now: at, want: webhook.ErrMissingHeaders, change: func(h http.Header) []byte {
			h.Del("webhook-signature")
			return nil
		}},
		{name: "bad secret", secret: "whsec_***", now: at, want: webhook.ErrInvalidSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := vectorHeader()
			body := []byte(vectorPayload)
			if tc.change != nil {
				if b := tc.change(h); b != nil {
					body = b
				}
			}
			secret := tc.secret
			if secret == "" {
				secret = vectorSecret
			}
			err := webhook.VerifyAt(secret, h, body, 5*time.Minute, tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyAt = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestNewSecret_SignsAndVerifies(t *testing.T) {
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "whsec_") || len(secret) != len("whsec_")+44 {
		t.Fatalf("secret %q", secret)
	}
	now := time.Now()
	sig, err := webhook.Sign(secret, "evt_1", now, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "evt_1")
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", sig)
	if err := webhook.Verify(secret, h, []byte(`{}`), time.Minute); err != nil {
		t.Fatal(err)
	}
}

func TestBackoff(t *testing.T) {
	b := webhook.Backoff{Base: 5 * time.Second, Cap: time.Hour}
	for _, tc := range []struct {
		attempt int
		ceiling time.Duration
	}{
		{1, 5 * time.Second}, {2, 10 * time.Second}, {3, 20 * time.Second}, {8, 640 * time.Second},
		{10, 2560 * time.Second}, {11, time.Hour}, {60, time.Hour}, {10000, time.Hour},
	} {
		if got := b.Ceiling(tc.attempt); got != tc.ceiling {
			t.Errorf("Ceiling(%d) = %v, want %v", tc.attempt, got, tc.ceiling)
		}
		for _, r := range []float64{0, 0.5, 0.999999} {
			b.Rand = func() float64 { return r }
			got := b.Delay(tc.attempt)
			if want := time.Duration(r * float64(tc.ceiling)); got != want || got < 0 || got >= tc.ceiling {
				t.Errorf("Delay(%d) with rand %v = %v, want %v", tc.attempt, r, got, want)
			}
		}
	}
	b.Rand = nil
	for range 100 {
		if d := b.Delay(3); d < 0 || d >= 20*time.Second {
			t.Fatalf("jittered delay %v out of [0, 20s)", d)
		}
	}
}

func TestMatchesAndValidate(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		typ      string
		want     bool
	}{
		{[]string{"order.placed"}, "order.placed", true},
		{[]string{"order.placed"}, "order.placed.v2", false},
		{[]string{"order.*"}, "order.placed", true},
		{[]string{"order.*"}, "orders.placed", false},
		{[]string{"order.*"}, "order", false},
		{[]string{"feedback.submitted", "workorder.*"}, "workorder.created", true},
	} {
		if got := webhook.Matches(tc.patterns, tc.typ); got != tc.want {
			t.Errorf("Matches(%v, %q) = %v", tc.patterns, tc.typ, got)
		}
	}
	c := webhook.Create{URL: "https://x.example/h?a=1", EventTypes: []string{"a.b", " a.* ", "a.b", "*", "a..b", "a.*.c"}}
	errs := c.Validate()
	var fields []string
	for _, e := range errs {
		fields = append(fields, e.Field)
	}
	if strings.Join(fields, ",") != "event_types[3],event_types[4],event_types[5]" {
		t.Fatalf("fields %v", errs)
	}
	if strings.Join(c.EventTypes, ",") != "a.b,a.*" {
		t.Fatalf("normalised types %v", c.EventTypes)
	}
}
