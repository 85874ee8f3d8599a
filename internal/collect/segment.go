package collect

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lianlu/lianlu"
)

// Segment calls: the last element of the Segment HTTP API's paths
// (POST /v1/track, ...) and, but for SegmentBatch, the type of a message.
const (
	SegmentTrack    = "track"
	SegmentIdentify = "identify"
	SegmentPage     = "page"
	SegmentScreen   = "screen"
	SegmentGroup    = "group"
	SegmentAlias    = "alias"
	SegmentBatch    = "batch"
)

// SegmentSourcePrefix starts the Source of every event decoded from a
// Segment message; the Lianlu source id follows it.
const SegmentSourcePrefix = "segment:"

// SegmentTypePrefix starts the Type of every event decoded from a Segment
// message; the message type follows it, as in "segment.track".
const SegmentTypePrefix = "segment."

// Defaults of SegmentLimits: Segment's own limits, a bound on what a batch
// copies into each of its messages, and a tolerance for clocks that run a
// little fast.
const (
	DefaultSegmentMaxMessageBytes      = 32 << 10
	DefaultSegmentMaxRequestBytes      = 500 << 10
	DefaultSegmentMaxBatchMessages     = 2500
	DefaultSegmentMaxBatchContextBytes = 4 << 10
	DefaultSegmentFutureTolerance      = 5 * time.Minute
)

// Limits of the identifiers and names in a Segment message, in bytes.
const (
	// MaxSegmentIDLen bounds messageId, userId, anonymousId, groupId and
	// previousId. A messageId becomes the event's ID, hence
	// lianlu.MaxEventIDLen.
	MaxSegmentIDLen = lianlu.MaxEventIDLen
	// MaxSegmentEventNameLen bounds the event name of a track call.
	MaxSegmentEventNameLen = 256
)

// SegmentLimits holds the configurable limits of DecodeSegment. A zero or
// negative field means its default.
type SegmentLimits struct {
	// MaxMessageBytes caps one message: its compact JSON encoding as sent,
	// with a batch's context and integrations merged in. The fields that
	// DecodeSegment adds (receivedAt, the computed timestamp, an assigned
	// messageId) do not count, so that a message an SDK measured as within
	// the limit is not refused. Default DefaultSegmentMaxMessageBytes.
	MaxMessageBytes int
	// MaxRequestBytes caps the (decompressed) request body. The HTTP
	// handler enforces it while reading; DecodeSegment checks it again.
	// Default DefaultSegmentMaxRequestBytes.
	MaxRequestBytes int
	// MaxBatchMessages caps the messages of one batch call. Default
	// DefaultSegmentMaxBatchMessages.
	MaxBatchMessages int
	// MaxBatchContextBytes caps a batch's top-level context and
	// integrations together (compact JSON). Both are copied into every
	// message of the batch, so the cap bounds how much a request grows
	// when decoded; SDKs put only their library's name and version there.
	// Default DefaultSegmentMaxBatchContextBytes.
	MaxBatchContextBytes int
	// FutureTolerance is how far after receivedAt a message's computed
	// timestamp may be before it is clamped to receivedAt. Default
	// DefaultSegmentFutureTolerance.
	FutureTolerance time.Duration
}

// withDefaults returns l with every unset limit at its default.
func (l SegmentLimits) withDefaults() SegmentLimits {
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = DefaultSegmentMaxMessageBytes
	}
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = DefaultSegmentMaxRequestBytes
	}
	if l.MaxBatchMessages <= 0 {
		l.MaxBatchMessages = DefaultSegmentMaxBatchMessages
	}
	if l.MaxBatchContextBytes <= 0 {
		l.MaxBatchContextBytes = DefaultSegmentMaxBatchContextBytes
	}
	if l.FutureTolerance <= 0 {
		l.FutureTolerance = DefaultSegmentFutureTolerance
	}
	return l
}

// SegmentRequest is one call to the Segment HTTP API, POST /v1/{Call}.
type SegmentRequest struct {
	// Call is one of SegmentTrack, SegmentIdentify, SegmentPage,
	// SegmentScreen, SegmentGroup, SegmentAlias and SegmentBatch.
	Call string
	// Body is the request body, already decompressed (see GunzipLimited)
	// and checked against SegmentLimits.MaxRequestBytes by the caller.
	// The result does not refer to it.
	Body []byte
	// ReceivedAt is when the request arrived: every message's receivedAt
	// and the reference of its clock-skew correction.
	ReceivedAt time.Time
	// SourceID is the id of the Lianlu source the write key belongs to.
	SourceID string
	// KeepReceivedAt makes a message's own valid receivedAt its receivedAt
	// instead of ReceivedAt: for replaying exported messages (bulk
	// import), whose clock-skew correction refers to when they first
	// arrived. A message without a valid one, or with one after
	// ReceivedAt, gets ReceivedAt.
	KeepReceivedAt bool
}

