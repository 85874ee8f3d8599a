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

// seesStore reports whether the user may see and act on a store's queue:
// a user who works in one store (User.Store) sees only that one.
func seesStore(s *session, store string) bool {
	return s.user.Store == "" || s.user.Store == store
}

// seesPII reports whether the user sees members' contact details, as
// lianlu.SeesMemberPII decides for API tokens.
func seesPII(s *session) bool { return lianlu.SeesMemberPII(s.principal()) }
