-- starq store library, part 1: keys, encodings and the indexes every request reads.
--
-- The Rust side prepends `#!lua name=<library>` and `local FN = '<prefix>'`, where both carry
-- a hash of the whole text, so two starq versions can share one Redis during an upgrade, and
-- the constants shared with starq-core (RINGALL_MAX, UNREACHABLE_RETRY, LEG_TEARDOWN).
--
-- Conventions that keep results identical to MemoryStore:
--   * Numbers become strings only through n2s (Lua's own conversion keeps 14 digits), and
--     reach redis.call as strings.
--   * Orderings that decide anything live in sorted sets (members compare bytewise, like Rust
--     strings) or compare numbers; never Lua's `<` on strings, which follows the locale.
--   * Every key of a site starts with the site's prefix, which carries one hash tag.

local rc -- redis.call, bound when a function runs (the library loads without it)
local P       -- the site's key prefix, e.g. `starq:{main}:`
local NOW     -- the request's time (ms)
local NOW_S   -- the same, as a string
local J, N    -- the request's journal events and notices, in order
local QC      -- queue configurations read during this call
local CC      -- callers read during this call (routing.lua)
local CD      -- callers changed during this call, written back once at its end
local MC      -- agents' member queues read during this call
local QR      -- queue counters read during this call, written back once at its end
local IX      -- agents' places in the availability indexes, as refresh_agent left them
local AC      -- agents read during this call
local AD      -- agents changed during this call, written back once at its end

local MINSTD = 2147483647
local SCORE_LIMIT = 9007199254740992 -- 2^53: scores stay exact as sorted-set scores
-- RINGALL_MAX, UNREACHABLE_RETRY and LEG_TEARDOWN (ms) come from starq-core's constants, in
-- the header.
-- Status classes as strings, so that naming their counters formats no number.
local CLASS_S = { [0] = '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11' }

-- Integers only (every number here is one, below 2^53): '%d' is exact for them, and much
-- cheaper than '%.0f'. Small ones (counters, positions, tiers) are formatted once and kept:
-- a routing call formats a dozen, and each string.format costs more than a table lookup.
local SMALL_MAX = 4096
local SMALL = {}
local function n2s(x)
  if x >= 0 and x < SMALL_MAX then
    local s = SMALL[x]
    if s == nil then
      s = string.format('%d', x)
      SMALL[x] = s
    end
    return s
  end
  return string.format('%d', x)
end
local PADS = { [10] = '%010d', [16] = '%016d' }
local function pad(x, w) return string.format(PADS[w], x) end

-- === keys ===
local function k_site() return P .. 's' end
local function k_qc(q) return P .. 'qc:' .. q end              -- queue configuration (views)
-- Queue counters, round-robin cursor and the packed configuration routing reads, one packed
-- map (see counters; keys 'qr:' held them as a hash before).
local function k_qr(q) return P .. 'qs:' .. q end
local function k_present(q) return P .. 'qp:' .. q end         -- callers not yet connected
local function k_windows(q) return P .. 'qw:' .. q end         -- windows with waiting callers
local function k_waiting(q, wk) return P .. 'qwc:' .. wk .. ':' .. q end
local function k_tiers(q) return P .. 'qt:' .. q end           -- tiers with available agents
-- `p`: the tier as a string of digits, as the indexes hold it. Its padded form is kept: tiers
-- are penalties, and a site configures few.
local PADDED, PADDED_N = {}, 0
local function k_avail(q, p)
  local padded = PADDED[p]
  if padded == nil then
    if PADDED_N >= SMALL_MAX then PADDED, PADDED_N = {}, 0 end
    padded = pad(tonumber(p), 10)
    PADDED[p], PADDED_N = padded, PADDED_N + 1
  end
  return P .. 'qa:' .. padded .. ':' .. q
end
local function k_ctiers(q) return P .. 'qnt:' .. q end         -- tiers with logged-in members
-- One string per agent: a packed map (see record) of its state (fields without ':': st, rc, li,
-- mi, wu, ms, sr, sc, su, sw, pa), and per queue q:
--   'p:'q penalty, 'o:'q order, 'l:'q last call end, 'n:'q calls taken (while a member),
--   'z:'q pause reason (kept across changes of memberships, as in MemoryStore),
--   'i:'q "penalty score", its place in the availability index (while indexed),
--   'c:'q "penalty class", its place in the member counters (while logged in).
-- Everything a routing step needs about an agent comes with one GET, and goes back with one
-- SET. (Keys 'a:' held the same fields as a hash before; the new name keeps a GET from ever
-- meeting one.)
local function k_agent(a) return P .. 'A:' .. a end
-- One string per caller, packed by caller_pack while the call is in the queue or connected: q,
-- node, cid, sc, en, mb, wmin, wmax, op, st, agent, since, res, and 'rs', its reservations
-- (see caller_rids). Once the call ended, its outcome instead, for an hour (see mark_ended).
-- The first byte tells them apart: a packed caller starts with a MessagePack string header
-- (0xa0 and above), an outcome with a lowercase letter. (Keys 'c:' held callers as hashes,
-- keys 'ce:' the outcomes, before.)
local function k_caller(c) return P .. 'C:' .. c end
local function k_node_calls(n) return P .. 'nc:' .. n end      -- the node's callers (adoption)
local function k_inbox(n) return P .. 'in:' .. n end           -- notices for the node's owner
local function k_instances() return P .. 'inst' end            -- live instances, by expiry
-- A reservation, packed by reserve: call, agent, q, created. (Keys 'r:' held hashes before.)
local function k_res(r) return P .. 'R:' .. r end
-- Every agent a configuration named since this key exists (see `install`).
local function k_agents() return P .. 'ags' end
local function k_lease(n) return P .. 'l:' .. n end
local function k_journal() return P .. 'j' end
local function k_jgroups() return P .. 'jg' end

-- A hash (a lease) as a table, nil when the key is missing. Read in RESP3, whose map reply
-- Redis turns into a keyed table itself: under RESP2 it comes as a flat array of fields and
-- values that Lua copies into a second table.
local function hash(key)
  redis.setresp(3)
  local t = rc('HGETALL', key).map
  redis.setresp(2)
  if next(t) == nil then return nil end
  return t
end

-- Agents, callers and queue counters are records packed into one string value with
-- MessagePack (Redis's built-in cmsgpack, C code): read with one GET and written with one SET,
-- where a hash of a dozen fields costs a reply string per field and name and (HSET) a scan of
-- its listpack per field written. Agents and counters are maps (cmsgpack.pack of the table;
-- the order of the fields is of no consequence); values stay strings unless said otherwise.
--
-- Records unpacked or written by earlier calls are kept, per kind ('a' agents, 'c' callers,
-- 'q' queue counters), with the string they were read from or written as: a GET that returns
-- that same string (the same content) takes the kept table instead of unpacking it again. The
-- leave that follows an enqueue reads the agent and caller the enqueue wrote, and every call
-- reads its queue's counters. A record is dropped from here before a call first changes its
-- table (agent_set, caller_set, set_field, bump), so a call that fails halfway never leaves a
-- changed table behind a string it no longer matches; it is kept again once written back.
-- Bounded like the memos below.
local KEPT_MAX = 4096
local KEPT, KEPT_N = { a = {}, c = {}, q = {} }, 0

local function keep(kind, id, s, t)
  local kept = KEPT[kind]
  if kept[id] == nil then
    if KEPT_N >= KEPT_MAX then
      KEPT, KEPT_N = { a = {}, c = {}, q = {} }, 0
      kept = KEPT[kind]
    end
    KEPT_N = KEPT_N + 1
  end
  kept[id] = { s = s, t = t }
end

local function unkeep(kind, id) KEPT[kind][id] = nil end

-- The record of `id` under `key`: kept, or unpacked by `decode` (which may find none); nil
-- when the key is missing.
local function record(kind, id, key, decode)
  local v = rc('GET', key)
  if not v then return nil end
  local e = KEPT[kind][id]
  if e and e.s == v then return e.t end
  local t = decode(v)
  if t then keep(kind, id, v, t) end
  return t
end

-- Records of fixed fields (callers, reservations) are packed as a sequence of MessagePack
-- values in a fixed order instead, absent fields as nil: no field names stored or read, and
-- the table is built by one constructor at its full size, where unpacking a map grows the
-- table field by field (each growth a rehash).
local function caller_pack(c)
  return cmsgpack.pack(c.q, c.node, c.cid, c.sc, c.en, c.mb, c.wmin, c.wmax, c.op, c.st, c.agent,
    c.since, c.res, c.rs)
end

-- Whether the value of a caller's key is a packed caller (not an ended call's outcome).
local function is_caller(v) return string.byte(v, 1) >= 0xa0 end

-- The value of a caller's key as caller_pack packed it, nil when it holds an outcome.
local function caller_decode(v)
  if not is_caller(v) then return nil end
  local q, node, cid, sc, en, mb, wmin, wmax, op, st, agent, since, res, rs = cmsgpack.unpack(v)
  return { q = q, node = node, cid = cid, sc = sc, en = en, mb = mb, wmin = wmin, wmax = wmax,
    op = op, st = st, agent = agent, since = since, res = res, rs = rs }
end

local function reservation_pack(call, agent, q, created)
  return cmsgpack.pack(call, agent, q, created)
end

-- A reservation as reservation_pack left it, nil when the key is missing.
local function reservation(rid)
  local v = rc('GET', k_res(rid))
  if not v then return nil end
  local call, agent, q, created = cmsgpack.unpack(v)
  return { call = call, agent = agent, q = q, created = created }
end

-- Bytewise string order, as Rust compares ids.
local function bytes_lt(a, b)
  if a == b then return false end
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- === strategies: Strategy::score and agent_draw of starq-core, in doubles exact below 2^53 ===

-- The request's u64 draw arrives as decimal digits; reduced modulo 2^31-1 digit by digit.
local function draw_mod(draw)
  local d = 0
  for i = 1, #draw do d = (d * 10 + (string.byte(draw, i) - 48)) % MINSTD end
  return d
end

local function agent_draw(draw, order)
  local x = (draw_mod(draw) + order * 7919) % MINSTD
  if x == 0 then x = 1 end
  for _ = 1, 2 do x = (x * 48271) % MINSTD end
  return x
end

local SELECTION = {
  ringall = 'all', rrmemory = 'rr', rrordered = 'rr', wrandom = 'across',
  leastrecent = 'low', fewestcalls = 'low', linear = 'low', random = 'low',
  ['ring-progressively'] = 'low',
}

-- The agent's order, penalty, last call end and calls taken come as stored (strings): only
-- those the strategy uses are converted.
local function score(strategy, order, penalty, last, calls, draw)
  local s
  if strategy == 'leastrecent' then s = tonumber(last)
  elseif strategy == 'fewestcalls' then s = tonumber(calls)
  elseif strategy == 'random' then s = agent_draw(draw, tonumber(order))
  elseif strategy == 'wrandom' then
    s = agent_draw(draw, tonumber(order)) % ((tonumber(penalty) + 1) * 1000)
  else s = tonumber(order) end
  return s % SCORE_LIMIT
end

-- === queues ===

-- Parsed configurations (queues' and agents' member lists) kept across calls, keyed by their
-- packed form as stored: sound without invalidation, since the key is the content itself.
-- Reading one packed field instead of a whole hash, and parsing it once per content instead of
-- once per call, is the largest saving per routing call. The tables are shared: never changed.
local MEMO_MAX = 4096
local QMEMO, MMEMO, MEMO_N = {}, {}, 0

-- Makes room for one more entry; bounded, as ids and configurations come and go.
local function memo_room()
  if MEMO_N >= MEMO_MAX then QMEMO, MMEMO, MEMO_N = {}, {}, 0 end
  MEMO_N = MEMO_N + 1
end


-- A queue's counters (waiting `nw`, available `na`, logged in `nl`, serving `ns`, the
-- round-robin cursor `rr`, member counts per tier `p` and per tier and class `p:c`, available
-- members per tier `a` .. p), and its packed configuration `cfg` (see qcfg), in one packed map.
-- Read once per call, changed in Lua, written back by flush_counters: one command each way.
-- Counts are numbers (MessagePack keeps them as such: none is formatted or parsed), the
-- cursor a number or a string of digits; both are read through tonumber.
local function counters(q)
  local c = QR[q]
  if c == nil then
    c = { v = record('q', q, k_qr(q), cmsgpack.unpack) or {}, dirty = false }
    QR[q] = c
  end
  return c