// SegmentResult is the outcome of DecodeSegment.
type SegmentResult struct {
	// Events are the valid messages as events, in request order.
	Events []lianlu.Event
	// MessageIDs holds the messageId of each event (given or assigned),
	// parallel to Events, for the response and for logs.
	MessageIDs []string
	// Indexes holds the batch position of each event, parallel to Events
	// (0 for a single call), so that later checks can report by index.
	Indexes []int
	// Invalid lists the problems of the batch messages that were left out
	// of Events, in batch order; always empty for the other calls, which
	// fail instead.
	Invalid []SegmentProblem
	// WriteKey is the writeKey found at the top level of the body, "" when
	// there is none. The caller authenticates with it when the request has
	// no Basic-auth credentials.
	WriteKey string
}

// SegmentProblem is one problem with one message of a batch, as reported
// in the response. A message may have several.
type SegmentProblem struct {
	// Index is the message's position in the batch array, from 0.
	Index int `json:"index"`
	// MessageID is the messageId the client gave, when it gave a valid one.
	MessageID string `json:"message_id,omitempty"`
	// Field names the offending top-level field of the message, such as
	// "userId"; "" means the whole message.
	Field   string `json:"field"`
	Message string `json:"message"`
}

// segmentTypes lists the message types, which are the calls but batch.
var segmentTypes = map[string]bool{
	SegmentTrack: true, SegmentIdentify: true, SegmentPage: true,
	SegmentScreen: true, SegmentGroup: true, SegmentAlias: true,
}

// segmentTypeList is the text of the problem with a message's type.
const segmentTypeList = "one of track, identify, page, screen, group, alias"

// segmentManaged lists the top-level fields that DecodeSegment sets or
// removes itself; the client's values of the others are stored unchanged.
// The "lianlu" field carries Lianlu's own annotations, so a client cannot
// set it.
var segmentManaged = map[string]bool{
	"type": true, "messageId": true, "writeKey": true, "originalTimestamp": true,
	"sentAt": true, "receivedAt": true, "timestamp": true, "lianlu": true,
}

