package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
)

// Erasure (PIPL art. 47) replaces a member's personal information by the
// lianlu.Erased tombstone wherever Lianlu keeps it, in state and in the
// data of the log's events, and keeps every row and every event with its
// seq, type, time and department, so that counts, funnels and the KPI
// clocks stay true.
//
// What is personal is decided two ways. Keys: in the events and records
// that are hers (subjects member/…, her orders, fulfillments, work orders,
// feedback, requests and collector identities, and the shop or POS events
// her orders came from), values under personal keys (phone, email, name,
// address, ship_to, traits, tags, lat/lng, ip, notes, comments …) are replaced
// whatever they are. Values: anywhere in those, and in any other event,
// delivery or stored response that carries one of her identifiers (a
// phone, an email, a collector or WeChat id), her known values (contacts,
// identifiers, names and addresses from her orders and profile) are cut
// out of the strings that hold them. The log is searched for her
// identifiers once, on the read pool, before the writing transaction,
// which then searches only what was appended meanwhile.

// personalKeys are the keys whose values are personal wherever they occur
// in her records, compared in lower case without _ and -; an object or
// array under one is personal throughout.
var personalKeys = map[string]bool{
	"phone": true, "mobile": true, "mobilephone": true, "tel": true, "telephone": true, "email": true,
	"name": true, "firstname": true, "lastname": true, "fullname": true, "nickname": true, "realname": true,
	"address": true, "address1": true, "address2": true, "street": true, "streetaddress": true, "city": true, "district": true,
	"postcode": true, "postalcode": true, "zip": true, "zipcode": true,
	"lat": true, "lng": true, "lon": true, "latitude": true, "longitude": true, "ip": true,
	"note": true, "text": true, "comment": true, "resolutionnote": true,
	"birthday": true, "birthdate": true, "idcard": true, "idnumber": true, "avatar": true,
	"traits": true, "tags": true, "shipto": true, "contact": true, "billingaddress": true, "shippingaddress": true,
}

var keySeparators = strings.NewReplacer("_", "", "-", "")

func normKey(k string) string { return keySeparators.Replace(strings.ToLower(k)) }

// scrubber replaces one member's personal values.
type scrubber struct {
	// values are cut out of strings, longest first, ignoring case (an
	// email or a name may be spelt in another case elsewhere).
	values []string
	re     *regexp.Regexp
	// phones are her numbers in E.164: a run of digits that reads as one
	// of them in any format (138 0013 8000, +86-138…) is replaced.
	phones map[string]bool
	region string
}

// phoneRunRe finds runs that may be phone numbers inside text.
var phoneRunRe = regexp.MustCompile(`\+?\d[\d \-().]{5,30}\d`)

// minValueRunes is the shortest value cut out of strings: shorter ones
// (an initial, a one-character name) would cut into unrelated text.
const minValueRunes = 2

func newScrubber(region string) *scrubber {
	return &scrubber{phones: map[string]bool{}, region: region}
}

// add records personal values.
func (s *scrubber) add(vs ...string) {
	for _, v := range vs {
		v = strings.TrimSpace(v)
		if utf8.RuneCountInString(v) < minValueRunes || v == lianlu.Erased || slices.Contains(s.values, v) {
			continue
		}
		s.values = append(s.values, v)
	}
}

// addPhone records a phone number in its stored and national forms.
func (s *scrubber) addPhone(raw string) {
	e164, err := NormalizePhone(strings.TrimSpace(raw), s.region)
	if err != nil {
		s.add(raw)
		return
	}
	s.phones[e164] = true
	s.add(raw, e164)
	if n, err := phonenumbers.Parse(e164, ""); err == nil {
		s.add(phonenumbers.GetNationalSignificantNumber(n))
	}
}

// addPersonal records the string values under personal keys of a JSON
// value (traits, a ship-to address).
func (s *scrubber) addPersonal(v any, personal bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			s.addPersonal(c, personal || personalKeys[normKey(k)])
		}
	case []any:
		for _, c := range v {
			s.addPersonal(c, personal)
		}
	case string:
		if !personal {
			return
		}
		if looksLikePhone(v) {
			s.addPhone(v)
		} else {
			s.add(v)
		}
	}
}

