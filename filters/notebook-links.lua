-- Links between the article and the notebooks and supplementary (issue 18).
--
-- Each table and figure the article embeds from a notebook links the notebook that made it ("Source: ..."), in the
-- HTML of the published site (the `publish` profile, where Quarto renders the notebooks' pages) and, in the everyday
-- render, the executed notebook itself (a resource of the manuscript). Written by hand because Quarto 1.7.34's
-- manuscript writes no such inline link for `{{< embed >}}` output even with `notebook-links: true` (checked on a
-- two-file manuscript project: only the article's list of notebooks links them); this reads the attributes Quarto's
-- embed puts on each embedded cell (`notebook`, `notebook-title`) and adds one link after it.

local function relative_to_project(path)
  local root = quarto.project.directory
  if root and path:sub(1, #root + 1) == root .. "/" then
    return path:sub(#root + 2)
  end
  return nil
end

local function publishing()
  for _, profile in ipairs(quarto.project.profile or {}) do
    if profile == "publish" then
      return true
    end
  end
  return false
end

local function first_label(div)
  local found = nil
  div:walk({
    Div = function(el)
      if found == nil and el.identifier:match("^[ft][ib][gl]%-") then
        found = el.identifier
      end
    end,
  })
  return found
end

-- The supplementary exists only in the published site: in the everyday render (`make report`, no `publish`
-- profile) a link into it keeps its words and says where the page is, instead of pointing at nothing.
function Link(link)
  if quarto.doc.is_format("html") and not publishing() and link.target:match("^build/supplementary/") then
    local words = link.content:clone()
    words:insert(pandoc.Str(" (made by "))
    words:insert(pandoc.Code("make publish"))
    words:insert(pandoc.Str(")"))
    return words
  end
end

-- A notebook's page numbers its tables and figures on its own ("Table 1" of notebook 04 is the article's Table 2),
-- so on a notebook page the caption of each float the article embeds also gives the article's number:
-- "Table 1 (Table 2 in the article): ...". The article numbers its floats in the order index.qmd places them, tables
-- and figures separately; that order is read from index.qmd (embeds, and floats of its own should it get any).
local ARTICLE = "index.qmd" -- _quarto.yml: manuscript.article
local KINDS = { tbl = "Table", fig = "Figure" }

local function article_numbers()
  local root = quarto.project.directory
  local fh = root and io.open(root .. "/" .. ARTICLE, "r")
  if not fh then
    return {}
  end
  local text = fh:read("a")
  fh:close()
  local found = {}
  local patterns = {
    "{{<%s*embed%s+([^#%s]+)#((%a%a%a)%-[%w%-_]+)",
    "{#((%a%a%a)%-[%w%-_]+)", -- a float of index.qmd's own: {#tbl-x}
    "#|%s*label:%s*((%a%a%a)%-[%w%-_]+)",
  }
  for i, pattern in ipairs(patterns) do
    local at = 1
    while true do
      local s, e, a, b, c = text:find(pattern, at)
      if not s then
        break
      end
      local notebook, label, kind = nil, a, b
      if i == 1 then
        notebook, label, kind = a, b, c
      end
      if KINDS[kind] then
        table.insert(found, { pos = s, notebook = notebook, label = label, kind = kind })
      end
      at = e + 1
    end
  end
  table.sort(found, function(x, y) return x.pos < y.pos end)
  local numbers, count = {}, { tbl = 0, fig = 0 }
  for _, f in ipairs(found) do
    count[f.kind] = count[f.kind] + 1
    if f.notebook then
      numbers[f.notebook .. "#" .. f.label] = KINDS[f.kind] .. "\u{00A0}" .. count[f.kind]
    end
  end
  return numbers
end

-- the notebook being rendered as a page, relative to the project (nil for the article and other documents)
local function notebook_page()
  local input = quarto.doc.input_file
  if not publishing() or not quarto.doc.is_format("html") or not input or not input:match("%.ipynb$") then
    return nil
  end
  return relative_to_project(input)
end

local function add_article_number(div, numbers, notebook)
  local number = numbers[notebook .. "#" .. div.identifier]
  if not number then
    return nil
  end
  local done = false
  local numbered = div:walk({
    Plain = function(plain) -- the caption: the first text after the float's figcaption opens ("Table 1: ...")
      if done then
        return nil
      end
      for i, inline in ipairs(plain.content) do
        if inline.t == "Str" and inline.text == ":" then
          plain.content:insert(i, pandoc.Str(" (" .. number .. " in the article)"))
          done = true
          return plain
        end
      end
    end,
  })
  return done and numbered or nil
end

local numbers = nil -- read once per document

function Div(div)
  local notebook = notebook_page()
  if notebook then
    numbers = numbers or article_numbers()
    return add_article_number(div, numbers, notebook)
  end
  if not quarto.doc.is_format("html") or not div.classes:includes("quarto-embed-nb-cell") then
    return nil
  end
  local notebook = div.attributes["notebook"]
  local rel = notebook and relative_to_project(notebook)
  if rel == nil then
    return nil
  end
  -- Quarto's embed writes the notebook's absolute path (data-notebook="/home/.../build/notebooks/..."); in the
  -- everyday render nothing removes it, so the published page would carry the machine's path. Relative to the
  -- project instead (Quarto's notebook previewer, in the `publish` profile, resolves it against index.qmd's folder).
  div.attributes["notebook"] = rel
  local stem = rel:gsub("%.ipynb$", "")
  local title = div.attributes["notebook-title"] or pandoc.path.filename(rel)
  local href = rel
  if publishing() then
    href = stem .. "-preview.html"
    local label = first_label(div)
    if label then
      href = href .. "#" .. label
    end
  end
  local link = pandoc.Link({ pandoc.Str("Source: " .. title) }, href)
  div.content:insert(pandoc.Div({ pandoc.Plain({ link }) }, pandoc.Attr("", { "mbpm-notebook-link" })))
  return div
end
