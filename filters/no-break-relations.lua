--[[
A relation never breaks from its operands: the spaces around "=", "<", ">", "≤" and "≥" become no-break spaces, so
that "*p* < 0.001", "*n* = 12" or "d~z~ = 0.62" stay on one line, in the text and in the front matter (the
abstract). The numbers the shortcodes print already hold no-break spaces inside (_extensions/results); this covers
the spaces the author types around one ("*p* {{< pv key >}}", "d~z~ = {{< num key >}}"). Listed after `quarto` in
each format's filters (_quarto.yml), so it sees the shortcodes' output; pandoc applies it to the metadata (the
abstract) as to the body.
]]

local NBSP = "\u{00A0}"
local RELATIONS = { ["="] = true, ["<"] = true, [">"] = true, ["≤"] = true, ["≥"] = true }
local CHAR = "[%z\1-\127\194-\244][\128-\191]*"

local function str(el) return el ~= nil and el.t == "Str" and el.text ~= "" end
local function starts_with_relation(el) return str(el) and RELATIONS[el.text:match("^" .. CHAR)] == true end
local function ends_with_relation(el) return str(el) and RELATIONS[el.text:match(CHAR .. "$")] == true end
local function is_space(el) return el.t == "Space" or el.t == "SoftBreak" end

-- the nearest inline before (step -1) or after (step 1) position i that is not an empty Str (Quarto leaves empty
-- Str where a shortcode stood, e.g. in the abstract)
local function neighbour(inlines, i, step)
  local j = i + step
  while inlines[j] ~= nil and inlines[j].t == "Str" and inlines[j].text == "" do j = j + step end
  return inlines[j]
end

local function glue(inlines)
  for i = 1, #inlines do
    if is_space(inlines[i]) and (starts_with_relation(neighbour(inlines, i, 1))
        or ends_with_relation(neighbour(inlines, i, -1))) then
      inlines[i] = pandoc.Str(NBSP)
    end
  end
  return inlines
end

return { { Inlines = glue } }
