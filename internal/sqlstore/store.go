package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/sla"
)

// StoreService implements lianlu.StoreService.
type StoreService struct {
	db *DB

	mu      sync.Mutex
	changed chan struct{}
}

// NewStoreService returns the store service of db.
func NewStoreService(db *DB) *StoreService {
	return &StoreService{db: db, changed: make(chan struct{})}
}

var _ lianlu.StoreService = (*StoreService)(nil)

// Store limits.
const (
	maxStoreSkills   = 20
	maxStoreStaff    = 500
	maxStoreCapacity = 10_000
	maxStoreRadiusKm = 1000
	maxStoreHolidays = 366
)

var skillRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// StoresChanged returns a channel closed at the next store change committed
// through this service.
func (s *StoreService) StoresChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *StoreService) signal() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// DefaultOpeningHours is a new store's hours: 10:00–22:00 every day.
func DefaultOpeningHours() lianlu.OpeningHours {
	h := lianlu.OpeningHours{}
	for _, d := range lianlu.Weekdays {
		h[d] = [][2]string{{"10:00", "22:00"}}
	}
	return h
}

// StoreCalendar is a store's opening hours as a business calendar: the
// store's acceptance SLAs run in it.
func StoreCalendar(st lianlu.Store) sla.Calendar {
	hours := make(map[string][]sla.Span, len(st.Hours))
	for d, spans := range st.Hours {
		for _, sp := range spans {
			hours[d] = append(hours[d], sla.Span{Start: sp[0], End: sp[1]})
		}
	}
	return sla.Calendar{Name: "store/" + st.Code, Timezone: st.Timezone, Hours: hours, Holidays: slices.Clone(st.Holidays)}
}

// validateStore normalises and checks a store's own fields (the location's
// are checked by validateLocation).
func validateStore(st *lianlu.Store) []lianlu.FieldError {
	var errs []lianlu.FieldError
	for d := range st.Hours {
		if !slices.Contains(lianlu.Weekdays, d) {
			errs = append(errs, lianlu.FieldError{Field: "hours." + d, Message: "weekdays are mon, tue, wed, thu, fri, sat, sun"})
		}
	}
	if len(st.Holidays) > maxStoreHolidays {
		errs = append(errs, lianlu.FieldError{Field: "holidays", Message: "at most 366 dates"})
	}
	if len(errs) == 0 {
		cal := StoreCalendar(*st)
		if err := cal.Validate(); err != nil {
			errs = append(errs, lianlu.ErrorFields(err)...)
			if len(lianlu.ErrorFields(err)) == 0 {
				errs = append(errs, lianlu.FieldError{Field: "hours", Message: lianlu.ErrorMessage(err)})
			}
		}
	}
	seen := map[string]bool{}
	skills := []string{}
	for i, sk := range st.Skills {
		sk = strings.ToLower(strings.TrimSpace(sk))
		if !skillRe.MatchString(sk) {
			errs = append(errs, lianlu.FieldError{Field: "skills[" + strconv.Itoa(i) + "]", Message: "1–32 lower-case letters, digits, _ or -, such as install"})
			continue
		}
		if !seen[sk] {
			seen[sk] = true
			skills = append(skills, sk)
		}
	}
	st.Skills = skills
	if len(skills) > maxStoreSkills {
		errs = append(errs, lianlu.FieldError{Field: "skills", Message: "at most 20 skills"})
	}
	if st.CapacityPerDay < 0 || st.CapacityPerDay > maxStoreCapacity {
		errs = append(errs, lianlu.FieldError{Field: "capacity_per_day", Message: "between 0 and 10000"})
	}
	if math.IsNaN(st.ServiceRadiusKm) || st.ServiceRadiusKm < 0 || st.ServiceRadiusKm > maxStoreRadiusKm {
		errs = append(errs, lianlu.FieldError{Field: "service_radius_km", Message: "between 0 and 1000"})
	}
	if len(st.Staff) > maxStoreStaff {
		errs = append(errs, lianlu.FieldError{Field: "staff", Message: "at most 500 staff members"})
	}
	codes := map[string]bool{}
	for i := range st.Staff {
		m := &st.Staff[i]
		m.Code, m.Name, m.Active = strings.TrimSpace(m.Code), strings.TrimSpace(m.Name), true
		f := "staff[" + strconv.Itoa(i) + "]"
		if !codeRe.MatchString(m.Code) {
			errs = append(errs, lianlu.FieldError{Field: f + ".code", Message: "1–64 letters, digits or ._- starting with a letter or digit"})
		} else if codes[m.Code] {
			errs = append(errs, lianlu.FieldError{Field: f + ".code", Message: "listed twice"})
		}
		codes[m.Code] = true
		textField(&errs, f+".name", m.Name, true, 100)
	}
	slices.SortFunc(st.Staff, func(a, b lianlu.StaffMember) int { return strings.Compare(a.Code, b.Code) })
	return errs
}

