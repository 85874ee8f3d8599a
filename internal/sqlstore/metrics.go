package sqlstore

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricsCollector exposes the event log and subscriptions to Prometheus:
// events appended by this process, the log's head and each subscription's
// position and lag, read at scrape time.
type MetricsCollector struct {
	db       *DB
	appended *prometheus.Desc
	head     *prometheus.Desc
	position *prometheus.Desc
	lag      *prometheus.Desc
}

// NewMetricsCollector returns a collector for db; register it once.
func NewMetricsCollector(db *DB) *MetricsCollector {
	return &MetricsCollector{
		db:       db,
		appended: prometheus.NewDesc("lianlu_events_appended_total", "Events appended to the log by this process (duplicates excluded).", nil, nil),
		head:     prometheus.NewDesc("lianlu_event_log_head_seq", "Highest committed seq of the event log.", nil, nil),
		position: prometheus.NewDesc("lianlu_subscription_position", "Last seq committed by each subscription.", []string{"subscription"}, nil),
		lag:      prometheus.NewDesc("lianlu_subscription_lag_events", "Seq distance between the log head and each subscription's position.", []string{"subscription"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *MetricsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.appended
	ch <- c.head
	ch <- c.position
	ch <- c.lag
}

// Collect implements prometheus.Collector.
func (c *MetricsCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.appended, prometheus.CounterValue, float64(c.db.appendedTotal.Load()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	head, err := (&EventService{db: c.db}).MaxSeq(ctx)
	if err != nil {
		c.db.logger.Warn("metrics: read log head", "error", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.head, prometheus.GaugeValue, float64(head))
	subs, err := c.db.FindSubscriptions(ctx)
	if err != nil {
		c.db.logger.Warn("metrics: read subscriptions", "error", err)
		return
	}
	for _, s := range subs {
		ch <- prometheus.MustNewConstMetric(c.position, prometheus.GaugeValue, float64(s.Position), s.Name)
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(max(head-s.Position, 0)), s.Name)
	}
}
