import { beforeEach, describe, expect, it, vi } from 'vitest'
import { problemDetail } from '@/api/client'
import { useUsersStore } from '@/stores/users'
import { useTeamsStore } from '@/stores/teams'
import { useApiKeysStore } from '@/stores/apikeys'
import { filterQuery, useAuditStore } from '@/stores/audit'
import { useAuthStore } from '@/stores/auth'
import { freshPinia, json, mockApi } from './helpers'

const user = (n: number) => ({
  id: `u${n}`,
  username: `user${n}`,
  display_name: '',
  email: null,
  role: 'viewer',
  is_active: true,
  teams: [],
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
})
const key = (status: string) => ({
  id: 'k1',
  name: 'ci',
  prefix: 'axk_1234',
  scopes: ['models:read'],
  team_id: null,
  team_name: null,
  expires_at: null,
  created_at: '2026-01-01T00:00:00Z',
  last_used_at: null,
  revoked_at: null,
  status,
})

describe('domain stores', () => {
  beforeEach(() => {
    freshPinia()
    localStorage.clear()
    vi.restoreAllMocks()
    useAuthStore().access = 'token-1'
  })

  it('users: searches, pages with the cursor and sends the bearer token', async () => {
    const calls = mockApi({
      'GET /api/users': ({ query }) =>
        query.get('cursor')
          ? { items: [user(3)], next_cursor: null }
          : { items: [user(1), user(2)], next_cursor: 'c2' },
    })
    const users = useUsersStore()
    users.search = 'user'
    await users.load()
    expect(users.items.map((u) => u.username)).toEqual(['user1', 'user2'])
    expect(users.nextCursor).toBe('c2')
    await users.load(true)
    expect(users.items.map((u) => u.username)).toEqual(['user1', 'user2', 'user3'])
    expect(users.nextCursor).toBeNull()
    expect(calls[0].query.get('q')).toBe('user')
    expect(calls[1].query.get('cursor')).toBe('c2')
    expect(calls.every((c) => c.auth === 'Bearer token-1')).toBe(true)
  })

  it('users: a slow earlier search does not overwrite a newer one', async () => {
    let release: () => void = () => {}
    const slow = new Promise<void>((resolve) => (release = resolve))
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      const q = new URL((input as Request).url).searchParams.get('q')
      if (q === 'old') await slow
      return json({ items: [user(q === 'old' ? 1 : 2)], next_cursor: null })
    })
    const users = useUsersStore()
    users.search = 'old'
    const first = users.load()
    users.search = 'new'
    await users.load()
    release()
    await first
    expect(users.items.map((u) => u.username)).toEqual(['user2'])
    expect(users.loading).toBe(false)
  })

  it('users: an edit replaces the row in place; errors carry the problem detail', async () => {
    mockApi({
      'GET /api/users': () => ({ items: [user(1), user(2)], next_cursor: null }),
      'PATCH /api/users/u2': ({ body }) => ({ ...user(2), ...(body as object) }),
      'POST /api/users': () =>
        json(
          {
            type: 'https://axops.dev/problems/username_taken',
            title: 'Conflict',
            status: 409,
            detail: "The username 'user1' is taken.",
            username: 'user1',
          },
          409,
        ),
    })
    const users = useUsersStore()
    await users.load()
    await users.update('u2', { role: 'developer' })
    expect(users.items[1].role).toBe('developer')
    await expect(
      users.create({ username: 'user1', password: 'x'.repeat(12), display_name: '', role: 'viewer' }),
    ).rejects.toThrow("'user1' 사용자 이름은 이미 사용 중입니다.")
  })

  it('teams: adding a member PUTs it, then reloads members and counts', async () => {
    const calls = mockApi({
      'GET /api/teams': () => ({
        items: [{ id: 't1', name: 'research', description: '', member_count: 1, created_at: '2026-01-01T00:00:00Z' }],
        next_cursor: null,
      }),
      'GET /api/teams/t1/members': () => ({
        items: [{ id: 'u1', username: 'user1', display_name: '', role: 'viewer' }],
      }),
      'PUT /api/teams/t1/members/u1': () => json(null, 204),
    })
    const teams = useTeamsStore()
    await teams.addMember('t1', 'u1')
    expect(calls.map((c) => `${c.method} ${c.path}`).sort()).toEqual(
      ['GET /api/teams', 'GET /api/teams/t1/members', 'PUT /api/teams/t1/members/u1'].sort(),
    )
    expect(teams.members.map((m) => m.username)).toEqual(['user1'])
    expect(teams.items[0].member_count).toBe(1)
  })

  it('api keys: create returns the secret once and refreshes the list; revoke updates the row', async () => {
    const calls = mockApi({
      'POST /api/apikey/create': () => json({ ...key('active'), key: 'axk_1234_secret' }, 201),
      'GET /api/apikey': () => ({ items: [key('active')], next_cursor: null }),
      'POST /api/apikey/k1/revoke': () => key('revoked'),
    })
    const keys = useApiKeysStore()
    const created = await keys.create({ name: 'ci', team_id: null, scopes: ['models:read'], expires_in_days: 30 })
    expect(created.key).toBe('axk_1234_secret')
    expect(calls[0].body).toEqual({ name: 'ci', team_id: null, scopes: ['models:read'], expires_in_days: 30 })
    expect(keys.items).toHaveLength(1)
    expect(JSON.stringify(keys.$state)).not.toContain('secret')
    await keys.revoke('k1')
    expect(keys.items[0].status).toBe('revoked')
  })

  it('audit: applies the filter to the list, "load more" and the CSV export; counts per day', async () => {
    const event = (id: string, created_at: string) => ({
      id,
      created_at,
      actor_id: null,
      actor_name: 'admin',
      actor_type: 'user',
      action: 'apikey.create',
      resource_type: 'apikey',
      resource_id: 'k1',
      team_id: null,
      summary: { name: 'ci' },
      request_id: 'r',
      ip: '127.0.0.1',
      outcome: 'success',
    })
    const calls = mockApi({
      'GET /api/audit/logs': ({ query }) =>
        query.get('cursor')
          ? { items: [event('e3', '2026-03-01T10:00:00Z')], next_cursor: null }
          : { items: [event('e1', '2026-03-02T10:00:00Z'), event('e2', '2026-03-02T11:00:00Z')], next_cursor: 'c' },
      'GET /api/audit/logs/per-day': () => ({
        days: [
          { day: '2026-03-01', count: 40 },
          { day: '2026-03-02', count: 72 },
        ],
        total: 112,
        tz: 'UTC',
      }),
      'GET /api/audit/logs/export.csv': () => new Response('id,action\n', { headers: { 'content-type': 'text/csv' } }),
    })
    const audit = useAuditStore()
    audit.filters.action = 'apikey.'
    audit.filters.actor = '  '
    await audit.apply()
    audit.filters.action = 'typed but not applied'
    await audit.more()
    expect(audit.items).toHaveLength(3)
    // The chart and the total are the server's counts over the whole filter, not the rows loaded.
    expect(audit.perDay.map((d) => d.count)).toEqual([40, 72])
    expect(audit.total).toBe(112)
    expect(audit.filtered).toBe(true)
    const blob = await audit.exportCsv()
    expect(await blob.text()).toBe('id,action\n')
    for (const call of calls) {
      expect(call.query.get('action')).toBe('apikey.')
      expect(call.query.has('actor')).toBe(false)
      expect(call.auth).toBe('Bearer token-1')
    }
  })

  it('audit: datetimes from the form go out as UTC ISO 8601; cleared fields are dropped', () => {
    const since = '2026-03-01T09:30'
    expect(filterQuery({ since, until: null, action: '' })).toEqual({ since: new Date(since).toISOString() })
  })

  it('problem details include the offending fields', () => {
    const problem = {
      type: 'validation_error',
      title: 'Invalid request',
      status: 422,
      detail: 'Invalid fields: password',
      errors: [
        { loc: ['body', 'password'], msg: 'String should have at least 12 characters', type: 'string_too_short' },
      ],
    }
    // In Korean by code and field (tests/problems.spec.ts has the rest); a constraint the server did not send
    // (no ctx) gives the generic field message rather than a hole.
    expect(problemDetail(problem)).toBe('입력값이 올바르지 않습니다. (비밀번호: 올바르지 않은 값입니다)')
    expect(problemDetail({ detail: 'Too many attempts, retry in 30 s' })).toBe('요청을 처리하지 못했습니다.')
    expect(problemDetail(null, 'fallback')).toBe('fallback')
  })
})
