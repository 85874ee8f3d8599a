// Package config loads Lianlu's configuration from defaults, the
// environment (LIANLU_*) and command-line flags, in that order of
// precedence (flags win).
package config

import (
	"flag"
	"fmt"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/netguard"
)

// Config is the whole configuration of a Lianlu process.
type Config struct {
	// DataDir holds the SQLite database and admin.token. Default
	// ./lianlu-data; env LIANLU_DATA; flag --data.
	DataDir string
	// DB is a postgres:// URL; empty means SQLite in DataDir. Env
	// LIANLU_DB; flag --db.
	DB string
	// Addr is the HTTP listen address. Default 127.0.0.1:8080; env
	// LIANLU_ADDR; flag --addr.
	Addr string
	// LogFormat is "text" or "json". Default text; env LIANLU_LOG_FORMAT.
	LogFormat string
	// LogLevel is debug, info, warn or error. Default info; env
	// LIANLU_LOG_LEVEL.
	LogLevel string
	// SQLiteSynchronous is FULL (default; durable against power loss) or
	// NORMAL; env LIANLU_SQLITE_SYNCHRONOUS.
	SQLiteSynchronous string
	// MaxBodyBytes caps request bodies (default 1 MiB); env
	// LIANLU_MAX_BODY_BYTES.
	MaxBodyBytes int64
	// MaxEventBodyBytes caps CloudEvents request bodies (default 5 MiB);
	// env LIANLU_MAX_EVENT_BODY_BYTES.
	MaxEventBodyBytes int64
	// MaxBatchEvents caps events per CloudEvents batch (default 1000).
	MaxBatchEvents int
	// ShutdownTimeout bounds graceful shutdown (default 30s); env
	// LIANLU_SHUTDOWN_TIMEOUT.
	ShutdownTimeout time.Duration
	// PollInterval is how often consumers and streams look for events
	// appended by other nodes (default 1s); env LIANLU_POLL_INTERVAL.
	PollInterval time.Duration
	// FlowsFile is a YAML file of flow definitions that replace the stored
	// ones of the same names at start (env LIANLU_FLOWS; flag --flows).
	// Without it the embedded defaults seed flows that are not stored yet.
	FlowsFile string
	// SLAScanInterval is how often overdue handoffs are marked breached
	// (default 30s); env LIANLU_SLA_SCAN_INTERVAL.
	SLAScanInterval time.Duration
	// BaseURL is the public address of this installation, such as
	// https://ops.example.com: where people open the console, and the
	// start of the join URLs that store QR codes encode
	// (<base-url>/j/<store>). An https URL makes cookies Secure even
	// behind a proxy that speaks plain HTTP to Lianlu. Empty means
	// http://<addr>. Env LIANLU_BASE_URL; flag --base-url.
	BaseURL string
	// PhoneRegion is the ISO 3166 region in which phone numbers without a
	// country code are read (default CN); env LIANLU_PHONE_REGION.
	PhoneRegion string
	// JoinSecret signs the join page's CSRF tokens. Empty means a random
	// key kept in <data>/join.key (mode 0600); set it, the same on every
	// node, when several nodes serve the page. Env LIANLU_JOIN_SECRET.
	JoinSecret string
	// DispatchDistanceWeight and DispatchLoadWeight rank the stores that
	// may take an on-site request (default 0.7 and 0.3): the weighted sum
	// of distance as a share of the store's radius and of that day's load
	// as a share of its capacity, lowest first. Env
	// LIANLU_DISPATCH_DISTANCE_WEIGHT, LIANLU_DISPATCH_LOAD_WEIGHT.
	DispatchDistanceWeight float64
	DispatchLoadWeight     float64
	// DispatchAcceptSLA is how long a store has to accept an on-site
	// request, in business time of its opening hours (default 2h); env
	// LIANLU_DISPATCH_ACCEPT_SLA.
	DispatchAcceptSLA time.Duration
	// DispatchScanInterval is how often requests past their acceptance
	// deadline are passed to the next store (default 30s); env
	// LIANLU_DISPATCH_SCAN_INTERVAL.
	DispatchScanInterval time.Duration
	// OutboundAllow lists the on-premise targets that webhooks and other
	// outbound requests may reach although their addresses are loopback,
	// private, link-local or otherwise special (refused by default): CIDR
	// prefixes (10.20.0.0/16), single addresses (10.20.0.5) and host names
	// (erp.corp.example, or *.corp.example for every name under it),
	// trusted whatever they resolve to. Env LIANLU_OUTBOUND_ALLOW, comma
	// separated; flag --outbound-allow.
	OutboundAllow []string
	// PrivacySLA is the time to answer a member's personal-information
	// request (access, copy, correction, erasure), in calendar time from
	// when she made it (default 15 days); env LIANLU_PRIVACY_SLA, such as
	// "15d" or "240h".
	PrivacySLA time.Duration
	// Demo seeds an empty database with the small demo brand at start and
	// keeps a trickle of simulated activity going (flag --demo).
	Demo bool
}

