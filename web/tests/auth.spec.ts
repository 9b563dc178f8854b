import { beforeEach, describe, expect, it, vi } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'
import { useAuthStore } from '@/stores/auth'
import { authFetch } from '@/api/client'

const user = {
  id: '1',
  username: 'dev',
  display_name: '',
  email: null,
  role: 'developer',
  is_active: true,
  teams: [],
  permissions: ['apikeys:write', 'models:read'],
  auth: 'jwt',
  created_at: '2026-01-01T00:00:00Z',
}

function pair(n: number) {
  return { access_token: `access-${n}`, token_type: 'bearer', expires_in: 900, user }
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

  it('logs in, keeps the access token in memory only and answers permission checks', async () => {
    vi.spyOn(globalThis, 'fetch').mockResolvedValueOnce(json(pair(1)))
    const auth = useAuthStore()
    await auth.login('dev', 'pw')
    expect(auth.access).toBe('access-1')
    expect(localStorage.length).toBe(0)
    expect(sessionStorage.length).toBe(0)
    expect(auth.can('apikeys:write')).toBe(true)
    expect(auth.can('users:admin')).toBe(false)
    expect(auth.can(undefined)).toBe(true)
  })

  it('says in Korean why login failed, translated by the problem code', async () => {
    const problem = {
      type: 'https://axops.dev/problems/invalid_credentials',
      title: 'Not authenticated',
      status: 401,
      detail: 'Invalid username or password.',
    }
    vi.spyOn(globalThis, 'fetch').mockResolvedValueOnce(json(problem, 401))
    await expect(useAuthStore().login('dev', 'bad')).rejects.toThrow('사용자 이름 또는 비밀번호가 올바르지 않습니다.')
  })

  it('refreshes once for concurrent 401s and retries with the new token', async () => {
    const auth = useAuthStore()
    auth.access = 'stale'
    const seen: string[] = []
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      const req = input as Request
      const path = new URL(req.url).pathname
      if (path === '/api/auth/refresh') {
        seen.push(`refresh ${req.headers.get('X-Requested-With')}`)
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
    expect(seen.filter((s) => s.startsWith('refresh'))).toEqual(['refresh axops'])
    expect(auth.access).toBe('access-2')
  })

  it('forgets the session when the refresh cookie is refused', async () => {
    const auth = useAuthStore()
    auth.access = 'stale'
    vi.spyOn(globalThis, 'fetch').mockImplementation(async () => json({ detail: 'nope' }, 401))
    const response = await authFetch(new Request('http://localhost/api/user/info'))
    expect(response.status).toBe(401)
    expect(auth.access).toBeNull()
    expect(auth.isAuthenticated).toBe(false)
  })

  it('drops a refresh token an older version left in localStorage', () => {
    localStorage.setItem('axops.refresh', 'old-token')
    useAuthStore()
    expect(localStorage.getItem('axops.refresh')).toBeNull()
  })

  it('logs out on the server (the cookie goes with the request) and forgets the session', async () => {
    const calls = [] as string[]
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      const req = input as Request
      calls.push(`${req.method} ${new URL(req.url).pathname} ${req.headers.get('X-Requested-With')}`)
      return new Response(null, { status: 204 })
    })
    const auth = useAuthStore()
    auth.access = 'access-1'
    await auth.logout()
    expect(calls).toEqual(['POST /api/auth/logout axops'])
    expect(auth.access).toBeNull()
  })

  it('takes its turn with other tabs before exchanging the cookie', async () => {
    const auth = useAuthStore()
    const order: string[] = []
    const locks = {
      request: vi.fn(async (_name: string, work: () => Promise<unknown>) => {
        order.push('lock')
        return work()
      }),
    }
    Object.defineProperty(navigator, 'locks', { value: locks, configurable: true })
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      const req = input as Request
      order.push(`${req.method} ${new URL(req.url).pathname} ${await req.text()}`)
      return json(pair(3))
    })
    try {
      expect(await auth.refresh()).toBe(true)
    } finally {
      Reflect.deleteProperty(navigator, 'locks')
    }
    expect(locks.request).toHaveBeenCalledOnce()
    expect(order).toEqual(['lock', 'POST /api/auth/refresh '])
    expect(auth.access).toBe('access-3')
  })
})
