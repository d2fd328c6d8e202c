package redisstore

// prelude begins both scripts: cost, the time now (nowSec, nowNs: the
// Redis server clock, or ARGV[2]), and the two bucket operations. ahead
// reads how far a bucket's TAT lies after now, clamped to [0, limit];
// setAhead stores the TAT rel ns after now, expiring when the bucket is full
// again (with a supplied clock, after an hour at the least, see KEYS[i]
// below). rel <= 2^53 is exact, nowNs + rel might not be: the seconds and
// the nanoseconds are added separately.
const prelude = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local cost = tonumber(ARGV[1])
local nowSec, nowNs
if ARGV[2] == '' then
  local t = redis.call('TIME')
  nowSec = tonumber(t[1])
  nowNs = tonumber(t[2]) * 1000
else
  local s = ARGV[2]
  nowSec = tonumber(string.sub(s, 1, -10)) or 0
  nowNs = tonumber(string.sub(s, -9))
end
local function ahead(key, limit)
  local a = 0
  local v = redis.call('GET', key)
  if v then
    local sec = tonumber(string.sub(v, 1, -10)) or 0
    local ns = tonumber(string.sub(v, -9))
    if ns then
      a = (sec - nowSec) * 1000000000 + (ns - nowNs)
    end
    if a < 0 then a = 0 elseif a > limit then a = limit end
  end
  return a
end
local function setAhead(key, rel)
  local relSec = math.floor(rel / 1000000000)
  local ns = nowNs + (rel - relSec * 1000000000)
  local sec = nowSec + relSec
  while ns < 0 do sec = sec - 1; ns = ns + 1000000000 end
  while ns >= 1000000000 do sec = sec + 1; ns = ns - 1000000000 end
  local ms = math.ceil(rel / 1000000)
  if ms < 1 then ms = 1 end
  if ARGV[2] ~= '' and ms < 3600000 then ms = 3600000 end
  redis.call('SET', key, string.format('%d%09d', sec, ns), 'PX', ms)
end
`

// script decides one request against every policy of a route in one atomic
// step. It is the GCRA of ratelimit.Policy.Decide, in integer nanoseconds.
//
// KEYS[i]  the bucket of policy i: a string, the theoretical arrival time
//
//	(TAT) in Unix nanoseconds, expiring when the bucket is full; with a
//	supplied clock (ARGV[2], tests), after an hour at the least: Redis
//	expires keys on its own clock, which the supplied one does not move,
//	and a key kept longer never changes a decision (a TAT in the past is
//	a full bucket).
//
// ARGV[1]  cost
// ARGV[2]  "" to use the server clock (TIME), else the time in Unix ns (tests)
// ARGV[1+2i], ARGV[2+2i]  the emission interval T and the tolerance tau =
//
//	Burst*T of policy i, in ns.
//
// It returns {allowed, ahead_1, …, ahead_n}: allowed is 1 when every policy
// allowed the request (and then every bucket was advanced by cost*T), and
// ahead_i is how far bucket i's TAT lay after now BEFORE the request,
// clamped to [0, limit], limit = min(2*tau, 2^53) (ratelimit.Policy.DebtLimit:
// a bucket charged after a response may be in debt, ahead > tau). The Go side recomputes each decision from ahead_i
// with the same pure function as the memory store.
//
// Lua numbers are doubles, exact for integers below 2^53. Absolute times
// (~1.7e18 ns) are not, so they are split into seconds and nanoseconds and
// only differences (at most tau <= 2^53, see ratelimit.MaxRefill) are
// computed; the admission test is written as ahead <= tau - cost*T so that
// no intermediate value exceeds tau.
const script = prelude + `
local n = #KEYS
local out = {1}
local aheads = {}
for i = 1, n do
  local T = tonumber(ARGV[1 + 2 * i])
  local tau = tonumber(ARGV[2 + 2 * i])
  local a = ahead(KEYS[i], math.min(2 * tau, 9007199254740992))
  aheads[i] = a
  out[i + 1] = a
  if a > tau - cost * T then out[1] = 0 end