// DecodeSegment parses and normalises the messages of one Segment HTTP API
// call into events, following Segment's specification of the calls.
//
// A single call (every call but batch) returns exactly one event or an
// error. A batch call returns the events of its valid messages and lists
// the problems of the others in SegmentResult.Invalid, by index; it fails
// as a whole only when the request itself is wrong. A batch whose every
// message is invalid returns no events and no error.
//
// Errors: ETOOLARGE when the body exceeds lim.MaxRequestBytes; EINVALID
// when the call is unknown, the body is not a UTF-8 JSON object or nests
// deeper than MaxJSONDepth (the field names where), writeKey
// is not a string, a batch's "batch" is missing, empty, not an array or
// longer than lim.MaxBatchMessages, a batch's top-level context,
// integrations or sentAt is wrong, or, for a single call, the message is
// invalid (with one field error per problem; "body" names the whole
// message). Any other error is the caller's bug (an empty SourceID or a
// zero ReceivedAt). Even with an error, WriteKey is set whenever the body
// had a string writeKey, so that the caller can authenticate first.
//
// A message needs userId or anonymousId (non-empty strings; numbers are
// taken as their JSON text), except an alias, which needs previousId and
// userId. A group also needs groupId, a track a non-empty event name.
// Identifiers hold at most MaxSegmentIDLen bytes and no control
// characters. Keys must be unique. The JSON must be storable in
// PostgreSQL's jsonb: no \u0000, no unpaired surrogate escape, no number
// with an exponent beyond ±1000 or longer than 1000 characters.
//
// The normalised message, each event's Data, is the message as sent, in
// compact JSON and in the order sent, with:
//   - type set from the call (single calls) and writeKey and lianlu removed;
//   - in a batch, the batch's context and integrations merged into the
//     message's own, key by key, the message's keys winning, and the batch's
//     sentAt used when the message has none;
//   - numeric identifiers turned into strings;
//   - messageId assigned with newID when missing or empty (newID must
//     return a unique non-empty id of at most MaxSegmentIDLen bytes; nil
//     means random UUIDs);
//   - originalTimestamp as sent or, when only timestamp was sent, that
//     value (Segment's semantics for a timestamp set by a server library);
//     sentAt as sent; receivedAt from req (RFC 3339 UTC), or the
//     message's own with req.KeepReceivedAt;
//   - timestamp computed as receivedAt - (sentAt - originalTimestamp) when
//     both are known (correcting the client's clock skew), else
//     originalTimestamp, else receivedAt; a timestamp more than
//     lim.FutureTolerance after receivedAt is clamped to receivedAt and the
//     message gets "lianlu": {"clamped_future_timestamp": true}; one
//     before lianlu.MinEventTime or more than lianlu.MaxEventTimeAhead
//     after receivedAt is refused (field "timestamp"): a clock that wrong
//     says nothing of when the fact happened.
//
// Timestamps are RFC 3339 strings, with or without fractional seconds, in
// any offset; an empty or null one counts as absent.
//
// Each event has Type SegmentTypePrefix + the message type, Source
// SegmentSourcePrefix + req.SourceID, ID the messageId, Time the computed
// timestamp, and Subject "user/<userId>" when the message has a userId,
// else "anon/<anonymousId>". Subjects name Segment identities: the store
// gives an id already linked to a member that member's subject when it
// appends the event. Department, Actor,
// Seq and RecordedAt are left for the caller and the store.
func DecodeSegment(req SegmentRequest, lim SegmentLimits, newID func() string) (SegmentResult, error) {
	var res SegmentResult
	lim = lim.withDefaults()
	source := SegmentSourcePrefix + req.SourceID
	switch {
	case req.SourceID == "":
		return res, errors.New("decode segment: empty source id")
	case len(source) > lianlu.MaxEventSourceLen:
		return res, errors.New("decode segment: source id too long")
	case req.ReceivedAt.IsZero():
		return res, errors.New("decode segment: zero receivedAt")
	case req.Call != SegmentBatch && !segmentTypes[req.Call]:
		return res, lianlu.Invalid(lianlu.FieldError{Field: "call", Message: fmt.Sprintf("unknown Segment call %q", req.Call)})
	case len(req.Body) > lim.MaxRequestBytes:
		return res, lianlu.Errorf(lianlu.ETOOLARGE, "request body larger than %d bytes", lim.MaxRequestBytes)
	case !utf8.Valid(req.Body):
		return res, notUTF8("body")
	case !json.Valid(req.Body):
		// The slower decoder says where the problem is.
		msg := "malformed JSON"
		if _, err := readObject(req.Body); err != nil {
			msg += ": " + err.Error()
		}
		return res, lianlu.Invalid(lianlu.FieldError{Field: "body", Message: msg})
	}
	// From here on every value is well-formed JSON, which the splitting
	// and copying below rely on.
	members, ok := splitObject(req.Body)
	if !ok {
		return res, lianlu.Invalid(lianlu.FieldError{Field: "body", Message: "malformed JSON: expected a JSON object"})
	}

	// The writeKey comes first, so that the caller can answer 401 rather
	// than 400 to a request without credentials.
	var wkErr error
	for _, m := range members {
		if m.name != "writeKey" {
			continue
		}
		switch s, kind := jsonScalar(m.value); {
		case kind == segString:
			if res.WriteKey == "" {
				res.WriteKey = s
			}
		case kind != segNull:
			wkErr = lianlu.Invalid(lianlu.FieldError{Field: "writeKey", Message: "must be a string"})
		}
	}
	if wkErr != nil {
		return res, wkErr
	}
	// Splitting above does not recurse; decoding the messages' members
	// below may, and ordinary readers of the log would choke on them.
	if err := CheckJSONDepth(req.Body, MaxJSONDepth, ""); err != nil {
		return res, err
	}

	receivedAt := req.ReceivedAt.UTC()
	d := segmentDecoder{
		lim:          lim,
		receivedAt:   receivedAt,
		receivedJSON: strconv.AppendQuote(nil, receivedAt.Format(time.RFC3339Nano)),
		source:       source,
		newID:        newID,
		keepReceived: req.KeepReceivedAt,
	}
	if d.newID == nil {
		d.newID = randomMessageID
	}
	if req.Call != SegmentBatch {
		e, _, fe := d.message(req.Call, members, nil)
		if len(fe) > 0 {
			for i := range fe {
				if fe[i].Field == "" {
					fe[i].Field = "body"
				}
			}
			return res, lianlu.Invalid(fe...)
		}
		res.Events = []lianlu.Event{e}
		res.MessageIDs = []string{e.ID}
		res.Indexes = []int{0}
		return res, nil
	}

	shared, items, err := d.batch(members)
	if err != nil {
		return res, err
	}
	res.Events = make([]lianlu.Event, 0, len(items))
	res.MessageIDs = make([]string, 0, len(items))
	res.Indexes = make([]int, 0, len(items))
	for i, item := range items {
		ms, ok := splitObject(item)
		if !ok {
			res.Invalid = append(res.Invalid, SegmentProblem{Index: i, Message: "must be a JSON object"})
			continue
		}
		e, givenID, fe := d.message("", ms, shared)
		if len(fe) > 0 {
			for _, f := range fe {
				res.Invalid = append(res.Invalid, SegmentProblem{Index: i, MessageID: givenID, Field: f.Field, Message: f.Message})
			}
			continue
		}
		res.Events = append(res.Events, e)
		res.MessageIDs = append(res.MessageIDs, e.ID)
		res.Indexes = append(res.Indexes, i)
	}
	return res, nil
}

