-- The second step of counting, in one partition: applies the counts that a window of
-- batches decided by `decide_events.lua` makes (summed by the counter, so a field touched by
-- many events of the window is written once), unless one of those batches was taken over
-- meanwhile (then nothing is applied and 0 is returned: the events are counted by whoever took
-- them). A cell is one field named by its value holding "<raw> <filtered> <visitors>" (read
-- by src/store/redis/audience.rs, `add_field`). Each hash is read and written once (HMGET,
-- HSET, by chunks within Lua's stack); a hash created here gets its TTL (a month's, a month
-- longer). Counts stay exact: integers below 2^53, written with '%d'.
--
-- KEYS[1]: a key of the partition (only routes the script to its slot).
-- ARGV[1]: the partition's key prefix ("<prefix>:{aud…}:"), [2]: count TTL (s), [3]: the
-- batches' tokens, [4]: hashes; then the tokens; then per hash its name (below the prefix),
-- its number of fields and, per field, its name and its three increments.
local p = ARGV[1]
local ttl = tonumber(ARGV[2])
local nt, nh = tonumber(ARGV[3]), tonumber(ARGV[4])

for i = 5, 4 + nt do
  if redis.call('GET', p .. 'bs:' .. ARGV[i]) ~= 'p' then return 0 end
end
for i = 5, 4 + nt do
  redis.call('SET', p .. 'bs:' .. ARGV[i], 'a', 'XX', 'KEEPTTL')
  redis.call('DEL', p .. 'bt:' .. ARGV[i])
end

local CHUNK = 1000
local j = 5 + nt
for _ = 1, nh do
  local name, nf = ARGV[j], tonumber(ARGV[j + 1])
  local key = p .. name
  local f0 = j + 2
  local fresh = true
  for s = 0, nf - 1, CHUNK do
    local e = math.min(s + CHUNK, nf) - 1
    local fields = {}
    for i = s, e do fields[#fields + 1] = ARGV[f0 + 4 * i] end
    local cur = redis.call('HMGET', key, unpack(fields))
    local set = {}
    for i = s, e do
      local a = f0 + 4 * i
      local r, f, u = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
      local v = cur[i - s + 1]
      if v then
        fresh = false
        local r1, f1, u1 = string.match(v, '^(%-?%d+) (%-?%d+) (%-?%d+)$')
        if r1 then
          r, f, u = r + tonumber(r1), f + tonumber(f1), u + tonumber(u1)
        elseif tonumber(v) then
          -- An earlier version's `raw * 2^32 + filtered`, taken into the three.
          local n = tonumber(v)
          local raw = math.floor(n / 4294967296)
          r, f = r + raw, f + n - raw * 4294967296
        end
      end
      set[#set + 1] = ARGV[a]
      set[#set + 1] = string.format('%d %d %d', r, f, u)
    end
    redis.call('HSET', key, unpack(set))
  end
  if fresh then
    local keep = ttl
    if string.match(name, '^c:%d%d%d%d%-%d%d:') then keep = ttl + 31 * 86400 end
    redis.call('EXPIRE', key, keep, 'NX')
  end
  j = f0 + 4 * nf
end
return 1