// compile orders the values and builds their matcher; call it once all
// are added.
func (s *scrubber) compile() {
	slices.SortFunc(s.values, func(a, b string) int { return len(b) - len(a) })
	if len(s.values) == 0 {
		s.re = nil
		return
	}
	quoted := make([]string, len(s.values))
	for i, v := range s.values {
		quoted[i] = regexp.QuoteMeta(v)
	}
	// Leftmost-first alternation of the longest values first.
	s.re = regexp.MustCompile(`(?i)(?:` + strings.Join(quoted, "|") + `)`)
}

// looksLikePhone is a cheap test before parsing a string as a number.
func looksLikePhone(v string) bool {
	if len(v) > 32 {
		return false
	}
	digits := 0
	for _, r := range v {
		switch {
		case unicode.IsDigit(r):
			digits++
		case strings.ContainsRune(" +-().", r):
		default:
			return false
		}
	}
	return digits >= 7
}

// text returns v with her values cut out.
func (s *scrubber) text(v string) (string, bool) {
	if v == "" || v == lianlu.Erased {
		return v, false
	}
	if looksLikePhone(v) {
		if p, err := NormalizePhone(strings.TrimSpace(v), s.region); err == nil && s.phones[p] {
			return lianlu.Erased, true
		}
	}
	out := v
	if s.re != nil {
		out = s.re.ReplaceAllLiteralString(out, lianlu.Erased)
	}
	if len(s.phones) > 0 {
		out = phoneRunRe.ReplaceAllStringFunc(out, func(run string) string {
			if p, err := NormalizePhone(strings.TrimSpace(run), s.region); err == nil && s.phones[p] {
				return lianlu.Erased
			}
			return run
		})
	}
	return out, out != v
}

// erase returns the tombstone of a personal value: strings become
// lianlu.Erased, numbers null, objects and arrays are erased throughout;
// booleans and nulls stay.
func erase(v any) (any, bool) {
	switch v := v.(type) {
	case map[string]any:
		changed := false
		for k, c := range v {
			n, ch := erase(c)
			v[k], changed = n, changed || ch
		}
		return v, changed
	case []any:
		changed := false
		for i, c := range v {
			n, ch := erase(c)
			v[i], changed = n, changed || ch
		}
		return v, changed
	case string:
		if v == "" || v == lianlu.Erased {
			return v, false
		}
		return lianlu.Erased, true
	case json.Number:
		return nil, true
	}
	return v, false
}

// walk scrubs a decoded JSON value: with keys, values under personal keys
// are erased whole; every string has her values cut out.
func (s *scrubber) walk(v any, keys bool) (any, bool) {
	switch v := v.(type) {
	case map[string]any:
		changed := false
		for k, c := range v {
			var n any
			var ch bool
			if keys && personalKeys[normKey(k)] {
				n, ch = erase(c)
			} else {
				n, ch = s.walk(c, keys)
			}
			v[k], changed = n, changed || ch
		}
		return v, changed
	case []any:
		changed := false
		for i, c := range v {
			n, ch := s.walk(c, keys)
			v[i], changed = n, changed || ch
		}
		return v, changed
	case string:
		return s.text(v)
	}
	return v, false
}

