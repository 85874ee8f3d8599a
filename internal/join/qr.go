package join

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/lianlu/lianlu"
)

// URL is the public join URL a store's QR code encodes:
// <base>/j/<store>, with ?s=<staff> for a staff member's own code.
func URL(base, store, staff string) string {
	u := strings.TrimRight(base, "/") + "/j/" + url.PathEscape(store)
	if staff != "" {
		u += "?s=" + url.QueryEscape(staff)
	}
	return u
}

// QR sizes in pixels for PNG codes.
const (
	DefaultQRSize = 512
	MinQRSize     = 128
	MaxQRSize     = 2048
)

// PNG renders content as a QR code image of size×size pixels, with medium
// error correction (readable with 15% of the code damaged or covered, as a
// printed code on a shop counter may be).
func PNG(content string, size int) ([]byte, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	return q.PNG(size)
}

// SVG renders content as a scalable QR code: one path of unit squares in a
// viewBox of the code's modules (quiet zone included), so it prints sharp
// at any size.
func SVG(content string) ([]byte, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	bm := q.Bitmap()
	n := len(bm)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bm {
		for x := 0; x < len(row); x++ {
			if !row[x] {
				continue
			}
			// One horizontal run per path segment keeps the file small.
			start := x
			for x < len(row) && row[x] {
				x++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", start, y, x-start, x-start)
		}
	}
	b.WriteString(`"/></svg>`)
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// StoreQR is a store's join QR code rendered for download.
type StoreQR struct {
	// URL is the join URL the code encodes.
	URL         string
	ContentType string
	Body        []byte
}

// RenderStoreQR renders the join QR code of a store, or of one of its
// active staff members (staff non-empty), as "png" (size pixels square,
// 0 for DefaultQRSize) or "svg", encoding URL(base, …). The API and the
// console serve store codes through it. EINVALID names the field for a
// staff code that is not an active staff member or a size out of range.
func RenderStoreQR(st lianlu.Store, base, staff, format string, size int) (StoreQR, error) {
	if staff != "" && !slices.ContainsFunc(st.Staff, func(m lianlu.StaffMember) bool { return m.Code == staff && m.Active }) {
		return StoreQR{}, lianlu.Invalid(lianlu.FieldError{Field: "staff", Message: "no active staff member " + staff + " in store " + st.Code})
	}
	q := StoreQR{URL: URL(base, st.Code, staff)}
	var err error
	switch format {
	case "svg":
		q.ContentType = "image/svg+xml"
		q.Body, err = SVG(q.URL)
	case "png":
		if size == 0 {
			size = DefaultQRSize
		}
		if size < MinQRSize || size > MaxQRSize {
			return StoreQR{}, lianlu.Invalid(lianlu.FieldError{Field: "size", Message: "pixels between 128 and 2048"})
		}
		q.ContentType = "image/png"
		q.Body, err = PNG(q.URL, size)
	default:
		return StoreQR{}, lianlu.Invalid(lianlu.FieldError{Field: "format", Message: "png or svg"})
	}
	return q, err
}
