// Jinja2 for the code editor: a small stream tokenizer (plain text outside the tags; inside
// `{{ … }}` and `{% … %}` names, keywords, strings and numbers; `{# … #}` comments) and the
// completion of declared variable names inside an expression. CodeMirror itself is imported by
// CodeEditor.vue only, so that it loads with the pages that edit prompts.
import type { StringStream } from '@codemirror/language'

export interface JinjaState {
  /** Inside which tag the line continues: an expression, a statement, a comment, or plain text. */
  inside: 'expr' | 'stmt' | 'comment' | null
  /** The last significant character inside a tag: a name after `.` or `|` is an attribute or filter. */
  last: string
}

const KEYWORDS = new Set(
  (
    'if elif else endif for endfor in not and or is set endset with endwith macro endmacro call endcall ' +
    'filter endfilter raw endraw block endblock true false none True False None loop recursive'
  ).split(' '),
)

export const jinja = {
  name: 'jinja2',
  startState: (): JinjaState => ({ inside: null, last: '' }),
  copyState: (s: JinjaState): JinjaState => ({ ...s }),
  token(stream: StringStream, state: JinjaState): string | null {
    if (state.inside === 'comment') {
      if (stream.skipTo('#}')) {
        stream.match('#}')
        state.inside = null
      } else stream.skipToEnd()
      return 'comment'
    }
    if (state.inside === null) {
      if (stream.match(/^\{\{[-+]?/)) return open(state, 'expr')
      if (stream.match(/^\{%[-+]?/)) return open(state, 'stmt')
      if (stream.match('{#')) {
        state.inside = 'comment'
        return 'comment'
      }
      // Plain text up to the next brace that could open a tag.
      while (stream.next() != null) if (stream.peek() === '{') break
      return null
    }
    if (stream.eatSpace()) return null
    if (stream.match(state.inside === 'expr' ? /^[-+]?\}\}/ : /^[-+]?%\}/)) {
      state.inside = null
      state.last = ''
      return 'meta'
    }
    if (stream.match(/^"(?:[^"\\]|\\.)*"?/) || stream.match(/^'(?:[^'\\]|\\.)*'?/)) return mark(state, 'x', 'string')
    if (stream.match(/^\d+(?:\.\d+)?/)) return mark(state, '0', 'number')
    if (stream.match(/^[A-Za-z_][A-Za-z0-9_]*/)) {
      const word = stream.current()
      const after = state.last
      if (after === '.' || after === '|') return mark(state, 'a', 'propertyName')
      return mark(state, 'a', KEYWORDS.has(word) ? 'keyword' : 'variableName')
    }
    const ch = stream.next() ?? ''
    return mark(state, ch, /[()[\]{}]/.test(ch) ? 'bracket' : 'operator')
  },
}

function open(state: JinjaState, inside: 'expr' | 'stmt'): string {
  state.inside = inside
  state.last = ''
  return 'meta'
}

function mark(state: JinjaState, last: string, style: string): string {
  state.last = last
  return style
}

/** Where a variable name may be completed: inside `{{ … }}` or `{% … %}`, not after `.` or `|`. Returns the
 * position the name being typed starts at and what was typed, or null. */
export function completionSpot(before: string): { from: number; typed: string } | null {
  const openAt = Math.max(before.lastIndexOf('{{'), before.lastIndexOf('{%'))
  if (openAt < 0) return null
  const closeAt = Math.max(before.lastIndexOf('}}'), before.lastIndexOf('%}'))
  if (closeAt > openAt) return null
  const m = /[A-Za-z_][A-Za-z0-9_]*$/.exec(before)
  const typed = m ? m[0] : ''
  const start = before.length - typed.length
  if (start < openAt + 2) return null
  const prev = before.slice(openAt + 2, start).trimEnd()
  if (prev.endsWith('.') || prev.endsWith('|')) return null
  return { from: start, typed }
}
