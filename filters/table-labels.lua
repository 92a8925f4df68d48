-- Indented row labels of the project's tables, for the filters that format them (html-tables.lua for HTML,
-- docx-table-widths.lua for Word): not a filter itself; they `require("table-labels")` (Quarto puts a filter's folder
-- on Lua's package.path). helpers.tables writes a label one level down with one leading em space (INDENT) per level,
-- which a wrapped second line does not repeat; each filter replaces the spaces with an indent of its format's own.

local EM_SPACE = "\u{2003}"

local M = {}

-- For a cell's Plain text that starts with em spaces: how many (at most `max_levels`, all when nil) and its inlines
-- without them. Returns 0 and nil for any other block.
function M.indent(plain, max_levels)
  local first = plain and plain.t == "Plain" and plain.content[1]
  if not first or first.t ~= "Str" then
    return 0, nil
  end
  local text, level = first.text, 0
  while text:sub(1, #EM_SPACE) == EM_SPACE and level < (max_levels or math.huge) do
    text, level = text:sub(#EM_SPACE + 1), level + 1
  end
  if level == 0 then
    return 0, nil
  end
  local inlines = plain.content:clone()
  if text == "" then
    inlines:remove(1)
  else
    inlines[1] = pandoc.Str(text)
  end
  return level, inlines
end

return M
