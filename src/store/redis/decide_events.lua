-- The first step of counting a batch of audience events of one partition: the decisions, kept
-- with the batch's token until `apply_counts.lua` applies the counts they make. The rules are
-- those of src/domain/counting.rs (Tally), which the store contract tests hold both scripts
-- to; src/store/redis/audience_count.rs turns the decisions into counts.
--
-- For each event: is it new (`seen:<id>`, set to the batch's token), is it kept by the
-- double-click rule (the visitor's last click on the resource in the window: kept if later,
-- and then the earlier click's record is returned so that its filtered count is taken back),
-- and which of its cells get a new visitor. A visitor's day in a school is one small hash,
-- `vd:<day>|<visitor>|<uai>`, read by one HMGET and written by one HSET: `c`, the tokens (8
-- bytes each) of the cells the visitor has that day, one after the other, and `d:<resource>`,
-- the day's last click on each resource. A cell whose token is not in `c` (at a multiple of 8)
-- gets a new visitor. The decisions are kept in `bt:<token>` and the batch is marked pending
-- (`bs:<token>` = 'p'); the apply step marks it applied ('a').
--
-- An event whose id is pending in a batch that was never applied (its counter died between
-- the two steps) and that comes back with the same stream id (a claim after `claim_idle`) is
-- taken over: that batch is marked 's' (its apply is then refused) and the event's decision
-- moves into this batch, unchanged. Any other event already seen is a duplicate.
--
-- KEYS[1]: a key of the partition (only routes the script to its slot).
-- ARGV[1]: the partition's key prefix ("<prefix>:{aud…}:"), [2]: this batch's token, [3]:
-- dedup TTL (s), [4]: double-click window (ms), [5]: visitor-day TTL (s), [6]: events, [7]:
-- cells per event; then per event 8 values: id, stream id or '', t in ms, its visitor-day
-- hash, the previous day's or '', `d:<resource>`, its last-click record
-- "t|day|resource|provider|uai|ent|profile|channel|device", its cells' tokens (8 bytes each).
-- Returns per event '' (a duplicate) or its decision: '1' (kept) or '0', a '1' or '0' per
-- cell (a new visitor), then '|' and the record of the click taken back when there is one.
local p, token = ARGV[1], ARGV[2]
local dedup, window, vdttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ne, per = tonumber(ARGV[6]), tonumber(ARGV[7])
local stride = 8
local ev0 = 8

local out, keep = {}, {}
for n = 0, ne - 1 do
  local j = ev0 + stride * n
  local id, sid = ARGV[j], ARGV[j + 1]
  local seen = p .. 'seen:' .. id
  local old = redis.call('SET', seen, token, 'NX', 'GET', 'EX', dedup)
  local res = ''
  if not old then
    local t, vd, prev, dfield = tonumber(ARGV[j + 2]), ARGV[j + 3], ARGV[j + 4], ARGV[j + 5]
    local got = redis.call('HMGET', vd, 'c', dfield)
    local have, last = got[1] or '', got[2]
    if (not last) and prev ~= '' then last = redis.call('HGET', prev, dfield) end
    local kept, back = '1', ''
    if last then
      local lt = tonumber(string.match(last, '^([^|]*)'))
      if math.abs(t - lt) < window then
        if t > lt then back = '|' .. last else kept = '0' end
      end
    end
    local toks, bits, add = ARGV[j + 7], {kept}, {}
    for k = 0, per - 1 do
      local tk = string.sub(toks, 8 * k + 1, 8 * k + 8)
      local i = string.find(have, tk, 1, true)
      while i and (i - 1) % 8 ~= 0 do i = string.find(have, tk, i + 1, true) end
      if i then
        bits[k + 2] = '0'
      else
        bits[k + 2] = '1'
        add[#add + 1] = tk
      end
    end
    local set = {}
    if #add > 0 then set[1], set[2] = 'c', have .. table.concat(add) end
    if kept == '1' then
      set[#set + 1] = dfield
      set[#set + 1] = ARGV[j + 6]
    end
    if #set > 0 then redis.call('HSET', vd, unpack(set)) end
    if not got[1] then redis.call('EXPIRE', vd, vdttl) end
    res = table.concat(bits) .. back
  elseif old ~= token and sid ~= '' then
    local state = redis.call('GET', p .. 'bs:' .. old)
    if state == 'p' or state == 's' then
      local rec = redis.call('HGET', p .. 'bt:' .. old, id)
      if rec and string.sub(rec, 1, #sid + 1) == sid .. '#' then
        if state == 'p' then redis.call('SET', p .. 'bs:' .. old, 's', 'XX', 'KEEPTTL') end
        redis.call('SET', seen, token, 'XX', 'KEEPTTL')
        res = string.sub(rec, #sid + 2)
      end
    end
  end
  out[n + 1] = res
  if res ~= '' then
    keep[#keep + 1] = id
    keep[#keep + 1] = sid .. '#' .. res
  end
end

if #keep > 0 then
  local bt = p .. 'bt:' .. token
  for s = 1, #keep, 1000 do
    redis.call('HSET', bt, unpack(keep, s, math.min(s + 999, #keep)))
  end
  redis.call('EXPIRE', bt, dedup)
  redis.call('SET', p .. 'bs:' .. token, 'p', 'EX', dedup)
end
return out
