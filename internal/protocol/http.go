package protocol

import (
	"net/http"
	"strings"
)

// HTTPStatus maps an error code to the HTTP status that carries it. It is
// the one place where that mapping lives.
func HTTPStatus(code string) int {
	switch code {
	case CodeUnauthorized, CodeTokenExpired:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeNotFound, CodeNoHistory:
		return http.StatusNotFound
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case CodeTooManyConnections, CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeSessionExpired, CodeSessionOverflow:
		return http.StatusGone
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	case CodeInternal:
		return http.StatusInternalServerError
	default:
		return http.StatusBadRequest
	}
}

// WriteHTTPError writes {"error":{"code":...,"message":...}} with the
// status of its code.
func WriteHTTPError(w http.ResponseWriter, err *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(HTTPStatus(err.Code))
	_, _ = w.Write(append(AppendErrorBody(nil, err), '\n'))
}

// BearerToken returns the credentials of an "Authorization: Bearer <token>"
// header. The scheme is matched without regard to case, and the spaces
// after it may be several (RFC 9110, section 11.4).
func BearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	return token, token != ""
}
