--[[
Word tables fit for submission: set every table's column widths from its contents (docx output only).

Pandoc gives a pipe table whose source lines are long relative column widths from the dashes of its separator
row, and Word then squeezes numeric columns until "-3.084" wraps one digit per line. This filter (hand-written:
neither pandoc nor Quarto sizes columns by content for Word; Quarto's `tbl-colwidths` takes fixed percentages)
gives each column at least the width of its longest unbreakable token (a number such as "-1.71", "(1637.15)" or
"<" "0.001" never wraps) and shares the rest of the text width in proportion to how much each column still wants
for its longest cell, so labels wrap before numbers do.

Units: widths in twentieths of a point (twips). The text width and table font size are those of
templates/reference.docx (Letter, 1-inch margins: 9360 twips; tables 9 pt); a character is taken as 0.55 em
(digits are 0.5 em in the common text fonts), and each cell has 108 twips of padding on either side.
Parameters can be overridden in the metadata: docx-table-widths: {text-width: 9360, font-pt: 9}.
--]]

local TEXT_WIDTH = 9360
local FONT_PT = 9
local CHAR_EM = 0.55
local PADDING = 216
local MAX_WANT_CHARS = 45 -- a label longer than this may wrap anyway: it does not claim more width

local function chars(s)
  return utf8.len(s) or #s
end

local function cell_text(cell)
  return pandoc.utils.stringify(cell.contents)
end

local function measure(text)
  local longest = 0
  for token in text:gmatch("%S+") do
    longest = math.max(longest, chars(token))
  end
  return longest, math.min(chars(text), MAX_WANT_CHARS)
end

local function each_row(tbl, fn)
  for _, row in ipairs(tbl.head.rows) do fn(row) end
  for _, body in ipairs(tbl.bodies) do
    for _, row in ipairs(body.head) do fn(row) end
    for _, row in ipairs(body.body) do fn(row) end
  end
  for _, row in ipairs(tbl.foot.rows) do fn(row) end
end

local function widths(tbl, text_width, font_pt)
  local n = #tbl.colspecs
  local token, want = {}, {}
  for i = 1, n do token[i], want[i] = 1, 1 end
  each_row(tbl, function(row)
    local col = 1
    for _, cell in ipairs(row.cells) do
      if cell.col_span == 1 and col <= n then
        local t, w = measure(cell_text(cell))
        token[col] = math.max(token[col], t)
        want[col] = math.max(want[col], w)
      end
      col = col + cell.col_span
    end
  end)
  local cw = font_pt * 20 * CHAR_EM
  local need_sum, want_sum, need, extra = 0, 0, {}, {}
  for i = 1, n do
    need[i] = token[i] * cw + PADDING
    extra[i] = math.max(want[i] * cw + PADDING - need[i], 0)
    need_sum = need_sum + need[i]
    want_sum = want_sum + extra[i]
  end
  local out = {}
  if need_sum + want_sum <= text_width then
    for i = 1, n do out[i] = need[i] + extra[i] end
  else
    if need_sum > text_width then
      quarto.log.warning(string.format(
        "docx-table-widths: a table needs %d twips for its longest tokens, more than the text width %d",
        math.floor(need_sum), text_width))
    end
    local room = math.max(text_width - need_sum, 0)
    for i = 1, n do out[i] = need[i] + (want_sum > 0 and room * extra[i] / want_sum or 0) end
  end
  return out
end

local text_width, font_pt = TEXT_WIDTH, FONT_PT

return {
  {
    Meta = function(meta)
      local opts = meta["docx-table-widths"]
      if opts then
        text_width = tonumber(pandoc.utils.stringify(opts["text-width"] or "")) or text_width
        font_pt = tonumber(pandoc.utils.stringify(opts["font-pt"] or "")) or font_pt
      end
    end,
  },
  {
    Table = function(tbl)
      if not quarto.doc.is_format("docx") then return nil end
      local w = widths(tbl, text_width, font_pt)
      for i, spec in ipairs(tbl.colspecs) do
        tbl.colspecs[i] = { spec[1], w[i] / text_width }
      end
      return tbl
    end,
  },
}
