-- Deletes one incarnation of a topic. KEYS[1] the meta hash, KEYS[2] the
-- log. ARGV[1] the epoch, ARGV[2] the channel of deletions, ARGV[3] the
-- topic's name. Answers 1 when deleted, 0 when that incarnation is not
-- there. A tombstone keeps the epoch for a minute, so that the topic made
-- again at once still gets a greater epoch.
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'gone', ARGV[1])
redis.call('PEXPIRE', KEYS[1], 60000)
redis.call('PUBLISH', ARGV[2], 'D ' .. ARGV[1] .. ' ' .. ARGV[3])
return 1
