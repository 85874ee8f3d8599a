package web

import (
	"math"
	"strconv"
)

// Charts are drawn on the server as SVG: the geometry is computed here and
// the templates (charts.html) only place the shapes, so a chart reads
// without JavaScript and prints as it looks. Colours come from CSS classes.

// series is one named row of values.
type series struct {
	Name   string // already translated
	Class  string
	Values []int64
}

// rect is one bar or bar segment.
type rect struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

// label is a piece of text on a chart.
type label struct {
	X, Y   float64
	Text   string
	Anchor string
}

// gridLine is a horizontal value line with its label.
type gridLine struct {
	Y     float64
	X2    float64
	Label string
}

// legendItem names a series' colour.
type legendItem struct {
	Name  string
	Class string
}

// polyline is one series of a line chart.
type polyline struct {
	Points string
	Class  string
	Title  string
}

// chart is everything a chart template draws.
type chart struct {
	Width, Height float64
	Title         string
	Rects         []rect
	Labels        []label
	Grid          []gridLine
	Lines         []polyline
	Legend        []legendItem
	// Empty is the explanation shown instead of a chart without data.
	Empty string
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten, and
// returns it with a step for about four grid lines.
func niceMax(v int64) (float64, float64) {
	if v <= 0 {
		return 4, 1
	}
	raw := float64(v) / 4
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step := p
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= raw {
			step = m * p
			break
		}
	}
	if step < 1 {
		step = 1
	}
	return step * math.Ceil(float64(v)/step), step
}

// fmtAxis writes an axis value without needless decimals.
func fmtAxis(v float64, tr *translator) string {
	if v == math.Trunc(v) {
		return tr.Int(int64(v))
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

const (
	padLeft   = 44.0
	padBottom = 26.0
	padTop    = 10.0
	padRight  = 8.0
)

// stackedBars draws one vertical bar per label with the series stacked.
func stackedBars(tr *translator, labels []string, ss []series, width, height float64, every int) chart {
	ch := chart{Width: width, Height: height}
	var maxV int64
	for i := range labels {
		var sum int64
		for _, s := range ss {
			sum += s.Values[i]
		}
		maxV = max(maxV, sum)
	}
	top, step := niceMax(maxV)
	plotH := height - padTop - padBottom
	plotW := width - padLeft - padRight
	for v := 0.0; v <= top+step/2; v += step {
		y := padTop + plotH - v/top*plotH
		ch.Grid = append(ch.Grid, gridLine{Y: y, X2: width - padRight, Label: fmtAxis(v, tr)})
	}
	n := float64(len(labels))
	slot := plotW / n
	barW := math.Max(2, slot*0.7)
	for i, l := range labels {
		x := padLeft + float64(i)*slot + (slot-barW)/2
		y := padTop + plotH
		for _, s := range ss {
			v := s.Values[i]
			if v == 0 {
				continue
			}
			h := float64(v) / top * plotH
			y -= h
			ch.Rects = append(ch.Rects, rect{X: x, Y: y, W: barW, H: h, Class: s.Class, Title: l + " · " + s.Name + ": " + tr.Int(v)})
		}
		if every <= 1 || i%every == 0 || i == len(labels)-1 {
			ch.Labels = append(ch.Labels, label{X: x + barW/2, Y: height - 8, Text: l, Anchor: "middle"})
		}
	}
	for _, s := range ss {
		ch.Legend = append(ch.Legend, legendItem{Name: s.Name, Class: s.Class})
	}
	return ch
}

// hrow is one row of a horizontal stacked bar chart.
type hrow struct {
	Label    string
	Segments []hseg
}

// hseg is one segment of a row.
type hseg struct {
	Value int64
	Class string
	Name  string
}

// hbars draws one horizontal stacked bar per row.
func hbars(tr *translator, rows []hrow, legend []legendItem, width float64) chart {
	const rowH, labelW = 28.0, 110.0
	ch := chart{Width: width, Height: padTop + float64(len(rows))*rowH + padBottom, Legend: legend}
	var maxV int64
	for _, r := range rows {
		var sum int64
		for _, s := range r.Segments {
			sum += s.Value
		}
		maxV = max(maxV, sum)
	}
	top, step := niceMax(maxV)
	plotW := width - labelW - padRight - 30
	for v := 0.0; v <= top+step/2; v += step {
		x := labelW + v/top*plotW
		ch.Labels = append(ch.Labels, label{X: x, Y: ch.Height - 8, Text: fmtAxis(v, tr), Anchor: "middle"})
	}
	for i, r := range rows {
		y := padTop + float64(i)*rowH
		ch.Labels = append(ch.Labels, label{X: labelW - 8, Y: y + rowH/2 + 4, Text: r.Label, Anchor: "end"})
		x := labelW
		var sum int64
		for _, s := range r.Segments {
			if s.Value == 0 {
				continue
			}
			w := float64(s.Value) / top * plotW
			ch.Rects = append(ch.Rects, rect{X: x, Y: y + 5, W: w, H: rowH - 10, Class: s.Class, Title: r.Label + " · " + s.Name + ": " + tr.Int(s.Value)})
			x += w
			sum += s.Value
		}
		ch.Labels = append(ch.Labels, label{X: x + 4, Y: y + rowH/2 + 4, Text: tr.Int(sum), Anchor: "start"})
	}
	return ch
}

// lines draws one line per series over the labels.
func lines(tr *translator, labels []string, ss []series, width, height float64, every int) chart {
	ch := chart{Width: width, Height: height}
	var maxV int64
	for _, s := range ss {
		for _, v := range s.Values {
			maxV = max(maxV, v)
		}
	}
	top, step := niceMax(maxV)
	plotH := height - padTop - padBottom
	plotW := width - padLeft - padRight
	for v := 0.0; v <= top+step/2; v += step {
		y := padTop + plotH - v/top*plotH
		ch.Grid = append(ch.Grid, gridLine{Y: y, X2: width - padRight, Label: fmtAxis(v, tr)})
	}
	n := len(labels)
	xAt := func(i int) float64 {
		if n == 1 {
			return padLeft + plotW/2
		}
		return padLeft + float64(i)/float64(n-1)*plotW
	}
	for i, l := range labels {
		if every <= 1 || i%every == 0 || i == n-1 {
			ch.Labels = append(ch.Labels, label{X: xAt(i), Y: height - 8, Text: l, Anchor: "middle"})
		}
	}
	for _, s := range ss {
		pts := make([]byte, 0, 16*len(s.Values))
		var total int64
		for i, v := range s.Values {
			if i > 0 {
				pts = append(pts, ' ')
			}
			pts = strconv.AppendFloat(pts, xAt(i), 'f', 1, 64)
			pts = append(pts, ',')
			pts = strconv.AppendFloat(pts, padTop+plotH-float64(v)/top*plotH, 'f', 1, 64)
			total += v
		}
		ch.Lines = append(ch.Lines, polyline{Points: string(pts), Class: s.Class, Title: s.Name + ": " + tr.Int(total)})
		ch.Legend = append(ch.Legend, legendItem{Name: s.Name + " (" + tr.Int(total) + ")", Class: s.Class})
	}
	return ch
}
