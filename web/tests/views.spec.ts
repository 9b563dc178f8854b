import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { VueWrapper } from '@vue/test-utils'
import ApiKeysView from '@/views/apikeys/ApiKeysView.vue'
import UsersView from '@/views/admin/UsersView.vue'
import { setLocale } from '@/i18n'
import { byTestId, json, mockApi, mountView, settle, signIn } from './helpers'

const SCRIPTY = '<img src=x onerror="window.pwned=1">'

let wrapper: VueWrapper | null = null

beforeEach(() => {
  vi.restoreAllMocks()
  setLocale('ko')
})
afterEach(() => {
  wrapper?.unmount()
  wrapper = null
  document.body.innerHTML = ''
})

function fill(testid: string, value: string) {
  const input = byTestId(testid) as HTMLInputElement
  expect(input.tagName).toBe('INPUT')
  input.value = value
  input.dispatchEvent(new Event('input'))
}

describe('API keys page', () => {
  it('shows names verbatim, issues a key and shows its secret once in a readonly input', async () => {
    const key = {
      id: 'k1',
      name: SCRIPTY,
      prefix: 'axk_0a1b2c3d',
      scopes: ['models:read'],
      team_id: 't1',
      team_name: 'research',
      expires_at: null,
      created_at: '2026-01-01T00:00:00Z',
      last_used_at: null,
      revoked_at: null,
      status: 'active',
    }
    const calls = mockApi({
      'GET /api/apikey': () => ({ items: [key], next_cursor: null }),
      'POST /api/apikey/create': ({ body }) => json({ ...key, ...(body as object), key: 'axk_0a1b2c3d_SECRET' }, 201),
    })
    const writeText = vi.fn().mockResolvedValue(undefined)
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true })
    wrapper = await mountView(ApiKeysView, signIn(['apikeys:write', 'models:read', 'gateway:invoke']))

    const table = byTestId('apikeys-table')!
    expect(table.textContent).toContain(SCRIPTY)
    expect(table.textContent).toContain('axk_0a1b2c3d…')
    expect(table.textContent).toContain('활성')
    expect(table.querySelector('img')).toBeNull()

    byTestId('apikeys-create')!.click()
    await settle()
    fill('apikey-form-name', 'ci-key')
    await settle()
    byTestId('apikey-form-submit')!.click()
    await settle()

    const create = calls.find((c) => c.path === '/api/apikey/create')!
    expect(create.body).toEqual({
      name: 'ci-key',
      team_id: 't1',
      scopes: ['apikeys:write', 'models:read', 'gateway:invoke'],
      expires_in_days: null,
      models: null,
      log_content: false,
    })
    const secret = byTestId('apikey-secret') as HTMLInputElement
    expect(secret.tagName).toBe('INPUT')
    expect(secret.value).toBe('axk_0a1b2c3d_SECRET')
    expect(secret.readOnly).toBe(true)

    byTestId('apikey-copy')!.click()
    await settle()
    expect(writeText).toHaveBeenCalledWith('axk_0a1b2c3d_SECRET')

    byTestId('apikey-secret-close')!.click()
    await settle()
    expect(document.body.innerHTML).not.toContain('SECRET')
  }, 20_000) // a dialog, a table and a form mounted in jsdom: slow on a loaded 2-core machine
})

describe('users page', () => {
  it.each([
    ['ko', ['관리자', '운영자', '개발자', '조회자']],
    ['en', ['Admin', 'Operator', 'Developer', 'Viewer']],
  ] as const)('offers the roles by their names in the current language (%s)', async (locale, names) => {
    setLocale(locale)
    mockApi({
      'GET /api/users': () => ({ items: [], next_cursor: null }),
      'GET /api/teams': () => ({
        items: [{ id: 't1', name: SCRIPTY, description: '', member_count: 0, created_at: '2026-01-01T00:00:00Z' }],
        next_cursor: null,
      }),
    })
    wrapper = await mountView(UsersView, signIn(['users:admin']))
    byTestId('users-create')!.click()
    await settle()

    const roleField = byTestId('user-form-role')!
    roleField.querySelector<HTMLElement>('.v-field')!.dispatchEvent(new MouseEvent('mousedown', { bubbles: true }))
    roleField.querySelector<HTMLElement>('.v-field')!.click()
    await settle()
    const options = () => [...document.querySelectorAll('[role="option"]')].map((o) => o.textContent?.trim())
    expect(options()).toEqual(names)
  })
})
