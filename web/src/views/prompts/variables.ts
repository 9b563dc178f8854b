// The prompt editor's pure logic: variable declarations as form rows (defaults typed as text), values typed in
// the Test panel, the messages a rendered prompt sends, and the grouping of a diff by chat message.
import {
  VARIABLE_NAME,
  type Binding,
  type DiffLine,
  type Rendered,
  type TemplateMessage,
  type Variable,
  type VariableType,
} from '@/api/prompts'

/** A declaration as the editor's table holds it: the default as the text the author typed. */
export interface VariableRow {
  name: string
  type: VariableType
  required: boolean
  defaultText: string
  description: string
}

export type Parsed = { ok: true; value: unknown } | { ok: false }

/** A value typed as text, read as `type`: empty is "not given" (undefined); lists and objects are JSON. */
export function parseValue(type: VariableType, text: string | boolean | null | undefined): Parsed {
  if (type === 'boolean') {
    if (typeof text === 'boolean') return { ok: true, value: text }
    if (text === '' || text == null) return { ok: true, value: undefined }
    if (text === 'true' || text === 'false') return { ok: true, value: text === 'true' }
    return { ok: false }
  }
  if (text === null || text === undefined || text === '') return { ok: true, value: undefined }
  const raw = String(text)
  if (type === 'string') return { ok: true, value: raw }
  if (type === 'number' || type === 'integer') {
    if (!raw.trim()) return { ok: true, value: undefined }
    const n = Number(raw)
    if (!Number.isFinite(n) || (type === 'integer' && !Number.isInteger(n))) return { ok: false }
    return { ok: true, value: n }
  }
  if (!raw.trim()) return { ok: true, value: undefined }
  try {
    const value: unknown = JSON.parse(raw)
    const fits = type === 'list' ? Array.isArray(value) : !!value && typeof value === 'object' && !Array.isArray(value)
    return fits ? { ok: true, value } : { ok: false }
  } catch {
    return { ok: false }
  }
}

/** A value shown as the text the form edits (the inverse of parseValue). */
export function valueText(value: unknown): string {
  if (value === null || value === undefined) return ''
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return JSON.stringify(value)
}

export const rowOf = (v: Variable): VariableRow => ({
  name: v.name,
  type: v.type,
  required: v.required,
  defaultText: valueText(v.default),
  description: v.description ?? '',
})

export const newRow = (name = ''): VariableRow => ({
  name,
  type: 'string',
  required: true,
  defaultText: '',
  description: '',
})

export type RowProblem = 'name' | 'duplicate' | 'default'

/** What is wrong with each row (by index), in the order the author should fix it. */
export function rowProblems(rows: VariableRow[]): Map<number, RowProblem> {
  const problems = new Map<number, RowProblem>()
  const seen = new Set<string>()
  rows.forEach((row, i) => {
    if (!VARIABLE_NAME.test(row.name)) problems.set(i, 'name')
    else if (seen.has(row.name)) problems.set(i, 'duplicate')
    else if (!parseValue(row.type, row.defaultText).ok) problems.set(i, 'default')
    seen.add(row.name)
  })
  return problems
}

/** The declarations to send (rows with problems are the caller's to refuse first). */
export function toVariables(rows: VariableRow[]): Variable[] {
  return rows.map((row) => {
    const parsed = parseValue(row.type, row.defaultText)
    return {
      name: row.name,
      type: row.type,
      required: row.required,
      default: parsed.ok && parsed.value !== undefined ? parsed.value : null,
      description: row.description,
    }
  })
}

/** "Declare the variables the template uses": a new row (string, required) for each name used but not declared,
 * after the existing rows, which stay as they are. */
export function declareUsed(rows: VariableRow[], used: string[]): VariableRow[] {
  const declared = new Set(rows.map((r) => r.name))
  return [...rows, ...used.filter((name) => !declared.has(name)).map((name) => newRow(name))]
}

/** Declared names the template does not use (shown as a hint; declaring them is allowed). */
export const unusedDeclared = (rows: VariableRow[], used: string[]) =>
  rows.map((r) => r.name).filter((name) => name && !used.includes(name))

/** The values a Test run sends: only the fields given; the names whose text does not read as their type. */
export function testValues(
  variables: Variable[],
  texts: Record<string, string | boolean | null>,
): { values: Record<string, unknown>; invalid: string[] } {
  const values: Record<string, unknown> = {}
  const invalid: string[] = []
  for (const v of variables) {
    const parsed = parseValue(v.type, texts[v.name])
    if (!parsed.ok) invalid.push(v.name)
    else if (parsed.value !== undefined) values[v.name] = parsed.value
  }
  return { values, invalid }
}

/** The messages a rendered prompt sends to /v1/chat/completions: its chat messages, or its text as one user turn. */
export function renderedMessages(rendered: Rendered): TemplateMessage[] {
  if (rendered.kind === 'chat') return rendered.messages ?? []
  return [{ role: 'user', content: rendered.text ?? '' }]
}

/** The chat request parameters of a binding (only those set). */
export function bindingParams(binding: Binding): Record<string, number> {
  const out: Record<string, number> = {}
  for (const key of ['temperature', 'top_p', 'max_tokens'] as const) {
    const value = binding.parameters?.[key]
    if (value !== null && value !== undefined && (value as unknown) !== '') out[key] = Number(value)
  }
  return out
}

export interface DiffSection {
  /** The chat message the lines belong to (null: a text prompt). */
  index: number | null
  lines: DiffLine[]
  changed: boolean
}

/** A template diff cut into one section per chat message (a text prompt's diff is one section). */
export function diffSections(lines: DiffLine[]): DiffSection[] {
  const sections: DiffSection[] = []
  for (const line of lines) {
    const index = line.message_index ?? null
    let last = sections[sections.length - 1]
    if (!last || last.index !== index) {
      last = { index, lines: [], changed: false }
      sections.push(last)
    }
    last.lines.push(line)
    if (line.op !== ' ') last.changed = true
  }
  return sections
}

/** A binding value or variable field as one short line of text. */
export function shown(value: unknown): string {
  if (value === null || value === undefined || value === '') return '—'
  if (Array.isArray(value)) return value.length ? value.map(shown).join(', ') : '—'
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

/** The fields of a variable declaration that differ between two versions. */
export function changedFields(before: Variable, after: Variable): (keyof Variable)[] {
  return (['type', 'required', 'default', 'description'] as const).filter(
    (k) => JSON.stringify(before[k] ?? null) !== JSON.stringify(after[k] ?? null),
  )
}
