package lianlu

import (
	"slices"
	"strings"
	"time"
)

// The trust boundary of the event log (docs/architecture.md, "Trust
// boundary of the log"). Three kinds of writers share the log, each in
// namespaces the others cannot write:
//
//   - Lianlu's commands append the facts they make (an order placed, a
//     fulfillment shipped, a handoff completed) with source CommandSource
//     and a type in one of CommandNamespaces;
//   - the Segment collector appends what tracking SDKs send with a source
//     starting CollectorSourcePrefix and a type starting
//     CollectorTypePrefix;
//   - other systems send their own facts under their own sources and types
//     (POST /api/v1/events, `lianlu import`); the standard business types
//     among them reach the domain only through the documented mapping,
//     which checks the sender's department (BusinessEventDepartments).
//
// The intake refuses an outside event that would enter the first two
// namespaces (OutsideEventViolation), and consumers act only on events
// that TrustedEvent accepts, whatever way they reached the log.

// CommandSource is the source of every event Lianlu's own commands append.
// No outside caller, admin included, may send an event with it.
const CommandSource = "lianlu"

// CollectorSourcePrefix starts the source of every event the Segment
// collector stores: "segment:" and the Lianlu source's id.
const CollectorSourcePrefix = "segment:"

// CollectorTypePrefix starts the type of every event the Segment collector
// stores, such as "segment.track".
const CollectorTypePrefix = "segment."

// CommandNamespaces are the type prefixes whose events only Lianlu's
// commands append (with source CommandSource). Some name types no command
// writes yet (plans, tasks, comments, grants): they are reserved, so that
// no outside event of that name sits in the log when the command comes.
var CommandNamespaces = []string{
	"backlog.",
	"comment.",
	"feedback.",
	"flow.",
	"fulfillment.",
	"grant.",
	"handoff.",
	"inventory.",
	"location.",
	"member.",
	"milestone.",
	"notification.",
	"offer.",
	"order.",
	"plan.",
	"privacy_request.",
	"product.",
	"staff.",
	"source.",
	"store.",
	"task.",
	"tracking_plan.",
	"webhook.",
	"workorder.",
}

// IsCommandOwnedType reports whether events of type t are written only by
// Lianlu's commands.
func IsCommandOwnedType(t string) bool {
	for _, ns := range CommandNamespaces {
		if strings.HasPrefix(t, ns) {
			return true
		}
	}
	return false
}

// IsCollectorType reports whether events of type t are written only by the
// Segment collector.
func IsCollectorType(t string) bool { return strings.HasPrefix(t, CollectorTypePrefix) }

// IsCollectorSource reports whether source s is the collector's: only the
// collector writes events with it.
func IsCollectorSource(s string) bool { return strings.HasPrefix(s, CollectorSourcePrefix) }

// Standard business event types: other systems' facts that Lianlu maps to
// its commands (docs/events.md).
const (
	TypeShopOrder         = "shop.order.created"
	TypePOSSale           = "pos.sale.completed"
	TypeInventorySnapshot = "wms.inventory.snapshot"
	TypeSurvey            = "service.survey.submitted"
)

// FeedbackDepartments are the departments that hear from customers and so
// may submit after-sales feedback (POST /api/v1/feedback) and send
// satisfaction surveys; an admin may too.
var FeedbackDepartments = []string{DeptService, DeptSales, DeptStores}

// businessEventDepartments maps each standard business type to the
// departments whose facts it is.
var businessEventDepartments = map[string][]string{
	TypeShopOrder:         {DeptSales},
	TypePOSSale:           {DeptStores, DeptSales},
	TypeInventorySnapshot: {DeptSupplyChain, DeptStores},
	TypeSurvey:            FeedbackDepartments,
}

// BusinessEventDepartments returns the departments whose facts events of
// the standard business type t are (the first is the default of an admin
// who names none), nil for any other type.
func BusinessEventDepartments(t string) []string { return businessEventDepartments[t] }

// IsBusinessType reports whether t is a standard business event type.
func IsBusinessType(t string) bool { return businessEventDepartments[t] != nil }

// Rules of the trust boundary, named in the problem documents of refused
// events.
const (
	RuleCommandSource = "source-reserved"
	RuleCommandType   = "type-reserved"
	RuleCollector     = "collector-reserved"
)

// OutsideEventViolation returns the field ("source" or "type") of an event
// sent from outside Lianlu that breaks the trust boundary, with the rule it
// breaks and a message saying why; "" when the event may be stored. Every
// outside caller is held to it, an admin too: an admin's token is still a
// caller from outside the commands.
func OutsideEventViolation(e Event) (field, rule, message string) {
	switch {
	case e.Source == CommandSource:
		return "source", RuleCommandSource, "source " + CommandSource + " is Lianlu's own: only its commands write events with it; send your system's own source"
	case IsCollectorSource(e.Source):
		return "source", RuleCollector, "sources starting " + CollectorSourcePrefix + " are the Segment collector's: send tracking calls to /v1/*"
	case IsCommandOwnedType(e.Type):
		ns, _, _ := strings.Cut(e.Type, ".")
		return "type", RuleCommandType, ns + ".* events are written only by Lianlu's commands; use the API's commands or a business event (docs/events.md), or a type of your own"
	case IsCollectorType(e.Type):
		return "type", RuleCollector, CollectorTypePrefix + "* events are written only by the Segment collector: send tracking calls to /v1/*"
	}
	return "", "", ""
}

// TrustedEvent reports whether consumers of the log (flows and the KPI
// clocks, offers, identity resolution, dispatch) may act on e: a
// command-owned type only from CommandSource, and CommandSource only with
// such a type; a collector type only from a collector source and the
// reverse; a standard business type only from a department whose fact it
// is. Other systems' own types are trusted as their department's facts,
// which the intake checked. It is the second line of defence, for whatever
// reached the log without the intake's checks.
func TrustedEvent(e Event) bool {
	switch {
	case e.Source == CommandSource || IsCommandOwnedType(e.Type):
		return e.Source == CommandSource && IsCommandOwnedType(e.Type)
	case IsCollectorSource(e.Source) || IsCollectorType(e.Type):
		return IsCollectorSource(e.Source) && IsCollectorType(e.Type)
	case IsBusinessType(e.Type):
		return slices.Contains(BusinessEventDepartments(e.Type), e.Department)
	}
	return true
}

// IsCommandEvent reports whether e is a fact of Lianlu's own commands.
func IsCommandEvent(e Event) bool {
	return e.Source == CommandSource && IsCommandOwnedType(e.Type)
}

// The window of event times accepted from outside: not before
// MinEventTime, not more than MaxEventTimeAhead after the server's clock
// (clocks drift and time zones confuse, but a fact does not happen
// tomorrow).
var MinEventTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// MaxEventTimeAhead is how far after the server's clock an outside event's
// time may be.
const MaxEventTimeAhead = 24 * time.Hour

// EventTimeProblem returns what is wrong with an event time t sent from
// outside when the server's clock says now, "" when it is within the
// window.
func EventTimeProblem(t, now time.Time) string {
	switch {
	case t.Before(MinEventTime):
		return "before " + MinEventTime.Format("2006-01-02") + ": not a time this system's facts can have"
	case t.After(now.Add(MaxEventTimeAhead)):
		return "more than a day after the server's clock (" + now.UTC().Format(time.RFC3339) + ")"
	}
	return ""
}
