// Package collect turns the wire formats in which other systems send events
// to Lianlu into lianlu.Event values. It only decodes and checks the
// envelope: defaults (time, department) and the limits of the event log are
// applied by the caller and the store.
package collect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lianlu/lianlu"
)

// Media types of the CloudEvents JSON event formats.
const (
	CloudEventsJSONType      = "application/cloudevents+json"
	CloudEventsBatchJSONType = "application/cloudevents-batch+json"
)

// DefaultMaxCloudEvents is the batch size used when
// CloudEventsOptions.MaxEvents is not positive.
const DefaultMaxCloudEvents = 1000

// specVersion is the only CloudEvents version Lianlu accepts.
const specVersion = "1.0"

// CloudEventsOptions holds the limits of DecodeCloudEvents.
type CloudEventsOptions struct {
	// MaxEvents caps the number of events in one batch request. Zero or less
	// means DefaultMaxCloudEvents.
	MaxEvents int
}

// unsupportedModeHint ends the message of every request that is not a
// CloudEvents request at all.
const unsupportedModeHint = "use application/cloudevents+json, application/cloudevents-batch+json or binary mode with ce-* headers"

// DecodeCloudEvents reads one HTTP request body carrying CloudEvents 1.0 in
// structured mode (Content-Type application/cloudevents+json), batch mode
// (application/cloudevents-batch+json) or binary mode (a ce-specversion
// header; attributes in ce-* headers, the body is the data).
//
// It returns at least one event or an error, never both: EUNSUPPORTED when
// the request is not a CloudEvents request, uses another event format or, in
// binary mode, carries data that is not JSON; EINVALID when the body is not
// well-formed JSON, a batch is empty or holds more than opts.MaxEvents
// events, or any attribute is missing or wrong. Field errors of every event
// are collected into one EINVALID error; in a batch their names are
// prefixed with the event's index, as in "[3].id".
//
// The events carry the attributes as sent: Seq, RecordedAt and, when
// absent, Time and Department are left zero for the caller to fill. The
// extensions department, correlationid and causationid map to the Event
// fields of the same meaning; the actor extension is only what the sender
// claims and maps to ClaimedActor (the caller sets Actor from the
// credential). Other extension attributes (including seq, recordedat and
// claimedactor, which NewCloudEvent writes) are checked for their type and
// then ignored.
//
// Bodies nested deeper than MaxJSONDepth are refused (EINVALID naming
// where), before any JSON decoder reads them.
func DecodeCloudEvents(header http.Header, body []byte, opts CloudEventsOptions) ([]lianlu.Event, error) {
	maxEvents := opts.MaxEvents
	if maxEvents <= 0 {
		maxEvents = DefaultMaxCloudEvents
	}

	contentType, err := singleHeader(header, "Content-Type")
	if err != nil {
		return nil, err
	}
	var mediaType string
	var params map[string]string
	if contentType != "" {
		mediaType, params, err = mime.ParseMediaType(contentType)
		if err != nil {
			mediaType = ""
		}
	}

	switch {
	case mediaType == CloudEventsJSONType:
		if err := checkCharset(contentType, params); err != nil {
			return nil, err
		}
		if !utf8.Valid(body) {
			return nil, notUTF8("body")
		}
		if err := CheckJSONDepth(body, MaxJSONDepth, ""); err != nil {
			return nil, err
		}
		return decodeStructured(body)
	case mediaType == CloudEventsBatchJSONType:
		if err := checkCharset(contentType, params); err != nil {
			return nil, err
		}
		if !utf8.Valid(body) {
			return nil, notUTF8("body")
		}
		if err := CheckJSONDepth(body, MaxJSONDepth, ""); err != nil {
			return nil, err
		}
		return decodeBatch(body, maxEvents)
	case strings.HasPrefix(mediaType, "application/cloudevents"):
		// The prefix marks structured mode in another event format, such as
		// application/cloudevents+avro: not binary mode, whatever the headers.
		return nil, lianlu.Errorf(lianlu.EUNSUPPORTED, "event format %q is not supported; %s", mediaType, unsupportedModeHint)
	case hasHeader(header, "ce-specversion"):
		return decodeBinary(header, contentType, mediaType, params, body)
	case contentType == "":
		return nil, lianlu.Errorf(lianlu.EUNSUPPORTED, "missing Content-Type; %s", unsupportedModeHint)
	default:
		return nil, lianlu.Errorf(lianlu.EUNSUPPORTED, "content type %q is not a CloudEvents request; %s", contentType, unsupportedModeHint)
	}
}