// segmentDecoder holds what every message of one request shares.
type segmentDecoder struct {
	lim          SegmentLimits
	receivedAt   time.Time // UTC
	receivedJSON []byte    // receivedAt as a JSON string
	source       string
	newID        func() string
	keepReceived bool // see SegmentRequest.KeepReceivedAt
}

// segmentBatch holds the top-level fields of a batch call that apply to
// each of its messages.
type segmentBatch struct {
	// context and integrations are the members of the batch's objects,
	// nil when the batch has none.
	context, integrations []segMember
	// sentAt is the batch's sentAt as a JSON string, nil when absent.
	sentAt     []byte
	sentAtTime time.Time
	// size is the length of context and integrations in compact JSON.
	size int
}

// batch checks the top-level members of a batch call and returns what its
// messages share and the raw messages.
func (d *segmentDecoder) batch(members []segMember) (*segmentBatch, [][]byte, error) {
	invalid := func(field, message string) error {
		return lianlu.Invalid(lianlu.FieldError{Field: field, Message: message})
	}
	if dup := duplicateName(members); dup != "" {
		return nil, nil, invalid(dup, "duplicate key")
	}

	shared := &segmentBatch{}
	for _, name := range []string{"context", "integrations"} {
		raw := memberValue(members, name)
		if raw == nil || isJSONNull(raw) {
			continue
		}
		ms, ok := splitObject(raw)
		if !ok {
			return nil, nil, invalid(name, "must be an object")
		}
		if dup := duplicateName(ms); dup != "" {
			return nil, nil, invalid(name, fmt.Sprintf("duplicate key %q", dup))
		}
		if msg := unstorableJSON(raw); msg != "" {
			return nil, nil, invalid(name, msg)
		}
		if shared.size += len(appendCompact(nil, raw)); shared.size > d.lim.MaxBatchContextBytes {
			return nil, nil, invalid(name, fmt.Sprintf("the batch's context and integrations are larger than %d bytes together", d.lim.MaxBatchContextBytes))
		}
		if ms == nil {
			ms = []segMember{} // present but empty: still merged
		}
		if name == "context" {
			shared.context = ms
		} else {
			shared.integrations = ms
		}
	}
	if raw := memberValue(members, "sentAt"); raw != nil {
		t, text, problem := parseSegmentTime(raw)
		if problem != "" {
			return nil, nil, invalid("sentAt", problem)
		}
		shared.sentAt, shared.sentAtTime = text, t
	}

	raw := memberValue(members, "batch")
	if raw == nil || isJSONNull(raw) {
		return nil, nil, invalid("batch", "required")
	}
	items, ok := splitArray(raw, d.lim.MaxBatchMessages)
	switch {
	case !ok:
		return nil, nil, invalid("batch", "must be an array of messages")
	case len(items) > d.lim.MaxBatchMessages:
		return nil, nil, invalid("batch", fmt.Sprintf("at most %d messages per batch", d.lim.MaxBatchMessages))
	case len(items) == 0:
		return nil, nil, invalid("batch", "needs at least one message")
	}
	return shared, items, nil
}

