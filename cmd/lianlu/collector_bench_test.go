package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// BenchmarkCollector drives a running server over loopback with real HTTP
// clients: /v1/batch with 100 messages per request (batch) and single
// /v1/track calls (track), each from concurrent clients for a fixed time
// (LIANLU_BENCH_SECONDS, default 10). It reports durable events/s and, for
// track, the acknowledgement latency. The -plan cases give the source a
// tracking plan in block mode that every message satisfies, so each one is
// validated. Run with -benchtime 1x.
func BenchmarkCollector(b *testing.B) {
	for _, tc := range []struct {
		name    string
		clients int
		perReq  int
		plan    bool
	}{{"batch100", 8, 100, false}, {"track", 64, 1, false}, {"batch100-plan", 8, 100, true}, {"track-plan", 64, 1, true}, {"batch100-16clients", 16, 100, false}} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				benchCollector(b, tc.clients, tc.perReq, tc.plan)
			}
		})
	}
}

func benchCollector(b *testing.B, clients, perReq int, plan bool) {
	m := NewMain()
	m.Config.DataDir, m.Config.Addr = b.TempDir(), "127.0.0.1:0"
	if err := m.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	src, key, err := sqlstore.NewSourceService(m.DB).CreateSource(lianlu.NewContextWithPrincipal(context.Background(), lianlu.Principal{Name: "bench", Role: lianlu.RoleAdmin}),
		lianlu.Source{Name: "bench", Department: "marketing", Kind: "server"})
	if err != nil {
		b.Fatal(err)
	}
	if plan {
		// The server's own plan service, so that its cache is the one used.
		if _, err := m.Plans.PutTrackingPlan(context.Background(), lianlu.TrackingPlan{SourceID: src.ID, Mode: lianlu.PlanBlock, Events: map[string]json.RawMessage{
			"Product Viewed": json.RawMessage(`{"type":"object","required":["sku","price"],"properties":{"sku":{"type":"string","pattern":"^AP-[0-9]+$"},"price":{"type":"number","minimum":0}}}`)}}); err != nil {
			b.Fatal(err)
		}
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))
	seconds := 10
	if v := lookupEnv("LIANLU_BENCH_SECONDS"); v != "" {
		fmt.Sscan(v, &seconds)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: clients}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	var events atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for n := 0; time.Now().Before(deadline); n++ {
				var body bytes.Buffer
				path := "/v1/track"
				if perReq > 1 {
					path = "/v1/batch"
					body.WriteString(`{"batch":[`)
					for i := range perReq {
						if i > 0 {
							body.WriteByte(',')
						}
						fmt.Fprintf(&body, `{"type":"track","event":"Product Viewed","anonymousId":"a-%d","messageId":"%d-%d-%d","properties":{"sku":"AP-%d","price":199}}`, c, c, n, i, i)
					}
					body.WriteString(`]}`)
				} else {
					fmt.Fprintf(&body, `{"event":"Product Viewed","anonymousId":"a-%d","messageId":"%d-%d","properties":{"sku":"AP-1","price":199}}`, c, c, n)
				}
				req, _ := http.NewRequest("POST", "http://"+m.Addr()+path, &body)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", auth)
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					b.Errorf("status %d", res.StatusCode)
					return
				}
				mine = append(mine, time.Since(t0))
				events.Add(int64(perReq))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	stored, _ := sqlstore.NewEventService(m.DB).FindEvents(context.Background(), lianlu.EventFilter{TypePrefix: "segment.", Limit: 1})
	if len(stored) == 0 {
		b.Fatal("nothing stored")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(events.Load())/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}

func lookupEnv(k string) string { return os.Getenv(k) }
