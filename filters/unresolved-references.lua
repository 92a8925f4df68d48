--[[
Stops the render on a cross-reference Quarto could not resolve (`@fig-x` with no figure `fig-x`) or a citation key
that is not in the bibliography, naming the source file and line of each. Quarto prints a WARNING for the first,
writes "?@fig-x" into the article and exits 0: pandoc's `fail-if-warnings` (set in _quarto.yml; it stops the render
on an unknown citation and every other pandoc warning, without a line number) does not see Quarto's own warnings.
Runs after Quarto's cross-referencing (`at: post-render` in _quarto.yml). Written by hand: Quarto has no option for
it.
--]]

local function lines_with(label)
  local input = quarto.doc.input_file or (PANDOC_STATE.input_files or {})[1]
  local root = quarto.project.directory
  local shown = (root and input and input:sub(1, #root + 1) == root .. "/") and input:sub(#root + 2) or input
  local fh = input and io.open(input, "r")
  if fh == nil then return shown or "(unknown file)" end
  local found, n = {}, 0
  local pattern = "@" .. label:gsub("%p", "%%%0") .. "%f[^%w_-]"
  for line in fh:lines() do
    n = n + 1
    if line:find(pattern) then found[#found + 1] = tostring(n) end
  end
  fh:close()
  return #found > 0 and (shown .. ":" .. table.concat(found, ",")) or shown
end

-- Quarto's cross-reference prefixes: a `@fig-x` left as a citation is Quarto's to report, not the bibliography's
local CROSSREF = {fig = true, tbl = true, sec = true, eq = true, lst = true, thm = true, lem = true, cor = true,
  prp = true, cnj = true, def = true, exm = true, exr = true, sol = true, rem = true}

function Pandoc(doc)
  local missing, seen, problems = {}, {}, {}
  local ok, references = pcall(pandoc.utils.references, doc)
  local known = {}
  for _, ref in ipairs(ok and references or {}) do known[ref.id] = true end
  doc:walk({
    Cite = function(el)
      if not ok then return end
      for _, c in ipairs(el.citations) do
        if not known[c.id] and not CROSSREF[c.id:match("^(%a+)%-") or ""] and not seen["cite:" .. c.id] then
          seen["cite:" .. c.id] = true
          problems[#problems + 1] = lines_with(c.id) .. ": citation @" .. c.id .. " is not in the bibliography"
        end
      end
    end,
    Strong = function(el)
      local label = pandoc.utils.stringify(el):match("^%?@([%w_-]+)$")
      if label and not seen[label] then
        seen[label] = true
        missing[#missing + 1] = label
      end
    end,
  })
  for _, label in ipairs(missing) do
    problems[#problems + 1] = lines_with(label) .. ": cross-reference @" .. label .. " points to no figure, " ..
      "table or section with that label"
  end
  if #problems == 0 then return nil end
  io.stderr:write(table.concat(problems, "\n") .. "\n")
  io.stderr:flush()
  os.exit(1)
end
