import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'
import { REFRESH_KEY, useAuthStore } from '@/stores/auth'
import { authFetch } from '@/api/client'

const user = {
  id: '1', username: 'dev', display_name: '', email: null, role: 'developer', is_active: true,
  teams: [], permissions: ['apikeys:write', 'models:read'], auth: 'jwt', created_at: '2026-01-01T00:00:00Z',
}

function pair(n: number) {
  return { access_token: `access-${n}`, refresh_token: `refresh-${n}`, token_type: 'bearer', expires_in: 900, user }
}

function json(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

describe('auth store', () => {
  beforeEach(() => {
    setActivePinia(createPinia())
    localStorage.clear()
    vi.restoreAllMocks()
  })

  it('logs in, keeps the refresh token and answers permission checks', async () => {
    vi.spyOn(globalThis, 'fetch').mockResolvedValueOnce(json(pair(1)))
    const auth = useAuthStore()
    await auth.login('dev', 'pw')
    expect(auth.access).toBe('access-1')
    expect(localStorage.getItem(REFRESH_KEY)).toBe('refresh-1')
    expect(auth.can('apikeys:write')).toBe(true)
    expect(auth.can('users:admin')).toBe(false)
    expect(auth.can(undefined)).toBe(true)
  })

  it('shows the API problem detail when login fails', async () => {
    vi.spyOn(globalThis, 'fetch').mockResolvedValueOnce(
      json({ type: 'x', title: 'Not authenticated', status: 401, detail: 'Invalid username or password.' }, 401),
    )
    await expect(useAuthStore().login('dev', 'bad')).rejects.toThrow('Invalid username or password.')
  })

  it('refreshes once for concurrent 401s and retries with the new token', async () => {
    const auth = useAuthStore()
    localStorage.setItem(REFRESH_KEY, 'refresh-1')
    auth.access = 'stale'
    const seen: string[] = []
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      const req = input as Request
      const path = new URL(req.url).pathname
      if (path === '/api/auth/refresh') {
        seen.push('refresh')
        return json(pair(2))
      }
      seen.push(req.headers.get('Authorization') ?? '')
      return req.headers.get('Authorization') === 'Bearer access-2' ? json({ ok: true }) : json({}, 401)
    })
    const [a, b] = await Promise.all([
      authFetch(new Request('http://localhost/api/user/info')),
      authFetch(new Request('http://localhost/api/apikey')),
    ])
    expect(a.status).toBe(200)
    expect(b.status).toBe(200)
    expect(seen.filter((s) => s === 'refresh')).toHaveLength(1)
    expect(localStorage.getItem(REFRESH_KEY)).toBe('refresh-2')
  })

  it('forgets the session when the refresh token is refused', async () => {
    const auth = useAuthStore()
    localStorage.setItem(REFRESH_KEY, 'spent')
    vi.spyOn(globalThis, 'fetch').mockImplementation(async () => json({ detail: 'nope' }, 401))
    const response = await authFetch(new Request('http://localhost/api/user/info'))
    expect(response.status).toBe(401)
    expect(localStorage.getItem(REFRESH_KEY)).toBeNull()
    expect(auth.isAuthenticated).toBe(false)
  })

  it('takes its turn with other tabs and spends the token current at that moment', async () => {
    const auth = useAuthStore()
    localStorage.setItem(REFRESH_KEY, 'refresh-1')
    const locks = {
      request: vi.fn(async (_name: string, work: () => Promise<unknown>) => {
        localStorage.setItem(REFRESH_KEY, 'refresh-from-other-tab') // another tab refreshed while we waited
        return work()
      }),
    }
    Object.defineProperty(navigator, 'locks', { value: locks, configurable: true })
    const sent: unknown[] = []
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      sent.push(await (input as Request).json())
      return json(pair(3))
    })
    try {
      expect(await auth.refresh()).toBe(true)
    } finally {
      Reflect.deleteProperty(navigator, 'locks')
    }
    expect(locks.request).toHaveBeenCalledOnce()
    expect(sent).toEqual([{ refresh_token: 'refresh-from-other-tab' }])
    expect(auth.access).toBe('access-3')
  })
})
