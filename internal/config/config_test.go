package config

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestLoadEnvAndFlags(t *testing.T) {
	env := map[string]string{
		"LIANLU_DATA": "/var/lib/lianlu", "LIANLU_ADDR": "0.0.0.0:9000", "LIANLU_LOG_FORMAT": "json",
		"LIANLU_MAX_BODY_BYTES": "2048", "LIANLU_POLL_INTERVAL": "250ms", "LIANLU_FLOWS": "/etc/lianlu/flows.yaml",
		"LIANLU_SLA_SCAN_INTERVAL": "5s", "LIANLU_MAX_BATCH_EVENTS": "50",
	}
	c := Default()
	if err := c.LoadEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterServeFlags(fs)
	if err := fs.Parse([]string{"--addr", "127.0.0.1:7000"}); err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/var/lib/lianlu" || c.Addr != "127.0.0.1:7000" || c.LogFormat != "json" || c.MaxBodyBytes != 2048 ||
		c.PollInterval != 250*time.Millisecond || c.FlowsFile != "/etc/lianlu/flows.yaml" || c.SLAScanInterval != 5*time.Second || c.MaxBatchEvents != 50 {
		t.Fatalf("config %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.SQLitePath() != "/var/lib/lianlu/lianlu.db" || c.AdminTokenPath() != "/var/lib/lianlu/admin.token" {
		t.Fatalf("paths %s %s", c.SQLitePath(), c.AdminTokenPath())
	}
}

func TestLoadEnvErrors(t *testing.T) {
	for key, val := range map[string]string{"LIANLU_MAX_BODY_BYTES": "lots", "LIANLU_POLL_INTERVAL": "soon", "LIANLU_MAX_BATCH_EVENTS": "x", "LIANLU_PRIVACY_SLA": "soon"} {
		c := Default()
		if err := c.LoadEnv(func(k string) string {
			if k == key {
				return val
			}
			return ""
		}); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%s: %v", key, val, err)
		}
	}
}

func TestValidate(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"empty data":    func(c *Config) { c.DataDir = "" },
		"mysql url":     func(c *Config) { c.DB = "mysql://x" },
		"bad addr":      func(c *Config) { c.Addr = "8080" },
		"log format":    func(c *Config) { c.LogFormat = "xml" },
		"log level":     func(c *Config) { c.LogLevel = "loud" },
		"synchronous":   func(c *Config) { c.SQLiteSynchronous = "OFF" },
		"tiny body":     func(c *Config) { c.MaxBodyBytes = 10 },
		"batch":         func(c *Config) { c.MaxBatchEvents = 0 },
		"scan interval": func(c *Config) { c.SLAScanInterval = 0 },
		"shutdown":      func(c *Config) { c.ShutdownTimeout = -1 },
		"base url qs":   func(c *Config) { c.BaseURL = "https://join.example.com/?x=1" },
		"phone region":  func(c *Config) { c.PhoneRegion = "XX" },
		"join secret":   func(c *Config) { c.JoinSecret = "short" },
		"weights":       func(c *Config) { c.DispatchDistanceWeight, c.DispatchLoadWeight = 0, 0 },
		"neg weight":    func(c *Config) { c.DispatchLoadWeight = -1 },
		"accept sla":    func(c *Config) { c.DispatchAcceptSLA = 0 },
		"privacy sla":   func(c *Config) { c.PrivacySLA = 0 },
		"base url":      func(c *Config) { c.BaseURL = "ops.example.com" },
		"base path":     func(c *Config) { c.BaseURL = "https://ops.example.com/lianlu" },
		"base scheme":   func(c *Config) { c.BaseURL = "ftp://ops.example.com" },
		"outbound cidr": func(c *Config) { c.OutboundAllow = []string{"10.0.0.0/40"} },
		"outbound url":  func(c *Config) { c.OutboundAllow = []string{"https://erp.example.com"} },
	} {
		c := Default()
		mutate(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := Default()
	c.DB = "postgres://u@h/db"
	if err := c.Validate(); err != nil {
		t.Errorf("postgres URL rejected: %v", err)
	}
	c = Default()
	if err := c.LoadEnv(func(k string) string {
		return map[string]string{"LIANLU_BASE_URL": "https://join.example.com/", "LIANLU_PHONE_REGION": "HK",
			"LIANLU_DISPATCH_LOAD_WEIGHT": "0.5", "LIANLU_DISPATCH_ACCEPT_SLA": "90m", "LIANLU_PRIVACY_SLA": "10d"}[k]
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil || c.PublicBaseURL() != "https://join.example.com" || c.PhoneRegion != "HK" ||
		c.DispatchLoadWeight != 0.5 || c.DispatchAcceptSLA.Minutes() != 90 || c.PrivacySLA != 10*24*time.Hour {
		t.Errorf("channel settings: %+v %v", c, err)
	}
	c.BaseURL = "https://ops.example.com/"
	if err := c.Validate(); err != nil || c.ConsoleURL("127.0.0.1:8080") != "https://ops.example.com" {
		t.Errorf("base URL: %v %s", err, c.ConsoleURL("127.0.0.1:8080"))
	}
	c.BaseURL = ""
	if c.ConsoleURL("127.0.0.1:8080") != "http://127.0.0.1:8080" {
		t.Errorf("console URL without a base URL: %s", c.ConsoleURL("127.0.0.1:8080"))
	}
}

// The outbound allow-list comes from the environment or the flag, comma
// separated, and becomes the policy that lets exactly those targets
// through.
func TestOutboundAllow(t *testing.T) {
	c := Default()
	if p, err := c.OutboundPolicy(); err != nil || p.CheckURL("http://10.1.2.3/") == nil {
		t.Fatalf("default policy: %v", err)
	}
	if err := c.LoadEnv(func(k string) string {
		return map[string]string{"LIANLU_OUTBOUND_ALLOW": " 10.1.0.0/16, erp.corp.example ,,fd00::5"}[k]
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.OutboundAllow, " ") != "10.1.0.0/16 erp.corp.example fd00::5" {
		t.Fatalf("OutboundAllow %q", c.OutboundAllow)
	}
	p, _ := c.OutboundPolicy()
	for u, ok := range map[string]bool{"http://10.1.2.3/": true, "http://10.2.0.1/": false, "http://[fd00::5]/": true, "http://erp.corp.example/": true} {
		if err := p.CheckURL(u); (err == nil) != ok {
			t.Errorf("CheckURL(%s) = %v", u, err)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterServeFlags(fs)
	if err := fs.Parse([]string{"--outbound-allow", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if len(c.OutboundAllow) != 1 || c.OutboundAllow[0] != "127.0.0.1" {
		t.Fatalf("flag: %q", c.OutboundAllow)
	}
}
