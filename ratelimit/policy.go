package ratelimit

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"time"
)

// DefaultPolicyName is the name of a [Policy] whose Name is empty.
const DefaultPolicyName = "default"

// MaxRefill is the longest time a bucket may take to refill from empty to
// full (Burst × Period / Rate): 2^53 ns, about 104 days. Within it every
// computation of both stores is exact to the nanosecond, including the Redis
// store's Lua script, whose numbers are IEEE doubles.
const MaxRefill = time.Duration(1 << 53)

// maxNameLen bounds a policy name; it travels in every response header.
const maxNameLen = 64

// Policy is one token bucket: Rate tokens are added every Period, up to
// Burst; a request takes cost tokens (1 by default) or is refused. Several
// policies may guard one route ("10 per second, burst 20" and "1000 per day"),
// and a request passes only when all of them allow it.
//
// The bucket math is GCRA, the "theoretical arrival time" form of a token
// bucket, in integer nanoseconds: one token is worth Period/Rate (rounded
// down to the nanosecond), and the bucket holds Burst of them.
//
// Policy is a small value type; it is safe to copy and to share.
type Policy struct {
	// Name identifies the policy in the RateLimit-Policy and RateLimit
	// headers and names its buckets: the same Name on two routes is ONE
	// bucket per caller, shared by both routes (useful for a daily quota;
	// give per-route limits distinct names). Empty means
	// [DefaultPolicyName]. At most 64 characters from A–Z, a–z, 0–9, '.',
	// '_' and '-'.
	Name string

	// Rate is the number of tokens added per Period. It must be at least 1.
	// Rates below one per second are written with a longer Period
	// (Rate 1, Period 10*time.Second).
	Rate int64

	// Period is the time over which Rate tokens are added. Zero means one
	// second. Period/Rate must be at least 1ns.
	Period time.Duration

	// Burst is the capacity of the bucket: the most tokens a caller can
	// spend at once, and the largest cost a request may have. Zero means
	// Rate. Burst × Period / Rate must not exceed [MaxRefill].
	Burst int64

	// Shadow makes the policy a dry run: the limiter decides it and counts
	// the outcome (shadow_limited when it would refuse), logs a would-be
	// refusal once per caller per window ([Policy.Refill]) and reports the
	// policy in the RateLimit headers, but it never refuses a request. Its
	// bucket is charged like an enforced one's, so it shows what enforcing
	// it would do. Stores ignore the field. Default false: enforced.
	Shadow bool
}

// PerSecond returns a policy named name of rate tokens per second with the
// given burst.
func PerSecond(name string, rate, burst int64) Policy {
	return Policy{Name: name, Rate: rate, Period: time.Second, Burst: burst}
}

// PerMinute returns a policy named name of rate tokens per minute with the
// given burst.
func PerMinute(name string, rate, burst int64) Policy {
	return Policy{Name: name, Rate: rate, Period: time.Minute, Burst: burst}
}

// PerDay returns a policy named name of rate tokens per 24 hours with the
// given burst, as PerSecond and PerMinute do; a burst equal to rate lets the
// whole daily quota be spent at once.
func PerDay(name string, rate, burst int64) Policy {
	return Policy{Name: name, Rate: rate, Period: 24 * time.Hour, Burst: burst}
}

// Errors returned by [Policy.Validate] and by stores.
var (
	// ErrInvalidPolicy is wrapped by every error about a policy's
	// parameters.
	ErrInvalidPolicy = errors.New("ratelimit: invalid policy")

	// ErrInvalidCost is wrapped by the error for a negative cost.
	ErrInvalidCost = errors.New("ratelimit: invalid cost")
)

// CostError reports a cost that one of the policies can never allow, because
// it is larger than the policy's Burst. Waiting does not help, so the
// middleware answers 400 invalid_request, never 429.
type CostError struct {
	// Policy is the name of the policy whose Burst is too small.
	Policy string
	// Cost is the cost of the request.
	Cost int64
	// Burst is the policy's capacity.
	Burst int64
}

func (e *CostError) Error() string {
	return "ratelimit: cost " + strconv.FormatInt(e.Cost, 10) + " exceeds the burst " +
		strconv.FormatInt(e.Burst, 10) + " of policy " + strconv.Quote(e.Policy)
}

// NameOrDefault returns p.Name, or [DefaultPolicyName] when it is empty.
func (p Policy) NameOrDefault() string {
	if p.Name == "" {
		return DefaultPolicyName
	}
	return p.Name
}

