-- Counts a batch of audience events, atomically and idempotently.
-- The rules and the key layout are those of src/domain/counting.rs (Tally), which the
-- store contract tests hold this script to.
--
-- The caller pre-aggregates the batch as if every event were new and kept by the
-- double-click rule (the common case); this script decides for each event and corrects the
-- aggregate for the exceptions: an event already counted (all of its cells), a double click
-- (its filtered count), or a later click replacing an earlier one (the earlier one's filtered
-- count). A count field holds raw * 2^32 + filtered (one HINCRBY per cell); a field seen for
-- the first time gets the TTL on its hash and on the cell's HyperLogLog.
--
-- KEYS[1]: the stream (only routes the script to the {aud} slot).
-- ARGV[1]: key prefix ("<prefix>:{aud}:"), [2]: count TTL (s), [3]: dedup TTL (s),
-- [4]: double-click window (ms), [5]: the views (JSON), [6]: events, [7]: cells, [8]: sets;
-- then 12 values per event (id, t in ms, day, visitor, visitor_prev or '', resource, provider,
-- uai, ent, profile, channel, device), 3 per cell (view, value, delta), and per set
-- (view=value, member count, members...).
local p = ARGV[1]
local ttl = tonumber(ARGV[2])
local dedup = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local views = cjson.decode(ARGV[5])
local ne, nc, ns = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local RAW = 4294967296
local NAMES = {'resource', 'provider', 'uai', 'ent', 'profile', 'channel', 'device'}

local counts, order = {}, {}
local function add(view, value, d)
  local h = counts[view]
  if not h then h = {}; counts[view] = h; order[#order + 1] = view end
  h[value] = (h[value] or 0) + d
end

-- The cells of an event (for the exceptions only).
local function correct(e, d)
  for _, v in ipairs(views) do
    local scope = 'all'
    if v[1] ~= 'all' then scope = v[1] .. '=' .. e[v[1]] end
    local base = e.day .. ':' .. scope .. ':'
    for _, by in ipairs(v[2]) do
      local val = '*'
      if by ~= 'total' then val = e[by] end
      add(base .. by, val, d)
    end
  end
end

local function parse(s)
  local f = {}
  for part in string.gmatch(s, '([^|]*)|?') do f[#f + 1] = part end
  local e = {t = tonumber(f[1]), day = f[2]}
  for k, n in ipairs(NAMES) do e[n] = f[k + 2] end
  return e
end

local ev0 = 9
local c0 = ev0 + 12 * ne
local s0 = c0 + 3 * nc
for n = 0, nc - 1 do
  local j = c0 + 3 * n
  add(ARGV[j], ARGV[j + 1], tonumber(ARGV[j + 2]))
end

local new, dup = 0, 0
for n = 0, ne - 1 do
  local j = ev0 + 12 * n
  local e = {id = ARGV[j], t = tonumber(ARGV[j + 1]), day = ARGV[j + 2], visitor = ARGV[j + 3]}
  local prev = ARGV[j + 4]
  for k, name in ipairs(NAMES) do e[name] = ARGV[j + 4 + k] end
  if redis.call('SET', p .. 'seen:' .. e.id, '1', 'NX', 'EX', dedup) then
    new = new + 1
    local here = p .. 'dc:' .. e.visitor .. '|' .. e.resource
    local last = redis.call('GET', here)
    if (not last) and prev ~= '' then
      last = redis.call('GET', p .. 'dc:' .. prev .. '|' .. e.resource)
    end
    local kept = true
    if last then
      local lt = tonumber(string.match(last, '^([^|]*)'))
      if math.abs(e.t - lt) < window then
        if e.t > lt then correct(parse(last), -1) else kept = false end
      end
    end
    if kept then
      redis.call('SET', here, e.t .. '|' .. e.day .. '|' .. e.resource .. '|' .. e.provider .. '|'
        .. e.uai .. '|' .. e.ent .. '|' .. e.profile .. '|' .. e.channel .. '|' .. e.device, 'EX', 3600)
    else
      correct(e, -1)
    end
  else
    dup = dup + 1
    correct(e, -(RAW + 1))
  end
end

local fresh = {}
for _, view in ipairs(order) do
  local key = p .. 'c:' .. view
  local created = false
  for value, d in pairs(counts[view]) do
    if d ~= 0 then
      if redis.call('HINCRBY', key, value, d) == d then
        created = true
        fresh[view .. '=' .. value] = true
      end
    end
  end
  if created then redis.call('EXPIRE', key, ttl) end
end

local j = s0
for _ = 1, ns do
  local cell, m = ARGV[j], tonumber(ARGV[j + 1])
  redis.call('PFADD', p .. 'v:' .. cell, unpack(ARGV, j + 2, j + 1 + m))
  if fresh[cell] then redis.call('EXPIRE', p .. 'v:' .. cell, ttl) end
  j = j + 2 + m
end
return {new, dup}
