package collect_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lianlu/lianlu/internal/collect"
)

// With KeepReceivedAt (bulk import) a message's own receivedAt anchors the
// skew correction; one that is malformed or later than the import's time
// is ignored, never a reason to refuse the message.
func TestDecodeSegment_KeepReceivedAt(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	body := `{"batch":[
		{"type":"track","userId":"u","event":"E","messageId":"old","receivedAt":"2025-01-01T10:00:11Z","sentAt":"2025-01-01T10:00:10Z","timestamp":"2025-01-01T10:00:00Z"},
		{"type":"track","userId":"u","event":"E","messageId":"bad","receivedAt":"yesterday","timestamp":"2025-01-01T10:00:00Z"},
		{"type":"track","userId":"u","event":"E","messageId":"future","receivedAt":"2030-01-01T00:00:00Z"}]}`
	res, err := collect.DecodeSegment(collect.SegmentRequest{Call: "batch", Body: []byte(body), ReceivedAt: now, SourceID: "1", KeepReceivedAt: true}, collect.SegmentLimits{}, nil)
	if err != nil || len(res.Events) != 3 {
		t.Fatalf("%+v %v", res, err)
	}
	if want := time.Date(2025, 1, 1, 10, 0, 1, 0, time.UTC); !res.Events[0].Time.Equal(want) || !strings.Contains(string(res.Events[0].Data), `"receivedAt":"2025-01-01T10:00:11Z"`) {
		t.Fatalf("kept: %v %s", res.Events[0].Time, res.Events[0].Data)
	}
	for _, e := range res.Events[1:] {
		if !strings.Contains(string(e.Data), `"receivedAt":"2026-12-01T12:00:00Z"`) {
			t.Fatalf("%s: %s", e.ID, e.Data)
		}
	}
	// Without the option the message's receivedAt is replaced.
	res, _ = collect.DecodeSegment(collect.SegmentRequest{Call: "batch", Body: []byte(body), ReceivedAt: now, SourceID: "1"}, collect.SegmentLimits{}, nil)
	if !strings.Contains(string(res.Events[0].Data), `"receivedAt":"2026-12-01T12:00:00Z"`) {
		t.Fatalf("collector path kept the client's receivedAt: %s", res.Events[0].Data)
	}
}