// notUTF8 reports a body that is not UTF-8. encoding/json would let such
// bytes through inside strings and raw values, and the store's JSON columns
// would reject them later.
func notUTF8(field string) error {
	return lianlu.Invalid(lianlu.FieldError{Field: field, Message: "malformed JSON: not valid UTF-8"})
}

// checkCharset rejects a charset other than UTF-8: JSON is UTF-8 (RFC 8259).
func checkCharset(contentType string, params map[string]string) error {
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return lianlu.Errorf(lianlu.EUNSUPPORTED, "content type %q: only the UTF-8 charset is supported", contentType)
	}
	return nil
}

// decodeStructured decodes one event in the JSON event format.
func decodeStructured(body []byte) ([]lianlu.Event, error) {
	members, err := readObject(body)
	if err != nil {
		return nil, lianlu.Invalid(lianlu.FieldError{Field: "body", Message: "malformed JSON: " + err.Error()})
	}
	fe := fieldErrors{}
	e := structuredEvent(members, &fe)
	if len(fe.list) > 0 {
		return nil, lianlu.Invalid(fe.list...)
	}
	return []lianlu.Event{e}, nil
}

// decodeBatch decodes a JSON array of events in the JSON event format. It
// stops reading at the first event beyond maxEvents.
func decodeBatch(body []byte, maxEvents int) ([]lianlu.Event, error) {
	malformed := func(err error) error {
		return lianlu.Invalid(lianlu.FieldError{Field: "body", Message: "malformed JSON: " + err.Error()})
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil {
		return nil, malformed(jsonError(err))
	} else if tok != json.Delim('[') {
		return nil, malformed(errors.New("expected a JSON array of events"))
	}
	var raws []json.RawMessage
	for dec.More() {
		if len(raws) == maxEvents {
			return nil, lianlu.Invalid(lianlu.FieldError{
				Field:   "body",
				Message: fmt.Sprintf("a batch holds at most %d events", maxEvents),
			})
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, malformed(jsonError(err))
		}
		raws = append(raws, raw)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, malformed(jsonError(err))
	}
	if err := expectEOF(dec); err != nil {
		return nil, malformed(err)
	}
	if len(raws) == 0 {
		// The JSON Batch format allows an empty array, but a request that
		// stores nothing is almost always a client bug.
		return nil, lianlu.Invalid(lianlu.FieldError{Field: "body", Message: "a batch needs at least one event"})
	}

	events := make([]lianlu.Event, len(raws))
	var all []lianlu.FieldError
	for i, raw := range raws {
		fe := fieldErrors{prefix: "[" + strconv.Itoa(i) + "]"}
		members, err := readObject(raw)
		if err != nil {
			// raw is well-formed JSON, so the only failure is its kind.
			fe.add("", "must be a JSON object")
		} else {
			events[i] = structuredEvent(members, &fe)
		}
		all = append(all, fe.list...)
	}
	if len(all) > 0 {
		return nil, lianlu.Invalid(all...)
	}
	return events, nil
}

// decodeBinary decodes an event in binary mode: attributes from the ce-*
// headers and the body as its data, of the type in the Content-Type header.
func decodeBinary(header http.Header, contentType, mediaType string, params map[string]string, body []byte) ([]lianlu.Event, error) {
	if len(body) > 0 {
		if contentType == "" {
			return nil, lianlu.Errorf(lianlu.EUNSUPPORTED, "missing Content-Type of the event data; binary mode supports only JSON data (application/json or a +json type)")
		}
		if !isJSONMediaType(mediaType) {
			return nil, lianlu.Errorf(lianlu.EUNSUPPORTED, "content type %q is not supported in binary mode; send JSON data (application/json or a +json type)", contentType)
		}
		if err := checkCharset(contentType, params); err != nil {
			return nil, err
		}
	}

	fe := fieldErrors{}
	attrs := map[string]attribute{}
	// Header names are case-insensitive and a header map built by hand
	// need not be canonical, so collect every spelling of each ce-* name.
	values := map[string][]string{}
	for key, vs := range header {
		lk := strings.ToLower(key)
		if name, ok := strings.CutPrefix(lk, "ce-"); ok {
			values[name] = append(values[name], vs...)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		vs := values[name]
		switch {
		case !isAttributeName(name):
			fe.add(name, "not a valid CloudEvents attribute name")
			continue
		case name == "data":
			fe.add(name, "in binary mode the data is the request body")
			continue
		case name == "datacontenttype":
			fe.add(name, "in binary mode the data content type is the Content-Type header")
			continue
		case len(vs) != 1:
			fe.add(name, "must be given once")
			attrs[name] = attribute{kind: kindReported}
			continue
		}
		v, err := decodeHeaderValue(vs[0])
		if err != nil {
			fe.add(name, err.Error())
			attrs[name] = attribute{kind: kindReported}
			continue
		}
		attrs[name] = attribute{kind: kindString, value: v}
	}

	e := eventFromAttributes(attrs, &fe)
	if len(body) > 0 {
		var buf bytes.Buffer
		if !utf8.Valid(body) {
			fe.add("data", "malformed JSON: not valid UTF-8")
		} else if err := CheckJSONDepth(body, MaxJSONDepth, "data"); err != nil {
			fe.list = append(fe.list, lianlu.ErrorFields(err)...)
		} else if err := json.Compact(&buf, body); err != nil {
			fe.add("data", "malformed JSON")
		} else {
			e.Data = json.RawMessage(buf.Bytes())
		}
	}
	if len(fe.list) > 0 {
		return nil, lianlu.Invalid(fe.list...)
	}
	return []lianlu.Event{e}, nil
}

// singleHeader returns the one value of the named header in any spelling,
// "" when it is absent, and EINVALID when it is given more than once.
func singleHeader(header http.Header, name string) (string, error) {
	var values []string
	for key, vs := range header {
		if strings.EqualFold(key, name) {
			values = append(values, vs...)
		}
	}
	switch len(values) {
	case 0:
		return "", nil
	case 1:
		return strings.TrimSpace(values[0]), nil
	default:
		return "", lianlu.Invalid(lianlu.FieldError{Field: name, Message: "must be given once"})
	}
}

// hasHeader reports whether the named header is present in any spelling.
func hasHeader(header http.Header, name string) bool {
	for key := range header {
		if strings.EqualFold(key, name) {
			return true
		}
	}
	return false
}

// decodeHeaderValue decodes a binary-mode header value as the CloudEvents
// HTTP binding requires: trim whitespace, unquote an RFC 7230
// quoted-string, then one round of percent-decoding whose result must be
// UTF-8. Unlike URL query decoding, '+' stays a plus sign.
func decodeHeaderValue(v string) (string, error) {
	v = strings.Trim(v, " \t")
	if strings.HasPrefix(v, `"`) {
		var b strings.Builder
		closed := false
		for i := 1; i < len(v); i++ {
			c := v[i]
			if c == '\\' && i+1 < len(v) {
				i++
				b.WriteByte(v[i])
			} else if c == '"' {
				if i != len(v)-1 {
					return "", errors.New("malformed quoted string")
				}
				closed = true
			} else {
				b.WriteByte(c)
			}
		}
		if !closed {
			return "", errors.New("malformed quoted string")
		}
		v = b.String()
	}
	if !strings.Contains(v, "%") {
		if !utf8.ValidString(v) {
			return "", errors.New("not valid UTF-8")
		}
		return v, nil
	}
	buf := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			buf = append(buf, v[i])
			continue
		}
		if i+2 >= len(v) {
			return "", errors.New("malformed percent-encoding")
		}
		hi, ok1 := unhex(v[i+1])
		lo, ok2 := unhex(v[i+2])
		if !ok1 || !ok2 {
			return "", errors.New("malformed percent-encoding")
		}
		buf = append(buf, hi<<4|lo)
		i += 2
	}
	if !utf8.Valid(buf) {
		return "", errors.New("percent-encoded bytes are not valid UTF-8")
	}
	return string(buf), nil
}