// Validate reports whether p can be used: Rate ≥ 1, Period ≥ 0, Burst ≥ 0,
// Period/Rate ≥ 1ns, a refill time within [MaxRefill], and a name of at most
// 64 characters from A–Z, a–z, 0–9, '.', '_' and '-'. The error wraps
// [ErrInvalidPolicy].
func (p Policy) Validate() error {
	if _, _, err := p.params(); err != nil {
		return err
	}
	name := p.NameOrDefault()
	if len(name) > maxNameLen {
		return fmt.Errorf("%w %q: name longer than %d bytes", ErrInvalidPolicy, name, maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w %q: a name may only hold letters, digits, '.', '_' and '-'", ErrInvalidPolicy, name)
		}
	}
	return nil
}

// Interval returns the time one token is worth: Period/Rate, rounded down to
// the nanosecond. It is 0 for an invalid policy.
func (p Policy) Interval() time.Duration {
	t, _, err := p.params()
	if err != nil {
		return 0
	}
	return time.Duration(t)
}

// Refill returns the time an empty bucket takes to become full: Burst
// tokens of [Policy.Interval] each. It is the window `w` of the
// RateLimit-Policy header. It is 0 for an invalid policy.
func (p Policy) Refill() time.Duration {
	_, tau, err := p.params()
	if err != nil {
		return 0
	}
	return time.Duration(tau)
}

// Capacity returns Burst, or Rate when Burst is zero.
func (p Policy) Capacity() int64 {
	if p.Burst == 0 {
		return p.Rate
	}
	return p.Burst
}

// params returns the emission interval T and the tolerance tau (= Burst×T)
// in nanoseconds. It does not allocate unless p is invalid.
func (p Policy) params() (t, tau int64, err error) {
	period := int64(p.Period)
	if period == 0 {
		period = int64(time.Second)
	}
	burst := p.Capacity()
	switch {
	case p.Rate < 1:
		return 0, 0, fmt.Errorf("%w %q: rate %d must be at least 1", ErrInvalidPolicy, p.NameOrDefault(), p.Rate)
	case period < 0:
		return 0, 0, fmt.Errorf("%w %q: negative period %v", ErrInvalidPolicy, p.NameOrDefault(), p.Period)
	case burst < 1:
		return 0, 0, fmt.Errorf("%w %q: negative burst %d", ErrInvalidPolicy, p.NameOrDefault(), p.Burst)
	}
	t = period / p.Rate
	if t < 1 {
		return 0, 0, fmt.Errorf("%w %q: rate %d per %v is more than one per nanosecond", ErrInvalidPolicy, p.NameOrDefault(), p.Rate, time.Duration(period))
	}
	if hi, lo := bits.Mul64(uint64(burst), uint64(t)); hi != 0 || lo > uint64(MaxRefill) {
		return 0, 0, fmt.Errorf("%w %q: a bucket of %d tokens at %d per %v takes longer than %v to refill",
			ErrInvalidPolicy, p.NameOrDefault(), burst, p.Rate, time.Duration(period), MaxRefill)
	}
	return t, burst * t, nil
}

// Decision is the answer of one policy's bucket to one request.
type Decision struct {
	// Allowed reports whether the bucket had cost tokens.
	Allowed bool

	// Remaining is the number of whole tokens left after this decision
	// (the `r` of the RateLimit header).
	Remaining int64

	// RetryAfter is, for a refused request, the time until the bucket holds
	// enough tokens for it; 0 when allowed.
	RetryAfter time.Duration

	// ResetAfter is the time until the bucket is full again: how far its
	// theoretical arrival time lies ahead. A store may forget a bucket
	// after this long: a full bucket equals no bucket. The limiter derives
	// the RateLimit header's t from it (the time until one more token,
	// ratelimit-headers draft -10), so a store reports it for refused
	// requests too.
	ResetAfter time.Duration
}

// Decide is the pure bucket math. ahead is how far the bucket's theoretical
// arrival time lies after now: 0 for a full (or unknown) bucket,
// [Policy.Refill] for an empty one, and more for a bucket in debt (charged
// after a response, see [Charger]), up to [Policy.DebtLimit]; values outside
// [0, DebtLimit] are clamped. A bucket in debt refuses every request, cost 0
// included, until the debt is paid.
// It returns the decision for a request of the given cost; when it is
// allowed, the bucket's new ahead is the decision's ResetAfter.
//
// Decide errors for an invalid policy, a negative cost, and (as a
// [*CostError]) a cost above the burst.
func (p Policy) Decide(ahead time.Duration, cost int64) (Decision, error) {
	t, tau, err := p.params()
	if err != nil {
		return Decision{}, err
	}
	if err := checkCost(p, p.Capacity(), cost); err != nil {
		return Decision{}, err
	}
	return decide(t, tau, int64(ahead), cost), nil
}

