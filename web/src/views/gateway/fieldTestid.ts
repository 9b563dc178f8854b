import type { Directive } from 'vue'

function tag(el: HTMLElement, testid: string) {
  const field = el.matches('input, textarea') ? el : el.querySelector('textarea, input')
  if (field && field.getAttribute('data-testid') !== testid) field.setAttribute('data-testid', testid)
}

/** Like `v-input-testid`, for multi-line fields too: the test id goes on the field's own <textarea> (or <input>). */
export const vFieldTestid: Directive<HTMLElement, string> = {
  mounted: (el, { value }) => tag(el, value),
  updated: (el, { value }) => tag(el, value),
}
