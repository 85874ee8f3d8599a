package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/collect"
	"github.com/lianlu/lianlu/internal/config"
	"github.com/lianlu/lianlu/internal/httpapi"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

const importUsage = `usage: lianlu import --source ID [--format auto|segment|cloudevents|csv] [--map FIELD=COLUMN,…]
                     [--checkpoint FILE] [--restart] [--db URL] [--data DIR] FILE

Imports Segment messages or CloudEvents, one JSON object per line (NDJSON;
detected per line unless --format says), or CSV rows mapped to Segment
messages (--map, or the header names as fields), into the source's events.
An interrupted import resumes from its checkpoint (FILE.lianlu-import);
messageId / CloudEvents id make a row already stored a duplicate.
`

// Import limits.
const (
	importChunkLines  = 1000
	importChunkBytes  = 4 << 20
	importMaxLine     = 8 << 20
	importReasonsKept = 20
)

// importCheckpoint is the state of an import, saved after every committed
// chunk so that a restart skips what is stored.
type importCheckpoint struct {
	File       string   `json:"file"`
	Size       int64    `json:"size"`
	Source     int64    `json:"source"`
	Format     string   `json:"format"`
	Offset     int64    `json:"offset"`
	Line       int64    `json:"line"`
	Accepted   int64    `json:"accepted"`
	Duplicates int64    `json:"duplicates"`
	Rejected   int64    `json:"rejected"`
	Reasons    []string `json:"reasons,omitempty"`
}

// eventRow is one line of the file on its way to the log.
type eventRow struct {
	line int64
	data []byte
}

// importer moves rows through the collector's own decode, tracking plan,
// intake checks and appends.
type importer struct {
	src       lianlu.Source
	principal lianlu.Principal
	plans     *sqlstore.TrackingPlanService
	appender  *sqlstore.Appender
	intake    *sqlstore.IntakeService
	format    string
	mapping   []csvField
	cp        importCheckpoint
	cpPath    string
}

func runImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var sourceID int64
	var format, mapping, cpPath string
	var restart bool
	cfg, fs, err := loadConfig("import", args, getenv, stderr, func(c *config.Config, fs *flag.FlagSet) {
		c.RegisterStorageFlags(fs)
		fs.Int64Var(&sourceID, "source", 0, "id of the source the events come from (required)")
		fs.StringVar(&format, "format", "auto", "auto (by extension; NDJSON lines detected one by one), segment, cloudevents or csv")
		fs.StringVar(&mapping, "map", "", "CSV only: FIELD=COLUMN pairs, comma-separated; FIELD is a Segment field path such as event, userId, properties.sku, with :number or :bool to convert")
		fs.StringVar(&cpPath, "checkpoint", "", "checkpoint file (default FILE.lianlu-import)")
		fs.BoolVar(&restart, "restart", false, "ignore a checkpoint and start from the first line (stored rows still count as duplicates)")
	})
	if errors.Is(err, errUsage) {
		fmt.Fprint(stderr, importUsage)
		return err
	} else if err != nil {
		return err
	}
	if fs.NArg() != 1 || sourceID <= 0 {
		fmt.Fprint(stderr, importUsage)
		return errUsage
	}
	switch format {
	case "auto", "segment", "cloudevents", "csv":
	default:
		return fmt.Errorf("--format: auto, segment, cloudevents or csv")
	}
	path := fs.Arg(0)
	if format == "auto" && strings.EqualFold(filepath.Ext(path), ".csv") {
		format = "csv"
	}
	if mapping != "" && format != "csv" {
		return fmt.Errorf("--map applies to CSV files only")
	}
	if cpPath == "" {
		cpPath = path + ".lianlu-import"
	}
	db, err := openMigrated(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	src, err := sqlstore.NewSourceService(db).FindSourceByID(ctx, sourceID)
	if err != nil {
		return fmt.Errorf("--source %d: %s", sourceID, describe(err))
	}
	if src.Disabled {
		return fmt.Errorf("--source %d is disabled", sourceID)
	}
	appender := sqlstore.NewAppender(db, sqlstore.AppenderConfig{})
	appender.Start()
	defer appender.Stop()
	im := &importer{
		src: src,
		// The import acts as a token of the source's department would:
		// the same department rules as POST /api/v1/events.
		principal: lianlu.Principal{Name: "import:" + osUser(), Role: lianlu.RoleOperator, Department: src.Department},
		plans:     sqlstore.NewTrackingPlanService(db),
		appender:  appender,
		intake:    sqlstore.NewIntakeService(db),
		format:    format,
		cpPath:    cpPath,
	}
	ctx = lianlu.NewContextWithPrincipal(ctx, im.principal)
	if format == "csv" && mapping != "" {
		if im.mapping, err = parseCSVMapping(mapping); err != nil {
			return fmt.Errorf("--map: %w", err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := im.loadCheckpoint(f, path, restart); err != nil {
		return err
	}
	bar := progressbar.NewOptions64(im.cp.Size,
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionSetDescription("importing"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetRenderBlankState(true))
	bar.Set64(im.cp.Offset)
	start, startLine := time.Now(), im.cp.Line
	progress := func() {
		bar.Set64(im.cp.Offset)
		rate := float64(im.cp.Line-startLine) / max(time.Since(start).Seconds(), 0.001)
		bar.Describe(fmt.Sprintf("%d rows, %.0f rows/s (%d new, %d dup, %d rejected)", im.cp.Line, rate, im.cp.Accepted, im.cp.Duplicates, im.cp.Rejected))
	}
	err = im.run(ctx, f, progress)
	bar.Finish()
	fmt.Fprintln(stderr)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stdout, "%s: interrupted at line %d; run the same command again to resume (checkpoint %s)\n", path, im.cp.Line, im.cpPath)
		}
		return err
	}
	os.Remove(im.cpPath)
	cp := im.cp
	fmt.Fprintf(stdout, "%s: %d rows: %d accepted, %d duplicates, %d rejected\n", path, cp.Accepted+cp.Duplicates+cp.Rejected, cp.Accepted, cp.Duplicates, cp.Rejected)
	// Rows are rejected as each chunk is checked, not quite in file order.
	slices.SortStableFunc(cp.Reasons, func(a, b string) int { return reasonLine(a) - reasonLine(b) })
	for _, r := range cp.Reasons {
		fmt.Fprintln(stdout, "  "+r)
	}
	if n := cp.Rejected - int64(len(cp.Reasons)); n > 0 {
		fmt.Fprintf(stdout, "  … and %d more rejected rows\n", n)
	}
	if cp.Rejected > 0 {
		return fmt.Errorf("%d rows rejected", cp.Rejected)
	}
	return nil
}

// reasonLine reads the line number of a reason, "line 12: …".
func reasonLine(r string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(r, ":", 2)[0], "line "))
	return n
}

