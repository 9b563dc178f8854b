import { marked } from 'marked'
import DOMPurify from 'dompurify'

// What Markdown produces, and nothing else: no <style>, <form>, <input>, <iframe>, <svg>, no class, id or style
// attributes (a model card must not restyle or overlay the app, nor clobber globals by id or name).
const TAGS = [
  'a',
  'p',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'ul',
  'ol',
  'li',
  'code',
  'pre',
  'blockquote',
  'table',
  'thead',
  'tbody',
  'tr',
  'th',
  'td',
  'em',
  'strong',
  'del',
  's',
  'img',
  'hr',
  'br',
]
const ATTRS = ['href', 'title', 'src', 'alt', 'align', 'start']
// Links: http(s), mailto, or relative (no javascript:, data:, vbscript: ...).
const SAFE_URL = /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i

const purify = DOMPurify(window)
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank')
    node.setAttribute('rel', 'noopener noreferrer')
  }
  // Images only from http(s) addresses: no data: or blob: payloads (DOMPurify lets data: through on <img>).
  if (node.tagName === 'IMG' && !/^https?:\/\//i.test(node.getAttribute('src') ?? '')) node.removeAttribute('src')
})

/** A user-written Markdown document (a model card) as HTML that is safe to insert. */
export function renderMarkdown(source: string): string {
  const html = marked.parse(source, { async: false }) as string
  return purify.sanitize(html, {
    ALLOWED_TAGS: TAGS,
    ALLOWED_ATTR: ATTRS,
    ALLOWED_URI_REGEXP: SAFE_URL,
    ALLOW_DATA_ATTR: false,
  })
}