// unhex returns the value of one hexadecimal digit of either case.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// member is one name/value pair of a JSON object, in document order.
type member struct {
	name  string
	value json.RawMessage
}

// readObject parses data as exactly one JSON object and returns its
// members. Unlike json.Unmarshal into a struct, names keep their case, so
// "ID" is not taken for "id", and duplicates are kept for the caller to
// reject.
func readObject(data []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(err)
	}
	if tok != json.Delim('{') {
		return nil, errors.New("expected a JSON object")
	}
	var members []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("expected an object member name")
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, jsonError(err)
		}
		members = append(members, member{name: name, value: value})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, jsonError(err)
	}
	if err := expectEOF(dec); err != nil {
		return nil, err
	}
	return members, nil
}

// expectEOF reports an error when anything but whitespace follows the
// value dec has read.
func expectEOF(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// jsonError turns a decoding error into client-safe text with the offset
// of the problem when known.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("unexpected end of input")
	case errors.As(err, &syntax):
		return fmt.Errorf("%s at byte %d", strings.TrimPrefix(syntax.Error(), "json: "), syntax.Offset)
	default:
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
}

// Kinds of attribute value.
const (
	kindString = iota + 1
	kindNumber
	kindBool
	kindComposite // object or array: no CloudEvents type maps to it
	kindReported  // a problem already reported, such as bad percent-encoding
)

