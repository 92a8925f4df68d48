--[[
Shortcodes that put the pipeline's computed numbers into the manuscript's prose, without a Jupyter kernel.

Every value comes from <project>/<build>/results.json (written by `make report`; <build> is the environment
variable MBPM_BUILD_DIR, default "build"). Quarto's own inline code (`{python} ...`) would need a kernel start per
output format (~3 s each); a Lua shortcode runs inside pandoc. Written by hand because no Quarto extension reads
a flat JSON file of results; the formatting rules are those of helpers.formatting (2 decimals by
default, p to three decimals or "< 0.001"), and tests/test_manuscript_render.py checks each shortcode's output.

  {{< n key >}}                 a count: 65
  {{< num key [digits] >}}      a number rounded to digits (default 2), negatives with a minus sign (U+2212); NA
                                when missing or not finite
  {{< pv key >}}                "= 0.038" or "< 0.001" (the text before it carries the italic p)
  {{< msd prefix group [d] >}}  "mean (SD)" from <prefix>.<group>_mean and <prefix>.<group>_sd
  {{< ftest prefix [d] >}}      "*F*(df1, df2) = F, *p* ..." from <prefix>.df1/.df2/.f/.p
  {{< pes key >}}               partial eta squared, 3 decimals
  {{< ci prefix [d] >}}         "[low, high]" from <prefix>.ci_low and <prefix>.ci_high
  {{< sig key [alpha] >}}       "significant" / "not significant" (p below alpha, default 0.05); n/a if p is not finite
  {{< rose key >}}              "rose" / "fell" from the sign of a post - pre change
  {{< cmp key other [hi lo] >}} "higher" / "lower" (or the two given words): key's value against other's
  {{< word key table >}}        a string result (e.g. t2.correction) looked up in metadata `results-words.<table>`;
                                in a table named *-citation the entry is a bibliography key, cited
  {{< stat prefix >}}           "*H* = 5.976" or "*F* = 5.976", the letter of the test chosen (<prefix>.test)
  {{< count pattern [below x] >}} how many keys match pattern (`*` = one dot-free segment) with a finite value,
                                [only those below x: a number or a results key such as t1.alpha]
  {{< share key total [noun] [below x] >}} how many of total, in words: "all four cytokines", "none of the four
                                cytokines", "one of them" (total: a number or a results key; key: a count, or a
                                pattern as in `count`, [only values below x])
  {{< fold key key ... >}}      the largest of the values divided by the smallest, to the nearest whole number
A results key or a count pattern that does not exist stops the render (every render: `quarto render`,
`quarto preview`, `make report`) with one line naming the source file and line of the shortcode, the key and the
closest existing keys, e.g.
  index.qmd:42: {{< num t1.bdi_totl.hc_mean >}}: no results key 't1.bdi_totl.hc_mean' in build/results.json;
  did you mean t1.bdi_total.hc_mean, t1.bdi_total.cp_mean?
A value that is not finite (NaN, infinite: a test the data cannot support) prints "n/a", and the first one of
the document carries a footnote saying what it means, so it never looks like a typo.
--]]

local results = nil
local results_path = nil

-- --- errors: one line naming the source line, then the render stops -----------------------------------------------
-- Quarto redefines `error` in filters to print and go on (the shortcode would print a value and exit 0), and pandoc
-- gives shortcodes no source position: the shortcode being expanded is found in the source file by its text.

local current = nil  -- {name = ..., args = {...}} of the shortcode being expanded

