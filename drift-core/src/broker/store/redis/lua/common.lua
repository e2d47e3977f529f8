-- Shared by every script (prepended to each): numbers as exact decimal
-- text (Lua's tostring would write 1.7e+15), the server's clock in µs, a
-- log entry's publish time and byte offset by seq, and a binary search
-- over seqs. A topic's log is a stream whose entry ids are `SEQ-0`, so an
-- entry is found by its seq; its fields are t (publish time, µs), o (the
-- byte offset of its payload in everything the topic ever had) and p (the
-- payload).
local function dec(x)
  return string.format('%.0f', x)
end

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function entry_at(log, seq)
  local e = redis.call('XRANGE', log, dec(seq) .. '-0', dec(seq) .. '-0')[1]
  if not e then
    return nil, nil
  end
  local f, t, o = e[2], nil, nil
  for i = 1, #f, 2 do
    if f[i] == 't' then
      t = tonumber(f[i + 1])
    elseif f[i] == 'o' then
      o = tonumber(f[i + 1])
    end
  end
  return t, o
end

-- The smallest seq in lo..hi for which ok holds, ok being false and then
-- true over the range; hi + 1 when it holds nowhere.
local function first_where(lo, hi, ok)
  local a, b = lo, hi + 1
  while a < b do
    local mid = math.floor((a + b) / 2)
    if ok(mid) then
      b = mid
    else
      a = mid + 1
    end
  end
  return a
end

