-- One page of a backup's reading of a partition of the audience keys
-- (src/store/redis/audience_backup.rs): SCAN from a cursor, then for each key found its name
-- below the partition's prefix, when it expires (ms since the epoch, -1 never) and its value:
-- a counts hash's fields and values, an earlier version's visitor HyperLogLog's count and
-- string (after PFCOUNT, which caches the count in the string), a salt's string, nothing for
-- the rest.
-- Every key of a partition shares its slot, so on a cluster this runs on the node that holds
-- them all, which SCAN alone (no key) would not reach.
--
-- KEYS[1]: a key of the partition (only routes the script to its slot).
-- ARGV[1]: the partition's prefix ("<prefix>:{aud…}:"), [2]: the SCAN pattern, [3]: the
-- cursor, [4]: COUNT.
local p = ARGV[1]
local page = redis.call('SCAN', ARGV[3], 'MATCH', ARGV[2], 'COUNT', tonumber(ARGV[4]))
local out = {page[1]}
for _, key in ipairs(page[2]) do
  local name = string.sub(key, #p + 1)
  local kind = string.sub(name, 1, 2)
  local ok, at = pcall(redis.call, 'PEXPIRETIME', key)
  if not ok then
    local ttl = redis.call('PTTL', key)
    if ttl >= 0 then
      local now = redis.call('TIME')
      at = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + ttl
    else
      at = ttl
    end
  end
  if at ~= -2 then
    local value = ''
    if kind == 'c:' then
      value = redis.call('HGETALL', key)
    elseif kind == 'v:' then
      local n = redis.call('PFCOUNT', key)
      value = {n, redis.call('GET', key)}
    elseif string.sub(name, 1, 5) == 'salt:' then
      value = redis.call('GET', key)
    end
    out[#out + 1] = {name, at, value}
  end
end
return out