end
if out[1] == 1 and cost > 0 then
  for i = 1, n do
    setAhead(KEYS[i], aheads[i] + cost * tonumber(ARGV[1 + 2 * i]))
  end
end
return out
`

// chargeScript charges cost more tokens to every bucket, unconditionally
// (Store.Charge): bucket i's ahead becomes min(ahead_i + cost*T_i, limit_i),
// limit_i = min(2*tau_i, 2^53), so it may go into debt. KEYS and ARGV are
// laid out as for script. It returns {1}.
const chargeScript = prelude + `
for i = 1, #KEYS do
  local T = tonumber(ARGV[1 + 2 * i])
  local limit = math.min(2 * tonumber(ARGV[2 + 2 * i]), 9007199254740992)
  local a = ahead(KEYS[i], limit)
  local rel
  if cost > (limit - a) / T then rel = limit else rel = a + cost * T end
  if rel > 0 then setAhead(KEYS[i], rel) end
end
return {1}
`

// batchScript is script for a store with Config.TokenBatch: it first gives
// back ret tokens an expired local batch did not spend, then decides a
// request of cost tokens against every policy and, when all allow it, takes
// g tokens from each bucket: as many as half the fewest whole tokens any of
// the buckets holds, but at least cost and at most maxg. KEYS and ARGV[1]
// to ARGV[2+2n] are laid out as for script;
//
// ARGV[3+2n]  maxg, the largest grant (cost when the caller may not batch)
// ARGV[4+2n]  ret, the tokens given back first (0: none)
//
// It returns {allowed, g, ahead_1, …, ahead_n}, ahead_i being bucket i's
// ahead after the give-back and BEFORE the grant: the Go side recomputes
// each decision as ratelimit.Policy.Decide(ahead_i, g).
const batchScript = prelude + `
local n = #KEYS
local maxg = tonumber(ARGV[3 + 2 * n])
local ret = tonumber(ARGV[4 + 2 * n])
local out = {1, 0}
local aheads = {}
local avail = -1
for i = 1, n do
  local T = tonumber(ARGV[1 + 2 * i])
  local tau = tonumber(ARGV[2 + 2 * i])
  local a = ahead(KEYS[i], math.min(2 * tau, 9007199254740992))
  if ret > 0 and a > 0 then
    if ret * T >= a then
      a = 0
      redis.call('DEL', KEYS[i])
    else
      a = a - ret * T
      setAhead(KEYS[i], a)
    end
  end
  aheads[i] = a
  out[i + 2] = a
  if a > tau - cost * T then
    out[1] = 0
  else
    local free = math.floor((tau - a) / T)
    if avail < 0 or free < avail then avail = free end
  end
end
if out[1] == 1 then
  local g = math.floor(avail / 2)
  if g > maxg then g = maxg end
  if g < cost then g = cost end
  out[2] = g
  if g > 0 then
    for i = 1, n do
      setAhead(KEYS[i], aheads[i] + g * tonumber(ARGV[1 + 2 * i]))
    end
  end
end
return out
`

// returnScript gives back ret unspent tokens of a local batch to every
// bucket (Store.Close and the sweeper of expired batches): bucket i's ahead
// becomes ahead_i - ret*T_i, the key deleted when that is 0 or less (a full
// bucket). KEYS and ARGV are laid out as for batchScript (maxg unused). It
// returns {1}.
const returnScript = prelude + `
local n = #KEYS
local ret = tonumber(ARGV[4 + 2 * n])
for i = 1, n do
  local T = tonumber(ARGV[1 + 2 * i])
  local a = ahead(KEYS[i], math.min(2 * tonumber(ARGV[2 + 2 * i]), 9007199254740992))
  if a > 0 then
    if ret * T >= a then redis.call('DEL', KEYS[i]) else setAhead(KEYS[i], a - ret * T) end
  end
end
return {1}
`