// loadCheckpoint resumes from a checkpoint of the same file and source, or
// starts afresh.
func (im *importer) loadCheckpoint(f *os.File, path string, restart bool) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(path)
	fresh := importCheckpoint{File: abs, Size: fi.Size(), Source: im.src.ID, Format: im.format}
	im.cp = fresh
	if restart {
		os.Remove(im.cpPath)
		return nil
	}
	b, err := os.ReadFile(im.cpPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	var cp importCheckpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return fmt.Errorf("checkpoint %s is damaged (%v); use --restart", im.cpPath, err)
	}
	if cp.File != fresh.File || cp.Source != fresh.Source || cp.Format != fresh.Format || cp.Size != fresh.Size || cp.Offset > fresh.Size {
		return fmt.Errorf("checkpoint %s is of another import (file, size, source or format differ); use --restart", im.cpPath)
	}
	im.cp = cp
	return nil
}

// saveCheckpoint writes the checkpoint atomically.
func (im *importer) saveCheckpoint() error {
	b, _ := json.Marshal(im.cp)
	tmp := im.cpPath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return os.Rename(tmp, im.cpPath)
}

// tally counts what one chunk did; it joins the checkpoint when the
// chunk is committed, so that a chunk read ahead never counts twice.
type tally struct {
	accepted, duplicates, rejected int64
	reasons                        []string
}

func (t *tally) reject(line int64, reason string) {
	t.rejected++
	if len(t.reasons) < importReasonsKept {
		t.reasons = append(t.reasons, fmt.Sprintf("line %d: %s", line, reason))
	}
}

func (t *tally) stored(results []lianlu.AppendResult) {
	for _, r := range results {
		if r.Duplicate {
			t.duplicates++
		} else {
			t.accepted++
		}
	}
}

// add joins a committed chunk's tally to the checkpoint.
func (cp *importCheckpoint) add(t *tally) {
	cp.Accepted += t.accepted
	cp.Duplicates += t.duplicates
	cp.Rejected += t.rejected
	for _, r := range t.reasons {
		if len(cp.Reasons) < importReasonsKept {
			cp.Reasons = append(cp.Reasons, r)
		}
	}
}

