-- Reads the retained messages a subscriber asked for. KEYS[1] the meta
-- hash, KEYS[2] the log. ARGV[1] the epoch, ARGV[2] only seqs after this
-- one, ARGV[3] only messages published after this time in µs ('' for
-- any), ARGV[4] only the newest N of those ('' for all). Messages older
-- than the topic's age bound are left out (they are trimmed at the next
-- append). Answers {0, last_seq, seq, time_us, payload, seq, ...}, oldest
-- first; {1} when the topic is gone; {2} when it is another incarnation.
local meta, log = KEYS[1], KEYS[2]
local m = redis.call('HMGET', meta, 'epoch', 'last_seq', 'first_seq', 'last_time', 'max_age')
if not m[1] then
  return {1}
end
if m[1] ~= ARGV[1] then
  return {2}
end
local last = tonumber(m[2])
local lo = math.max(tonumber(m[3]), tonumber(ARGV[2]) + 1)

local function time_of(seq)
  local t = entry_at(log, seq)
  return t
end

if lo <= last and m[5] ~= '' then
  local cutoff = math.max(now_us(), tonumber(m[4])) - tonumber(m[5])
  lo = first_where(lo, last, function(s)
    return time_of(s) >= cutoff
  end)
end
if lo <= last and ARGV[3] ~= '' then
  local since = tonumber(ARGV[3])
  lo = first_where(lo, last, function(s)
    return time_of(s) > since
  end)
end
if ARGV[4] ~= '' then
  lo = math.max(lo, last - tonumber(ARGV[4]) + 1)
end
local out = {0, last}
if lo <= last then
  for _, e in ipairs(redis.call('XRANGE', log, dec(lo) .. '-0', dec(last) .. '-0')) do
    local f, t, p = e[2], nil, nil
    for i = 1, #f, 2 do
      if f[i] == 't' then
        t = tonumber(f[i + 1])
      elseif f[i] == 'p' then
        p = f[i + 1]
      end
    end
    out[#out + 1] = tonumber(string.match(e[1], '^(%d+)'))
    out[#out + 1] = t
    out[#out + 1] = p
  end
end
return out
