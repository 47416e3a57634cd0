-- Counts a batch of audience events, atomically and idempotently.
-- The rules and the key layout are those of src/audience/counting.rs (Tally), which the
-- store contract tests hold this script to.
-- KEYS[1]: the stream (only routes the script to the {aud} slot).
-- ARGV[1]: key prefix ("<prefix>:{aud}:"), ARGV[2]: count TTL (s), ARGV[3]: dedup TTL (s),
-- ARGV[4]: double-click window (ms), ARGV[5]: the views (JSON), ARGV[6..]: events (JSON).
local p = ARGV[1]
local ttl = tonumber(ARGV[2])
local dedup = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local views = cjson.decode(ARGV[5])
local counts, sets, order = {}, {}, {}

local function bump(key, field, d)
  local h = counts[key]
  if not h then h = {}; counts[key] = h; order[#order + 1] = key end
  h[field] = (h[field] or 0) + d
end

local function dim(e, name)
  if name == 'total' then return '*' end
  return tostring(e[name])
end

local function each_cell(e, fn)
  for _, v in ipairs(views) do
    local scope = 'all'
    if v[1] ~= 'all' then scope = v[1] .. '=' .. dim(e, v[1]) end
    for _, by in ipairs(v[2]) do
      local val = dim(e, by)
      fn('c:' .. e.day .. ':' .. scope .. ':' .. by, val,
         'v:' .. e.day .. ':' .. scope .. ':' .. by .. '=' .. val)
    end
  end
end

local new, dup = 0, 0
for i = 6, #ARGV do
  local raw = ARGV[i]
  local e = cjson.decode(raw)
  if redis.call('SET', p .. 'seen:' .. e.id, '1', 'NX', 'EX', dedup) then
    new = new + 1
    each_cell(e, function(k, val, vk)
      bump(k, 'r:' .. val, 1)
      local s = sets[vk]
      if not s then s = {}; sets[vk] = s end
      s[e.visitor] = true
    end)
    local here = p .. 'dc:' .. e.visitor .. '|' .. e.resource
    local last = redis.call('GET', here)
    if (not last) and e.visitor_prev then
      last = redis.call('GET', p .. 'dc:' .. e.visitor_prev .. '|' .. e.resource)
    end
    local kept = true
    if last then
      local l = cjson.decode(last)
      if math.abs(e.t - l.t) < window then
        if e.t > l.t then
          each_cell(l, function(k, val) bump(k, 'f:' .. val, -1) end)
        else
          kept = false
        end
      end
    end
    if kept then
      each_cell(e, function(k, val) bump(k, 'f:' .. val, 1) end)
      redis.call('SET', here, raw, 'EX', 3600)
    end
  else
    dup = dup + 1
  end
end

for _, k in ipairs(order) do
  for f, d in pairs(counts[k]) do
    if d ~= 0 then redis.call('HINCRBY', p .. k, f, d) end
  end
  redis.call('EXPIRE', p .. k, ttl)
end
for k, s in pairs(sets) do
  local members = {}
  for m, _ in pairs(s) do members[#members + 1] = m end
  redis.call('PFADD', p .. k, unpack(members))
  redis.call('EXPIRE', p .. k, ttl)
end
return {new, dup}