// attribute is one context attribute as sent, before it is checked.
type attribute struct {
	kind  int
	value string // the decoded text of a string
}

// structuredEvent checks the members of one JSON-format event and maps
// them to an Event, adding problems to fe.
func structuredEvent(members []member, fe *fieldErrors) lianlu.Event {
	attrs := map[string]attribute{}
	seen := map[string]bool{}
	var data json.RawMessage
	var dataContentType *attribute
	for _, m := range members {
		if seen[m.name] {
			fe.add(m.name, "duplicate attribute")
			continue
		}
		seen[m.name] = true
		value := bytes.TrimSpace(m.value)
		if len(value) == 0 {
			continue // unreachable: the decoder returns whole values
		}
		switch {
		case m.name == "data":
			var buf bytes.Buffer
			if err := json.Compact(&buf, value); err != nil {
				fe.add("data", "malformed JSON") // unreachable: the decoder checked it
				continue
			}
			data = json.RawMessage(buf.Bytes())
			continue
		case m.name == "data_base64":
			fe.add(m.name, "binary data is not supported; send JSON data")
			continue
		case !isAttributeName(m.name):
			fe.add(m.name, "not a valid CloudEvents attribute name")
			continue
		}
		var a attribute
		switch value[0] {
		case 'n':
			continue // null: the attribute is unset
		case '"':
			var s string
			if err := json.Unmarshal(value, &s); err != nil {
				fe.add(m.name, "malformed JSON string") // unreachable: the decoder checked it
				attrs[m.name] = attribute{kind: kindReported}
				continue
			}
			a = attribute{kind: kindString, value: s}
		case 't', 'f':
			a = attribute{kind: kindBool}
		case '{', '[':
			a = attribute{kind: kindComposite}
		default:
			a = attribute{kind: kindNumber}
		}
		if m.name == "datacontenttype" {
			dataContentType = &a
			continue
		}
		attrs[m.name] = a
	}

	e := eventFromAttributes(attrs, fe)
	if dataContentType != nil {
		switch mt, _, err := mime.ParseMediaType(dataContentType.value); {
		case dataContentType.kind != kindString:
			fe.add("datacontenttype", "must be a string")
		case err != nil:
			fe.add("datacontenttype", "not a valid media type")
		case !isJSONMediaType(mt):
			fe.add("datacontenttype", "must be a JSON media type (application/json or a +json type); structured mode carries only JSON data")
		}
	}
	e.Data = data
	return e
}

// eventFromAttributes checks the context attributes of one event, whichever
// mode carried them, and maps them to an Event, adding problems to fe.
func eventFromAttributes(attrs map[string]attribute, fe *fieldErrors) lianlu.Event {
	var e lianlu.Event

	// str returns the string value of the named attribute, "" when it is
	// absent or wrong, in which case a problem is added if required.
	str := func(name string, required bool) string {
		a, ok := attrs[name]
		delete(attrs, name)
		switch {
		case !ok:
			if required {
				fe.add(name, "required")
			}
			return ""
		case a.kind == kindReported:
			return ""
		case a.kind != kindString:
			fe.add(name, "must be a string")
			return ""
		case a.value == "" && required:
			fe.add(name, "required")
			return ""
		case hasControl(a.value):
			fe.add(name, "must not contain control characters")
			return ""
		}
		return a.value
	}
	// nonEmpty is str for optional attributes that the spec requires to be
	// non-empty when present.
	nonEmpty := func(name string) string {
		a, present := attrs[name]
		v := str(name, false)
		if present && a.kind == kindString && a.value == "" {
			fe.add(name, "must not be empty")
		}
		return v
	}

	if v, present := attrs["specversion"]; present && v.kind == kindString && v.value != "" && v.value != specVersion {
		delete(attrs, "specversion")
		fe.add("specversion", "must be "+specVersion)
	} else {
		str("specversion", true)
	}
	e.ID = str("id", true)
	e.Source = str("source", true)
	e.Type = str("type", true)
	e.Subject = nonEmpty("subject")
	e.DataSchema = nonEmpty("dataschema")
	if _, present := attrs["time"]; present {
		if s := nonEmpty("time"); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				fe.add("time", "not an RFC 3339 timestamp")
			} else if t = t.UTC(); t.Year() < 1 || t.Year() > 9999 {
				fe.add("time", "out of range")
			} else {
				e.Time = t
			}
		}
	}
	// Extensions have no non-empty rule; an empty one is as good as absent.
	e.Department = str("department", false)
	e.ClaimedActor = str("actor", false)
	e.CorrelationID = str("correlationid", false)
	e.CausationID = str("causationid", false)

	// Other extensions are ignored, but their values must still map to a
	// CloudEvents type.
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		if attrs[name].kind == kindComposite {
			fe.add(name, "must be a string, number or boolean")
		}
	}
	return e
}

