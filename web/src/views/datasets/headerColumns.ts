/** The column names in a data file's first line (CSV, TSV, JSONL), to suggest a key column; [] when unsure. */
export async function headerColumns(file: File): Promise<string[]> {
  const name = file.name.toLowerCase()
  if (name.endsWith('.parquet')) return []
  const bytes = new Uint8Array(await file.slice(0, 64 * 1024).arrayBuffer())
  let end = bytes.indexOf(0x0a)
  if (end < 0) end = bytes.length
  const line = decode(bytes.subarray(0, end))
    .replace(/^\uFEFF/, '')
    .replace(/\r$/, '')
  if (!line.trim()) return []
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson') || line.trimStart().startsWith('{')) {
    try {
      return Object.keys(JSON.parse(line)).slice(0, 200)
    } catch {
      return []
    }
  }
  const delimiter =
    name.endsWith('.tsv') || line.includes('\t') ? '\t' : line.includes(';') && !line.includes(',') ? ';' : ','
  return splitLine(line, delimiter)
    .map((c) => c.trim())
    .filter(Boolean)
    .slice(0, 200)
}

/** UTF-8 if it is valid, else CP949 (what Excel writes for Korean). */
function decode(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    try {
      return new TextDecoder('euc-kr').decode(bytes)
    } catch {
      return ''
    }
  }
}

function splitLine(line: string, delimiter: string): string[] {
  const out: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"'
        i++
      } else if (c === '"') quoted = false
      else field += c
    } else if (c === '"') quoted = true
    else if (c === delimiter) {
      out.push(field)
      field = ''
    } else field += c
  }
  out.push(field)
  return out
}