end

local function field(q, f) return counters(q).v[f] end

local function changing(q, c)
  if not c.dirty then
    unkeep('q', q)
    c.dirty = true
  end
end

local function set_field(q, f, value)
  local c = counters(q)
  changing(q, c)
  c.v[f] = value
end

local function counter(q, f)
  local v = counters(q).v[f]
  return v and tonumber(v) or 0
end

local function bump(q, f, delta)
  local c = counters(q)
  changing(q, c)
  local v = c.v[f]
  local n = (v and tonumber(v) or 0) + delta
  c.v[f] = n
  return n
end

local function flush_counters()
  for q, c in pairs(QR) do
    if c.dirty then
      local s = cmsgpack.pack(c.v)
      rc('SET', k_qr(q), s)
      keep('q', q, s, c.v)
    end
  end
  QR = {}
end

-- The fields of a queue's configuration, in the order `configure` packs them.
local QFIELDS = { 'strategy', 'weight', 'autofill', 'ring', 'retry', 'wrapup', 'ap_scope',
  'ap_after', 'ap_busy', 'ap_unav', 'maxlen', 'je', 'le', 'pml' }
local QNUMBERS = { 'weight', 'ring', 'retry', 'wrapup', 'ap_after', 'maxlen', 'je', 'le', 'pml' }

