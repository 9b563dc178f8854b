import { afterEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import ToolDetailView from '@/views/tools/ToolDetailView.vue'
import { credentialTarget, dropsCredential } from '@/views/tools/credentialTarget'
import { setLocale } from '@/i18n'
import { byTestId, mockApi, mountView, settle, signIn } from './helpers'

const HTTP = { kind: 'http', has_credential: true }
const spec = (base_url: string, auth: Record<string, unknown> | null = { type: 'bearer' }) => ({
  method: 'GET',
  base_url,
  path: '/weather',
  ...(auth ? { auth } : {}),
})
const BEFORE = spec('https://api.example.com/v1', { type: 'header', name: 'X-Key' })

describe('credentialTarget', () => {
  it('is the origin (default ports filled in, host lower-cased) and the auth placement', () => {
    expect(credentialTarget(BEFORE)).toEqual(['https', 'api.example.com', 443, 'header', 'X-Key'])
    expect(credentialTarget(spec('http://API.example.com:8080/x', null))).toEqual([
      'http',
      'api.example.com',
      8080,
      '',
      '',
    ])
  })

  it('does not throw on a base URL that is not a URL', () => {
    expect(credentialTarget(spec('not a url'))).toEqual(['', '', null, 'bearer', ''])
    expect(credentialTarget(undefined)).toEqual(['', '', null, '', ''])
  })
})

describe('dropsCredential', () => {
  it('keeps the credential when only the path, the method or the base path changes', () => {
    const next = { ...BEFORE, method: 'POST', path: '/forecast', base_url: 'https://API.example.com:443/v2' }
    expect(dropsCredential(HTTP, BEFORE, next)).toBe(false)
  })

  it.each([
    ['another host', { base_url: 'https://evil.example.net/v1' }],
    ['another scheme', { base_url: 'http://api.example.com/v1' }],
    ['another port', { base_url: 'https://api.example.com:8443/v1' }],
    ['another auth type', { auth: { type: 'query', name: 'X-Key' } }],
    ['another header name', { auth: { type: 'header', name: 'Authorization' } }],
    ['no auth any more', { auth: undefined }],
  ])('drops it for %s', (_, change) => {
    expect(dropsCredential(HTTP, BEFORE, { ...BEFORE, ...change })).toBe(true)
  })

  it('warns only for an HTTP tool that has a credential and a parsable new spec', () => {
    const moved = { ...BEFORE, base_url: 'https://evil.example.net' }
    expect(dropsCredential({ kind: 'http', has_credential: false }, BEFORE, moved)).toBe(false)
    expect(dropsCredential({ kind: 'python', has_credential: true }, BEFORE, moved)).toBe(false)
    expect(dropsCredential(null, BEFORE, moved)).toBe(false)
    expect(dropsCredential(HTTP, BEFORE, null)).toBe(false)
  })
})

vi.mock('vue-router', async (importOriginal) => ({
  ...(await importOriginal<typeof import('vue-router')>()),
  useRoute: () => ({ params: { id: 'x1' }, meta: {}, query: { tab: 'versions' } }),
}))
// CodeMirror does not lay out in jsdom: a textarea stands in for the editor.
vi.mock('@/components/CodeEditor.vue', () => ({
  __esModule: true,
  default: {
    props: ['modelValue', 'label'],
    emits: ['update:modelValue'],
    template: `<textarea :value="modelValue" @input="$emit('update:modelValue', $event.target.value)" />`,
  },
}))

const TOOL = {
  id: 'x1',
  team_id: 't1',
  name: 'get_weather',
  kind: 'http',
  description: '',
  latest_version: 1,
  requires_approval: false,
  timeout_s: 30,
  allow_hosts: ['api.example.com'],
  has_credential: true,
  created_at: '2026-01-01T00:00:00Z',
}
const V1 = {
  tool_id: 'x1',
  version: 1,
  parameters: { type: 'object', properties: {} },
  spec: { method: 'GET', base_url: 'https://api.example.com', path: '/w', auth: { type: 'bearer' } },
  created_at: '2026-01-01T00:00:00Z',
}

let wrapper: VueWrapper | null = null
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  document.body.innerHTML = ''
})
vi.setConfig({ testTimeout: 20_000 })

async function typeSpec(spec: Record<string, unknown>) {
  const area = byTestId('tool-version-spec') as HTMLTextAreaElement
  area.value = JSON.stringify(spec)
  area.dispatchEvent(new Event('input'))
  await settle()
}

describe('the new-version dialog', () => {
  it('warns before a version that moves the credential, and offers to set a new one after', async () => {
    setLocale('en')
    let tool = TOOL
    const calls = mockApi({
      'GET /api/tool/tools/x1': () => tool,
      'GET /api/tool/tools/x1/versions': () => ({ items: [V1] }),
      'GET /api/tool/analytics': () => ({ days: 30, calls: 0, items: [] }),
      'POST /api/tool/tools/x1/versions': () => {
        tool = { ...TOOL, latest_version: 2, has_credential: false }
        return { ...V1, version: 2 }
      },
    })
    wrapper = await mountView(ToolDetailView, signIn(['tools:read', 'tools:write']))
    await settle()
    byTestId('tool-new-version')!.click()
    await settle()
    await typeSpec({ ...V1.spec, path: '/forecast' })
    expect(byTestId('tool-version-credential-warning')).toBeNull()
    await typeSpec({ ...V1.spec, base_url: 'https://other.example.net' })
    expect(byTestId('tool-version-credential-warning')!.textContent).toContain('will be removed')
    expect(byTestId('tool-version-save')!.textContent).toContain('remove the credential')
    byTestId('tool-version-save')!.click()
    await settle()
    expect(calls.find((c) => c.method === 'POST')!.body).toMatchObject({
      spec: { base_url: 'https://other.example.net' },
    })
    expect(byTestId('tool-credential-dropped')!.textContent).toContain('was removed')
    byTestId('tool-credential-reset')!.click()
    await settle()
    expect(byTestId('tool-credential-dropped')).toBeNull()
  })
})
