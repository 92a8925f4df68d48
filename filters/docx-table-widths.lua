--[[
Word tables fit for submission (docx output only): column widths from each table's contents, a landscape
section for a table too wide for a portrait page, and indented row labels that stay indented when they wrap.

Pandoc sizes a long-lined pipe table from the dashes of its separator row, and Word then squeezes numeric columns
until "-3.084" wraps one digit per line. This filter (hand-written: neither pandoc nor Quarto sizes columns by
content for Word, and Quarto's `tbl-colwidths` takes fixed percentages) gives each column at least the width of
its longest unbreakable token, so a number such as "−1.71", "12.50 (3.01)" or "< 0.001" never wraps (helpers.formatting
writes a true minus and no-break spaces inside every quantity, in every format), and shares the
rest of the width in proportion to what each column still wants for its longest cell, so labels wrap first.
When the tokens alone do not fit the portrait text width, the table's float gets a landscape section of its own
(OOXML section breaks: a paragraph whose sectPr ends the section before it).

Units: twips (1/20 pt). Page: US Letter with 1-inch margins, as set in templates/reference.docx
(helpers.docx_reference): text width 9360 portrait, 12960 landscape; Quarto puts each float in a one-cell layout
table whose cell padding (108 + 108) comes off that. Table text is 9 pt (the reference document's table style). A
character is taken as 0.65 em: digits are 0.5 em in Word's usual fonts, 0.64 em in DejaVu Sans, LibreOffice's
fallback when they are missing.
--]]

local PAGE_W, PAGE_H, MARGIN = 12240, 15840, 1440
local PORTRAIT = PAGE_W - 2 * MARGIN
local LANDSCAPE = PAGE_H - 2 * MARGIN
local FLOAT_PADDING = 216
local FONT_PT = 9
local CHAR_EM = 0.65
local CELL_PADDING = 216
local MAX_WANT_CHARS = 40 -- a label longer than this may wrap anyway: it claims no more width

-- width of a text in "characters" of CHAR_EM: punctuation and spaces ('.', ',', '(', '[', no-break space) are about
-- half a digit wide in the usual fonts (DejaVu Sans: 0.32-0.39 em against 0.64 em for a digit), so a number such
-- as "2,923.07 (1,854.51)" needs 16 characters' width, not 19; capitals are wider (0.7-0.8 em)
local NARROW = { ["."] = true, [","] = true, [":"] = true, [";"] = true, ["("] = true, [")"] = true, ["["] = true,
  ["]"] = true, [" "] = true, ["\u{00A0}"] = true, ["'"] = true, ["|"] = true }

local function chars(s)
  local n = 0
  for _, c in utf8.codes(s) do
    local ch = utf8.char(c)
    n = n + (NARROW[ch] and 0.55 or (ch:match("^[A-Z]$") and 1.2 or 1)) -- capitals ~0.75 em in DejaVu Sans
  end
  return n
end

local function each_row(tbl, fn)
  for _, row in ipairs(tbl.head.rows) do fn(row) end
  for _, body in ipairs(tbl.bodies) do
    for _, row in ipairs(body.head) do fn(row) end
    for _, row in ipairs(body.body) do fn(row) end
  end
  for _, row in ipairs(tbl.foot.rows) do fn(row) end
end

-- Quarto wraps every float (a table with its caption and notes, a figure) in a one-cell layout table: leave those
-- alone, size the data tables inside them.
local function nested_tables(tbl)
  local found, image = {}, false
  each_row(tbl, function(row)
    for _, cell in ipairs(row.cells) do
      cell.contents:walk({
        Table = function(t) table.insert(found, t) end,
        Image = function() image = true end,
      })
    end
  end)
  return found, image
end

-- (minimum, wanted) width of each column in twips
local function column_needs(tbl)
  local n = #tbl.colspecs
  local token, exact, want = {}, {}, {}
  for i = 1, n do token[i], exact[i], want[i] = 1, 1, 1 end
  each_row(tbl, function(row)
    local col = 1
    for _, cell in ipairs(row.cells) do
      if cell.col_span == 1 and col <= n then
        local text = pandoc.utils.stringify(cell.contents)
        for tok in text:gmatch("[^ ]+") do
          token[col] = math.max(token[col], math.ceil(chars(tok)))
          exact[col] = math.max(exact[col], chars(tok))
        end
        want[col] = math.max(want[col], math.min(chars(text), MAX_WANT_CHARS))
      end
      col = col + cell.col_span
    end
  end)
  local cw = FONT_PT * 20 * CHAR_EM
  local need, extra, least = {}, {}, 0
  for i = 1, n do
    need[i] = token[i] * cw + CELL_PADDING
    extra[i] = math.max(want[i] * cw + CELL_PADDING - need[i], 0)
    least = least + exact[i] * cw + CELL_PADDING
  end
  -- need: each column's longest token rounded up to whole characters (the slack that keeps a number on one line);
  -- least: the same without the rounding, the width below which some token cannot fit at all
  return need, extra, least
end

local function sum(xs)
  local s = 0
  for _, x in ipairs(xs) do s = s + x end
  return s
end

-- widths (twips) filling at most `room`
-- widths (twips) filling at most `room`: every column gets its need; the spare width then goes to the columns
-- that want least first (a "mean (SD)" cell on one line before a long label), the last one taking what is left.
local function allocate(need, extra, room)
  local out, order = {}, {}
  for i = 1, #need do out[i] = need[i]; order[i] = i end
  table.sort(order, function(a, b) return extra[a] < extra[b] end)
  local spare = math.max(room - sum(need), 0)
  for _, i in ipairs(order) do
    local give = math.min(extra[i], spare)
    out[i] = out[i] + give
    spare = spare - give
  end
  return out
end

local function section_break(landscape)
  local size = landscape
    and string.format('<w:pgSz w:w="%d" w:h="%d" w:orient="landscape"/>', PAGE_H, PAGE_W)
    or string.format('<w:pgSz w:w="%d" w:h="%d"/>', PAGE_W, PAGE_H)
  local margins = string.format('<w:pgMar w:top="%d" w:right="%d" w:bottom="%d" w:left="%d" w:header="720" '
    .. 'w:footer="720" w:gutter="0"/>', MARGIN, MARGIN, MARGIN, MARGIN)
  return pandoc.RawBlock("openxml", "<w:p><w:pPr><w:sectPr>" .. size .. margins .. "</w:sectPr></w:pPr></w:p>")
end

-- A row label indented with leading em spaces (helpers.tables.INDENT, one per level) loses its indent on a wrapped
-- second line. Its cell's paragraph gets the reference document's style "Table Label <level>" instead (a left indent
-- of `level` ems, helpers.docx_reference), and the spaces are taken off. After the widths: they count the spaces.
-- Pandoc gives a cell's Plain text the style Compact whatever surrounds it, so the label becomes a Para in a Div.
local labels = require("table-labels")
local LABEL_LEVELS = 2 -- the styles helpers.docx_reference defines

local function indent_labels(tbl)
  for _, body in ipairs(tbl.bodies) do
    for _, row in ipairs(body.body) do
      local cell = row.cells[1]
      local level, inlines = labels.indent(cell and #cell.contents == 1 and cell.contents[1], LABEL_LEVELS)
      if level > 0 then
        cell.contents = { pandoc.Div({ pandoc.Para(inlines) }, { ["custom-style"] = "Table Label " .. level }) }
      end
    end
  end
end

local function size_data_table(tbl)
  local need, extra, least = column_needs(tbl)
  local room = PORTRAIT - FLOAT_PADDING
  local landscape = sum(need) > room
  if landscape then
    room = LANDSCAPE - FLOAT_PADDING
    if least > room then
      quarto.log.warning(string.format("docx-table-widths: a table's numbers need %d twips, more than the "
        .. "landscape text width %d: split it or move it to the supplementary", math.floor(least), room))
    end
  end
  local w = allocate(need, extra, room)
  for i, spec in ipairs(tbl.colspecs) do
    tbl.colspecs[i] = { spec[1], w[i] / room } -- fractions of the containing width
  end
  if landscape then tbl.attr.attributes["docx-landscape"] = "true" end
  indent_labels(tbl)
  return tbl
end

return {
  {
    Table = function(tbl)
      if not quarto.doc.is_format("docx") then return nil end
      local inner, image = nested_tables(tbl)
      if #inner == 0 and not image then
        return size_data_table(tbl) -- children first: a float's data table is sized before its layout table
      end
      if image then return nil end
      -- a table float: its layout cell's alignment (centre by default) would be pushed into every cell of the
      -- data table by pandoc's docx writer; the data table's own column alignments must win
      for i, spec in ipairs(tbl.colspecs) do tbl.colspecs[i] = { pandoc.AlignDefault, spec[2] } end
      for _, t in ipairs(inner) do
        if t.attr.attributes["docx-landscape"] == "true" then
          return { section_break(false), tbl, section_break(true) }
        end
      end
      return tbl
    end,
  },
}