-- The queue's configuration (false when not configured): `configure` packs its values, one
-- per line in QFIELDS order, into the counters' field 'cfg', so it comes with the counters a
-- routing call reads anyway.
local function qcfg(q)
  local c = QC[q]
  if c ~= nil then return c end
  local v = counters(q).v.cfg
  c = v and QMEMO[v]
  if v and not c then
    c = {}
    local i = 1
    for _, f in ipairs(QFIELDS) do
      local nl = string.find(v, '\n', i, true) or #v + 1
      c[f] = string.sub(v, i, nl - 1)
      i = nl + 1
    end
    c.ring_s = c.ring
    for _, f in ipairs(QNUMBERS) do c[f] = tonumber(c[f]) end
    c.autofill = c.autofill == '1'
    c.ap_busy = c.ap_busy == '1'
    c.ap_unav = c.ap_unav == '1'
    c.sel = SELECTION[c.strategy] or 'low'
    memo_room()
    QMEMO[v] = c
  end
  c = c or false
  QC[q] = c
  return c
end

local function penalties_ignored(q)
  local limit = qcfg(q).pml
  return limit > 0 and counter(q, 'nl') <= limit
end

-- Empty-rule classes (agent.rs): status 0 idle, 1 reserved, 2 on call, 3 wrap-up,
-- 4 unreachable, 5 retry; +6 when paused in the queue.
local COND = { paused = 1, penalty = 2, inuse = 4, ringing = 8, unavailable = 16, wrapup = 128 }
local CLASS_COND = { [1] = COND.ringing, [2] = COND.inuse, [3] = COND.wrapup, [4] = COND.unavailable }

