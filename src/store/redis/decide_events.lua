-- The first step of counting a batch of audience events of one partition: the decisions, kept
-- with the batch's token until `apply_counts.lua` applies the counts they make. The rules are
-- those of src/domain/counting.rs (Tally), which the store contract tests hold both scripts
-- to; src/store/redis/audience_count.rs turns the decisions into counts.
--
-- For each event: is it new (`seen:<id>`, set to the batch's token), is it kept by the
-- double-click rule (the visitor's last click on the resource in the window: kept if later,
-- and then the earlier click's record is returned so that its filtered count is taken back),
-- and which of its cells get a new visitor. A visitor's day in a school is one string,
-- `vd:<day>|<visitor>|<uai>`, read by one GET and written by one SET: the length of the token
-- part (5 digits), the tokens (8 bytes each) of the cells the visitor has that day, then for
-- each resource opened that day "\n<resource>\t<record of its last click>". A cell whose
-- token is not there (at a multiple of 8) gets a new visitor. The batch's decisions are kept
-- as one string, `bt:<token>` (a line "<id> <stream id>#<decision>" each), and the batch is
-- marked pending (`bs:<token>` = 'p'); the apply step marks it applied ('a').
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
-- key, the previous day's or '', its resource, its last-click record
-- "t|day|resource|provider|uai|ent|profile|channel|device", its cells' tokens (8 bytes each).
-- Returns per event '' (a duplicate) or its decision: '1' (kept) or '0', a '1' or '0' per
-- cell (a new visitor), then '|' and the record of the click taken back when there is one.
local p, token = ARGV[1], ARGV[2]
local dedup, window, vdttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ne, per = tonumber(ARGV[6]), tonumber(ARGV[7])
local ev0 = 8

-- A visitor's day: its tokens and its records ('' and '' when there is none; an earlier
-- version's hash is not read, and is replaced).
local function day_of(key)
  local v = redis.pcall('GET', key)
  if type(v) ~= 'string' then return nil, '', '' end
  local n = tonumber(string.sub(v, 1, 5)) or 0
  return v, string.sub(v, 6, 5 + n), string.sub(v, 6 + n)
end

-- The record after `tag` in `recs`, and where its line starts and ends.
local function record_of(recs, tag)
  local i = string.find(recs, tag, 1, true)
  if not i then return nil end
  local e = string.find(recs, '\n', i + 1, true)
  return string.sub(recs, i + #tag, e and e - 1 or -1), i, e
end

local out, lines = {}, {}
for n = 0, ne - 1 do
  local j = ev0 + 8 * n
  local id, sid = ARGV[j], ARGV[j + 1]
  local seen = p .. 'seen:' .. id
  local old = redis.call('SET', seen, token, 'NX', 'GET', 'EX', dedup)
  local res = ''
  if not old then
    local t, vd, prev, tag = tonumber(ARGV[j + 2]), ARGV[j + 3], ARGV[j + 4], '\n' .. ARGV[j + 5] .. '\t'
    local v, have, recs = day_of(vd)
    local last, i, e = record_of(recs, tag)
    if (not last) and prev ~= '' then
      local _, _, precs = day_of(prev)
      last = record_of(precs, tag)
    end
    local kept, back = '1', ''
    if last then
      local lt = tonumber(string.match(last, '^([^|]*)'))
      if math.abs(t - lt) < window then
        if t > lt then back = '|' .. last else kept = '0' end
      end
    end
    local toks = ARGV[j + 7]
    local bits
    if have == '' then
      bits = kept .. string.rep('1', per)
      have = toks
    else
      local b, add = {kept}, {}
      for k = 0, per - 1 do
        local tk = string.sub(toks, 8 * k + 1, 8 * k + 8)
        local f = string.find(have, tk, 1, true)
        while f and (f - 1) % 8 ~= 0 do f = string.find(have, tk, f + 1, true) end
        if f then
          b[k + 2] = '0'
        else
          b[k + 2] = '1'
          add[#add + 1] = tk
        end
      end
      bits = table.concat(b)
      have = have .. table.concat(add)
    end
    if kept == '1' then
      -- This click is the resource's last: its line replaces the earlier one.
      if i then recs = string.sub(recs, 1, i - 1) .. (e and string.sub(recs, e) or '') end
      recs = recs .. tag .. ARGV[j + 6]
    end
    local value = string.format('%05d', #have) .. have .. recs
    if v then
      redis.call('SET', vd, value, 'KEEPTTL')
    else
      redis.call('SET', vd, value, 'EX', vdttl)
    end
    res = bits .. back
  elseif old ~= token and sid ~= '' then
    local state = redis.call('GET', p .. 'bs:' .. old)
    if state == 'p' or state == 's' then
      local blob = redis.call('GET', p .. 'bt:' .. old)
      local rec = blob and record_of(blob, '\n' .. id .. ' ' .. sid .. '#')
      if rec then
        if state == 'p' then redis.call('SET', p .. 'bs:' .. old, 's', 'XX', 'KEEPTTL') end
        redis.call('SET', seen, token, 'XX', 'KEEPTTL')
        res = rec
      end
    end
  end
  out[n + 1] = res
  if res ~= '' then lines[#lines + 1] = '\n' .. id .. ' ' .. sid .. '#' .. res end
end

if #lines > 0 then
  redis.call('SET', p .. 'bt:' .. token, table.concat(lines), 'EX', dedup)
  redis.call('SET', p .. 'bs:' .. token, 'p', 'EX', dedup)
end
return out
