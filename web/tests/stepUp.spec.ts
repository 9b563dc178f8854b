import { afterEach, describe, expect, it, vi } from 'vitest'
import { api, authFetch, useStepUp } from '@/api/client'
import { requestJson } from '@/api/http'
import StepUpDialog from '@/components/StepUpDialog.vue'
import { i18n } from '@/i18n'
import { byTestId, freshPinia, json, mockApi, mountView, settle } from './helpers'

const refused = () =>
  json({ type: 'https://axops.dev/problems/mfa_step_up_required', title: 'Forbidden', status: 403 }, 403)

afterEach(() => {
  useStepUp(null)
  vi.restoreAllMocks()
})

describe('step-up retry', () => {
  it('asks once, then sends the same request again and answers with its result', async () => {
    let attempts = 0
    const calls = mockApi({
      'DELETE /api/model/m1': () => (++attempts === 1 ? refused() : { id: 'm1', deleted: true }),
    })
    const handler = vi.fn(async () => true)
    useStepUp(handler)
    expect(await requestJson('DELETE', '/api/model/m1', { confirm_name: 'summariser' })).toEqual({
      id: 'm1',
      deleted: true,
    })
    expect(handler).toHaveBeenCalledTimes(1)
    expect(calls.map((c) => c.body)).toEqual([{ confirm_name: 'summariser' }, { confirm_name: 'summariser' }])
  })

  it('gives the original refusal when the user cancels', async () => {
    const calls = mockApi({ 'POST /api/apikeys/k1/revoke': () => refused() })
    useStepUp(async () => false)
    await expect(requestJson('POST', '/api/apikeys/k1/revoke')).rejects.toMatchObject({
      code: 'mfa_step_up_required',
      status: 403,
    })
    expect(calls).toHaveLength(1)
  })

  it('retries only once, and leaves other refusals and the auth routes alone', async () => {
    const calls = mockApi({
      'DELETE /api/datasets/d1': () => refused(),
      'DELETE /api/teams/t1': () => json({ type: 'https://axops.dev/problems/forbidden', status: 403 }, 403),
      'POST /api/auth/mfa/step-up': () => refused(),
    })
    const handler = vi.fn(async () => true)
    useStepUp(handler)
    const { response } = await api.DELETE('/api/datasets/{dataset_id}', { params: { path: { dataset_id: 'd1' } } })
    expect(response.status).toBe(403)
    expect(calls.filter((c) => c.path === '/api/datasets/d1')).toHaveLength(2)
    expect(handler).toHaveBeenCalledTimes(1)
    handler.mockClear()
    expect((await authFetch(new Request(`${location.origin}/api/teams/t1`, { method: 'DELETE' }))).status).toBe(403)
    expect((await authFetch(new Request(`${location.origin}/api/auth/mfa/step-up`, { method: 'POST' }))).status).toBe(
      403,
    )
    expect(handler).not.toHaveBeenCalled()
  })

  it('shares one prompt between requests refused together', async () => {
    const seen = new Map<string, number>()
    const count = (path: string) => {
      seen.set(path, (seen.get(path) ?? 0) + 1)
      return seen.get(path)! > 1 ? json(null, 204) : refused()
    }
    mockApi({
      'DELETE /api/model/a': (c) => count(c.path),
      'DELETE /api/model/b': (c) => count(c.path),
    })
    let confirm: (ok: boolean) => void = () => {}
    const handler = vi.fn(() => new Promise<boolean>((resolve) => (confirm = resolve)))
    useStepUp(handler)
    const both = Promise.all([requestJson('DELETE', '/api/model/a'), requestJson('DELETE', '/api/model/b')])
    await settle()
    confirm(true)
    await both
    expect(handler).toHaveBeenCalledTimes(1)
    expect(Object.fromEntries(seen)).toEqual({ '/api/model/a': 2, '/api/model/b': 2 })
  })
})

describe('step-up dialog', () => {
  it('posts the code, keeps a wrong one on screen, and retries after the right one', async () => {
    let stepped = false
    const calls = mockApi({
      'POST /api/auth/mfa/step-up': (c) => {
        if ((c.body as { code: string }).code !== '123456')
          return json({ type: 'https://axops.dev/problems/mfa_invalid_code', status: 422 }, 422)
        stepped = true
        return json(null, 204)
      },
      'DELETE /api/model/m1': () => (stepped ? json(null, 204) : refused()),
    })
    const wrapper = await mountView(StepUpDialog, freshPinia())
    const pending = requestJson('DELETE', '/api/model/m1')
    await settle()
    const input = byTestId('step-up-code') as HTMLInputElement
    expect(input).not.toBeNull()
    input.value = '000000'
    input.dispatchEvent(new Event('input'))
    byTestId('step-up-submit')!.click()
    await settle()
    expect(document.querySelector('.v-dialog')?.textContent).toContain(i18n.global.t('problems.mfa_invalid_code'))
    input.value = '123 456'
    input.dispatchEvent(new Event('input'))
    byTestId('step-up-submit')!.click()
    await pending
    expect(calls.filter((c) => c.path === '/api/auth/mfa/step-up').map((c) => c.body)).toEqual([
      { code: '000000' },
      { code: '123456' },
    ])
    expect(calls.filter((c) => c.path === '/api/model/m1')).toHaveLength(2)
    wrapper.unmount()
  })
})