local function class_counts(class, ex)
  if class >= 6 and bit.band(ex, COND.paused) ~= 0 then return false end
  local c = CLASS_COND[class % 6]
  return c == nil or bit.band(ex, c) == 0
end

-- nil: not empty; true: no member logged in; false: members, none counting as available.
local function empty_verdict(q, ex, wmin, wmax)
  if ex == 0 then return nil end
  if counter(q, 'nl') == 0 then return true end
  local lo, hi = '-inf', '+inf'
  if bit.band(ex, COND.penalty) ~= 0 and not penalties_ignored(q) then
    lo, hi = n2s(wmin), n2s(wmax)
  end
  for _, p in ipairs(rc('ZRANGEBYSCORE', k_ctiers(q), lo, hi)) do
    for class = 0, 11 do
      if counter(q, p .. ':' .. CLASS_S[class]) > 0 and class_counts(class, ex) then return nil end
    end
  end
  return false
end

-- === waiting callers: a sorted set per (queue, window), ranked like `index::Rank` ===
-- score = -priority; member = entry time (16 digits) .. seq (16 digits) .. call id.

local function wkey(wmin, wmax) return pad(wmin, 10) .. ':' .. pad(wmax, 10) end

local function rank_of(member, sc)
  return { sc = tonumber(sc), en = tonumber(string.sub(member, 1, 16)),
    sq = tonumber(string.sub(member, 17, 32)), call = string.sub(member, 33), mb = member }
end

-- Ranks are unique: seq is per site.
local function rank_lt(a, b)
  if a.sc ~= b.sc then return a.sc < b.sc end
  if a.en ~= b.en then return a.en < b.en end
  return a.sq < b.sq