// run reads the file from the checkpoint on, chunk by chunk. Each chunk's
// Segment messages are decoded while the previous chunk's are being
// committed (the appender is the slow part, so the two overlap); the
// checkpoint moves past a chunk once it is committed.
func (im *importer) run(ctx context.Context, f *os.File, progress func()) error {
	next, err := im.reader(f)
	if err != nil {
		return err
	}
	// The previous chunk, committing.
	var pending chan error
	var pendingOffset, pendingLine int64
	var pendingTally *tally
	finish := func() error {
		if pending == nil {
			return nil
		}
		err := <-pending
		pending = nil
		if err != nil {
			return err
		}
		im.cp.add(pendingTally)
		im.cp.Offset, im.cp.Line = pendingOffset, pendingLine
		if err := im.saveCheckpoint(); err != nil {
			return err
		}
		progress()
		return nil
	}
	offset, line := im.cp.Offset, im.cp.Line
	for {
		if err := ctx.Err(); err != nil {
			if ferr := finish(); ferr != nil {
				return ferr
			}
			return err
		}
		t := &tally{}
		var rows []eventRow
		size := 0
		start := offset
		for len(rows) < importChunkLines && size < importChunkBytes {
			row, end, reject, err := next()
			if errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return errors.Join(err, finish())
			}
			offset, line = end, row.line
			if reject != "" {
				t.reject(row.line, reject)
				continue
			}
			if len(row.data) == 0 {
				continue
			}
			rows = append(rows, row)
			size += len(row.data)
		}
		if len(rows) == 0 && offset == start {
			if err := finish(); err != nil {
				return err
			}
			progress()
			return nil
		}
		segment, cloud := im.split(rows, t)
		batch, err := im.decodeSegment(ctx, segment, t)
		if err != nil {
			return errors.Join(err, finish())
		}
		if err := finish(); err != nil {
			return err
		}
		// CloudEvents run their commands now, in order with the chunks.
		if err := im.cloudEvents(ctx, cloud, t); err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() {
			if len(batch.Events) == 0 && len(batch.violations) == 0 {
				done <- nil
				return
			}
			stored, err := im.appender.AppendChecked(ctx, batch.Events, batch.violations)
			if err == nil {
				t.stored(stored)
			}
			done <- err
		}()
		pending, pendingOffset, pendingLine, pendingTally = done, offset, line, t
	}
}

// reader returns a function that yields the next row with the byte
// offset after it, or a reason to reject it, from the checkpoint on.
func (im *importer) reader(f *os.File) (func() (eventRow, int64, string, error), error) {
	if im.format == "csv" {
		return im.csvReader(f)
	}
	if _, err := f.Seek(im.cp.Offset, io.SeekStart); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	offset, line := im.cp.Offset, im.cp.Line
	return func() (eventRow, int64, string, error) {
		var buf []byte
		tooLong := false
		for {
			part, err := br.ReadSlice('\n')
			offset += int64(len(part))
			if !tooLong {
				if len(buf)+len(part) > importMaxLine {
					tooLong, buf = true, nil
				} else {
					buf = append(buf, part...)
				}
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return eventRow{}, 0, "", err
			}
			if errors.Is(err, io.EOF) && len(part) == 0 && len(buf) == 0 && !tooLong {
				return eventRow{}, 0, "", io.EOF
			}
			break
		}
		line++
		row := eventRow{line: line, data: bytes.TrimSpace(buf)}
		if tooLong {
			return row, offset, fmt.Sprintf("longer than %d bytes", importMaxLine), nil
		}
		return row, offset, "", nil
	}, nil
}

// split sorts a chunk's rows into Segment messages and CloudEvents,
// rejecting rows that are not JSON.
func (im *importer) split(rows []eventRow, t *tally) (segment, cloud []eventRow) {
	for _, r := range rows {
		if !json.Valid(r.data) {
			t.reject(r.line, "malformed JSON")
			continue
		}
		switch {
		case im.format == "cloudevents", im.format == "auto" && collect.IsCloudEvent(r.data):
			cloud = append(cloud, r)
		default:
			segment = append(segment, r)
		}
	}
	return segment, cloud
}

// stableMessageID is the messageId of a message that has none: the hash
// of its text, so that importing the file again stores it once.
func stableMessageID(msg []byte) string {
	h := sha256.Sum256(msg)
	return "import-" + hex.EncodeToString(h[:16])
}

// segmentBatch is a chunk's Segment messages decoded and checked against
// the tracking plan, ready to append.
type segmentBatch struct {
	collect.SegmentResult
	violations []lianlu.PlanViolation
}

