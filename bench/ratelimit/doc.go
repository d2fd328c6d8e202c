// Package ratelimit compares apiguard's rate-limit stores with other
// libraries: the memory store with Echo's RateLimiterMemoryStore, and the
// Redis store with go-redis/redis_rate (and a bare EVALSHA baseline) on the
// same local Redis. It lives in the separate bench module so that users of
// apiguard never download the libraries it is compared with. The results are
// in bench/README.md.
package ratelimit