// Default returns the defaults.
func Default() Config {
	return Config{
		DataDir:           "./lianlu-data",
		Addr:              "127.0.0.1:8080",
		LogFormat:         "text",
		LogLevel:          "info",
		SQLiteSynchronous: "FULL",
		MaxBodyBytes:      1 << 20,
		MaxEventBodyBytes: 5 << 20,
		MaxBatchEvents:    1000,
		ShutdownTimeout:   30 * time.Second,
		PollInterval:      time.Second,
		SLAScanInterval:   30 * time.Second,
		PhoneRegion:       "CN",

		DispatchDistanceWeight: 0.7,
		DispatchLoadWeight:     0.3,
		DispatchAcceptSLA:      2 * time.Hour,
		DispatchScanInterval:   30 * time.Second,
		PrivacySLA:             lianlu.DefaultPrivacySLA,
	}
}

// LoadEnv overrides c with LIANLU_* variables from getenv.
func (c *Config) LoadEnv(getenv func(string) string) error {
	str := func(key string, dst *string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	str("LIANLU_DATA", &c.DataDir)
	str("LIANLU_DB", &c.DB)
	str("LIANLU_ADDR", &c.Addr)
	str("LIANLU_LOG_FORMAT", &c.LogFormat)
	str("LIANLU_LOG_LEVEL", &c.LogLevel)
	str("LIANLU_SQLITE_SYNCHRONOUS", &c.SQLiteSynchronous)
	str("LIANLU_FLOWS", &c.FlowsFile)
	str("LIANLU_BASE_URL", &c.BaseURL)
	str("LIANLU_PHONE_REGION", &c.PhoneRegion)
	str("LIANLU_JOIN_SECRET", &c.JoinSecret)
	if v := getenv("LIANLU_OUTBOUND_ALLOW"); v != "" {
		c.OutboundAllow = splitList(v)
	}
	for key, dst := range map[string]*int64{"LIANLU_MAX_BODY_BYTES": &c.MaxBodyBytes, "LIANLU_MAX_EVENT_BODY_BYTES": &c.MaxEventBodyBytes} {
		if v := getenv(key); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			*dst = n
		}
	}
	if v := getenv("LIANLU_MAX_BATCH_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("LIANLU_MAX_BATCH_EVENTS: %w", err)
		}
		c.MaxBatchEvents = n
	}
	for key, dst := range map[string]*float64{"LIANLU_DISPATCH_DISTANCE_WEIGHT": &c.DispatchDistanceWeight, "LIANLU_DISPATCH_LOAD_WEIGHT": &c.DispatchLoadWeight} {
		if v := getenv(key); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			*dst = f
		}
	}
	for key, dst := range map[string]*time.Duration{"LIANLU_SHUTDOWN_TIMEOUT": &c.ShutdownTimeout, "LIANLU_POLL_INTERVAL": &c.PollInterval, "LIANLU_SLA_SCAN_INTERVAL": &c.SLAScanInterval,
		"LIANLU_DISPATCH_ACCEPT_SLA": &c.DispatchAcceptSLA, "LIANLU_DISPATCH_SCAN_INTERVAL": &c.DispatchScanInterval} {
		if v := getenv(key); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			*dst = d
		}
	}
	if v := getenv("LIANLU_PRIVACY_SLA"); v != "" {
		d, err := lianlu.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("LIANLU_PRIVACY_SLA: %w", err)
		}
		c.PrivacySLA = d
	}
	return nil
}

// RegisterStorageFlags adds --data and --db to fs, writing into c.
func (c *Config) RegisterStorageFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory (env LIANLU_DATA)")
	fs.StringVar(&c.DB, "db", c.DB, "PostgreSQL URL postgres://…; empty: SQLite in the data directory (env LIANLU_DB)")
}