// decodeSegment runs a chunk's Segment messages through the collector's
// decoder and the source's tracking plan, rejecting what they refuse.
func (im *importer) decodeSegment(ctx context.Context, rows []eventRow, t *tally) (segmentBatch, error) {
	if len(rows) == 0 {
		return segmentBatch{}, nil
	}
	var body bytes.Buffer
	body.WriteString(`{"batch":[`)
	for i, r := range rows {
		if i > 0 {
			body.WriteByte(',')
		}
		if msg := bytes.TrimSpace(r.data[1:]); r.data[0] == '{' && !collect.HasSegmentMessageID(r.data) {
			// A stable messageId in front, so that a resumed import
			// stores the message once.
			body.WriteString(`{"messageId":"` + stableMessageID(r.data) + `"`)
			if msg[0] != '}' {
				body.WriteByte(',')
			}
			body.Write(msg)
			continue
		}
		body.Write(r.data)
	}
	body.WriteString(`]}`)
	res, err := collect.DecodeSegment(collect.SegmentRequest{
		Call: collect.SegmentBatch, Body: body.Bytes(), ReceivedAt: time.Now().UTC(),
		SourceID: strconv.FormatInt(im.src.ID, 10), KeepReceivedAt: true,
	}, collect.SegmentLimits{MaxRequestBytes: body.Len() + 1, MaxBatchMessages: len(rows)}, nil)
	if err != nil {
		return segmentBatch{}, fmt.Errorf("decode chunk at line %d: %s", rows[0].line, describe(err))
	}
	plan, err := im.plans.CompiledPlan(ctx, im.src.ID)
	if err != nil {
		return segmentBatch{}, err
	}
	violations := collect.ApplyPlan(plan, &res)
	reasons := map[int][]string{}
	for _, p := range res.Invalid {
		field := p.Field
		if field == "" {
			field = "message"
		}
		reasons[p.Index] = append(reasons[p.Index], field+": "+p.Message)
	}
	for i, r := range rows {
		if rs, ok := reasons[i]; ok {
			t.reject(r.line, strings.Join(rs, "; "))
		}
	}
	for i := range res.Events {
		res.Events[i].Department = im.src.Department
	}
	return segmentBatch{SegmentResult: res, violations: violations}, nil
}

// indexedFieldRe reads the event index of a batch field error, "[3].data".
var indexedFieldRe = regexp.MustCompile(`^\[(\d+)\]\.`)

func (im *importer) cloudEvents(ctx context.Context, rows []eventRow, t *tally) error {
	header := http.Header{"Content-Type": {collect.CloudEventsJSONType}}
	var events []lianlu.Event
	var lines []int64
	for _, r := range rows {
		es, err := collect.DecodeCloudEvents(header, r.data, collect.CloudEventsOptions{})
		if err == nil {
			err = httpapi.CheckIntake(es, im.principal, time.Now())
		}
		if err != nil {
			t.reject(r.line, reasonOf(err))
			continue
		}
		events = append(events, es[0])
		lines = append(lines, r.line)
	}
	// A command's failure fails its whole batch: take out the events it
	// names and try the rest again; without an index, go one by one.
	for len(events) > 0 {
		res, err := im.intake.Ingest(ctx, events)
		if err == nil {
			for _, r := range res {
				t.stored([]lianlu.AppendResult{r.AppendResult})
			}
			return nil
		}
		if ctx.Err() != nil || lianlu.ErrorCode(err) == lianlu.EINTERNAL || lianlu.ErrorCode(err) == lianlu.EUNAVAILABLE {
			return err
		}
		bad := map[int][]string{}
		for _, f := range lianlu.ErrorFields(err) {
			if m := indexedFieldRe.FindStringSubmatch(f.Field); m != nil {
				i, _ := strconv.Atoi(m[1])
				bad[i] = append(bad[i], strings.TrimPrefix(f.Field, m[0])+": "+f.Message)
			}
		}
		if len(events) == 1 {
			bad[0] = []string{reasonOf(err)}
		}
		if len(bad) == 0 {
			for i := range events {
				if err := im.cloudEvents(ctx, []eventRow{{line: lines[i], data: rows[indexOfLine(rows, lines[i])].data}}, t); err != nil {
					return err
				}
			}
			return nil
		}
		var keep []lianlu.Event
		var keepLines []int64
		for i, e := range events {
			if rs, ok := bad[i]; ok {
				t.reject(lines[i], strings.Join(rs, "; "))
				continue
			}
			keep, keepLines = append(keep, e), append(keepLines, lines[i])
		}
		events, lines = keep, keepLines
	}
	return nil
}

// reasonOf is the text of a rejected row's error: its fields and their
// problems, or its message.
func reasonOf(err error) string {
	fs := lianlu.ErrorFields(err)
	if len(fs) == 0 {
		return lianlu.ErrorMessage(err)
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Field + ": " + f.Message
	}
	return strings.Join(parts, "; ")
}

