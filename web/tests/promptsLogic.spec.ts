import { describe, expect, it } from 'vitest'
import { StringStream } from '@codemirror/language'
import { completionSpot, jinja, type JinjaState } from '@/components/jinja'
import { i18n, setLocale } from '@/i18n'
import { draftBody, draftOf } from '@/stores/prompts'
import type { PromptVersion, Variable } from '@/api/prompts'
import {
  changedFields,
  declareUsed,
  diffSections,
  newRow,
  parseValue,
  renderedMessages,
  rowOf,
  rowProblems,
  testValues,
  toVariables,
  unusedDeclared,
} from '@/views/prompts/variables'

const v = (name: string, type: Variable['type'], extra: Partial<Variable> = {}): Variable => ({
  name,
  type,
  required: true,
  default: null,
  description: '',
  ...extra,
})

describe('variable values typed as text', () => {
  it('read as their declared type, empty meaning "not given"', () => {
    expect(parseValue('string', 'hi')).toEqual({ ok: true, value: 'hi' })
    expect(parseValue('string', '')).toEqual({ ok: true, value: undefined })
    expect(parseValue('number', '2.5')).toEqual({ ok: true, value: 2.5 })
    expect(parseValue('integer', '3')).toEqual({ ok: true, value: 3 })
    expect(parseValue('integer', '3.5')).toEqual({ ok: false })
    expect(parseValue('number', 'abc')).toEqual({ ok: false })
    expect(parseValue('boolean', true)).toEqual({ ok: true, value: true })
    expect(parseValue('boolean', 'false')).toEqual({ ok: true, value: false })
    expect(parseValue('boolean', 'yes')).toEqual({ ok: false })
    expect(parseValue('list', '["a", 1]')).toEqual({ ok: true, value: ['a', 1] })
    expect(parseValue('list', '{"a": 1}')).toEqual({ ok: false })
    expect(parseValue('object', '{"a": 1}')).toEqual({ ok: true, value: { a: 1 } })
    expect(parseValue('object', '[1]')).toEqual({ ok: false })
    expect(parseValue('object', '{broken')).toEqual({ ok: false })
  })

  it('round-trip through the declaration rows, defaults included', () => {
    const declared = [
      v('topic', 'string', { default: '날씨', description: '주제' }),
      v('n', 'integer', { required: false, default: 3 }),
      v('tags', 'list', { default: ['a'] }),
      v('strict', 'boolean', { default: false }),
    ]
    const rows = declared.map(rowOf)
    expect(rows[1]!.defaultText).toBe('3')
    expect(rows[2]!.defaultText).toBe('["a"]')
    expect(toVariables(rows)).toEqual(declared)
  })

  it('name the problem of each bad row', () => {
    const rows = [
      newRow('ok'),
      newRow('1bad'),
      newRow('ok'),
      { ...newRow('n'), type: 'integer' as const, defaultText: 'x' },
    ]
    expect([...rowProblems(rows)]).toEqual([
      [1, 'name'],
      [2, 'duplicate'],
      [3, 'default'],
    ])
  })

  it('declare the names the template uses after the existing rows, which stay as they are', () => {
    const rows = [{ ...newRow('topic'), type: 'integer' as const }]
    const out = declareUsed(rows, ['topic', 'city', 'lang'])
    expect(out.map((r) => [r.name, r.type, r.required])).toEqual([
      ['topic', 'integer', true],
      ['city', 'string', true],
      ['lang', 'string', true],
    ])
    expect(unusedDeclared([...out, newRow('extra')], ['topic', 'city', 'lang'])).toEqual(['extra'])
  })

  it('send only the values given, and name those that do not read as their type', () => {
    const declared = [v('a', 'string'), v('b', 'integer'), v('c', 'object'), v('d', 'number')]
    expect(testValues(declared, { a: '서울', b: '2', c: '', d: 'x' })).toEqual({
      values: { a: '서울', b: 2 },
      invalid: ['d'],
    })
  })
})

