package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/flow"
	"github.com/lianlu/lianlu/internal/sqlstore"
	"github.com/lianlu/lianlu/internal/web"
)

// adminUsername is the console user created on first start.
const adminUsername = "admin"

// bootstrapAdminUser creates the first console user when there is none,
// with a random password written to <data>/admin.password (mode 0600), and
// prints where to sign in; the password itself is never printed or logged.
func (m *Main) bootstrapAdminUser(ctx context.Context, access *sqlstore.AccessService, sessions *sqlstore.SessionService) error {
	users, err := access.FindUsers(ctx)
	if err != nil {
		return err
	}
	path := m.Config.AdminPasswordPath()
	if len(users) > 0 {
		if _, err := os.Stat(path); err == nil {
			m.consoleHint = fmt.Sprintf("sign in as %q with the password in %s", adminUsername, path)
		}
		return nil
	}
	ctx = lianlu.NewContextWithPrincipal(ctx, lianlu.Principal{Name: "bootstrap", Role: lianlu.RoleAdmin, Department: lianlu.DeptAdmin})
	if _, err := access.CreateUser(ctx, lianlu.User{Username: adminUsername, DisplayName: "Administrator", Department: lianlu.DeptAdmin, Role: lianlu.RoleAdmin}); err != nil {
		return fmt.Errorf("create console admin: %w", err)
	}
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("random password: %w", err)
	}
	password := base64.RawURLEncoding.EncodeToString(b)
	if err := sessions.SetPassword(ctx, adminUsername, password); err != nil {
		return fmt.Errorf("set console admin password: %w", err)
	}
	if err := writeSecretFile(path, password+"\n"); err != nil {
		return fmt.Errorf("write admin password: %w", err)
	}
	fmt.Fprintf(m.Stdout, "Console admin password written to %s (mode 0600).\n", path)
	m.consoleHint = fmt.Sprintf("sign in as %q with the password in %s", adminUsername, path)
	return nil
}

// consoleChannel are the channel-fusion services the console shares with
// the API, and the base URL of the join links its QR codes encode.
type consoleChannel struct {
	stores  lianlu.StoreService
	members lianlu.MemberService
	offers  lianlu.OfferService
	baseURL string
}

// newConsole builds the web console over the same services as the API.
func (m *Main) newConsole(db *sqlstore.DB, access *sqlstore.AccessService, sessions *sqlstore.SessionService, ch consoleChannel) (*web.Console, error) {
	return web.New(web.Config{
		Stores:       ch.stores,
		Members:      ch.members,
		Offers:       ch.offers,
		Dispatch:     m.Dispatch,
		JoinBaseURL:  ch.baseURL,
		Events:       sqlstore.NewEventService(db),
		Access:       access,
		Sessions:     sessions,
		Catalog:      sqlstore.NewCatalogService(db),
		Orders:       sqlstore.NewOrderService(db),
		Fulfillments: sqlstore.NewFulfillmentService(db),
		WorkOrders:   sqlstore.NewWorkOrderService(db),
		Feedback:     sqlstore.NewFeedbackService(db),
		Handoffs:     sqlstore.NewHandoffService(db),
		Sources:      sqlstore.NewSourceService(db),
		Flows:        flow.NewService(db, m.Runner),
		Queries:      sqlstore.NewConsoleQueries(db),
		Notifier:     db,
		Logger:       m.Logger,
		BaseURL:      m.Config.BaseURL,
		PollInterval: m.Config.PollInterval,
		Version:      Version,
	})
}
