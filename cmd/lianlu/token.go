package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/config"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// runToken manages API tokens directly in the database, as the operator of
// the machine (audited as cli:<user>).
func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: lianlu token create|list|revoke …\n")
		return errUsage
	}
	sub, args := args[0], args[1:]
	var name, dept, role string
	var all bool
	cfg, fs, err := loadConfig("token "+sub, args, getenv, stderr, func(c *config.Config, fs *flag.FlagSet) {
		c.RegisterStorageFlags(fs)
		switch sub {
		case "create":
			fs.StringVar(&name, "name", "", "token name (required)")
			fs.StringVar(&dept, "department", "", "department (required)")
			fs.StringVar(&role, "role", "", "role: viewer, operator, manager or admin (required)")
		case "list":
			fs.BoolVar(&all, "all", false, "include revoked tokens")
		}
	})
	if err != nil {
		return err
	}
	db, err := openMigrated(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	access := sqlstore.NewAccessService(db)
	ctx = lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "cli:" + osUser(), Role: lianlu.RoleAdmin, Department: lianlu.DeptAdmin})

	switch sub {
	case "create":
		tok, secret, err := access.CreateToken(ctx, lianlu.TokenCreate{Name: name, Department: dept, Role: lianlu.Role(role)})
		if err != nil {
			return describe(err)
		}
		fmt.Fprintf(stderr, "created token %d %q (%s, %s); it is shown only once:\n", tok.ID, tok.Name, tok.Department, tok.Role)
		fmt.Fprintln(stdout, secret)
	case "list":
		toks, err := access.FindTokens(ctx, all)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tDEPARTMENT\tROLE\tPREFIX\tCREATED\tLAST USED\tREVOKED")
		for _, t := range toks {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s…\t%s\t%s\t%s\n", t.ID, t.Name, t.Department, t.Role, t.Prefix,
				t.CreatedAt.Format("2006-01-02 15:04"), fmtTime(t.LastUsedAt), fmtTime(t.RevokedAt))
		}
		tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			fmt.Fprint(stderr, "usage: lianlu token revoke ID\n")
			return errUsage
		}
		id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil {
			return fmt.Errorf("token id must be a number")
		}
		if err := access.RevokeToken(ctx, id); err != nil {
			return describe(err)
		}
		fmt.Fprintf(stdout, "revoked token %d\n", id)
	default:
		fmt.Fprintf(stderr, "unknown token command %q\n", sub)
		return errUsage
	}
	return nil
}

// describe turns an application error into a message for the terminal.
func describe(err error) error {
	if fields := lianlu.ErrorFields(err); len(fields) > 0 {
		msg := ""
		for i, f := range fields {
			if i > 0 {
				msg += "; "
			}
			msg += "--" + f.Field + ": " + f.Message
		}
		return fmt.Errorf("%s", msg)
	}
	if code := lianlu.ErrorCode(err); code != lianlu.EINTERNAL {
		return fmt.Errorf("%s", lianlu.ErrorMessage(err))
	}
	return err
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format("2006-01-02 15:04")
}

func osUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	if v := os.Getenv("USER"); v != "" {
		return v
	}
	return "unknown"
}