// CreateStore upserts a store by code.
func (s *StoreService) CreateStore(ctx context.Context, in lianlu.StoreInput) (lianlu.Store, lianlu.UpsertResult, error) {
	var result lianlu.UpsertResult
	st, unchanged, err := s.saveStore(ctx, func(tx *Tx) (lianlu.Store, error) {
		st := lianlu.Store{Location: lianlu.Location{Code: strings.TrimSpace(in.Code), Kind: lianlu.LocationStore, Active: true, Timezone: "Asia/Shanghai"},
			Hours: DefaultOpeningHours(), Holidays: []string{}, Skills: []string{}, Staff: []lianlu.StaffMember{}}
		applyStoreInput(&st, in)
		old, err := findLocationByCode(ctx, tx, st.Code)
		switch {
		case err == nil && old.Kind != lianlu.LocationStore:
			return st, lianlu.Errorf(lianlu.ECONFLICT, "location %s is a %s, not a store", st.Code, old.Kind)
		case err == nil:
			result = lianlu.UpsertUpdated
		case lianlu.ErrorCode(err) == lianlu.ENOTFOUND:
			result = lianlu.UpsertCreated
		default:
			return st, err
		}
		return st, nil
	})
	if unchanged {
		result = lianlu.UpsertUnchanged
	}
	return st, result, err
}

// UpdateStore changes the given fields of a store. The store is read in
// the writing transaction, its location row locked first, so that two
// updates of different fields at once both stay.
func (s *StoreService) UpdateStore(ctx context.Context, in lianlu.StoreInput) (lianlu.Store, error) {
	st, _, err := s.saveStore(ctx, func(tx *Tx) (lianlu.Store, error) {
		if _, err := tx.exec(ctx, `UPDATE locations SET updated_at = updated_at WHERE code = ?`, in.Code); err != nil {
			return lianlu.Store{}, fmt.Errorf("lock store: %w", err)
		}
		st, err := findStoreTx(ctx, tx, in.Code)
		if err != nil {
			return st, err
		}
		applyStoreInput(&st, in)
		return st, nil
	})
	return st, err
}

func applyStoreInput(st *lianlu.Store, in lianlu.StoreInput) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&st.Name, in.Name)
	set(&st.Address, in.Address)
	set(&st.Timezone, in.Timezone)
	if in.Lat != nil || in.Lng != nil {
		st.Lat, st.Lng = in.Lat, in.Lng
	}
	if in.Active != nil {
		st.Active = *in.Active
	}
	if in.Hours != nil {
		st.Hours = in.Hours
	}
	if in.Holidays != nil {
		st.Holidays = in.Holidays
	}
	if in.Skills != nil {
		st.Skills = in.Skills
	}
	if in.CapacityPerDay != nil {
		st.CapacityPerDay = *in.CapacityPerDay
	}
	if in.ServiceRadiusKm != nil {
		st.ServiceRadiusKm = *in.ServiceRadiusKm
	}
	if in.Staff != nil {
		st.Staff = slices.Clone(in.Staff)
	}
}

// sameStore reports whether saving b over a would change nothing.
func sameStore(a, b lianlu.Store) bool {
	la, lb := a.Location, b.Location
	if la.Name != lb.Name || la.Address != lb.Address || !sameFloat(la.Lat, lb.Lat) || !sameFloat(la.Lng, lb.Lng) || la.Timezone != lb.Timezone || la.Active != lb.Active ||
		a.CapacityPerDay != b.CapacityPerDay || a.ServiceRadiusKm != b.ServiceRadiusKm || !slices.Equal(a.Skills, b.Skills) || !slices.Equal(a.Holidays, b.Holidays) {
		return false
	}
	ha, _ := json.Marshal(a.Hours)
	hb, _ := json.Marshal(b.Hours)
	if string(ha) != string(hb) {
		return false
	}
	var active []lianlu.StaffMember
	for _, m := range a.Staff {
		if m.Active {
			active = append(active, m)
		}
	}
	return slices.Equal(active, b.Staff)
}

