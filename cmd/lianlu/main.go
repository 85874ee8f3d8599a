// Command lianlu runs Lianlu, the full-chain operations hub: `lianlu serve`
// runs the server; other subcommands manage the database and tokens.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Version is set at build time with -ldflags "-X main.Version=…".
var Version = "dev"

const usage = `Lianlu (链路) — full-chain operations hub for omni-channel brands.

Usage:
  lianlu serve   [--data DIR] [--db URL] [--addr HOST:PORT] [--flows FILE] [--base-url URL] [--demo]
                                                              run the server (and the console)
  lianlu migrate [--data DIR] [--db URL]                      apply database migrations
  lianlu token create --department D --role R --name N       create an API token (printed once)
  lianlu token list [--all]                                   list tokens (never their secrets)
  lianlu token revoke ID                                      revoke a token
  lianlu user create --username U --department D --role R [--store CODE] [--display-name N]
                                                              create a console user (password prompted, or --password-stdin)
  lianlu user list | set-password --username U               list console users; change a password
  lianlu demo [--scale small|medium|large] [--seed N] [--end TIME]
                                                              fill a fresh database with the simulated demo brand
  lianlu catalog import products|locations|stores FILE.csv    upsert products, locations or stores from CSV
  lianlu import --source ID [--format F] [--map M] FILE       bulk-import Segment messages or CloudEvents (NDJSON) or CSV, resumable
  lianlu version                                              print the version

Environment: LIANLU_DATA, LIANLU_DB, LIANLU_ADDR, LIANLU_LOG_FORMAT, LIANLU_LOG_LEVEL
(see README.md for all settings). Flags win over the environment.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "lianlu:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// run dispatches a subcommand.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "token":
		return runToken(ctx, args[1:], getenv, stdout, stderr)
	case "user":
		return runUser(ctx, args[1:], getenv, os.Stdin, stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], getenv, stdout, stderr)
	case "import":
		return runImport(ctx, args[1:], getenv, stdout, stderr)
	case "catalog":
		return runCatalog(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "lianlu", Version)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
		return errUsage
	}
}