// isAttributeName reports whether name is a valid CloudEvents attribute
// name: one or more lowercase ASCII letters or digits.
func isAttributeName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// isJSONMediaType reports whether mediaType, lowercase and without
// parameters, declares JSON content: */json or */*+json, as the CloudEvents
// JSON format defines it.
func isJSONMediaType(mediaType string) bool {
	_, sub, ok := strings.Cut(mediaType, "/")
	return ok && (sub == "json" || len(sub) > len("+json") && strings.HasSuffix(sub, "+json"))
}

// hasControl reports whether s holds a character the CloudEvents String
// type forbids: U+0000-U+001F or U+007F-U+009F.
func hasControl(s string) bool {
	for _, r := range s {
		if r <= 0x1f || 0x7f <= r && r <= 0x9f {
			return true
		}
	}
	return false
}

// fieldErrors collects field problems of one event, prefixing names with
// the event's position in a batch.
type fieldErrors struct {
	prefix string // "[3]" in a batch, "" otherwise
	list   []lianlu.FieldError
}

// add records a problem with field; an empty field names the whole event.
func (f *fieldErrors) add(field, message string) {
	switch {
	case f.prefix == "":
	case field == "":
		field = f.prefix
	default:
		field = f.prefix + "." + field
	}
	f.list = append(f.list, lianlu.FieldError{Field: field, Message: message})
}

// CloudEvent is a lianlu.Event in the CloudEvents 1.0 JSON event format,
// ready for json.Marshal. Besides the core attributes it carries Lianlu's
// envelope as extension attributes, and DecodeCloudEvents reads it back
// (ignoring seq and recordedat, which only the store assigns).
type CloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time,omitzero"`
	DataSchema      string          `json:"dataschema,omitempty"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	// Seq is the event's position on Lianlu's log.
	Seq int64 `json:"seq,omitzero"`
	// RecordedAt is when Lianlu stored the event.
	RecordedAt time.Time `json:"recordedat,omitzero"`
	Department string    `json:"department,omitempty"`
	// Actor is who acted, in the words of the Lianlu that stored the event.
	Actor string `json:"actor,omitempty"`
	// ClaimedActor is the actor the event's sender named itself.
	ClaimedActor  string `json:"claimedactor,omitempty"`
	CorrelationID string `json:"correlationid,omitempty"`
	CausationID   string `json:"causationid,omitempty"`
}

// NewCloudEvent returns e as a structured CloudEvent: specversion 1.0, times
// in UTC (marshalled as RFC 3339 with nanoseconds), datacontenttype
// application/json when e has data, and empty attributes omitted.
func NewCloudEvent(e lianlu.Event) CloudEvent {
	ce := CloudEvent{
		SpecVersion:   specVersion,
		ID:            e.ID,
		Source:        e.Source,
		Type:          e.Type,
		Subject:       e.Subject,
		DataSchema:    e.DataSchema,
		Data:          e.Data,
		Seq:           e.Seq,
		Department:    e.Department,
		Actor:         e.Actor,
		ClaimedActor:  e.ClaimedActor,
		CorrelationID: e.CorrelationID,
		CausationID:   e.CausationID,
	}
	if !e.Time.IsZero() {
		ce.Time = e.Time.UTC()
	}
	if !e.RecordedAt.IsZero() {
		ce.RecordedAt = e.RecordedAt.UTC()
	}
	if len(e.Data) > 0 {
		ce.DataContentType = "application/json"
	}
	return ce
}
