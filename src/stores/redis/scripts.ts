import { createHash } from 'node:crypto';

/**
 * The Lua scripts behind every store operation. Each one touches exactly one key, KEYS[1] (the
 * record, a hash), so it runs atomically on the one node that owns the key's slot, also on a
 * Redis Cluster. Visibility is always decided by comparing the stored `expiresAt` with the `now`
 * the engine passes; Redis's own expiry (PEXPIRE) only reclaims space.
 *
 * Scripts that change what a waiter is waiting for end with `notify`: when ARGV carries a publish
 * command (PUBLISH or SPUBLISH) and a channel, the change is announced in the same atomic step.
 */
export interface RedisScript {
  source: string;
  sha: string;
}

// Shared prelude: `notify(event, at)` publishes when ARGV[at] names a publish command.
const notify = `
local function notify(event, at)
  if ARGV[at] ~= '' then redis.call(ARGV[at], ARGV[at + 1], event) end
end
`;

// The record as a flat reply, preceded by a flag (1 = the caller owns it now).
const withRecord = `
local function withRecord(flag)
  local reply = redis.call('HGETALL', KEYS[1])
  table.insert(reply, 1, flag)
  return reply
end
`;

/**
 * ARGV: fingerprint, token, leaseUntil, expiresAt, createdAt, now, ttl (ms), publish command, channel.
 * Reply: { 1 | 0, ...record fields } (1 = acquired), or just { 1 } when a fresh record was written:
 * it holds exactly what the caller sent, so reading it back would only cost both sides time.
 */
const acquire = `${notify}${withRecord}
local key = KEYS[1]
local now = tonumber(ARGV[6])
local state, fingerprint, leaseUntil, expiresAt =
  unpack(redis.call('HMGET', key, 'state', 'fingerprint', 'leaseUntil', 'expiresAt'))
if state and tonumber(expiresAt) > now then
  if state == 'in-flight' and tonumber(leaseUntil) <= now and fingerprint == ARGV[1] then
    -- Takeover: new token and lease; expiresAt, createdAt and the key's TTL stay as they are.
    redis.call('HSET', key, 'token', ARGV[2], 'leaseUntil', ARGV[3])
    notify('taken-over', 8)
    return withRecord(1)
  end
  return withRecord(0)
end
-- Free, or expired by the engine's clock but not yet reclaimed by Redis: start afresh.
if state then redis.call('DEL', key) end
redis.call('HSET', key, 'state', 'in-flight', 'fingerprint', ARGV[1], 'token', ARGV[2],
  'leaseUntil', ARGV[3], 'expiresAt', ARGV[4], 'createdAt', ARGV[5])
redis.call('PEXPIRE', key, ARGV[7])
return { 1 }
`;

/**
 * ARGV: token, expiresAt, status, headers (JSON), body, publish command, channel. Reply: 1 | 0.
 *
 * complete() gets no `now`, so the new Redis expiry is derived from the old one: the key's TTL
 * moves by exactly as much as the record's expiresAt moves. That keeps the offset fixed at acquire
 * (PX = expiresAt - now, measured against the engine's clock) and so never depends on Redis's clock.
 */
const complete = `${notify}
local key = KEYS[1]
local state, token, expiresAt = unpack(redis.call('HMGET', key, 'state', 'token', 'expiresAt'))
if state ~= 'in-flight' or token ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', key)
redis.call('HSET', key, 'state', 'completed', 'expiresAt', ARGV[2], 'status', ARGV[3],
  'headers', ARGV[4], 'body', ARGV[5])
if ttl >= 0 then
  local shifted = ttl + tonumber(ARGV[2]) - tonumber(expiresAt)
  redis.call('PEXPIRE', key, string.format('%d', math.max(1, shifted)))
else
  -- A key without a TTL (written by hand?) falls back to Redis's clock.
  redis.call('PEXPIREAT', key, ARGV[2])
end
notify('completed', 6)
return 1
`;

/** ARGV: token, publish command, channel. Reply: 1 | 0. */
const release = `${notify}
local key = KEYS[1]
local state, token = unpack(redis.call('HMGET', key, 'state', 'token'))
if state ~= 'in-flight' or token ~= ARGV[1] then return 0 end
redis.call('DEL', key)
notify('released', 2)
return 1
`;

/** ARGV: token, leaseUntil. Reply: 1 | 0. */
const renew = `
local key = KEYS[1]
local state, token = unpack(redis.call('HMGET', key, 'state', 'token'))
if state ~= 'in-flight' or token ~= ARGV[1] then return 0 end
redis.call('HSET', key, 'leaseUntil', ARGV[2])
return 1
`;

/** ARGV: now. Reply: the record's fields, or nil when absent or expired by the engine's clock. */
const get = `
local expiresAt = redis.call('HGET', KEYS[1], 'expiresAt')
if not expiresAt or tonumber(expiresAt) <= tonumber(ARGV[1]) then return false end
return redis.call('HGETALL', KEYS[1])
`;

function script(source: string): RedisScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

export const scripts = {
  acquire: script(acquire),
  complete: script(complete),
  release: script(release),
  renew: script(renew),
  get: script(get),
} as const;