// message checks and normalises one message. call is the message type,
// or "" for a batch message, whose type field gives it; shared is nil but
// in a batch. It returns the event, the messageId the client gave (when
// valid, for problem reports), and the problems, named by top-level field
// ("" for the whole message).
func (d *segmentDecoder) message(call string, members []segMember, shared *segmentBatch) (lianlu.Event, string, []lianlu.FieldError) {
	var fe []lianlu.FieldError
	bad := func(field, message string) {
		fe = append(fe, lianlu.FieldError{Field: field, Message: message})
	}

	if dup := duplicateName(members); dup != "" {
		bad(dup, "duplicate key")
	}
	for _, m := range members {
		if msg := unstorableJSON(m.rawName); msg != "" {
			bad("", "a key "+msg)
		} else if msg := unstorableJSON(m.value); msg != "" {
			bad(m.name, msg)
		}
	}
	if len(fe) > 0 {
		return lianlu.Event{}, "", fe
	}
	get := func(name string) []byte { return memberValue(members, name) }

	if call == "" {
		switch t, kind := jsonScalar(get("type")); {
		case kind == segAbsent || kind == segNull || kind == segString && t == "":
			bad("type", "required: "+segmentTypeList)
		case kind != segString || !segmentTypes[t]:
			bad("type", "must be "+segmentTypeList)
		default:
			call = t
		}
		if call == "" {
			return lianlu.Event{}, "", fe
		}
	}

	// id returns the identifier in the named field, "" when it is absent
	// or empty; ok is false when it is wrong, which is reported.
	var numeric []string // the fields that hold a number
	id := func(name string) (string, bool) {
		s, kind := jsonScalar(get(name))
		switch kind {
		case segAbsent, segNull:
			return "", true
		case segString:
		case segNumber:
			numeric = append(numeric, name)
		default:
			bad(name, "must be a string")
			return "", false
		}
		switch {
		case len(s) > MaxSegmentIDLen:
			bad(name, fmt.Sprintf("longer than %d bytes", MaxSegmentIDLen))
			return "", false
		case hasControl(s):
			bad(name, "must not contain control characters")
			return "", false
		}
		return s, true
	}

	messageID, okMessageID := id("messageId")
	userID, okUser := id("userId")
	anonymousID, okAnonymous := id("anonymousId")
	if call == SegmentAlias {
		if previousID, ok := id("previousId"); ok && previousID == "" {
			bad("previousId", "required")
		}
		if okUser && userID == "" {
			bad("userId", "required")
		}
	} else if okUser && okAnonymous && userID == "" && anonymousID == "" {
		bad("userId", "userId or anonymousId is required")
	}
	if call == SegmentGroup {
		if groupID, ok := id("groupId"); ok && groupID == "" {
			bad("groupId", "required")
		}
	}
	if call == SegmentTrack {
		switch name, kind := jsonScalar(get("event")); {
		case kind == segAbsent || kind == segNull || kind == segString && name == "":
			bad("event", "required")
		case kind != segString:
			bad("event", "must be a string")
		case len(name) > MaxSegmentEventNameLen:
			bad("event", fmt.Sprintf("longer than %d bytes", MaxSegmentEventNameLen))
		}
	}
	for _, name := range []string{"context", "integrations"} {
		if raw := get(name); raw != nil && !isJSONNull(raw) && raw[0] != '{' {
			bad(name, "must be an object")
		}
	}

	// timeField returns the timestamp in the named field and its JSON
	// text, nil when the field is absent, empty or wrong (reported).
	timeField := func(name string) (time.Time, []byte) {
		raw := get(name)
		if raw == nil {
			return time.Time{}, nil
		}
		t, text, problem := parseSegmentTime(raw)
		if problem != "" {
			bad(name, problem)
		}
		return t, text
	}
	original, originalJSON := timeField("originalTimestamp")
	given, givenJSON := timeField("timestamp")
	sent, sentJSON := timeField("sentAt")
	if sentJSON == nil && shared != nil && shared.sentAt != nil {
		sent, sentJSON = shared.sentAtTime, shared.sentAt
	}
	if originalJSON == nil && givenJSON != nil {
		original, originalJSON = given, givenJSON
	}
	receivedAt, receivedJSON := d.receivedAt, d.receivedJSON
	if d.keepReceived {
		// A receivedAt that is not a timestamp, or is after the import's
		// own time, is not believed: the message gets the import's.
		if t, text, problem := parseSegmentTime(get("receivedAt")); problem == "" && text != nil && !t.After(d.receivedAt) {
			receivedAt = t.UTC()
			receivedJSON = strconv.AppendQuote(nil, receivedAt.Format(time.RFC3339Nano))
		}
	}

	if len(fe) > 0 {
		if !okMessageID {
			messageID = ""
		}
		return lianlu.Event{}, messageID, fe
	}

	at := receivedAt
	switch {
	case originalJSON != nil && sentJSON != nil:
		// Sub saturates, so absurd clocks give a time far in the past
		// or one that is clamped below, never an overflow.
		at = receivedAt.Add(-sent.Sub(original))
	case originalJSON != nil:
		at = original
	}
	if problem := lianlu.EventTimeProblem(at, receivedAt); problem != "" {
		// Beyond a clock that is merely fast: not a time the fact had.
		return lianlu.Event{}, messageID, []lianlu.FieldError{{Field: "timestamp", Message: problem}}
	}
	clamped := false
	if at.After(receivedAt.Add(d.lim.FutureTolerance)) {
		at, clamped = receivedAt, true
	}
	at = at.UTC()

	// The message as sent, with the batch's objects merged in and the
	// managed fields left for the end.
	size := 256
	for _, m := range members {
		size += len(m.rawName) + len(m.value) + 2
	}
	if shared != nil {
		size += shared.size
	}
	out := make([]byte, 1, size)
	out[0] = '{'
	managedLen := 0 // what the managed fields took as sent
	for _, m := range members {
		switch {
		case segmentManaged[m.name]:
			managedLen += len(m.rawName) + len(m.value) + 2 // colon, comma
		case len(numeric) > 0 && m.value[0] != '"' && slicesContains(numeric, m.name):
			out = appendRawName(out, len(out) > 1, m.rawName)
			out = append(out, '"')
			out = append(out, m.value...) // number text needs no escaping
			out = append(out, '"')
		case m.name == "context" && shared != nil && shared.context != nil:
			out = appendMerged(out, m.rawName, m.value, shared.context)
		case m.name == "integrations" && shared != nil && shared.integrations != nil:
			out = appendMerged(out, m.rawName, m.value, shared.integrations)
		default:
			out = appendMember(out, len(out) > 1, m)
		}
	}
	if shared != nil {
		if shared.context != nil && get("context") == nil {
			out = appendMerged(out, []byte(`"context"`), nil, shared.context)
		}
		if shared.integrations != nil && get("integrations") == nil {
			out = appendMerged(out, []byte(`"integrations"`), nil, shared.integrations)
		}
	}
	if len(out)+managedLen+1 > d.lim.MaxMessageBytes {
		return lianlu.Event{}, messageID, []lianlu.FieldError{{Message: fmt.Sprintf("message larger than %d bytes", d.lim.MaxMessageBytes)}}
	}

	if len(out) > 1 {
		out = append(out, ',')
	}
	out = append(out, `"type":"`...)
	out = append(out, call...)
	out = append(out, `","messageId":`...)
	if messageID == "" {
		if messageID = d.newID(); messageID == "" {
			messageID = randomMessageID()
		}
		out = appendJSONString(out, messageID)
	} else {
		out = appendJSONString(out, messageID)
	}
	if originalJSON != nil {
		out = append(out, `,"originalTimestamp":`...)
		out = append(out, originalJSON...)
	}
	if sentJSON != nil {
		out = append(out, `,"sentAt":`...)
		out = append(out, sentJSON...)
	}
	out = append(out, `,"receivedAt":`...)
	out = append(out, receivedJSON...)
	out = append(out, `,"timestamp":"`...)
	out = at.AppendFormat(out, time.RFC3339Nano)
	out = append(out, '"')
	if clamped {
		out = append(out, `,"lianlu":{"clamped_future_timestamp":true}`...)
	}
	out = append(out, '}')

	subject := "anon/" + anonymousID
	if userID != "" {
		subject = "user/" + userID
	}
	return lianlu.Event{
		ID:      messageID,
		Source:  d.source,
		Type:    SegmentTypePrefix + call,
		Subject: subject,
		Time:    at,
		Data:    json.RawMessage(out),
	}, messageID, nil
}

