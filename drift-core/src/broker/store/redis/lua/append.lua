-- Appends a batch: assigns it the next seqs and one publish time, adds it
-- to the log, trims the log to the topic's bounds (messages, bytes, age)
-- and tells the nodes watching the topic. KEYS[1] the meta hash, KEYS[2]
-- the log. ARGV[1] the epoch, ARGV[2] the newest seq the caller has seen
-- of it, ARGV[3] the topic's notice channel, ARGV[4..] the payloads.
-- Answers {0, first_seq, time_us, retained, retained_bytes}; {1} when the
-- topic is gone; {2} when it is another incarnation; {3} when the caller
-- has seen seqs this log never had (the store came back with older data).
local meta, log = KEYS[1], KEYS[2]
local m = redis.call('HMGET', meta, 'epoch', 'last_seq', 'first_seq', 'first_offset', 'bytes',
  'last_time', 'keep', 'max_bytes', 'max_age')
if not m[1] then
  return {1}
end
if m[1] ~= ARGV[1] then
  return {2}
end
local prev = tonumber(m[2])
if tonumber(ARGV[2]) > prev then
  return {3}
end
local first_kept, total = tonumber(m[3]), tonumber(m[5])
local time = math.max(now_us(), tonumber(m[6]))
local keep = tonumber(m[7])
local n = #ARGV - 3

-- Only the newest `keep` of the batch can stay: the others are numbered
-- but not written.
local offsets, offset = {}, total
for i = 1, n do
  local p = ARGV[3 + i]
  offsets[i] = offset
  if i > n - keep then
    redis.call('XADD', log, dec(prev + i) .. '-0', 't', dec(time), 'o', dec(offset), 'p', p)
  end
  offset = offset + #p
end
local last = prev + n

local function offset_of(seq)
  if seq > prev then
    return offsets[seq - prev]
  end
  local _, o = entry_at(log, seq)
  return o
end

local function time_of(seq)
  if seq > prev then
    return time
  end
  local t = entry_at(log, seq)
  return t
end

-- The oldest seq kept: by count, then by bytes (the newest message stays
-- even when it alone is larger), then by age.
local lo = math.max(first_kept, last - keep + 1)
if lo <= last and m[8] ~= '' then
  local max_bytes = tonumber(m[8])
  if offset - offset_of(lo) > max_bytes then
    lo = math.min(last, first_where(lo, last, function(s)
      return offset - offset_of(s) <= max_bytes
    end))
  end
end
if lo <= last and m[9] ~= '' then
  local cutoff = time - tonumber(m[9])
  if time_of(lo) < cutoff then
    lo = math.min(last, first_where(lo, last, function(s)
      return time_of(s) >= cutoff
    end))
  end
end
if lo > first_kept then
  redis.call('XTRIM', log, 'MINID', dec(lo) .. '-0')
end
local first_offset = offset
if lo <= last then
  first_offset = offset_of(lo)
end
redis.call('HSET', meta, 'last_seq', dec(last), 'first_seq', dec(lo),
  'first_offset', dec(first_offset), 'bytes', dec(offset), 'last_time', dec(time))

-- The notice: 'EPOCH FIRST_SEQ TIME LEN1 LEN2 ...\n', then the payloads
-- one after the other.
local head = {ARGV[1], dec(prev + 1), dec(time)}
for i = 1, n do
  head[#head + 1] = dec(#ARGV[3 + i])
end
local parts = {table.concat(head, ' ') .. '\n'}
for i = 1, n do
  parts[#parts + 1] = ARGV[3 + i]
end
redis.call('PUBLISH', ARGV[3], table.concat(parts))
return {0, prev + 1, time, last - lo + 1, offset - first_offset}