// decodeJSON reads JSON keeping numbers exact.
func decodeJSONValue(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func encodeJSONValue(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// json scrubs a JSON document (see walk); it returns b unchanged when
// nothing personal is in it. A document that is not JSON is scrubbed as
// text.
func (s *scrubber) json(b []byte, keys bool) ([]byte, bool, error) {
	if len(b) == 0 {
		return b, false, nil
	}
	v, err := decodeJSONValue(b)
	if err != nil {
		t, ch := s.text(string(b))
		return []byte(t), ch, nil
	}
	v, changed := s.walk(v, keys)
	if !changed {
		return b, false, nil
	}
	out, err := encodeJSONValue(v)
	return out, true, err
}

// bytes cuts her values out of an opaque stored body.
func (s *scrubber) bytes(b []byte) ([]byte, bool) {
	if s.re == nil {
		return b, false
	}
	out := s.re.ReplaceAllLiteral(b, []byte(lianlu.Erased))
	return out, !bytes.Equal(out, b)
}

// erasure is what one erasure knows about her.
type erasure struct {
	records memberRecords
	members []lianlu.Member
	scrub   *scrubber
	// identifiers are the values the whole log is searched for: unique to
	// her (phones, emails, collector and WeChat ids).
	identifiers []string
}

// onSiteAddress is the address part of an on-site request's generated
// title ("On-site install · 88 Nanjing Road").
func onSiteAddress(title string) string {
	if _, addr, ok := strings.Cut(title, " · "); ok {
		return addr
	}
	return ""
}

// gatherErasureTx collects her records and personal values.
func gatherErasureTx(ctx context.Context, tx *Tx, id int64) (erasure, error) {
	var x erasure
	var err error
	if x.records, err = memberRecordsTx(ctx, tx, id); err != nil {
		return x, err
	}
	x.scrub = newScrubber(tx.db.phoneRegion)
	for _, mid := range x.records.members {
		m, err := FindMemberTx(ctx, tx, mid)
		if err != nil {
			return x, err
		}
		x.members = append(x.members, m)
		if m.Phone != "" {
			x.scrub.addPhone(m.Phone)
		}
		x.scrub.add(m.Email)
		if len(m.Traits) > 0 {
			if v, err := decodeJSONValue(m.Traits); err == nil {
				x.scrub.addPersonal(v, false)
			}
		}
	}
	for _, i := range x.records.identities {
		if i.Kind == lianlu.IdentityPhone {
			x.scrub.addPhone(i.Value)
		} else {
			x.scrub.add(i.Value)
		}
	}
	for _, oid := range x.records.orders {
		var shipTo []byte
		if err := tx.queryRow(ctx, `SELECT ship_to FROM orders WHERE id = ?`, oid).Scan(&shipTo); err != nil {
			return x, fmt.Errorf("order %d: %w", oid, err)
		}
		if v, err := decodeJSONValue(shipTo); err == nil && shipTo != nil {
			x.scrub.addPersonal(v, true)
		}
	}
	for _, wid := range x.records.workOrders {
		var kind, title string
		if err := tx.queryRow(ctx, `SELECT kind, title FROM work_orders WHERE id = ?`, wid).Scan(&kind, &title); err != nil {
			return x, fmt.Errorf("work order %d: %w", wid, err)
		}
		if kind == lianlu.WorkOrderOnSite {
			x.scrub.add(onSiteAddress(title))
		}
	}
	x.scrub.compile()
	// Identifiers: her contacts and ids, which name nobody else.
	for p := range x.scrub.phones {
		x.identifiers = append(x.identifiers, p)
		if n, err := phonenumbers.Parse(p, ""); err == nil {
			x.identifiers = append(x.identifiers, phonenumbers.GetNationalSignificantNumber(n))
		}
	}
	for _, m := range x.members {
		if m.Email != "" {
			x.identifiers = append(x.identifiers, m.Email)
		}
	}
	for _, i := range x.records.identities {
		if i.Kind != lianlu.IdentityPhone && len(i.Value) >= 6 {
			x.identifiers = append(x.identifiers, i.Value)
		}
	}
	slices.Sort(x.identifiers)
	x.identifiers = slices.Compact(x.identifiers)
	return x, nil
}

// likePattern matches text containing v.
func likePattern(v string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(v) + "%"
}

type queryFunc func(ctx context.Context, query string, args ...any) (*sql.Rows, error)

// seqsContaining returns the seqs in (after, upto] (no upper bound for
// upto 0) of the events whose data contains one of values.
func seqsContaining(ctx context.Context, query queryFunc, values []string, after, upto int64) ([]int64, error) {
	var out []int64
	for start := 0; start < len(values); start += 50 {
		chunk := values[start:min(start+50, len(values))]
		q := `SELECT seq FROM events WHERE seq > ?`
		args := []any{after}
		if upto > 0 {
			q += ` AND seq <= ?`
			args = append(args, upto)
		}
		var likes []string
		for _, v := range chunk {
			likes = append(likes, `LOWER(CAST(data AS TEXT)) LIKE ? ESCAPE '\'`)
			args = append(args, likePattern(strings.ToLower(v)))
		}
		rows, err := query(ctx, q+` AND (`+strings.Join(likes, " OR ")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("search the log: %w", err)
		}
		for rows.Next() {
			var seq int64
			if err := rows.Scan(&seq); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, seq)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("search the log: %w", err)
		}
	}
	return out, nil
}

// businessTypesWithOrders are the outside events that name an order by
// its external id.
var businessTypesWithOrders = []string{collect.TypeShopOrder, collect.TypePOSSale, collect.TypeSurvey}

// seqsOfOrderEvents returns the seqs in (after, upto] of the shop, POS and
// survey events about the orders with externalIDs: the outside facts her
// orders were placed from.
func seqsOfOrderEvents(ctx context.Context, query queryFunc, externalIDs []string, after, upto int64) ([]int64, error) {
	want := map[string]bool{}
	var needles []string
	for _, ext := range externalIDs {
		want[ext] = true
		needle := ext
		if parts := strings.SplitN(ext, "/", 3); len(parts) == 3 && parts[0] == "pos" {
			needle = parts[2] // the sale id; the store is checked below
		}
		needles = append(needles, `"`+needle+`"`)
	}
	var out []int64
	for start := 0; start < len(needles); start += 50 {
		chunk := needles[start:min(start+50, len(needles))]
		q := `SELECT seq, type, data FROM events WHERE type IN (?, ?, ?) AND seq > ?`
		args := []any{businessTypesWithOrders[0], businessTypesWithOrders[1], businessTypesWithOrders[2], after}
		if upto > 0 {
			q += ` AND seq <= ?`
			args = append(args, upto)
		}
		var likes []string
		for _, v := range chunk {
			likes = append(likes, `LOWER(CAST(data AS TEXT)) LIKE ? ESCAPE '\'`)
			args = append(args, likePattern(strings.ToLower(v)))
		}
		rows, err := query(ctx, q+` AND (`+strings.Join(likes, " OR ")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("search the log: %w", err)
		}
		for rows.Next() {
			var seq int64
			var typ string
			var data []byte
			if err := rows.Scan(&seq, &typ, &data); err != nil {
				rows.Close()
				return nil, err
			}
			var d struct {
				OrderID string `json:"order_id"`
				SaleID  string `json:"sale_id"`
				Store   string `json:"store"`
			}
			if json.Unmarshal(data, &d) != nil {
				continue
			}
			ext := d.OrderID
			if typ == collect.TypePOSSale {
				ext = collect.POSExternalID(d.Store, d.SaleID)
			}
			if want[ext] {
				out = append(out, seq)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("search the log: %w", err)
		}
	}
	return out, nil
}

// logMatches are the events found by searching the log for her.
type logMatches struct {
	// upto is the last seq searched.
	upto int64
	// identifiers were searched for.
	identifiers []string
	// byIdentifier hold one of her identifiers; ofOrders are the outside
	// events of her orders.
	byIdentifier []int64
	ofOrders     []int64
}

// searchLog searches the events in (after, upto] for her.
func searchLog(ctx context.Context, query queryFunc, x erasure, after, upto int64) (logMatches, error) {
	lm := logMatches{upto: upto, identifiers: x.identifiers}
	var err error
	if lm.byIdentifier, err = seqsContaining(ctx, query, x.identifiers, after, upto); err != nil {
		return lm, err
	}
	lm.ofOrders, err = seqsOfOrderEvents(ctx, query, x.records.externalIDs, after, upto)
	return lm, err
}

// EraseMember erases a member's personal information; see
// lianlu.PrivacyService.
func (s *PrivacyService) EraseMember(ctx context.Context, id int64) (lianlu.ErasureReport, error) {
	rep := lianlu.ErasureReport{MemberID: id, Members: []int64{}}
	// Search the log on the read pool first: the writing transaction then
	// only searches what was appended meanwhile.
	var pre logMatches
	err := s.db.readTx(ctx, func(tx *Tx) error {
		m, err := FindMemberTx(ctx, tx, id)
		if err != nil || m.MergedInto != 0 || m.ErasedAt != nil {
			return err // decided again below
		}
		x, err := gatherErasureTx(ctx, tx, id)
		if err != nil {
			return err
		}
		var last *int64
		if err := tx.queryRow(ctx, `SELECT MAX(seq) FROM events`).Scan(&last); err != nil {
			return fmt.Errorf("last event: %w", err)
		}
		pre, err = searchLog(ctx, tx.query, x, 0, derefInt(last))
		return err
	})
	if err != nil {
		return rep, err
	}
	err = s.db.WithTx(ctx, func(tx *Tx) error {
		m, err := FindMemberTx(ctx, tx, id)
		if err != nil {
			return err
		}
		switch {
		case m.MergedInto != 0:
			return lianlu.Errorf(lianlu.ECONFLICT, "member %d was merged into member %d; erase that one", id, m.MergedInto)
		case m.ErasedAt != nil:
			rep.AlreadyErased, rep.ErasedAt = true, *m.ErasedAt
			rep.Members = append(rep.Members, id)
			return nil
		}
		x, err := gatherErasureTx(ctx, tx, id)
		if err != nil {
			return err
		}
		rep.Members, rep.ErasedAt = x.records.members, tx.now
		// What was appended since the search, and identifiers that the
		// search did not know (her record changed meanwhile).
		tail, err := searchLog(ctx, tx.query, x, pre.upto, 0)
		if err != nil {
			return err
		}
		var fresh []string
		for _, v := range x.identifiers {
			if !slices.Contains(pre.identifiers, v) {
				fresh = append(fresh, v)
			}
		}
		more, err := seqsContaining(ctx, tx.query, fresh, 0, pre.upto)
		if err != nil {
			return err
		}
		if rep.Events, err = scrubEventsTx(ctx, tx, x, slices.Concat(pre.ofOrders, tail.ofOrders), slices.Concat(pre.byIdentifier, tail.byIdentifier, more)); err != nil {
			return err
		}
		if rep.Deliveries, err = scrubDeliveriesTx(ctx, tx, x); err != nil {
			return err
		}
		if err := scrubIdempotencyTx(ctx, tx, x); err != nil {
			return err
		}
		if err := eraseStateTx(ctx, tx, x, &rep); err != nil {
			return err
		}
		data, _ := json.Marshal(rep)
		var counts map[string]any
		json.Unmarshal(data, &counts)
		delete(counts, "already_erased")
		if _, err := appendCommandEvent(ctx, tx, EventMemberErased, MemberSubject(id), lianlu.PrivacyDepartment, MemberSubject(id)+"/erased", counts); err != nil {
			return err
		}
		return WriteAudit(ctx, tx, "member.erased", "member", strconv.FormatInt(id, 10), lianlu.PrivacyDepartment, counts)
	})
	return rep, err
}

// scrubEventsTx scrubs her events: those about her records and the
// outside events of her orders by key and value, the others that hold one
// of her identifiers by value. Collector events filed under one of her
// identifiers (anon/…, user/…) are filed under her member subject instead.
// It returns how many events changed.
func scrubEventsTx(ctx context.Context, tx *Tx, x erasure, ofOrders, byIdentifier []int64) (int64, error) {
	subjects := x.records.subjects()
	events, err := eventsAboutTx(ctx, tx, subjects)
	if err != nil {
		return 0, err
	}
	keyed, loaded := map[int64]bool{}, map[int64]bool{}
	for _, e := range events {
		keyed[e.Seq], loaded[e.Seq] = true, true
	}
	for _, seq := range ofOrders {
		keyed[seq] = true
	}
	var extra []int64
	for _, seq := range slices.Concat(ofOrders, byIdentifier) {
		if !loaded[seq] {
			loaded[seq] = true
			extra = append(extra, seq)
		}
	}
	for start := 0; start < len(extra); start += subjectChunk {
		in, args := idList(extra[start:min(start+subjectChunk, len(extra))])
		rows, err := tx.query(ctx, `SELECT `+eventColumns+` FROM events WHERE seq IN (`+in+`)`, args...)
		if err != nil {
			return 0, fmt.Errorf("events to erase: %w", err)
		}
		es, err := collectEvents(rows)
		if err != nil {
			return 0, err
		}
		events = append(events, es...)
	}
	refiled := map[string]bool{}
	for _, i := range x.records.identities {
		if p, ok := collectorSubjectPrefixes[i.Kind]; ok && i.Namespace == "" {
			refiled[p+i.Value] = true
		}
	}
	owner := MemberSubject(x.records.members[0])
	var n int64
	for _, e := range events {
		data, changed, err := x.scrub.json(e.Data, keyed[e.Seq])
		if err != nil {
			return n, fmt.Errorf("scrub event %d: %w", e.Seq, err)
		}
		subject := e.Subject
		if refiled[subject] {
			subject, changed = owner, true
		}
		if !changed {
			continue
		}
		if _, err := tx.exec(ctx, `UPDATE events SET data = ?, subject = ? WHERE seq = ?`, jsonArg(data), nullString(subject), e.Seq); err != nil {
			return n, fmt.Errorf("erase event %d: %w", e.Seq, err)
		}
		n++
	}
	return n, nil
}

// scrubDeliveriesTx scrubs the payloads of outbound webhook deliveries
// about her records (by key and value) or holding one of her identifiers
// (by value), and stops her pending offer deliveries.
func scrubDeliveriesTx(ctx context.Context, tx *Tx, x erasure) (int64, error) {
	if _, err := stopOfferDeliveriesTx(ctx, tx, x.records.members); err != nil {
		return 0, err
	}
	subjects := x.records.subjects()
	keyed := map[string]bool{}
	for _, s := range subjects {
		keyed[s] = true
	}
	type delivery struct {
		id      int64
		subject string
		payload []byte
	}
	found := map[int64]delivery{}
	collectRows := func(q string, args ...any) error {
		rows, err := tx.query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("deliveries to erase: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var d delivery
			var subject *string
			if err := rows.Scan(&d.id, &subject, &d.payload); err != nil {
				return err
			}
			d.subject = deref(subject)
			found[d.id] = d
		}
		return rows.Err()
	}
	for start := 0; start < len(subjects); start += subjectChunk {
		chunk := subjects[start:min(start+subjectChunk, len(subjects))]
		args := make([]any, len(chunk))
		for i, s := range chunk {
			args[i] = s
		}
		if err := collectRows(`SELECT id, subject, payload FROM webhook_deliveries WHERE subject IN (`+placeholders(len(chunk))+`)`, args...); err != nil {
			return 0, err
		}
	}
	for start := 0; start < len(x.identifiers); start += 50 {
		chunk := x.identifiers[start:min(start+50, len(x.identifiers))]
		var likes []string
		var args []any
		for _, v := range chunk {
			likes = append(likes, `LOWER(payload) LIKE ? ESCAPE '\'`)
			args = append(args, likePattern(strings.ToLower(v)))
		}
		if err := collectRows(`SELECT id, subject, payload FROM webhook_deliveries WHERE `+strings.Join(likes, " OR "), args...); err != nil {
			return 0, err
		}
	}
	var n int64
	for _, d := range found {
		payload, changed, err := x.scrub.json(d.payload, keyed[d.subject])
		if err != nil || !changed {
			continue
		}
		if _, err := tx.exec(ctx, `UPDATE webhook_deliveries SET payload = ? WHERE id = ?`, string(payload), d.id); err != nil {
			return n, fmt.Errorf("erase delivery %d: %w", d.id, err)
		}
		n++
	}
	return n, nil
}

// scrubIdempotencyTx cuts her values out of the responses kept for
// Idempotency-Key replays (a day's worth at most).
func scrubIdempotencyTx(ctx context.Context, tx *Tx, x erasure) error {
	rows, err := tx.query(ctx, `SELECT principal, key, body FROM idempotency_keys WHERE body IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("idempotency records to erase: %w", err)
	}
	type record struct {
		principal, key string
		body           []byte
	}
	var changed []record
	for rows.Next() {
		var r record
		if err := rows.Scan(&r.principal, &r.key, &r.body); err != nil {
			rows.Close()
			return err
		}
		if b, ok := x.scrub.bytes(r.body); ok {
			r.body = b
			changed = append(changed, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range changed {
		if _, err := tx.exec(ctx, `UPDATE idempotency_keys SET body = ? WHERE principal = ? AND key = ?`, r.body, r.principal, r.key); err != nil {
			return fmt.Errorf("erase idempotency record: %w", err)
		}
	}
	return nil
}

// eraseStateTx replaces her personal fields in state, withdraws her
// consents and removes her identities.
func eraseStateTx(ctx context.Context, tx *Tx, x erasure, rep *lianlu.ErasureReport) error {
	d := tx.db.dialect
	now := d.timeArg(tx.now)
	r := x.records
	for _, oid := range r.orders {
		var shipTo []byte
		if err := tx.queryRow(ctx, `SELECT ship_to FROM orders WHERE id = ?`, oid).Scan(&shipTo); err != nil {
			return fmt.Errorf("order %d: %w", oid, err)
		}
		if shipTo == nil {
			continue
		}
		v, err := decodeJSONValue(shipTo)
		if err != nil {
			return fmt.Errorf("order %d ship_to: %w", oid, err)
		}
		if v, changed := erase(v); changed {
			b, err := encodeJSONValue(v)
			if err != nil {
				return err
			}
			if _, err := tx.exec(ctx, `UPDATE orders SET ship_to = ?, updated_at = ? WHERE id = ?`, string(b), now, oid); err != nil {
				return fmt.Errorf("erase order %d: %w", oid, err)
			}
			rep.Orders++
		}
	}
	for _, wid := range r.workOrders {
		var kind, title string
		var note *string
		var dispatch []byte
		if err := tx.queryRow(ctx, `SELECT kind, title, resolution_note, dispatch FROM work_orders WHERE id = ?`, wid).Scan(&kind, &title, &note, &dispatch); err != nil {
			return fmt.Errorf("work order %d: %w", wid, err)
		}
		changed := false
		if t, ch := x.scrub.text(title); ch {
			title, changed = t, true
		}
		if note != nil && *note != "" && *note != lianlu.Erased {
			erased := lianlu.Erased
			note, changed = &erased, true
		}
		if dispatch != nil {
			b, ch, err := x.scrub.json(dispatch, true)
			if err != nil {
				return fmt.Errorf("work order %d dispatch: %w", wid, err)
			}
			if ch {
				dispatch, changed = b, true
			}
		}
		if !changed {
			continue
		}
		if _, err := tx.exec(ctx, `UPDATE work_orders SET title = ?, resolution_note = ?, dispatch = ?, updated_at = ? WHERE id = ?`,
			title, note, jsonArg(dispatch), now, wid); err != nil {
			return fmt.Errorf("erase work order %d: %w", wid, err)
		}
		rep.WorkOrders++
	}
	if len(r.feedback) > 0 {
		in, args := idList(r.feedback)
		res, err := tx.exec(ctx, `UPDATE feedback SET text = ?, updated_at = ? WHERE text <> '' AND text <> ? AND id IN (`+in+`)`,
			append([]any{lianlu.Erased, now, lianlu.Erased}, args...)...)
		if err != nil {
			return fmt.Errorf("erase feedback: %w", err)
		}
		rep.Feedback, _ = res.RowsAffected()
	}
	for _, rid := range r.requests {
		var note string
		var resolution, reason *string
		if err := tx.queryRow(ctx, `SELECT note, resolution, refusal_reason FROM privacy_requests WHERE id = ?`, rid).Scan(&note, &resolution, &reason); err != nil {
			return fmt.Errorf("privacy request %d: %w", rid, err)
		}
		note, _ = x.scrub.text(note)
		for _, p := range []*string{resolution, reason} {
			if p != nil {
				*p, _ = x.scrub.text(*p)
			}
		}
		if _, err := tx.exec(ctx, `UPDATE privacy_requests SET note = ?, resolution = ?, refusal_reason = ? WHERE id = ?`, note, resolution, reason, rid); err != nil {
			return fmt.Errorf("erase privacy request %d: %w", rid, err)
		}
	}
	in, args := idList(r.members)
	if _, err := tx.exec(ctx, `UPDATE identity_conflicts SET value = ? WHERE member_a IN (`+in+`) OR member_b IN (`+in+`)`,
		slices.Concat([]any{lianlu.Erased}, args, args)...); err != nil {
		return fmt.Errorf("erase identity conflicts: %w", err)
	}
	if _, err := tx.exec(ctx, `UPDATE identity_conflicts SET status = ?, resolved_at = ?, resolved_by = ? WHERE status = ? AND (member_a IN (`+in+`) OR member_b IN (`+in+`))`,
		slices.Concat([]any{lianlu.ConflictDismissed, now, actorOf(ctx), lianlu.ConflictOpen}, args, args)...); err != nil {
		return fmt.Errorf("erase identity conflicts: %w", err)
	}
	// Marketing stops, and what was done under her consent before stays
	// recorded (art. 15).
	if _, err := withdrawAllConsentsTx(ctx, tx, r.members[0], "erasure"); err != nil {
		return err
	}
	res, err := tx.exec(ctx, `DELETE FROM member_identities WHERE member_id IN (`+in+`)`, args...)
	if err != nil {
		return fmt.Errorf("erase identities: %w", err)
	}
	rep.Identities, _ = res.RowsAffected()
	if _, err := tx.exec(ctx, `UPDATE members SET phone = NULL, email = NULL, traits = '{}', tags = '[]', erased_at = ?, updated_at = ? WHERE id IN (`+in+`)`,
		slices.Concat([]any{now, now}, args)...); err != nil {
		return fmt.Errorf("erase members: %w", err)
	}
	return nil
}