func indexOfLine(rows []eventRow, line int64) int {
	for i, r := range rows {
		if r.line == line {
			return i
		}
	}
	return -1
}

// csvField maps one CSV column to a Segment message field.
type csvField struct {
	path   []string // "properties.sku" → ["properties", "sku"]
	kind   string   // "", "number" or "bool"
	column string
	index  int
}

// parseCSVMapping reads --map: FIELD[:number|:bool]=COLUMN, comma-separated.
func parseCSVMapping(spec string) ([]csvField, error) {
	var out []csvField
	for pair := range strings.SplitSeq(spec, ",") {
		field, column, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || field == "" || column == "" {
			return nil, fmt.Errorf("%q: want FIELD=COLUMN", pair)
		}
		f, err := parseCSVField(field)
		if err != nil {
			return nil, err
		}
		f.column = column
		out = append(out, f)
	}
	return out, nil
}

func parseCSVField(field string) (csvField, error) {
	var f csvField
	name, kind, _ := strings.Cut(field, ":")
	switch kind {
	case "", "number", "bool", "string":
	default:
		return f, fmt.Errorf("%q: the type is number, bool or string", field)
	}
	if kind == "string" {
		kind = ""
	}
	for p := range strings.SplitSeq(name, ".") {
		if p == "" {
			return f, fmt.Errorf("%q: empty part in the field path", field)
		}
		f.path = append(f.path, p)
	}
	f.kind = kind
	return f, nil
}

// csvReader reads the header row, then yields each record as a Segment
// message (a track call unless a column gives the type), from the
// checkpoint on. Offsets are the CSV reader's input offsets.
func (im *importer) csvReader(f *os.File) (func() (eventRow, int64, string, error), error) {
	cr := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read CSV header: %w", err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff"))
	}
	fields := im.mapping
	if fields == nil {
		for _, h := range header {
			f, err := parseCSVField(h)
			if err != nil {
				return nil, fmt.Errorf("CSV header: %w (or give --map)", err)
			}
			f.column = h
			fields = append(fields, f)
		}
	}
	for i := range fields {
		fields[i].index = -1
		for j, h := range header {
			if h == fields[i].column {
				fields[i].index = j
			}
		}
		if fields[i].index < 0 {
			return nil, fmt.Errorf("--map: no column %q in the header (%s)", fields[i].column, strings.Join(header, ","))
		}
	}
	base, baseLine := cr.InputOffset(), int64(0)
	if im.cp.Offset > base {
		if _, err := f.Seek(im.cp.Offset, io.SeekStart); err != nil {
			return nil, err
		}
		cr = csv.NewReader(bufio.NewReaderSize(f, 1<<20))
		cr.FieldsPerRecord = -1
		base, baseLine = im.cp.Offset, im.cp.Line
	} else {
		base, im.cp.Offset, im.cp.Line = 0, cr.InputOffset(), 1
	}
	return func() (eventRow, int64, string, error) {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return eventRow{}, 0, "", io.EOF
		}
		end := base + cr.InputOffset()
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			return eventRow{line: baseLine + int64(pe.StartLine)}, end, pe.Err.Error(), nil
		case err != nil:
			return eventRow{}, 0, "", err
		}
		line, _ := cr.FieldPos(0)
		row := eventRow{line: baseLine + int64(line)}
		msg, reason := csvMessage(fields, rec)
		row.data = msg
		return row, end, reason, nil
	}, nil
}

// csvMessage builds the JSON message of a record.
func csvMessage(fields []csvField, rec []string) ([]byte, string) {
	m := map[string]any{}
	for _, f := range fields {
		if f.index >= len(rec) {
			continue
		}
		v := strings.TrimSpace(rec[f.index])
		if v == "" {
			continue
		}
		var val any = v
		switch f.kind {
		case "number":
			if _, err := strconv.ParseFloat(v, 64); err != nil || !json.Valid([]byte(v)) {
				return nil, fmt.Sprintf("column %s: %q is not a number", f.column, v)
			}
			val = json.Number(v)
		case "bool":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Sprintf("column %s: %q is not true or false", f.column, v)
			}
			val = b
		}
		obj := m
		for _, p := range f.path[:len(f.path)-1] {
			child, ok := obj[p].(map[string]any)
			if !ok {
				child = map[string]any{}
				obj[p] = child
			}
			obj = child
		}
		obj[f.path[len(f.path)-1]] = val
	}
	if _, ok := m["type"]; !ok {
		m["type"] = collect.SegmentTrack
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err.Error()
	}
	return b, ""
}
