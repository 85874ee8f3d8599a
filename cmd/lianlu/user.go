package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/config"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

// runUser manages console users directly in the database, as the operator
// of the machine (audited as cli:<user>). Passwords are prompted for
// without echo on a terminal, or read from the first line of stdin with
// --password-stdin; they never appear in arguments or the environment.
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: lianlu user create|list|set-password …\n")
		return errUsage
	}
	sub, args := args[0], args[1:]
	var username, display, dept, role, store string
	var fromStdin bool
	cfg, _, err := loadConfig("user "+sub, args, getenv, stderr, func(c *config.Config, fs *flag.FlagSet) {
		c.RegisterStorageFlags(fs)
		switch sub {
		case "create":
			fs.StringVar(&username, "username", "", "user name (required)")
			fs.StringVar(&display, "display-name", "", "name shown in the console (default: the user name)")
			fs.StringVar(&dept, "department", "", "department (required)")
			fs.StringVar(&role, "role", "", "role: viewer, operator, manager or admin (required)")
			fs.StringVar(&store, "store", "", "for the stores department: the code of the store the user works in (the console shows her that store's queue)")
			fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input")
		case "set-password":
			fs.StringVar(&username, "username", "", "user name (required)")
			fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input")
		}
	})
	if err != nil {
		return err
	}
	if sub != "create" && sub != "list" && sub != "set-password" {
		fmt.Fprintf(stderr, "unknown user command %q\n", sub)
		return errUsage
	}
	var password string
	if sub != "list" {
		if username == "" {
			fmt.Fprint(stderr, "--username is required\n")
			return errUsage
		}
		if password, err = readPassword(stdin, stderr, fromStdin); err != nil {
			return err
		}
	}
	db, err := openMigrated(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	access := sqlstore.NewAccessService(db)
	sessions := sqlstore.NewSessionService(db)
	ctx = lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "cli:" + osUser(), Role: lianlu.RoleAdmin, Department: lianlu.DeptAdmin})
	switch sub {
	case "create":
		if len(password) < lianlu.MinPasswordLen {
			return fmt.Errorf("the password must have at least %d characters", lianlu.MinPasswordLen)
		}
		u, err := access.CreateUser(ctx, lianlu.User{Username: username, DisplayName: display, Department: dept, Role: lianlu.Role(role), Store: store})
		if err != nil {
			return describe(err)
		}
		if err := sessions.SetPassword(ctx, u.Username, password); err != nil {
			return describe(err)
		}
		fmt.Fprintf(stdout, "created user %d %q (%s, %s); they sign in to the console with this password\n", u.ID, u.Username, u.Department, u.Role)
	case "set-password":
		if err := sessions.SetPassword(ctx, username, password); err != nil {
			return describe(err)
		}
		fmt.Fprintf(stdout, "password of %q changed; their sessions have ended\n", username)
	case "list":
		users, err := access.FindUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSERNAME\tNAME\tDEPARTMENT\tSTORE\tROLE\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Username, u.DisplayName, u.Department, cmp.Or(u.Store, "-"), u.Role, u.CreatedAt.Format("2006-01-02 15:04"))
		}
		tw.Flush()
	}
	return nil
}

// readPassword reads a password from the first line of stdin, or prompts
// for it twice without echo when stdin is a terminal.
func readPassword(stdin io.Reader, stderr io.Writer, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(io.LimitReader(stdin, 2048)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", fmt.Errorf("standard input is not a terminal: pass the password with --password-stdin")
	}
	fmt.Fprint(stderr, "Password: ")
	a, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(stderr, "Again: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if string(a) != string(b) {
		return "", fmt.Errorf("the passwords differ")
	}
	return string(a), nil
}
