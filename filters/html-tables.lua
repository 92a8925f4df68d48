-- HTML tables that read like a journal's (issue 18). Pandoc gives no table cell a class, and CSS cannot tell a
-- number from a word, so this filter marks them; styles.css does the rest:
--   * a row label indented with em spaces gets class `indent-N` instead, so a wrapped line keeps the indent;
--   * every body cell whose text is a number, statistic, df, p or CI ("F = 3.008", "1, 63", "< 0.001",
--     "38.90 (11.02)", "0.45 [0.12, 0.80]") gets class `num`: it never wraps (white-space: nowrap);
--   * a table too wide for the text column (its longest cells, column by column, add up to more than WIDE_CHARS
--     characters) is put in the body and right-margin column (Quarto's `column-page-right`: the left margin holds
--     the table of contents), so at 1400 px it spreads into the empty right margin; narrower screens scroll it
--     inside its own box (styles.css) instead of wrapping its numbers.
-- Written by hand: Quarto has no option that classes cells by content; `tbl-colwidths`/`column: page` would have to
-- be set table by table in the notebooks, and pandoc's relative column widths (pipe tables wider than 72
-- characters) are what made numbers wrap.

local WIDE_CHARS = 88

local function is_numeric(text)
  if not text:find("%d") or utf8.len(text) == nil or utf8.len(text) > 40 then
    return false
  end
  -- at most short symbols between the numbers: F, H, t, df, p, n, SD, ns ... (Greek letters are not ASCII letters)
  for word in text:gmatch("%a+") do
    if #word > 3 then
      return false
    end
  end
  return true
end

local function cell_text(cell)
  return pandoc.utils.stringify(cell.contents)
end

local labels = require("table-labels")

-- A label indented with leading em spaces loses its indent on a wrapped second line ("American Indian or Alaska /
-- Native"): the spaces are taken off and the cell gets class `indent-N`, whose left padding (styles.css) indents
-- every line.
local function indent_label(cell)
  local plain = cell.contents[1]
  local level, inlines = labels.indent(plain)
  if level > 0 then
    plain.content = inlines
    cell.attr.classes:insert("indent-" .. level)
  end
end

local function mark(rows)
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row.cells) do
      if i == 1 then
        indent_label(cell)
      elseif is_numeric(cell_text(cell)) then
        cell.attr.classes:insert("num")
      end
    end
  end
end

local function natural_width(tbl)
  local widest = {}
  local function measure(rows)
    for _, row in ipairs(rows) do
      for i, cell in ipairs(row.cells) do
        local n = utf8.len(cell_text(cell)) or #cell_text(cell)
        widest[i] = math.max(widest[i] or 0, n)
      end
    end
  end
  measure(tbl.head.rows)
  for _, body in ipairs(tbl.bodies) do
    measure(body.body)
  end
  local total = 0
  for _, n in pairs(widest) do
    total = total + math.min(n, 40) + 3 -- a text cell wraps at about 40 characters; 3 for the cell's padding
  end
  return total
end

local function wide(tbl)
  return natural_width(tbl) > WIDE_CHARS
end

function Table(tbl)
  for _, body in ipairs(tbl.bodies) do
    mark(body.body)
  end
  -- column widths from the browser, not from the pipe table's dashes
  for i, spec in ipairs(tbl.colspecs) do
    tbl.colspecs[i] = { spec[1], pandoc.ColWidthDefault }
  end
  if wide(tbl) then
    tbl.attr.classes:insert("wide-table")
  end
  return tbl
end

-- A cell (embedded from a notebook, or a div) holding a wide table goes to the page column.
function Div(div)
  if div.classes:find_if(function(c) return c:match("^column%-") end) then
    return nil
  end
  local has_wide = false
  div:walk({
    Table = function(tbl)
      if wide(tbl) then
        has_wide = true
      end
    end,
  })
  if has_wide and (div.classes:includes("cell") or div.identifier:match("^tbl%-")) then
    div.classes:insert("column-page-right")
    return div
  end
end

return {
  { Table = Table },
  { Div = Div },
}
