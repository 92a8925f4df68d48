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
  {{< sig key [alpha] >}}       "significant" / "not significant" (p below alpha, default 0.05)
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
A missing key stops the render with a message naming the key and the file.
--]]

local results = nil
local results_path = nil

local function load()
  if results == nil then
    local build = os.getenv("MBPM_BUILD_DIR") or "build"
    local root = quarto.project.directory or "."
    results_path = build:sub(1, 1) == "/" and (build .. "/results.json") or (root .. "/" .. build .. "/results.json")
    local fh = io.open(results_path, "r")
    if fh == nil then
      error("results.json not found at " .. results_path .. ": run `make report` (the pipeline) before rendering")
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
    error("results key '" .. key .. "' is missing from " .. results_path .. "; run `make report`")
  end
  if v == pandoc.json.null then return nil end
  return v
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
  if not finite(x) then return "NA" end
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
  if not finite(p) then return "=" .. NBSP .. "NA" end
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
  if k < 0 or k > n then error(string.format("share: %d of %d is not a count between 0 and the total", k, n)) end
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
  if t == nil then error("no table '" .. name .. "' under `results-words` in the metadata (_quarto.yml)") end
  return t
end

local function key_pattern(glob)
  return "^" .. glob:gsub("%.", "%%."):gsub("%*", "[^.]+") .. "$"
end

local function threshold(text)
  return tonumber(text) or val(text)
end

-- how many keys match a pattern (`*` = one dot-free segment) with a finite value [below a threshold]
local function count_keys(glob, below)
  local pattern, k = key_pattern(glob), 0
  for key, v in pairs(load()) do
    if key:match(pattern) and finite(v) and (below == nil or v < below) then k = k + 1 end
  end
  return k
end

return {
  ["count"] = function(args)
    local below = nil
    if arg(args, 2) ~= nil then
      if arg(args, 2) ~= "below" then error("count: expected `below x` after the pattern, got " .. arg(args, 2)) end
      below = threshold(arg(args, 3))
    end
    return string.format("%d", count_keys(arg(args, 1), below))
  end,
  ["fold"] = function(args)
    local lo, hi = math.huge, -math.huge
    for i = 1, #args do
      local x = val(arg(args, i))
      if not finite(x) or x <= 0 then return "NA" end
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
    if not (finite(k) and finite(n)) then return "NA" end
    return share(math.tointeger(k), math.tointeger(n), noun)
  end,
  ["n"] = function(args)
    local x = val(arg(args, 1))
    if not finite(x) then return "NA" end
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
    return (finite(p) and p < alpha) and "significant" or "not significant"
  end,
  ["rose"] = function(args)
    local x = val(arg(args, 1))
    if not finite(x) then return "NA" end
    return x > 0 and "rose" or "fell"
  end,
  ["cmp"] = function(args)
    local a, b = val(arg(args, 1)), val(arg(args, 2))
    if not (finite(a) and finite(b)) then return "NA" end
    return a > b and arg(args, 3, "higher") or arg(args, 4, "lower")
  end,
  ["word"] = function(args, _, meta)
    local key, name = arg(args, 1), arg(args, 2)
    local value = val(key)
    local t = words_table(meta, name)
    local w = t[tostring(value)]
    if w == nil then
      error("results key '" .. key .. "' = '" .. tostring(value) .. "' has no entry in results-words." .. name)
    end
    -- a `*-citation` table holds bibliography keys: cite the one chosen (a citation written in the metadata
    -- itself would put every alternative in the reference list)
    if name:match("%-citation$") then return md("[@" .. pandoc.utils.stringify(w) .. "]") end
    return pandoc.utils.stringify(w)
  end,
  ["stat"] = function(args, _, meta)
    local prefix = arg(args, 1)
    local letter = words_table(meta, "test-letter")[tostring(val(prefix .. ".test"))]
    if letter == nil then error("no test-letter for " .. prefix .. ".test = " .. tostring(val(prefix .. ".test"))) end
    return md("*" .. pandoc.utils.stringify(letter) .. "*" .. NBSP .. "=" .. NBSP .. num(prefix .. ".stat", arg(args, 2, "3")))
  end,
}
