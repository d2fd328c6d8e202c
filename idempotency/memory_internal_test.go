package idempotency

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// modelRec is a record of the model the memory store is checked against.
type modelRec struct {
	key, fp, token string
	slot           uint32 // from the guard's claim, the hint of commit
	state          State
	expires        time.Time
	resp           *Response
}

// TestMemoryStoreModel runs random operations on a memory store and on a
// plain model of what its documentation says, and compares every answer:
// with keys hashed as they are, and with every key on one hash (all in one
// chain), with responses of every size class and larger than the largest.
func TestMemoryStoreModel(t *testing.T) {
	for _, tc := range []struct {
		name string
		mask uint64
	}{{"hashed", ^uint64(0)}, {"one hash", 0}, {"four hashes", 3}} {
		for seed := range uint64(8) {
			t.Run(fmt.Sprintf("%s/%d", tc.name, seed), func(t *testing.T) {
				runModel(t, tc.mask, seed, 3000)
			})
		}
	}
}

func runModel(t *testing.T, mask, seed uint64, steps int) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 1))
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	const maxRecords = 8
	m := NewMemoryStore(MemoryConfig{MaxRecords: maxRecords, Now: clock})
	defer m.Close()
	m.s.mask = mask
	var model []modelRec // oldest first
	find := func(key string) int {
		for i, r := range model {
			if r.key == key {
				return i
			}
		}
		return -1
	}
	live := func(key string) int {
		i := find(key)
		if i >= 0 && !now.Before(model[i].expires) {
			model = append(model[:i], model[i+1:]...)
			return -1
		}
		return i
	}
	toBack := func(i int) {
		r := model[i]
		model = append(append(model[:i], model[i+1:]...), r)
	}
	sizes := []int{-1, 0, 1, 40, 63, 64, 65, 200, 1000, 5000, 65536 - 300, 65536, 70000, 200000}
	randResp := func() Response {
		r := Response{Status: 200 + rng.IntN(300)}
		switch rng.IntN(3) {
		case 1:
			r.Header = http.Header{}
		case 2:
			r.Header = http.Header{"Content-Type": {"application/json"}, "Etag": {`"x"`, `"y"`}}
		}
		if n := sizes[rng.IntN(len(sizes))]; n >= 0 {
			r.Body = make([]byte, n)
			for i := range r.Body {
				r.Body[i] = byte(rng.Uint32())
			}
		}
		return r
	}
	checkRecord := func(op string, got Record, want modelRec) {
		t.Helper()
		if got.State != want.state || got.Fingerprint != want.fp || got.Token != want.token || !got.ExpiresAt.Equal(want.expires) {
			t.Fatalf("%s: got record %v %q %q %v, want %v %q %q %v", op, got.State, got.Fingerprint, got.Token, got.ExpiresAt,
				want.state, want.fp, want.token, want.expires)
		}
		switch {
		case (got.Response == nil) != (want.resp == nil):
			t.Fatalf("%s: got response %v, want %v", op, got.Response, want.resp)
		case got.Response == nil:
		case got.Response.Status != want.resp.Status || !reflect.DeepEqual(got.Response.Header, want.resp.Header) ||
			!bytes.Equal(got.Response.Body, want.resp.Body) || (got.Response.Body == nil) != (want.resp.Body == nil):
			t.Fatalf("%s: got response %d %v (%d bytes, nil %v), want %d %v (%d bytes, nil %v)", op,
				got.Response.Status, got.Response.Header, len(got.Response.Body), got.Response.Body == nil,
				want.resp.Status, want.resp.Header, len(want.resp.Body), want.resp.Body == nil)
		}
	}
	tokenOf := func(key string) string {
		if i := find(key); i >= 0 && rng.IntN(8) > 0 {
			return model[i].token
		}
		return fmt.Sprint(rng.IntN(50))
	}
	for step := range steps {
		key := fmt.Sprintf("key-%d", rng.IntN(14))
		if rng.IntN(3) == 0 { // a long key: its blob is of another size class
			key += "/" + strings.Repeat("k", 250)
		}
		op := fmt.Sprintf("step %d", step)
		switch rng.IntN(8) {
		case 0, 1:
			fp := fmt.Sprintf("fp-%d", rng.IntN(2))
			lease := time.Duration(1+rng.IntN(10)) * time.Second
			var res ClaimResult
			var slot uint32
			if rng.IntN(2) == 0 {
				var err error
				if res, err = m.Claim(ctx, key, fp, lease); err != nil {
					t.Fatal(err)
				}
			} else { // as the guard does
				mc, err := m.claim(ctx, key, fp, lease, false)
				if err != nil {
					t.Fatal(err)
				}
				res, slot = mc.res, mc.slot
			}
			if i := live(key); i >= 0 {
				if res.Claimed {
					t.Fatalf("%s: claimed %s, a live record", op, key)
				}
				checkRecord(op+" claim", res.Record, model[i])
				break
			}
			if !res.Claimed {
				t.Fatalf("%s: claim of %s refused, want claimed", op, key)
			}
			for len(model) >= maxRecords {
				model = model[1:]
			}
			model = append(model, modelRec{key: key, fp: fp, token: res.Token, slot: slot, state: StateInProgress, expires: now.Add(lease)})
		case 2, 3:
			token, resp := tokenOf(key), randResp()
			ret := time.Duration(1+rng.IntN(20)) * time.Second
			var err error
			if rng.IntN(2) == 0 {
				err = m.Commit(ctx, key, token, resp, ret)
			} else { // as the guard does, with the slot of the claim or a stale one
				hint := uint32(rng.IntN(maxRecords + 2))
				if i := find(key); i >= 0 && rng.IntN(4) > 0 {
					hint = model[i].slot
				}
				err = m.commit(key, hint, token, storedResp{status: resp.Status, hdr: appendFlat(nil, resp.Header, nil), hdrNil: resp.Header == nil, body: resp.Body}, ret)
			}
			i := live(key)
			if ok := i >= 0 && model[i].state == StateInProgress && model[i].token == token; ok != (err == nil) {
				t.Fatalf("%s: commit %s: got %v, want success %v", op, key, err, ok)
			}
			if err == nil {
				stored := resp
				if stored.Body != nil {
					stored.Body = bytes.Clone(stored.Body)
				}
				if stored.Header != nil && len(stored.Header) == 0 {
					stored.Header = http.Header{}
				}
				model[i].state, model[i].resp, model[i].expires = StateCompleted, &stored, now.Add(ret)
				toBack(i)
				for j := range resp.Body { // the store keeps its own copy
					resp.Body[j]++
				}
			}
		case 4:
			token := tokenOf(key)
			err := m.Release(ctx, key, token)
			i := live(key)
			if ok := i >= 0 && model[i].state == StateInProgress && model[i].token == token; ok != (err == nil) {
				t.Fatalf("%s: release %s: got %v, want success %v", op, key, err, ok)
			}
			if err == nil {
				model = append(model[:i], model[i+1:]...)
			}
		case 5:
			token := tokenOf(key)
			lease := time.Duration(1+rng.IntN(10)) * time.Second
			err := m.Renew(ctx, key, token, lease)
			i := live(key)
			if ok := i >= 0 && model[i].state == StateInProgress && model[i].token == token; ok != (err == nil) {
				t.Fatalf("%s: renew %s: got %v, want success %v", op, key, err, ok)
			}
			if err == nil {
				model[i].expires = now.Add(lease)
				toBack(i)
			}
		case 6:
			rec, ok, err := m.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			i := live(key)
			if ok != (i >= 0) {
				t.Fatalf("%s: get %s: got %v, want %v", op, key, ok, i >= 0)
			}
			if ok {
				checkRecord(op+" get", rec, model[i])
			}
		case 7:
			if rng.IntN(4) == 0 {
				m.Sweep()
				kept := model[:0]
				for _, r := range model {
					if now.Before(r.expires) {
						kept = append(kept, r)
					}
				}
				model = kept
			} else {
				mu.Lock()
				now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
				mu.Unlock()
			}
		}
		if got := m.Len(); got != len(model) {
			t.Fatalf("%s: Len: got %d, want %d", op, got, len(model))
		}
	}
	// Empty the store: every size class gives its slabs back.
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	m.Sweep()
	if m.Len() != 0 {
		t.Fatalf("Len after the last sweep: %d", m.Len())
	}
	for c, sc := range m.s.blobs.classes {
		if sc.live != 0 || len(sc.pages) > 1 {
			t.Errorf("class %d: %d slabs live, %d pages, want none and at most one", c, sc.live, len(sc.pages))
		}
	}
	if len(m.s.blobs.big) != 0 || len(m.s.index) != 0 {
		t.Errorf("after the last sweep: %d big blobs, %d hashes, want none", len(m.s.blobs.big), len(m.s.index))
	}
}
