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

function Div(div)
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
