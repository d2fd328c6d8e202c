package idempotency

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"time"
)

// Store keeps idempotency records. Every method is one atomic step on one
// record, so that many processes sharing a store still run each request
// exactly once. Implementations must be safe for concurrent use.
//
// A record is created in progress by [Store.Claim], owned by the token that
// claim returns for the lease it was given, which the owner may extend with
// [Store.Renew] while it works. The owner either commits the
// response ([Store.Commit]) or releases the record ([Store.Release]). An
// in-progress record whose lease has expired is gone: any later Claim creates
// a new record with a new token, and the old token's Commit or Release then
// fails with [ErrLeaseLost]. A completed record lives for the retention given
// to Commit.
type Store interface {
	// Claim creates an in-progress record for key with the given request
	// fingerprint and lease, and returns Claimed=true with its new token,
	// unless a live record exists: then it returns Claimed=false and that
	// record (in progress, or completed with its response), in the same
	// atomic step.
	Claim(ctx context.Context, key, fingerprint string, lease time.Duration) (ClaimResult, error)

	// Commit stores resp in the in-progress record of key owned by token,
	// marks it completed and keeps it for retention. It returns
	// [ErrLeaseLost] when token no longer owns an in-progress record of key
	// (lease expired, re-claimed, released or already committed); the record
	// is then left untouched.
	Commit(ctx context.Context, key, token string, resp Response, retention time.Duration) error

	// Release deletes the in-progress record of key owned by token, so that
	// a retry runs the request again. It returns [ErrLeaseLost] when token
	// no longer owns an in-progress record of key.
	Release(ctx context.Context, key, token string) error

	// Renew sets the end of the lease of the in-progress record of key
	// owned by token to now + lease, so that a handler slower than one
	// lease keeps its claim. It returns [ErrLeaseLost] when token no longer
	// owns an in-progress record of key; the record is then left untouched.
	Renew(ctx context.Context, key, token string, lease time.Duration) error

	// Get returns the live record of key, or false when there is none.
	Get(ctx context.Context, key string) (Record, bool, error)
}

// ErrLeaseLost is returned by [Store.Commit], [Store.Release] and
// [Store.Renew] when the token given is not the owner of an in-progress
// record of the key: its lease expired and the record is gone or was claimed
// again, or it was already released or committed. This is the fencing that
// keeps a stale owner from overwriting a newer record.
//
// The guard also uses it as the cause of the cancellation of a handler's
// context when the claim is lost while the handler runs (the store stayed
// unreachable until the lease ran out, or another request took the key
// over): there, context.Cause(r.Context()) returns ErrLeaseLost, and
// whatever the handler answers is not stored.
var ErrLeaseLost = errors.New("idempotency: token does not own an in-progress record")

// State is the state of a record.
type State uint8

const (
	// StateInProgress is a claimed record whose request is still running.
	StateInProgress State = iota + 1
	// StateCompleted is a record holding the stored response.
	StateCompleted
)

// String returns "in_progress" or "completed".
func (s State) String() string {
	switch s {
	case StateInProgress:
		return "in_progress"
	case StateCompleted:
		return "completed"
	}
	return "unknown"
}

// ClaimResult is the outcome of [Store.Claim].
type ClaimResult struct {
	// Claimed is true when the caller now owns a new in-progress record.
	Claimed bool
	// Token is the fencing token of the new record (Claimed only). Pass it
	// to Commit or Release.
	Token string
	// Record is the existing live record when Claimed is false.
	Record Record
}

// Record is one stored idempotency record.
type Record struct {
	// State is in progress or completed.
	State State
	// Fingerprint is the request fingerprint given to Claim.
	Fingerprint string
	// Token is the fencing token of the owner.
	Token string
	// ExpiresAt is when the record expires: the end of the lease while in
	// progress, the end of the retention once completed. It is the
	// store's estimate in local time; zero when unknown.
	ExpiresAt time.Time
	// Response is the stored response (completed records only).
	Response *Response
}

// Response is a stored response: what the client saw the first time.
type Response struct {
	// Status is the HTTP status code.
	Status int
	// Header holds the allowlisted headers only.
	Header http.Header
	// Body is the response body, byte for byte.
	Body []byte
}

// Clone returns a deep copy of r.
func (r Response) Clone() Response {
	out := Response{Status: r.Status, Header: r.Header.Clone()}
	if r.Body != nil {
		out.Body = append([]byte{}, r.Body...)
	}
	return out
}

const responseEncodingV1 = 1

// MarshalBinary encodes r in a compact binary form (a version byte, the
// status, the headers and the body), for stores that keep responses as
// opaque bytes, such as redisstore.
func (r Response) MarshalBinary() ([]byte, error) {
	if r.Status < 0 || r.Status > 999 {
		return nil, errors.New("idempotency: response status out of range")
	}
	n := 1 + 2 + binary.MaxVarintLen64 + len(r.Body)
	for k, vs := range r.Header {
		n += 2*binary.MaxVarintLen64 + len(k)
		for _, v := range vs {
			n += binary.MaxVarintLen64 + len(v)
		}
	}
	b := make([]byte, 0, n)
	b = append(b, responseEncodingV1)
	b = binary.BigEndian.AppendUint16(b, uint16(r.Status))
	b = binary.AppendUvarint(b, uint64(len(r.Header)))
	for k, vs := range r.Header {
		b = appendField(b, k, vs)
	}
	return append(b, r.Body...), nil
}

var errBadEncoding = errors.New("idempotency: malformed stored response")

// UnmarshalBinary decodes what [Response.MarshalBinary] produced. The
// headers are copied; Body aliases the tail of data, so data must not be
// modified afterwards.
func (r *Response) UnmarshalBinary(data []byte) error {
	if len(data) < 3 || data[0] != responseEncodingV1 {
		return errBadEncoding
	}
	status := int(binary.BigEndian.Uint16(data[1:3]))
	if status > 999 {
		return errBadEncoding
	}
	p := data[3:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, false
		}
		p = p[n:]
		return v, true
	}
	str := func() (string, bool) {
		l, ok := next()
		if !ok || l > uint64(len(p)) {
			return "", false
		}
		s := string(p[:l])
		p = p[l:]
		return s, true
	}
	nh, ok := next()
	if !ok || nh > uint64(len(p)) {
		return errBadEncoding
	}
	var h http.Header
	if nh > 0 {
		h = make(http.Header, nh)
	}
	for range nh {
		k, ok := str()
		if !ok {
			return errBadEncoding
		}
		nv, ok := next()
		if !ok || nv > uint64(len(p)) {
			return errBadEncoding
		}
		vs := make([]string, 0, nv)
		for range nv {
			v, ok := str()
			if !ok {
				return errBadEncoding
			}
			vs = append(vs, v)
		}
		h[k] = vs
	}
	r.Status = status
	r.Header = h
	r.Body = p[:len(p):len(p)]
	return nil
}