describe('the editor draft', () => {
  const version: PromptVersion = {
    id: 'v',
    prompt_name: 'support',
    version: 2,
    kind: 'chat',
    template: [
      { role: 'system', content: '너는 {{ company }}의 상담원이다.' },
      { role: 'user', content: '{{ question }}' },
    ],
    variables: [v('company', 'string'), v('question', 'string')],
    binding: { route: 'chat', allowed_routes: ['chat'], parameters: { temperature: 0.2 } },
    message: '',
    created_by_name: 'dev',
    created_at: '2026-01-01T00:00:00Z',
    labels: [],
    quality: { feedback_count: 0, feedback_mean: null },
  }

  it('saves what was loaded, with the label and parameters typed as text read as numbers', () => {
    const d = draftOf(version)
    d.maxTokens = '128'
    d.label = 'production'
    d.message = ' 더 짧게 '
    expect(draftBody(d)).toEqual({
      kind: 'chat',
      template: version.template,
      variables: version.variables,
      binding: { route: 'chat', allowed_routes: ['chat'], parameters: { temperature: 0.2, max_tokens: 128 } },
      message: '더 짧게',
      labels: ['production'],
    })
  })

  it('sends a text prompt as one user message', () => {
    expect(
      renderedMessages({ kind: 'text', text: '요약해 줘', messages: null, version: 1, variables_used: {} }),
    ).toEqual([{ role: 'user', content: '요약해 줘' }])
  })
})

describe('the diff view', () => {
  it('cuts the template lines into one section per chat message', () => {
    const sections = diffSections([
      { op: ' ', text: 'a', message_index: 0 },
      { op: '-', text: 'b', message_index: 1 },
      { op: '+', text: 'c', message_index: 1 },
      { op: ' ', text: 'd', message_index: 2 },
    ])
    expect(sections.map((s) => [s.index, s.lines.length, s.changed])).toEqual([
      [0, 1, false],
      [1, 2, true],
      [2, 1, false],
    ])
    expect(diffSections([{ op: '+', text: 'x' }]).map((s) => s.index)).toEqual([null])
  })

  it('lists the fields of a declaration that changed', () => {
    expect(changedFields(v('a', 'string'), v('a', 'integer', { default: 1 }))).toEqual(['type', 'default'])
    expect(changedFields(v('a', 'string'), v('a', 'string'))).toEqual([])
  })
})

describe('Jinja2 highlighting and completion', () => {
  function tokens(line: string): [string, string | null][] {
    const state: JinjaState = jinja.startState()
    const stream = new StringStream(line, 2, 2)
    const out: [string, string | null][] = []
    while (!stream.eol()) {
      const style = jinja.token(stream, state)
      out.push([stream.current(), style])
      stream.start = stream.pos
    }
    return out.filter(([text]) => text.trim())
  }

  it('marks the tags, the variable names inside them, filters and keywords', () => {
    expect(tokens('안녕 {{ name|upper }} {% if vip %}!{% endif %}{# 메모 #}')).toEqual([
      ['안녕 ', null],
      ['{{', 'meta'],
      ['name', 'variableName'],
      ['|', 'operator'],
      ['upper', 'propertyName'],
      ['}}', 'meta'],
      ['{%', 'meta'],
      ['if', 'keyword'],
      ['vip', 'variableName'],
      ['%}', 'meta'],
      ['!', null],
      ['{%', 'meta'],
      ['endif', 'keyword'],
      ['%}', 'meta'],
      ['{#', 'comment'],
      [' 메모 #}', 'comment'],
    ])
  })

  it('offers variable names only inside an open tag and not after a dot or a filter bar', () => {
    expect(completionSpot('hi {{ na')).toEqual({ from: 6, typed: 'na' })
    expect(completionSpot('hi {{')).toEqual({ from: 5, typed: '' })
    expect(completionSpot('{% if x and y')).toEqual({ from: 12, typed: 'y' })
    expect(completionSpot('hi {{ a }} na')).toBeNull()
    expect(completionSpot('{{ user.na')).toBeNull()
    expect(completionSpot('{{ x | up')).toBeNull()
    expect(completionSpot('plain text')).toBeNull()
  })
})

describe('prompt messages', () => {
  it('compile in both languages (Jinja braces and @ are escaped for vue-i18n)', () => {
    for (const locale of ['ko', 'en'] as const) {
      setLocale(locale)
      expect(i18n.global.t('prompts.firstTemplateHint')).toContain('{{')
      expect(i18n.global.t('prompts.labelsTab.removeConfirm', { label: 'production' })).toContain('@production')
      expect(i18n.global.t('prompts.test.invalid.object')).toContain('{"')
    }
    setLocale('ko')
  })
})