local function project_relative(path)
  local root = quarto.project.directory
  if root and path:sub(1, #root + 1) == root .. "/" then return path:sub(#root + 2) end
  return path
end

local function escape(text)
  return (text:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

-- "index.qmd:12" (every line holding the shortcode's text, comma-separated), or the file alone if not found
local function where()
  local input = quarto.doc.input_file or (PANDOC_STATE.input_files or {})[1]
  if input == nil then return "(unknown file)" end
  local shown = project_relative(input)
  local fh = io.open(input, "r")
  if fh == nil or current == nil then return shown end
  local words = {escape(current.name)}
  for _, a in ipairs(current.args) do words[#words + 1] = '"?' .. escape(a) .. '"?' end
  local pattern = "{{<%s*" .. table.concat(words, "%s+") .. "%s*>}}"
  local lines, n = {}, 0
  for line in fh:lines() do
    n = n + 1
    if line:find(pattern) then lines[#lines + 1] = tostring(n) end
  end
  fh:close()
  if #lines == 0 then return shown end
  return shown .. ":" .. table.concat(lines, ",")
end

local function stop(message)
  local code = current and ("{{< " .. current.name .. " " .. table.concat(current.args, " ") .. " >}}: ") or ""
  io.stderr:write(where() .. ": " .. code .. message .. "\n")
  io.stderr:flush()
  os.exit(1)
end

-- difflib's similarity, 2 * matches / total length, with the matches counted as the longest common subsequence of
-- bytes. Written by hand: pandoc's Lua has no fuzzy matcher, and this runs only to word an error.
local function similarity(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = 0 end
  for i = 1, #a do
    local cur, ai = {[0] = 0}, a:byte(i)
    for j = 1, #b do
      cur[j] = (ai == b:byte(j)) and prev[j - 1] + 1 or math.max(prev[j], cur[j - 1])
    end
    prev = cur
  end
  return 2 * prev[#b] / (#a + #b)
end

-- up to `n` of `candidates` most similar to `word`, at least 0.6 alike (difflib.get_close_matches' cutoff)
local function closest(word, candidates, n)
  local scored = {}
  for _, c in ipairs(candidates) do
    if 2 * math.min(#c, #word) / (#c + #word) >= 0.6 then  -- else it cannot reach 0.6
      local r = similarity(word, c)
      if r >= 0.6 then scored[#scored + 1] = {c, r} end
    end
  end
  table.sort(scored, function(x, y) return x[2] > y[2] or (x[2] == y[2] and x[1] < y[1]) end)
  local out = {}
  for i = 1, math.min(n, #scored) do out[i] = scored[i][1] end
  return out
end

local function did_you_mean(found)
  if #found == 0 then return "no key is close; every key is listed in build/results_keys.csv" end
  return "did you mean " .. table.concat(found, ", ") .. "?"
end

local function load()
  if results == nil then
    local build = os.getenv("MBPM_BUILD_DIR") or "build"
    local root = quarto.project.directory or "."
    results_path = build:sub(1, 1) == "/" and (build .. "/results.json") or (root .. "/" .. build .. "/results.json")
    local fh = io.open(results_path, "r")
    if fh == nil then
      stop(project_relative(results_path) .. " not found: run `make report` (the pipeline) before rendering")
    end
    results = pandoc.json.decode(fh:read("a"), false)
    fh:close()
  end
  return results
end

local function arg(args, i, default)
  if args[i] == nil then return default end
  return pandoc.utils.stringify(args[i])
end

local function val(key)
  local r = load()
  local v = r[key]
  if v == nil then
    local keys = {}
    for k in pairs(r) do keys[#keys + 1] = k end
    stop("no results key '" .. key .. "' in " .. project_relative(results_path) .. "; " ..
      did_you_mean(closest(key, keys, 3)))
  end
  if v == pandoc.json.null then return nil end
  return v
end

-- --- values that are not finite: "n/a", explained once per document ------------------------------------------------
local NA = "n/a"
local NA_NOTE = "n/a: not computable from these data (the value is not a finite number, e.g. a test of a " ..
  "variable without variance)."
local na_seen = false       -- the shortcode being expanded printed n/a
local na_explained = false  -- the footnote has been given

local function not_finite()
  na_seen = true
  return NA
end

-- the shortcode's output, with the footnote explaining n/a after the first one of the document
local function explain_na(result)
  if not na_seen or na_explained then return result end
  na_explained = true
  local inlines = pandoc.Inlines(result)
  inlines:insert(pandoc.Note({pandoc.Para(pandoc.Inlines(NA_NOTE))}))
  return inlines
end

local function finite(x)
  return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge
end

-- Number formats: the rules of helpers.formatting (the report's one formatter; tests/test_formatting.py renders
-- these shortcodes on chosen values and compares the strings with it). A true minus (U+2212), no negative zero,
-- commas between thousands, p "< 0.001" below 0.001 else three decimals, no-break spaces (U+00A0) inside a quantity.
local MINUS, NBSP = "\u{2212}", "\u{00A0}"

local function grouped(digits)
  if #digits <= 3 then return digits end
  return (digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
end

local function number(x, digits)
  if not finite(x) then return not_finite() end
  local s = string.format("%." .. math.tointeger(tonumber(digits or 2)) .. "f", math.abs(x))
  local int, rest = s:match("^(%d+)(.*)$")
  s = grouped(int) .. rest
  if x < 0 and s:find("[1-9]") then s = MINUS .. s end
  return s
end

local function num(key, digits)
  return number(val(key), digits)
end

local function pv(key)
  local p = val(key)
  if not finite(p) then return "=" .. NBSP .. not_finite() end
  if p < 0.001 then return "<" .. NBSP .. "0.001" end
  return "=" .. NBSP .. number(p, 3)
end

-- how many of n, in words: "all four cytokines", "none of the four cytokines", "one of them" (helpers.formatting.share)
local WORDS = { [0] = "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
  "eleven", "twelve" }

local function in_words(k)
  return WORDS[k] or string.format("%d", k)
end

local function share(k, n, noun)
  if k < 0 or k > n then stop(string.format("%d of %d is not a count between 0 and the total", k, n)) end
  local some = k == 0 and "none" or in_words(k)
  if noun ~= nil then
    if k == n then return (n == 2 and "both " or ("all " .. in_words(n) .. " ")) .. noun end
    return some .. " of the " .. in_words(n) .. " " .. noun
  end
  if k == n then return n == 2 and "both of them" or "all of them" end
  return some .. " of them"
end

local function md(text)
  return pandoc.utils.blocks_to_inlines(pandoc.read(text, "markdown").blocks)
end

local function words_table(meta, name)
  local tables = meta["results-words"]
  local t = tables and tables[name]
  if t == nil then stop("no table '" .. name .. "' under `results-words` in the metadata (_quarto.yml)") end
  return t
end

local function key_pattern(glob)
  return "^" .. glob:gsub("%.", "%%."):gsub("%*", "[^.]+") .. "$"
end

-- a count pattern that matches no key: stop, naming the closest patterns that do match (each key with the
-- pattern's `*` segments put back in place)
local function no_match(glob)
  local segments, seen, patterns = {}, {}, {}
  for seg in glob:gmatch("[^.]+") do segments[#segments + 1] = seg end
  for key in pairs(load()) do
    local parts = {}
    for seg in key:gmatch("[^.]+") do parts[#parts + 1] = seg end
    if #parts == #segments then
      for i, seg in ipairs(segments) do
        if seg:find("*", 1, true) and parts[i]:match(key_pattern(seg)) then parts[i] = seg end
      end
      local p = table.concat(parts, ".")
      if not seen[p] then seen[p] = true; patterns[#patterns + 1] = p end
    end
  end
  stop("the count pattern '" .. glob .. "' matches no results key in " .. project_relative(results_path) .. "; " ..
    did_you_mean(closest(glob, patterns, 3)))
end

local function threshold(text)
  return tonumber(text) or val(text)
end

-- how many keys match a pattern (`*` = one dot-free segment) with a finite value [below a threshold]; a pattern
-- that matches no key at all stops the render (no_match)
local function count_keys(glob, below)
  local pattern, k, matched = key_pattern(glob), 0, 0
  for key, v in pairs(load()) do
    if key:match(pattern) then
      matched = matched + 1
      if finite(v) and (below == nil or v < below) then k = k + 1 end
    end
  end
  if matched == 0 then no_match(glob) end
  return k
end

local shortcodes = {
  ["count"] = function(args)
    local below = nil
    if arg(args, 2) ~= nil then
      if arg(args, 2) ~= "below" then stop("expected `below x` after the pattern, got " .. arg(args, 2)) end
      below = threshold(arg(args, 3))
    end
    return string.format("%d", count_keys(arg(args, 1), below))
  end,
  ["fold"] = function(args)
    local lo, hi = math.huge, -math.huge
    for i = 1, #args do
      local x = val(arg(args, i))
      if not finite(x) or x <= 0 then return not_finite() end
      lo, hi = math.min(lo, x), math.max(hi, x)
    end
    return string.format("%.0f", hi / lo)
  end,
  ["share"] = function(args)
    local first, noun, below = arg(args, 1), arg(args, 3), nil
    if noun == "below" then noun, below = nil, threshold(arg(args, 4))
    elseif arg(args, 4) == "below" then below = threshold(arg(args, 5)) end
    local k = first:find("*", 1, true) and count_keys(first, below) or val(first)
    local n = threshold(arg(args, 2))
    if not (finite(k) and finite(n)) then return not_finite() end
    return share(math.tointeger(k), math.tointeger(n), noun)
  end,
  ["n"] = function(args)
    local x = val(arg(args, 1))
    if not finite(x) then return not_finite() end
    return string.format("%.0f", x)
  end,
  ["num"] = function(args) return num(arg(args, 1), arg(args, 2, "2")) end,
  ["pv"] = function(args) return pv(arg(args, 1)) end,
  ["pes"] = function(args) return num(arg(args, 1), 3) end,
  ["msd"] = function(args)
    local prefix, group, d = arg(args, 1), arg(args, 2), arg(args, 3, "2")
    return num(prefix .. "." .. group .. "_mean", d) .. NBSP .. "(" .. num(prefix .. "." .. group .. "_sd", d) .. ")"
  end,
  ["ci"] = function(args)
    local prefix, d = arg(args, 1), arg(args, 2, "2")
    return "[" .. num(prefix .. ".ci_low", d) .. "," .. NBSP .. num(prefix .. ".ci_high", d) .. "]"
  end,
  ["ftest"] = function(args)
    local prefix, d = arg(args, 1), arg(args, 2, "2")
    return md("*F*(" .. num(prefix .. ".df1", 0) .. "," .. NBSP .. num(prefix .. ".df2", 0) .. ")" .. NBSP .. "=" ..
      NBSP .. num(prefix .. ".f", d) .. ", *p*" .. NBSP .. pv(prefix .. ".p"))
  end,
  ["sig"] = function(args)
    local p, alpha = val(arg(args, 1)), tonumber(arg(args, 2, "0.05"))
    if not finite(p) then return not_finite() end  -- a test that could not be computed is not "not significant"
    return p < alpha and "significant" or "not significant"
  end,
  ["rose"] = function(args)
    local x = val(arg(args, 1))
    if not finite(x) then return not_finite() end
    return x > 0 and "rose" or "fell"
  end,
  ["cmp"] = function(args)
    local a, b = val(arg(args, 1)), val(arg(args, 2))
    if not (finite(a) and finite(b)) then return not_finite() end
    return a > b and arg(args, 3, "higher") or arg(args, 4, "lower")
  end,
  ["word"] = function(args, _, meta)
    local key, name = arg(args, 1), arg(args, 2)
    local value = val(key)
    local t = words_table(meta, name)
    local w = t[tostring(value)]
    if w == nil then
      stop("results key '" .. key .. "' = '" .. tostring(value) .. "' has no entry in results-words." .. name ..
        " (_quarto.yml)")
    end
    -- a `*-citation` table holds bibliography keys: cite the one chosen (a citation written in the metadata
    -- itself would put every alternative in the reference list)
    if name:match("%-citation$") then return md("[@" .. pandoc.utils.stringify(w) .. "]") end
    return pandoc.utils.stringify(w)
  end,
  ["stat"] = function(args, _, meta)
    local prefix = arg(args, 1)
    local letter = words_table(meta, "test-letter")[tostring(val(prefix .. ".test"))]
    if letter == nil then stop("no results-words.test-letter for " .. prefix .. ".test = " .. tostring(val(prefix .. ".test")) .. " (_quarto.yml)") end
    return md("*" .. pandoc.utils.stringify(letter) .. "*" .. NBSP .. "=" .. NBSP .. num(prefix .. ".stat", arg(args, 2, "3")))
  end,
}

-- every shortcode remembers itself (for the error's source line) and explains its n/a
local handlers = {}
for name, handler in pairs(shortcodes) do
  handlers[name] = function(args, kwargs, meta, ...)
    local words = {}
    for i = 1, #args do words[i] = arg(args, i) end
    current, na_seen = {name = name, args = words}, false
    return explain_na(handler(args, kwargs, meta, ...))
  end
end
return handlers
