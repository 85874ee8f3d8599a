package web

import (
	"net/http"
	"strconv"

	"github.com/lianlu/lianlu"
	"github.com/lianlu/lianlu/internal/flow"
	"github.com/lianlu/lianlu/internal/sqlstore"
)

type flowSummary struct {
	sqlstore.StoredFlow
	Def *flow.Definition
}

type flowsData struct {
	Flows []flowSummary
}

// parseStored reads a stored flow's definition (nil if it no longer
// parses; the page then shows only its YAML).
func parseStored(sf sqlstore.StoredFlow) *flow.Definition {
	defs, err := flow.Parse([]byte(sf.YAML))
	if err != nil || len(defs) != 1 {
		return nil
	}
	return &defs[0]
}

func (c *Console) handleFlows(w http.ResponseWriter, r *http.Request) error {
	fs, err := c.cfg.Flows.List(r.Context())
	if err != nil {
		return err
	}
	var d flowsData
	for _, f := range fs {
		d.Flows = append(d.Flows, flowSummary{StoredFlow: f, Def: parseStored(f)})
	}
	return c.render(w, r, http.StatusOK, "flows", "flows", false, d)
}

type flowData struct {
	Flow     sqlstore.StoredFlow
	Def      *flow.Definition
	YAML     string
	Problems []lianlu.FieldError
	Conflict string
	Saved    bool
}

func (c *Console) handleFlow(w http.ResponseWriter, r *http.Request) error {
	f, err := c.cfg.Flows.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return c.render(w, r, http.StatusOK, "flow", "flows", false, flowData{Flow: f, Def: parseStored(f), YAML: f.YAML, Saved: r.URL.Query().Get("saved") == "1"})
}

// handleSaveFlow validates an edit and stores it as a new version; the
// problems are shown next to the text, which is kept as typed. Saving is
// audited by the flow store.
func (c *Console) handleSaveFlow(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	cur, err := c.cfg.Flows.Get(r.Context(), name)
	if err != nil {
		return err
	}
	text := r.PostForm.Get("yaml")
	version, _ := strconv.Atoi(r.PostForm.Get("version"))
	if version < 1 {
		version = cur.Version
	}
	_, _, err = c.cfg.Flows.Put(r.Context(), name, text, version)
	switch lianlu.ErrorCode(err) {
	case "":
		http.Redirect(w, r, "/flows/"+name+"?saved=1", http.StatusSeeOther)
		return nil
	case lianlu.EINVALID, lianlu.ECONFLICT:
		d := flowData{Flow: cur, Def: parseStored(cur), YAML: text, Problems: lianlu.ErrorFields(err)}
		if len(d.Problems) == 0 {
			d.Problems = []lianlu.FieldError{{Field: "yaml", Message: lianlu.ErrorMessage(err)}}
		}
		if lianlu.ErrorCode(err) == lianlu.ECONFLICT {
			d.Conflict, d.Problems = lianlu.ErrorMessage(err), nil
		}
		return c.render(w, r, http.StatusUnprocessableEntity, "flow", "flows", false, d)
	default:
		return err
	}
}