end

-- `sc`: the score, as a string.
local function waiting_insert(q, wmin, wmax, sc, member)
  local wk = wkey(wmin, wmax)
  if rc('ZADD', k_waiting(q, wk), sc, member) == 1 then bump(q, 'nw', 1) end
  rc('ZADD', k_windows(q), '0', wk)
end

local function waiting_remove(q, wmin, wmax, member)
  local wk = wkey(wmin, wmax)
  local key = k_waiting(q, wk)
  if rc('ZREM', key, member) == 1 then bump(q, 'nw', -1) end
  if rc('ZCARD', key) == 0 then rc('ZREM', k_windows(q), wk) end
end

-- Parsed once per distinct window: a queue's callers share few.
local WINDOWS, WINDOWS_N = {}, 0
local function window_of(wk)
  local w = WINDOWS[wk]
  if w == nil then
    if WINDOWS_N >= SMALL_MAX then WINDOWS, WINDOWS_N = {}, 0 end
    w = { tonumber(string.sub(wk, 1, 10)), tonumber(string.sub(wk, 12, 21)) }
    WINDOWS[wk], WINDOWS_N = w, WINDOWS_N + 1
  end
  return w[1], w[2]
end

-- The best-ranked waiting caller whose window admits `penalty` (any window if nil).
local function best_for(q, penalty)
  local best
  for _, wk in ipairs(rc('ZRANGE', k_windows(q), '0', '-1')) do
    local wmin, wmax = window_of(wk)
    if penalty == nil or (wmin <= penalty and penalty <= wmax) then
      local head = rc('ZRANGE', k_waiting(q, wk), '0', '0', 'WITHSCORES')
      if #head > 0 then
        local r = rank_of(head[1], head[2])
        if best == nil or rank_lt(r, best) then best = r end
      end
    end
  end
  return best
end

local function head_of(q)
  local head = rc('ZRANGE', k_present(q), '0', '0', 'WITHSCORES')
  if #head == 0 then return nil end
  return rank_of(head[1], head[2])
end

local function position_of(q, member)
  return rc('ZRANK', k_present(q), member) + 1
end

-- === available agents: a sorted set per (queue, tier) by (score, agent id) ===

local function entry_lt(a, b)
  if a.s ~= b.s then return a.s < b.s end
  return bytes_lt(a.id, b.id)
end

local function min_entry(list)
  local best
  for _, e in ipairs(list) do
    if best == nil or entry_lt(e, best) then best = e end
  end
  return best
end

local function entries(raw)
  local out = {}
  for i = 1, #raw, 2 do out[#out + 1] = { id = raw[i], s = tonumber(raw[i + 1]) } end
  return out
end