// parseSegmentTime parses a timestamp field. It returns the time and the
// field as a JSON string, nil when the field is null or "", or a problem.
func parseSegmentTime(raw []byte) (time.Time, []byte, string) {
	s, kind := jsonScalar(raw)
	switch {
	case kind == segNull || kind == segString && s == "":
		return time.Time{}, nil, ""
	case kind != segString:
		return time.Time{}, nil, "must be an RFC 3339 timestamp string"
	}
	// RFC3339Nano also parses times without fractional seconds.
	t, err := time.Parse(time.RFC3339Nano, s)
	switch {
	case err != nil:
		return time.Time{}, nil, "not an RFC 3339 timestamp"
	case t.UTC().Year() < 1 || t.UTC().Year() > 9999:
		return time.Time{}, nil, "out of range"
	}
	return t, raw, ""
}

// slicesContains reports whether list holds s.
func slicesContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// segMember is one name/value pair of a JSON object, in document order,
// sharing the memory of the text it was split from.
type segMember struct {
	name    string // decoded
	rawName []byte // the JSON string as sent, quotes included
	value   []byte // the JSON value as sent, without surrounding space
	spaced  bool   // value holds insignificant white space
}

// splitObject returns the members of b, which must be well-formed JSON
// (json.Valid). ok is false when b is not an object. It is the fast path
// of the collector: one pass, no copies but decoded names.
func splitObject(b []byte) (members []segMember, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil, true
	}
	members = make([]segMember, 0, 16)
	for i < len(b) && b[i] == '"' {
		end := skipString(b, i)
		m := segMember{rawName: b[i:end]}
		m.name, _ = jsonScalar(m.rawName)
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, false // unreachable for well-formed JSON
		}
		i = skipSpace(b, i+1)
		end, m.spaced = skipValue(b, i)
		m.value = b[i:end]
		members = append(members, m)
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		return members, i < len(b) && b[i] == '}'
	}
	return nil, false // unreachable for well-formed JSON
}

