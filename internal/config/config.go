// Package config loads Lianlu's configuration from defaults, the
// environment (LIANLU_*) and command-line flags, in that order of
// precedence (flags win).
package config

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
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

	// BaseURL is the address people open the console at, such as
	// https://ops.example.com (env LIANLU_BASE_URL; flag --base-url). An
	// https URL makes session cookies Secure even behind a proxy that
	// speaks plain HTTP to Lianlu. Empty: http://<addr>.
	BaseURL string
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
	for key, dst := range map[string]*time.Duration{"LIANLU_SHUTDOWN_TIMEOUT": &c.ShutdownTimeout, "LIANLU_POLL_INTERVAL": &c.PollInterval, "LIANLU_SLA_SCAN_INTERVAL": &c.SLAScanInterval} {
		if v := getenv(key); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			*dst = d
		}
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
	fs.StringVar(&c.FlowsFile, "flows", c.FlowsFile, "YAML file of flow definitions to store at start (env LIANLU_FLOWS)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json (env LIANLU_LOG_FORMAT)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn, error (env LIANLU_LOG_LEVEL)")
	fs.StringVar(&c.BaseURL, "base-url", c.BaseURL, "URL the console is reached at, e.g. https://ops.example.com (env LIANLU_BASE_URL)")
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
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("--base-url must be an http:// or https:// URL without a path, such as https://ops.example.com")
		}
	}
	if c.ShutdownTimeout <= 0 || c.PollInterval <= 0 || c.SLAScanInterval <= 0 {
		return fmt.Errorf("shutdown timeout and poll interval must be positive")
	}
	return nil
}

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
