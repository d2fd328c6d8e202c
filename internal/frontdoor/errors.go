package frontdoor

import (
	"net/http"

	"github.com/clipia/apiguard/errorsx"
)

// Write renders e, the mapped err, as the response of req on w: with the
// renderer when the response is not committed yet, else through
// errorsx.Renderer.Committed with the status already sent. Every front
// door's error handler ends in it.
func Write(r *errorsx.Renderer, w http.ResponseWriter, req *http.Request, route string, committed bool, status int, e *errorsx.Error) {
	if committed {
		r.Committed(w, req, route, status, e)
		return
	}
	r.Write(w, req, route, e)
}