// saveStore validates st and writes it (location, store row, staff) with
// store.upserted, after check has run in the same transaction. It writes
// nothing, and reports unchanged, when the stored store is the same.
func (s *StoreService) saveStore(ctx context.Context, build func(tx *Tx) (lianlu.Store, error)) (st lianlu.Store, unchanged bool, err error) {
	err = s.db.WithTx(ctx, func(tx *Tx) error {
		var err error
		if st, err = build(tx); err != nil {
			return err
		}
		var errs []lianlu.FieldError
		if err := validateLocation(st.Location); err != nil {
			errs = append(errs, lianlu.ErrorFields(err)...)
		}
		errs = append(errs, validateStore(&st)...)
		if len(errs) > 0 {
			return lianlu.Invalid(errs...)
		}
		if prev, err := findStoreTx(ctx, tx, st.Code); err == nil && sameStore(prev, st) {
			st, unchanged = prev, true
			return nil
		}
		loc, _, err := upsertLocationTx(ctx, tx, st.Location)
		if err != nil {
			return err
		}
		st.Location = loc
		hours, _ := json.Marshal(st.Hours)
		holidays, _ := json.Marshal(st.Holidays)
		skills, _ := json.Marshal(st.Skills)
		d := tx.db.dialect
		if _, err := tx.exec(ctx, `INSERT INTO stores (location_id, hours, holidays, skills, capacity_per_day, service_radius_km, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (location_id) DO UPDATE SET hours = excluded.hours, holidays = excluded.holidays, skills = excluded.skills,
			capacity_per_day = excluded.capacity_per_day, service_radius_km = excluded.service_radius_km, updated_at = excluded.updated_at`,
			loc.ID, string(hours), string(holidays), string(skills), st.CapacityPerDay, st.ServiceRadiusKm, d.timeArg(tx.now)); err != nil {
			return fmt.Errorf("save store: %w", err)
		}
		// Staff no longer listed stay, inactive: joins they brought keep
		// their attribution.
		if _, err := tx.exec(ctx, `UPDATE store_staff SET active = ? WHERE store_id = ?`, false, loc.ID); err != nil {
			return fmt.Errorf("save staff: %w", err)
		}
		for _, m := range st.Staff {
			if _, err := tx.exec(ctx, `INSERT INTO store_staff (store_id, code, name, active) VALUES (?, ?, ?, ?)
				ON CONFLICT (store_id, code) DO UPDATE SET name = excluded.name, active = excluded.active`, loc.ID, m.Code, m.Name, true); err != nil {
				return fmt.Errorf("save staff: %w", err)
			}
		}
		if st, err = findStoreTx(ctx, tx, st.Code); err != nil {
			return err
		}
		if _, err := appendCommandEvent(ctx, tx, "store.upserted", "store/"+st.Code, lianlu.DeptStores, "", st); err != nil {
			return err
		}
		tx.OnCommit(s.signal)
		return nil
	})
	return st, unchanged, err
}

const storeColumns = `l.id, l.code, l.kind, l.name, l.address, l.lat, l.lng, l.timezone, l.active, l.created_at, l.updated_at,
	s.hours, s.holidays, s.skills, s.capacity_per_day, s.service_radius_km`

const storeFrom = ` FROM stores s JOIN locations l ON l.id = s.location_id`

func scanStore(r rowScanner) (lianlu.Store, error) {
	var st lianlu.Store
	var hours, holidays, skills []byte
	l := &st.Location
	if err := r.Scan(&l.ID, &l.Code, &l.Kind, &l.Name, &l.Address, &l.Lat, &l.Lng, &l.Timezone, &l.Active, sqlTime{&l.CreatedAt}, sqlTime{&l.UpdatedAt},
		&hours, &holidays, &skills, &st.CapacityPerDay, &st.ServiceRadiusKm); err != nil {
		return st, err
	}
	if err := json.Unmarshal(hours, &st.Hours); err != nil {
		return st, fmt.Errorf("decode store hours: %w", err)
	}
	if err := json.Unmarshal(holidays, &st.Holidays); err != nil {
		return st, fmt.Errorf("decode store holidays: %w", err)
	}
	if err := json.Unmarshal(skills, &st.Skills); err != nil {
		return st, fmt.Errorf("decode store skills: %w", err)
	}
	st.Staff = []lianlu.StaffMember{}
	return st, nil
}