// RegisterServeFlags adds the flags of `lianlu serve` to fs.
func (c *Config) RegisterServeFlags(fs *flag.FlagSet) {
	c.RegisterStorageFlags(fs)
	fs.StringVar(&c.Addr, "addr", c.Addr, "HTTP listen address (env LIANLU_ADDR)")
	fs.StringVar(&c.BaseURL, "base-url", c.BaseURL, "public base URL of the console, join links and QR codes, such as https://ops.example.com (env LIANLU_BASE_URL)")
	fs.StringVar(&c.FlowsFile, "flows", c.FlowsFile, "YAML file of flow definitions to store at start (env LIANLU_FLOWS)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json (env LIANLU_LOG_FORMAT)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn, error (env LIANLU_LOG_LEVEL)")
	fs.Func("outbound-allow", "comma-separated CIDR prefixes, addresses and host names that outbound requests may reach although private or local (env LIANLU_OUTBOUND_ALLOW)",
		func(v string) error { c.OutboundAllow = splitList(v); return nil })
	fs.BoolVar(&c.Demo, "demo", c.Demo, "seed an empty database with the demo brand and keep simulated activity going")
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("data directory must not be empty")
	}
	if c.DB != "" && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
		return fmt.Errorf("--db must be a postgres:// URL (or empty for SQLite)")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("--addr %q: %w", c.Addr, err)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log format must be text or json, not %q", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log level must be debug, info, warn or error, not %q", c.LogLevel)
	}
	switch strings.ToUpper(c.SQLiteSynchronous) {
	case "FULL", "NORMAL":
	default:
		return fmt.Errorf("SQLite synchronous must be FULL or NORMAL")
	}
	if c.MaxBodyBytes < 1024 || c.MaxEventBodyBytes < 1024 {
		return fmt.Errorf("body limits must be at least 1024 bytes")
	}
	if c.MaxBatchEvents < 1 || c.MaxBatchEvents > 10000 {
		return fmt.Errorf("max batch events must be between 1 and 10000")
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("--base-url must be an http:// or https:// URL without a path, query, fragment or credentials, such as https://ops.example.com")
		}
	}
	if c.ShutdownTimeout <= 0 || c.PollInterval <= 0 || c.SLAScanInterval <= 0 {
		return fmt.Errorf("shutdown timeout and poll interval must be positive")
	}
	if !phonenumbers.GetSupportedRegions()[c.PhoneRegion] {
		return fmt.Errorf("LIANLU_PHONE_REGION %q is not an ISO 3166 region phone numbers are known for, such as CN", c.PhoneRegion)
	}
	if c.DispatchDistanceWeight < 0 || c.DispatchLoadWeight < 0 || c.DispatchDistanceWeight+c.DispatchLoadWeight <= 0 ||
		math.IsNaN(c.DispatchDistanceWeight) || math.IsNaN(c.DispatchLoadWeight) {
		return fmt.Errorf("dispatch weights must not be negative and must not both be zero")
	}
	if c.DispatchAcceptSLA <= 0 || c.DispatchScanInterval <= 0 {
		return fmt.Errorf("the dispatch acceptance SLA and scan interval must be positive")
	}
	if c.PrivacySLA <= 0 {
		return fmt.Errorf("LIANLU_PRIVACY_SLA must be positive, such as 15d")
	}
	if c.JoinSecret != "" && len(c.JoinSecret) < 32 {
		return fmt.Errorf("LIANLU_JOIN_SECRET must be at least 32 characters")
	}
	if _, err := c.OutboundPolicy(); err != nil {
		return fmt.Errorf("LIANLU_OUTBOUND_ALLOW: %w", err)
	}
	return nil
}

// OutboundPolicy is the policy of outbound requests: public addresses and
// OutboundAllow.
func (c *Config) OutboundPolicy() (*netguard.Policy, error) {
	return netguard.New(c.OutboundAllow)
}

// splitList splits a comma-separated setting, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// PublicBaseURL is BaseURL without a trailing slash, or http://<Addr>.
func (c *Config) PublicBaseURL() string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	return "http://" + c.Addr
}

// JoinKeyPath is where the join page's generated signing key is kept.
func (c *Config) JoinKeyPath() string { return filepath.Join(c.DataDir, "join.key") }

// SQLitePath is the SQLite database file in the data directory.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "lianlu.db") }

// AdminTokenPath is where the first admin token is written.
func (c *Config) AdminTokenPath() string { return filepath.Join(c.DataDir, "admin.token") }

// AdminPasswordPath is where the first console admin's password is written.
func (c *Config) AdminPasswordPath() string { return filepath.Join(c.DataDir, "admin.password") }

// ConsoleURL is where the console is opened: BaseURL, or http://addr.
func (c *Config) ConsoleURL(addr string) string {
	if c.BaseURL != "" {
		return strings.TrimSuffix(c.BaseURL, "/")
	}
	return "http://" + addr
}