// splitArray returns the elements of b, which must be well-formed JSON,
// stopping after max+1 of them. ok is false when b is not an array.
func splitArray(b []byte, max int) (elems [][]byte, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return nil, true
	}
	for i < len(b) {
		end, _ := skipValue(b, i)
		elems = append(elems, b[i:end])
		if len(elems) > max {
			return elems, true
		}
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		return elems, i < len(b) && b[i] == ']'
	}
	return nil, false // unreachable for well-formed JSON
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just after the JSON string starting at
// b[i].
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index just after the well-formed JSON value
// starting at b[i], and whether the value holds insignificant white space.
func skipValue(b []byte, i int) (end int, spaced bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i), false
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, spaced
				}
			case ' ', '\t', '\n', '\r':
				spaced = true
			}
		}
		return len(b), spaced
	}
	for j := i; j < len(b); j++ {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j, false
		}
	}
	return len(b), false
}

// duplicateName returns the first name that occurs twice in members, ""
// when there is none.
func duplicateName(members []segMember) string {
	if len(members) <= 16 {
		for i := 1; i < len(members); i++ {
			for j := range i {
				if members[i].name == members[j].name {
					return members[i].name
				}
			}
		}
		return ""
	}
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		if seen[m.name] {
			return m.name
		}
		seen[m.name] = true
	}
	return ""
}

// memberValue returns the value of the named member, nil when there is
// none.
func memberValue(members []segMember, name string) []byte {
	for i := range members {
		if members[i].name == name {
			return members[i].value
		}
	}
	return nil
}

// Kinds of JSON value, as jsonScalar reports them.
const (
	segAbsent = iota
	segNull
	segString
	segNumber
	segOther // true, false, object or array
)

// jsonScalar returns the kind of the well-formed JSON value raw (nil for
// an absent one) and, for a string, its value or, for a number, its JSON
// text.
func jsonScalar(raw []byte) (string, int) {
	if len(raw) == 0 {
		return "", segAbsent
	}
	switch c := raw[0]; {
	case c == 'n':
		return "", segNull
	case c == '"':
		if bytes.IndexByte(raw, '\\') < 0 {
			return string(raw[1 : len(raw)-1]), segString
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", segOther // unreachable for well-formed JSON
		}
		return s, segString
	case c == '-' || '0' <= c && c <= '9':
		return string(raw), segNumber
	}
	return "", segOther
}

// isJSONNull reports whether the JSON value raw is null.
func isJSONNull(raw []byte) bool {
	return string(raw) == "null"
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendRawName appends a member's name, after a comma when comma is set.
func appendRawName(dst []byte, comma bool, rawName []byte) []byte {
	if comma {
		dst = append(dst, ',')
	}
	dst = append(dst, rawName...)
	return append(dst, ':')
}

// appendMember appends m with its value compacted, after a comma when
// comma is set.
func appendMember(dst []byte, comma bool, m segMember) []byte {
	dst = appendRawName(dst, comma, m.rawName)
	if m.spaced {
		return appendCompact(dst, m.value)
	}
	return append(dst, m.value...)
}

// appendCompact appends the well-formed JSON value src without its
// insignificant white space.
func appendCompact(dst, src []byte) []byte {
	inString := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			dst = append(dst, c)
			if c == '\\' && i+1 < len(src) {
				i++
				dst = append(dst, src[i])
			} else if c == '"' {
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inString = true
		}
		dst = append(dst, c)
	}
	return dst
}

// appendMerged appends the member rawName whose value is the object own
// (nil, null or an object) with the members of shared that it lacks: a
// shallow merge in which the message's own keys win.
func appendMerged(dst, rawName, own []byte, shared []segMember) []byte {
	dst = appendRawName(dst, len(dst) > 1, rawName)
	var ms []segMember
	if own != nil && !isJSONNull(own) {
		ms, _ = splitObject(own)
	}
	has := func(name string) bool { return memberValue(ms, name) != nil }
	if len(ms) > 16 && len(shared) > 1 {
		set := make(map[string]bool, len(ms))
		for _, m := range ms {
			set[m.name] = true
		}
		has = func(name string) bool { return set[name] }
	}
	dst = append(dst, '{')
	n := 0
	for _, m := range ms {
		dst = appendMember(dst, n > 0, m)
		n++
	}
	for _, m := range shared {
		if !has(m.name) {
			dst = appendMember(dst, n > 0, m)
			n++
		}
	}
	return append(dst, '}')
}

// Bounds of the JSON numbers that PostgreSQL's numeric type, behind jsonb,
// accepts on every supported version.
const (
	maxNumberLen      = 1000
	maxNumberExponent = 1000
)