// loadStaff fills the staff lists of stores.
func loadStaff(ctx context.Context, tx *Tx, stores []lianlu.Store) error {
	if len(stores) == 0 {
		return nil
	}
	byID := make(map[int64]*lianlu.Store, len(stores))
	args := make([]any, 0, len(stores))
	for i := range stores {
		byID[stores[i].ID] = &stores[i]
		args = append(args, stores[i].ID)
	}
	rows, err := tx.query(ctx, `SELECT store_id, code, name, active FROM store_staff WHERE store_id IN (`+placeholders(len(args))+`) ORDER BY store_id, code`, args...)
	if err != nil {
		return fmt.Errorf("find staff: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var m lianlu.StaffMember
		if err := rows.Scan(&id, &m.Code, &m.Name, &m.Active); err != nil {
			return err
		}
		byID[id].Staff = append(byID[id].Staff, m)
	}
	return rows.Err()
}

func findStoreTx(ctx context.Context, tx *Tx, code string) (lianlu.Store, error) {
	st, err := scanStore(tx.queryRow(ctx, `SELECT `+storeColumns+storeFrom+` WHERE l.code = ?`, code))
	if err != nil {
		return st, fmt.Errorf("store %s: %w", code, mapError(err))
	}
	list := []lianlu.Store{st}
	if err := loadStaff(ctx, tx, list); err != nil {
		return st, err
	}
	return list[0], nil
}

// FindStoreTx reads a store with its staff in tx, or ENOTFOUND.
func FindStoreTx(ctx context.Context, tx *Tx, code string) (lianlu.Store, error) {
	return findStoreTx(ctx, tx, code)
}

// FindStoreByCode returns a store with its staff.
func (s *StoreService) FindStoreByCode(ctx context.Context, code string) (lianlu.Store, error) {
	var st lianlu.Store
	err := s.db.readTx(ctx, func(tx *Tx) error {
		var err error
		st, err = findStoreTx(ctx, tx, code)
		return err
	})
	return st, err
}

// FindStores lists stores by id with their staff.
func (s *StoreService) FindStores(ctx context.Context, f lianlu.StoreFilter) ([]lianlu.Store, error) {
	var out []lianlu.Store
	err := s.db.readTx(ctx, func(tx *Tx) error {
		var err error
		out, err = findStoresTx(ctx, tx, f.AfterID, clampLimit(f.Limit), f.Skill)
		if err != nil {
			return err
		}
		return loadStaff(ctx, tx, out)
	})
	return out, err
}

func findStoresTx(ctx context.Context, tx *Tx, afterID int64, limit int, skill string) ([]lianlu.Store, error) {
	q := `SELECT ` + storeColumns + storeFrom + ` WHERE l.id > ?`
	args := []any{afterID}
	// Skills are stored in lower case; LIKE is case-blind on SQLite only,
	// so the filter is normalised the same way for both dialects.
	if skill = strings.ToLower(strings.TrimSpace(skill)); skill != "" {
		// The skills column is a JSON array of strings; its text holds
		// "skill" with the quotes exactly when the array does.
		q += ` AND CAST(s.skills AS TEXT) LIKE ? ESCAPE '\'`
		args = append(args, `%"`+strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(skill)+`"%`)
	}
	rows, err := tx.query(ctx, q+` ORDER BY l.id LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("find stores: %w", err)
	}
	defer rows.Close()
	out := []lianlu.Store{}
	for rows.Next() {
		st, err := scanStore(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// AllStores reads every store without staff, for in-memory indexes such as
// the dispatcher's, with a fingerprint that changes whenever a store or its
// location does.
func (db *DB) AllStores(ctx context.Context) ([]lianlu.Store, string, error) {
	var out []lianlu.Store
	var fp string
	err := db.readTx(ctx, func(tx *Tx) error {
		var err error
		if fp, err = storesFingerprintTx(ctx, tx); err != nil {
			return err
		}
		var after int64
		for {
			page, err := findStoresTx(ctx, tx, after, 5000, "")
			if err != nil {
				return err
			}
			out = append(out, page...)
			if len(page) < 5000 {
				return nil
			}
			after = page[len(page)-1].ID
		}
	})
	return out, fp, err
}

// StoresFingerprint changes whenever a store or its location changes.
func (db *DB) StoresFingerprint(ctx context.Context) (string, error) {
	var fp string
	err := db.readTx(ctx, func(tx *Tx) error {
		var err error
		fp, err = storesFingerprintTx(ctx, tx)
		return err
	})
	return fp, err
}

func storesFingerprintTx(ctx context.Context, tx *Tx) (string, error) {
	var n int64
	var sa, sb any
	if err := tx.queryRow(ctx, `SELECT COUNT(*), MAX(s.updated_at), MAX(l.updated_at)`+storeFrom).Scan(&n, &sa, &sb); err != nil {
		return "", fmt.Errorf("stores fingerprint: %w", err)
	}
	return fmt.Sprintf("%d/%v/%v", n, sa, sb), nil
}
