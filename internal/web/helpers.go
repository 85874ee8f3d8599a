package web

import (
	"net/http"
	"strconv"

	"github.com/lianlu/lianlu"
)

func notFound() error { return lianlu.Errorf(lianlu.ENOTFOUND, "not found") }

// pathID reads the {id} of the path.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, notFound()
	}
	return id, nil
}

// seesDepartment reports whether the user may see a department's queue:
// admins see every one, others their own (as in the API).
func seesDepartment(s *session, dept string) bool {
	return s.user.Role == lianlu.RoleAdmin || s.user.Department == dept
}

// redirectBack returns to the page a form was sent from (its "back"
// field, a local path), or to fallback.
func redirectBack(w http.ResponseWriter, r *http.Request, fallback string) {
	back := r.PostForm.Get("back")
	if back == "" || safeNext(back) != back {
		back = fallback
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