// DebtLimit returns the largest ahead a bucket may reach when it is charged
// after a response ([Charger]): one more Burst beyond empty
// (2 × [Policy.Refill]), but never more than [MaxRefill]. It is 0 for an
// invalid policy.
func (p Policy) DebtLimit() time.Duration {
	_, tau, err := p.params()
	if err != nil {
		return 0
	}
	return time.Duration(debtLimit(tau))
}

// debtLimit is DebtLimit on a valid tau (≤ MaxRefill).
func debtLimit(tau int64) int64 {
	return min(2*tau, int64(MaxRefill))
}

// charge returns the ahead of a bucket after a charge of cost tokens of t
// each: ahead (clamped at 0) plus cost×t, at most the debt limit.
func charge(t, tau, ahead, cost int64) int64 {
	limit := debtLimit(tau)
	ahead = max(ahead, 0)
	if cost <= 0 {
		return min(ahead, limit)
	}
	if cost > (limit-ahead)/t {
		return limit
	}
	return min(ahead+cost*t, limit)
}

func checkCost(p Policy, burst, cost int64) error {
	if cost < 0 {
		return fmt.Errorf("%w: %d is negative", ErrInvalidCost, cost)
	}
	if cost > burst {
		return &CostError{Policy: p.NameOrDefault(), Cost: cost, Burst: burst}
	}
	return nil
}

// decide is Decide on checked parameters: 0 ≤ cost ≤ tau/t.
func decide(t, tau, ahead, cost int64) Decision {
	if ahead < 0 {
		ahead = 0
	} else if limit := debtLimit(tau); ahead > limit {
		ahead = limit
	}
	need := cost * t
	if ahead > tau-need {
		return Decision{
			Remaining:  max(tau-ahead, 0) / t,
			RetryAfter: time.Duration(ahead - (tau - need)),
			ResetAfter: time.Duration(ahead),
		}
	}
	ahead += need
	return Decision{Allowed: true, Remaining: (tau - ahead) / t, ResetAfter: time.Duration(ahead)}
}

// Result is what a [Store] answers for one request checked against all the
// policies of a route: whether every policy allowed it, and the decision of
// the most restrictive policy, which the middleware reports in its headers.
type Result struct {
	// Decision is the decision of the reported policy. Its Allowed is true
	// only when every policy allowed the request.
	Decision

	// Policy is the index, in the slice given to Take, of the reported
	// policy: for a refused request the refusing policy with the longest
	// RetryAfter; for an allowed one the policy with the fewest Remaining
	// tokens (ties: the longest ResetAfter, then the first).
	Policy int
}

// Combine folds the per-policy decisions of one request into its [Result]
// (see [Result] for which policy is reported). decisions[i] belongs to the
// i-th policy. Stores use it so that they all report alike.
func Combine(decisions []Decision) Result {
	best := -1
	allowed := true
	for _, d := range decisions {
		if !d.Allowed {
			allowed = false
			break
		}
	}
	for i, d := range decisions {
		if best < 0 {
			if allowed || !d.Allowed {
				best = i
			}
			continue
		}
		b := decisions[best]
		if !allowed {
			if !d.Allowed && d.RetryAfter > b.RetryAfter {
				best = i
			}
			continue
		}
		if d.Remaining < b.Remaining || (d.Remaining == b.Remaining && d.ResetAfter > b.ResetAfter) {
			best = i
		}
	}
	if best < 0 {
		return Result{Decision: Decision{Allowed: true}}
	}
	r := Result{Decision: decisions[best], Policy: best}
	r.Allowed = allowed
	return r
}

// CheckRequest validates a request before it reaches a store: every policy
// valid, cost not negative and within every policy's Burst. It returns the
// first problem: an error wrapping [ErrInvalidPolicy] or [ErrInvalidCost],
// or a [*CostError]. Stores call it on every Take; it does not allocate when
// the request is valid.
func CheckRequest(policies []Policy, cost int64) error {
	if len(policies) == 0 {
		return fmt.Errorf("%w: no policies", ErrInvalidPolicy)
	}
	for _, p := range policies {
		if _, _, err := p.params(); err != nil {
			return err
		}
		if err := checkCost(p, p.Capacity(), cost); err != nil {
			return err
		}
	}
	return nil
}