// unstorableJSON returns why PostgreSQL's jsonb would refuse the valid JSON
// text b, "" when it would not: a \u0000 escape, an unpaired surrogate
// escape, or a number out of the range of numeric. SQLite stores such text,
// so the collector refuses it on either database.
func unstorableJSON(b []byte) string {
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '"':
				inString = false
			case '\\':
				i++
				if i >= len(b) || b[i] != 'u' {
					continue
				}
				r, ok := hex4(b, i+1)
				if !ok {
					return "" // unreachable for valid JSON
				}
				i += 4
				switch {
				case r == 0:
					return `contains \u0000, which cannot be stored`
				case 0xdc00 <= r && r <= 0xdfff:
					return "contains an unpaired surrogate escape"
				case 0xd800 <= r && r <= 0xdbff:
					if i+2 >= len(b) || b[i+1] != '\\' || b[i+2] != 'u' {
						return "contains an unpaired surrogate escape"
					}
					if low, ok := hex4(b, i+3); !ok || low < 0xdc00 || low > 0xdfff {
						return "contains an unpaired surrogate escape"
					}
					i += 6
				}
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
		case c == '-' || '0' <= c && c <= '9':
			j := i
			for j < len(b) && strings.IndexByte("+-.0123456789eE", b[j]) >= 0 {
				j++
			}
			if msg := unstorableNumber(b[i:j]); msg != "" {
				return msg
			}
			i = j - 1
		}
	}
	return ""
}

// unstorableNumber returns why PostgreSQL's numeric would refuse the JSON
// number n, "" when it would not.
func unstorableNumber(n []byte) string {
	if len(n) > maxNumberLen {
		return fmt.Sprintf("holds a number longer than %d characters", maxNumberLen)
	}
	if e := bytes.IndexAny(n, "eE"); e >= 0 {
		exp, err := strconv.Atoi(strings.TrimPrefix(string(n[e+1:]), "+"))
		if err != nil || exp > maxNumberExponent || exp < -maxNumberExponent {
			return fmt.Sprintf("holds a number with an exponent beyond ±%d", maxNumberExponent)
		}
	}
	return ""
}

// hex4 decodes the four hexadecimal digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		v, ok := unhex(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// randomMessageID returns a random (version 4) UUID.
func randomMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// GunzipLimited decompresses the gzip stream r (one or more members) and
// returns at most limit bytes. It fails with ETOOLARGE when the
// decompressed data exceeds limit, which guards against zip bombs, or when
// r fails with *http.MaxBytesError (the compressed body was too large),
// and with EINVALID when the stream is not valid gzip. Other errors of r
// (a broken connection) are returned wrapped.
func GunzipLimited(r io.Reader, limit int64) ([]byte, error) {
	src := &errRecorder{r: r}
	corrupt := func(err error) error {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(src.err, &tooLarge):
			return lianlu.Errorf(lianlu.ETOOLARGE, "compressed body larger than %d bytes", tooLarge.Limit)
		case src.err != nil:
			return fmt.Errorf("gunzip: %w", src.err)
		}
		return lianlu.Errorf(lianlu.EINVALID, "malformed gzip body: %s", gzipError(err))
	}
	zr, err := gzip.NewReader(src)
	if err != nil {
		return nil, corrupt(err)
	}
	defer zr.Close()
	if limit < 0 {
		limit = 0
	}
	n := limit + 1
	if n < 0 {
		n = limit // limit is math.MaxInt64
	}
	data, err := io.ReadAll(io.LimitReader(zr, n))
	if err != nil {
		return nil, corrupt(err)
	}
	if int64(len(data)) > limit {
		return nil, lianlu.Errorf(lianlu.ETOOLARGE, "decompressed body larger than %d bytes", limit)
	}
	return data, nil
}

// gzipError returns client-safe text for an error of compress/gzip.
func gzipError(err error) string {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of data"
	case errors.Is(err, gzip.ErrHeader):
		return "invalid header"
	case errors.Is(err, gzip.ErrChecksum):
		return "checksum mismatch"
	}
	return "corrupt data"
}

// errRecorder remembers the first error of r other than io.EOF, so that a
// failure of the source is not mistaken for corrupt data.
type errRecorder struct {
	r   io.Reader
	err error
}

// Read implements io.Reader.
func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// HasSegmentMessageID reports whether the well-formed JSON object msg has
// a top-level messageId member, whatever its value. Bulk import gives the
// messages without one a stable id, so that a resumed import stores them
// once.
func HasSegmentMessageID(msg []byte) bool {
	members, ok := splitObject(msg)
	return ok && memberValue(members, "messageId") != nil
}

// IsCloudEvent reports whether the well-formed JSON object msg is a
// CloudEvent (it has a top-level specversion) rather than a Segment
// message: the per-line detection of bulk import.
func IsCloudEvent(msg []byte) bool {
	members, ok := splitObject(msg)
	return ok && memberValue(members, "specversion") != nil
}