-- index::Available::select: the agents `sel` picks for a caller with window (wmin, wmax), as
-- the caller's hash holds them (strings), or across every tier when wmin is nil (penalties
-- ignored).
local function select_agents(q, sel, wmin, wmax, cursor)
  local tiers
  local tiered = wmin ~= nil and sel ~= 'across'
  if wmin == nil then
    tiers = rc('ZRANGE', k_tiers(q), '0', '-1')
  elseif tiered then
    tiers = rc('ZRANGEBYSCORE', k_tiers(q), wmin, wmax, 'LIMIT', '0', '1')
  else
    tiers = rc('ZRANGEBYSCORE', k_tiers(q), wmin, wmax)
  end
  local firsts, picked = {}, {}
  for _, p in ipairs(tiers) do
    local key = k_avail(q, p)
    if sel == 'all' then
      for _, e in ipairs(entries(rc('ZRANGE', key, 0, RINGALL_MAX - 1, 'WITHSCORES'))) do
        picked[#picked + 1] = e
      end
    else
      local first = entries(rc('ZRANGE', key, '0', '0', 'WITHSCORES'))[1]
      if first then firsts[#firsts + 1] = first end
      if sel == 'rr' and cursor ~= nil then
        local after = rc('ZRANGEBYSCORE', key, n2s(cursor + 1), '+inf', 'WITHSCORES',
          'LIMIT', '0', '1')
        local e = entries(after)[1]
        if e then picked[#picked + 1] = e end
      end
    end
  end
  if sel == 'all' then
    table.sort(picked, entry_lt)
    while #picked > RINGALL_MAX do table.remove(picked) end
    return picked
  end
  local best
  if sel == 'rr' and cursor ~= nil then best = min_entry(picked) end
  best = best or min_entry(firsts)
  return best and { best } or {}
end

-- === agents ===

-- Agents are read through a cache that lives for one function call (AC, reset by setup);
-- agent_set changes the cached copy and notes the agent (AD), and flush_agents writes each
-- changed agent back with one SET at the end of the call.
local function agent_state(a)
  local t = AC[a]
  if t ~= nil then return t or nil end
  t = record('a', a, k_agent(a), cmsgpack.unpack)
  AC[a] = t or false
  return t
end

-- Sets fields (name, value pairs of strings) of an agent; a value of false deletes the field.
-- Only an existing agent (configured: agents are never removed) is changed.
local function agent_set(a, ...)
  local t = agent_state(a)
  if not AD[a] then
    unkeep('a', a)
    AD[a] = true
  end
  local n = select('#', ...)
  for i = 1, n, 2 do
    local f, v = select(i, ...)
    t[f] = v or nil
  end
end

-- Creates a configured agent (logged out) unless it exists.
local function agent_create(a)
  if agent_state(a) then return end
  AC[a] = {}
  agent_set(a, 'st', 'out', 'rc', '1', 'li', '0', 'mi', '0')
end

local function flush_agents()
  for a in pairs(AD) do
    local t = AC[a]
    local s = cmsgpack.pack(t)
    rc('SET', k_agent(a), s)
    keep('a', a, s, t)
  end
  AD = {}
end

-- The agent's queues, in queue order. Only `configure` changes them, never a request, and it
-- packs them into the agent's field 'ms' (see pack_members).
local function members_of(a)
  local m = MC[a]
  if m == nil then
    local st = agent_state(a)
    local packed = st and st.ms or ''
    m = MMEMO[packed]
    if m == nil then
      m = {}
      local i = 1
      while i <= #packed do
        local colon = string.find(packed, ':', i, true)
        local len = tonumber(string.sub(packed, i, colon - 1))
        m[#m + 1] = string.sub(packed, colon + 1, colon + len)
        i = colon + len + 1
      end
      memo_room()
      MMEMO[packed] = m
    end
    MC[a] = m
  end
  return m
end

-- The inverse of members_of's parsing: each queue as its length, ':', the queue.
local function pack_members(queues)
  local parts = {}
  for _, q in ipairs(queues) do parts[#parts + 1] = #q .. ':' .. q end
  return table.concat(parts)
end

-- The queues of the agent's fields of one kind ('z', 'i', ...), with the fields' values.
local function agent_fields(st, kind)
  local out = {}
  local prefix = kind .. ':'
  for f, v in pairs(st) do
    if string.sub(f, 1, 2) == prefix then out[string.sub(f, 3)] = v end
  end
  return out
end

local function paused_in(st, q)
  return st.pa ~= nil or st['z:' .. q] ~= nil
end

-- agent.rs AgentState::class_in: nil when logged out.
local function class_in(st, q)
  if st.st == 'out' then return nil end
  local c
  if st.rc ~= '1' then c = 4
  elseif st.st == 'idle' then c = 0
  elseif st.st == 'res' then c = 1
  elseif st.st == 'call' then c = 2
  elseif st.sw == '1' then c = 3
  else c = 5 end
  if paused_in(st, q) then c = c + 6 end
  return c
end

local function serving(class) return class < 6 and class ~= 4 end


-- Moves one member between counters: from (p0, c0) to (p1, c1), either side nil for none.
-- Unchanged totals are left alone: most changes move an agent between classes of one tier.
local function move_count(q, p0, c0, p1, c1)
  if p0 then bump(q, p0 .. ':' .. CLASS_S[c0], -1) end
  if p1 then bump(q, p1 .. ':' .. CLASS_S[c1], 1) end
  if p0 ~= p1 then
    if p0 and bump(q, p0, -1) == 0 then rc('ZREM', k_ctiers(q), p0) end
    if p1 and bump(q, p1, 1) == 1 then rc('ZADD', k_ctiers(q), p1, p1) end
  end
  local dl = (p1 and 1 or 0) - (p0 and 1 or 0)
  if dl ~= 0 then bump(q, 'nl', dl) end
  local ds = ((p1 and serving(c1)) and 1 or 0) - ((p0 and serving(c0)) and 1 or 0)
  if ds ~= 0 then bump(q, 'ns', ds) end
end

-- Available members per tier are counted (field 'a' .. tier), so that a tier enters and
-- leaves the queue's tiers exactly when its first member comes and its last one goes.
local function unindex(a, q, pen)
  rc('ZREM', k_avail(q, pen), a)
  if bump(q, 'a' .. pen, -1) == 0 then rc('ZREM', k_tiers(q), pen) end
  bump(q, 'na', -1)
end

local function index(a, q, pen, sc)
  rc('ZADD', k_avail(q, pen), n2s(sc), a)
  if bump(q, 'a' .. pen, 1) == 1 then rc('ZADD', k_tiers(q), pen, pen) end
  bump(q, 'na', 1)
end

-- Brings the agent's places in queue q (availability index 'i:'q, member counters 'c:'q) to
-- what its state wants: `place` ("penalty score", nil when not available there) and `count`
-- ("penalty class", nil when not counted). Places that stay the same are not touched.
-- A "penalty class" as its penalty (string) and class (number). Parsed once per distinct
-- string: a site has few tiers and twelve classes, and a routing call moves its agent between
-- classes about twice.
local CLASSES, CLASSES_N = {}, 0
local function penalty_class(count)
  local pc = CLASSES[count]
  if pc == nil then
    if CLASSES_N >= SMALL_MAX then CLASSES, CLASSES_N = {}, 0 end
    local p, c = string.match(count, '^(%d+) (%d+)$')
    pc = { p, tonumber(c) }
    CLASSES[count], CLASSES_N = pc, CLASSES_N + 1
  end
  return pc[1], pc[2]
end

local function replace(a, st, q, place, pen, sc, count)
  local fi = 'i:' .. q
  local had = st[fi]
  if had ~= place then
    if had then unindex(a, q, string.match(had, '^(%d+)')) end
    if place then index(a, q, pen, sc) end
    agent_set(a, fi, place or false)
  end
  local fc = 'c:' .. q
  local hc = st[fc]
  if hc ~= count then
    local p0, c0, p1, c1
    if hc then p0, c0 = penalty_class(hc) end
    if count then p1, c1 = penalty_class(count) end
    move_count(q, p0, c0, p1, c1)
    agent_set(a, fc, count or false)
  end
end

-- board.rs refresh_agent: re-derives the agent's places in every queue's availability index
-- and counters from its state, so the indexes cannot drift. `full` (after a change of
-- memberships) also drops places in queues the agent no longer belongs to.
local function refresh_agent(a, draw, full)
  local st = agent_state(a)
  local idle = st.st == 'idle' and st.rc == '1'
  local places = {}
  local members = members_of(a)
  for _, q in ipairs(members) do
    local cfg = qcfg(q)
    local place, pen, s, count
    if cfg then
      pen = st['p:' .. q]
      local class = class_in(st, q)
      if class ~= nil then count = pen .. ' ' .. CLASS_S[class] end
      if idle and (class or 0) < 6 then
        s = score(cfg.strategy, st['o:' .. q], pen, st['l:' .. q], st['n:' .. q], draw)
        place = pen .. ' ' .. n2s(s)
        places[q] = place
      end
    end
    replace(a, st, q, place, pen, s, count)
  end
  if full then
    local member, gone = {}, {}
    for _, q in ipairs(members) do member[q] = true end
    for f in pairs(st) do
      local kind, q = string.sub(f, 1, 2), string.sub(f, 3)
      if (kind == 'i:' or kind == 'c:') and not member[q] then gone[q] = true end
    end
    for q in pairs(gone) do replace(a, st, q) end
  end
  IX[a] = places
end

-- The agent's places (queue -> "penalty score"): as this call's last refresh left them, or
-- as stored.
local function indexed_places(a)
  local places = IX[a]
  if places == nil then
    places = agent_fields(agent_state(a), 'i')
    IX[a] = places
  end
  return places
end

-- === effects ===

local function journal(kind, ...) J[#J + 1] = { kind, ... } end

-- `rid`: the reservation id as a string.
local function notice(kind, rid, call, node, q, a)
  N[#N + 1] = { kind, rid, call, node, q, a, qcfg(q).ring_s }
end

local function since(later, earlier) return n2s(math.max(0, later - earlier)) end
