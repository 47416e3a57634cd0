-- Counts a batch of audience events of one partition, atomically and idempotently.
-- The rules and the key layout are those of src/domain/counting.rs (Tally), which the
-- store contract tests hold this script to.
--
-- The caller sends the batch's cells once (their hashes and fields named, pre-aggregated as if
-- every event were new and kept by the double-click rule, the common case) and each event with
-- the indices of its cells; this script decides for each event and corrects the aggregate for
-- the exceptions: an event already counted (`seen:<id>`, all of its cells), a double click (its
-- filtered count), or a later click replacing an earlier one (the earlier one's filtered
-- count, its hashes named here). Each visitor's day in a school is one small hash
-- (`vd:<day>|<visitor>|<uai>`):
-- the day's last click on each resource (`d:<resource>`) and a token per cell the visitor has
-- (`t…`), read by one HMGET and written by one HSET; a cell whose token is new counts a
-- visitor. Then each hash the batch touches is read and written once (HMGET, HSET: a few calls
-- per hash, not one per field); a hash created here gets its TTL (a month's, a month longer).
--
-- KEYS[1]: a key of the partition (only routes the script to its slot).
-- ARGV[1]: the partition's key prefix ("<prefix>:{aud…}:"), [2]: count TTL (s), [3]: dedup
-- TTL (s), [4]: double-click window (ms), [5]: the views (JSON), [6]: visitor-day TTL (s),
-- [7]: events, [8]: hashes, [9]: cells; then per event 7 values (id, t in ms, day, its
-- visitor-day hash, the previous day's or '', `d:<resource>`, its last-click record
-- "t|day|resource|provider|uai|ent|profile|channel|device") and the 1-based indices of its
-- cells (one per view and dimension, in the views' order, the first being everything's total);
-- then the hashes (full names; a month's ends in its month); then 6 values per cell (index of
-- its day hash, of its month hash or 0, the field after its kind, raw and filtered deltas,
-- token).
local p = ARGV[1]
local ttl = tonumber(ARGV[2])
local dedup = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local views = cjson.decode(ARGV[5])
local vdttl = tonumber(ARGV[6])
local ne, nk, nc = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local NAMES = {'resource', 'provider', 'uai', 'ent', 'profile', 'channel', 'device'}

local per = 0
for _, v in ipairs(views) do per = per + #v[2] end
local stride = 7 + per
local ev0 = 10
local k0 = ev0 + stride * ne
local c0 = k0 + nk

local cday, cmonth, cfield, craw, cfil, ctok, cu = {}, {}, {}, {}, {}, {}, {}
for n = 1, nc do
  local j = c0 + 6 * (n - 1)
  cday[n], cmonth[n], cfield[n] = ARGV[k0 + tonumber(ARGV[j]) - 1], tonumber(ARGV[j + 1]), ARGV[j + 2]
  if cmonth[n] > 0 then cmonth[n] = ARGV[k0 + cmonth[n] - 1] else cmonth[n] = false end
  craw[n], cfil[n], ctok[n], cu[n] = tonumber(ARGV[j + 3]), tonumber(ARGV[j + 4]), ARGV[j + 5], 0
end

-- What each hash gets: acc[key][field] = delta.
local acc, order = {}, {}
local function put(key, field, d)
  if d == 0 then return end
  local h = acc[key]
  if not h then h = {}; acc[key] = h; order[#order + 1] = key end
  h[field] = (h[field] or 0) + d
end

-- The filtered count of an earlier click (a record), taken back: its hashes named here.
local function take_back(rec)
  local f = {}
  for part in string.gmatch(rec, '([^|]*)|?') do f[#f + 1] = part end
  local e = {day = f[2]}
  for k, n in ipairs(NAMES) do e[n] = f[k + 2] end
  local month = string.sub(e.day, 1, 7)
  for _, v in ipairs(views) do
    for _, by in ipairs(v[2]) do
      local val = '*'
      if by ~= 'total' then val = e[by] end
      if v[1] == 'uai' then
        put(p .. 'c:' .. e.day .. ':uai=' .. e.uai, 'f:' .. by .. '=' .. val, -1)
      else
        local scope = 'all'
        if v[1] ~= 'all' then scope = v[1] .. '=' .. e[v[1]] end
        put(p .. 'c:' .. e.day .. ':' .. scope .. ':' .. by, 'f:' .. val, -1)
        put(p .. 'c:' .. month .. ':' .. scope .. ':' .. by, 'f:' .. val, -1)
      end
    end
  end
end

local new, dup = 0, 0
for n = 0, ne - 1 do
  local j = ev0 + stride * n
  local cells = j + 7
  if redis.call('SET', p .. 'seen:' .. ARGV[j], '1', 'NX', 'EX', dedup) then
    new = new + 1
    local t, vd, prev, dfield = tonumber(ARGV[j + 1]), ARGV[j + 3], ARGV[j + 4], ARGV[j + 5]
    local toks = {}
    for k = 1, per do toks[k] = ctok[tonumber(ARGV[cells + k - 1])] end
    local got = redis.call('HMGET', vd, dfield, unpack(toks))
    local last = got[1]
    if (not last) and prev ~= '' then last = redis.call('HGET', prev, dfield) end
    local kept = true
    if last then
      local lt = tonumber(string.match(last, '^([^|]*)'))
      if math.abs(t - lt) < window then
        if t > lt then take_back(last) else kept = false end
      end
    end
    local set = {}
    if kept then
      set[1], set[2] = dfield, ARGV[j + 6]
    else
      for k = 0, per - 1 do
        local c = tonumber(ARGV[cells + k])
        cfil[c] = cfil[c] - 1
      end
    end
    for k = 1, per do
      if not got[k + 1] then
        local c = tonumber(ARGV[cells + k - 1])
        cu[c] = cu[c] + 1
        set[#set + 1] = toks[k]
        set[#set + 1] = '1'
      end
    end
    if #set > 0 then redis.call('HSET', vd, unpack(set)) end
    if not got[2] then redis.call('EXPIRE', vd, vdttl) end
  else
    dup = dup + 1
    for k = 0, per - 1 do
      local c = tonumber(ARGV[cells + k])
      craw[c] = craw[c] - 1
      cfil[c] = cfil[c] - 1
    end
  end
end

for n = 1, nc do
  local f, d, fl, u = cfield[n], craw[n], cfil[n], cu[n]
  local r, ff, uu = 'r:' .. f, 'f:' .. f, 'u:' .. f
  local key = cday[n]
  for _ = 1, 2 do
    if key then
      local h = acc[key]
      if not h then h = {}; acc[key] = h; order[#order + 1] = key end
      if d ~= 0 then h[r] = (h[r] or 0) + d end
      if fl ~= 0 then h[ff] = (h[ff] or 0) + fl end
      if u ~= 0 then h[uu] = (h[uu] or 0) + u end
    end
    key = cmonth[n]
  end
end

-- Each hash read and written once (by chunks, within Lua's stack). Counts stay exact: Redis
-- writes a Lua number as its shortest exact decimal form, an integer below 2^53 as digits.
local CHUNK = 1000
for _, key in ipairs(order) do
  local h = acc[key]
  local fields = {}
  for f in pairs(h) do fields[#fields + 1] = f end
  local fresh = true
  for s = 1, #fields, CHUNK do
    local e = math.min(s + CHUNK - 1, #fields)
    local cur = redis.call('HMGET', key, unpack(fields, s, e))
    local out = {}
    for i = s, e do
      local v = cur[i - s + 1]
      if v then fresh = false end
      local f = fields[i]
      out[#out + 1] = f
      out[#out + 1] = (tonumber(v) or 0) + h[f]
    end
    redis.call('HSET', key, unpack(out))
  end
  if fresh then
    local keep = ttl
    if string.match(key, ':c:%d%d%d%d%-%d%d:') then keep = ttl + 31 * 86400 end
    redis.call('EXPIRE', key, keep, 'NX')
  end
end
return {new, dup}
